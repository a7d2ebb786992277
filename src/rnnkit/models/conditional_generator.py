"""One-to-many: a language model whose initial state comes from a vector, so that one
input (an image's features in captioning, here a class label) unrolls into a sequence.

    s_0 = tanh(W_b c + b_b)                      c (B, C): the condition
    x_t = E[w_t] + W_x c                         (with ``every_step``; else E[w_t])
    p(w_t | w_<t, c) = LanguageModel(x_<t) from s_0

Every state entry of every layer (h, and c for an LSTM) gets its own slice of W_b c. With
a one-hot c, W_b c is a learned initial state per class, and W_x c a learned vector per
class added to every word's embedding.

Why ``every_step``: a condition that only sets s_0 must survive every later update of the
state, and an LSTM trained on words learns to forget it within a few of them (on MR the
test perplexity with the wrong label was only 1 % above that with the right one). Feeding
it at every step as well ("par-inject" in Tanti et al. 2018's terms, "init-inject" for the
state alone) keeps it in view.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from rnnkit.models.language_model import LanguageModel


class ConditionalGenerator(LanguageModel):
    def __init__(self, vocab_size: int, condition_size: int, every_step: bool = True,
                 **options) -> None:  # fmt: skip
        """``options``: those of ``LanguageModel`` (embedding_dim, cell, hidden, ...);
        ``every_step``: add the condition to every step's input too, not only to s_0."""
        super().__init__(vocab_size, **options)
        self.cells = [layer.cell for layer in self.stack.layers]
        self.sizes = [size for cell in self.cells for size in cell.state_sizes()]
        self.bridge = nn.Linear(condition_size, sum(self.sizes))
        dim = self.embedding.embedding_dim
        self.condition_input = nn.Linear(condition_size, dim, bias=False) if every_step else None

    def initial_state(self, condition: Tensor) -> list:
        """condition (B, C) -> the stack's state: one ``State`` per layer, entries (B, n)."""
        parts = iter(torch.tanh(self.bridge(condition)).split(self.sizes, dim=1))
        return [cell.State(*(next(parts) for _ in cell.state_sizes())) for cell in self.cells]

    def input_offset(self, condition: Tensor) -> Tensor | None:
        """condition (B, C) or (C,) -> W_x c (B, E) or (E,), added to every input embedding
        (or None)."""
        return None if self.condition_input is None else self.condition_input(condition)

    def forward(self, tokens: Tensor, condition: Tensor) -> Tensor:
        """tokens (B, T) (BOS first), condition (B, C) -> next-token logits (B, T, V)."""
        state, offset = self.initial_state(condition), self.input_offset(condition)
        logits, _ = super().forward(tokens, state, offset)
        return logits

    def sample_sequence(self, condition: Tensor, start: list[int], length: int, stop: int,
                        **sampling) -> list[int]:  # fmt: skip
        """Up to ``length`` tokens after ``start`` (BOS and any prime), drawn from the
        condition's initial state (C,) until ``stop``; ``sampling``: temperature, top_k,
        top_p, generator, exclude, as ``LanguageModel.generate`` takes them."""
        return list(self.iter_sample(condition, start, length, stop, **sampling))

    def iter_sample(self, condition: Tensor, start: list[int], length: int, stop: int,
                    **sampling) -> Iterator[int]:  # fmt: skip
        """``sample_sequence``'s tokens, each as soon as it is drawn."""
        with torch.no_grad():
            state = self.initial_state(condition.unsqueeze(0))
            offset = self.input_offset(condition)  # (E,): one sequence
        yield from self.iter_generate(start, length, state=state, stop=stop, offset=offset,
                                      **sampling)  # fmt: skip
