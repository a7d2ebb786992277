"""Fake kernels of the C++ ops that Python calls directly, outside an rnnkit op: the
streaming step (``*_prepare_step``, ``*_step``) and the zoneout mask (``keep_mask``).
The others run only inside the real kernels of rnnkit's ops (``rnnkit.bptt.explicit``,
...), which the compiler never opens. With these, torch.compile and torch.export can trace
a step as one opaque node, and ``torch.library.opcheck`` can check the C++ schemas.

Each fake says only what the real kernel returns: its shape, dtype and device.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: csrc/step.h's kSplitBytes: smaller layers are one part (see ``_prepared_shape``).
_SPLIT_BYTES = 256 * 1024


def _prepared_shape(w_ih: Tensor, w_hh: Tensor, gates: int) -> tuple[int, int]:
    """csrc/step.h's ``prepare_step``: the weights split by hidden units into one part per
    thread, (parts, (I + P + 2) * widest), widest = gates * the units of the widest part."""
    hidden, inputs, outputs = w_ih.shape[0] // gates, w_ih.shape[1], w_hh.shape[1]
    size = (w_ih.numel() + w_hh.numel()) * w_ih.element_size()
    parts = min(torch.get_num_threads(), hidden) if size >= _SPLIT_BYTES else 1
    widest = gates * (hidden // parts + (1 if hidden % parts else 0))
    return parts, (inputs + outputs + 2) * widest


def _register(name: str, gates: int) -> None:
    @torch.library.register_fake(f"rnnkit::{name}_prepare_step")
    def _(w_ih, w_hh, b_ih, b_hh):
        return w_ih.new_empty(_prepared_shape(w_ih, w_hh, gates))


_register("lstm", 4)
_register("gru", 3)
_register("elman", 1)


@torch.library.register_fake("rnnkit::lstm_step")
def _(x, prepared, w_hr_t, h, c):
    return h.new_empty(h.shape)  # y (B, P), also copied into h


@torch.library.register_fake("rnnkit::gru_step")
def _(x, prepared, h):
    return h.new_empty(h.shape)


@torch.library.register_fake("rnnkit::elman_step")
def _(x, prepared, relu, h):
    return h.new_empty(h.shape)


@torch.library.register_fake("rnnkit::keep_mask")
def _(shape, p, seed, like):
    return like.new_empty(shape)
