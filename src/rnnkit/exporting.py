"""Whether code is being traced for ONNX export; read by whatever must trace differently
then (the engine picks ONNX's own operators or a scan, a layer norm in a scan body uses
``F.layer_norm``). A module of its own so that every layer may ask, cells included."""

from __future__ import annotations

import torch

try:  # the flag behind torch.onnx.is_in_onnx_export() (see exporting_to_onnx)
    from torch.onnx._internal.exporter import _flags as _exporter_flags
except ImportError:  # a later torch may move it: then the public test alone
    _exporter_flags = None


def exporting_to_onnx() -> bool:
    """True inside ``torch.onnx.export(..., dynamo=True)``, whichever way it traces.

    The exporter first traces with ``torch.export(strict=False)``, where the public
    ``torch.onnx.is_in_onnx_export()`` is True. If that fails (on ``proj_size``, say) it
    retries with ``strict=True``, where TorchDynamo folds that function to False: the
    retry would trace rnnkit's own op and end in "No ONNX function found for
    rnnkit.bptt_forward", the error the user would then see instead of the real one.
    TorchDynamo reads the module flag behind the function as it is, so the retry takes
    this path too and fails as well (it cannot trace ``symbolic_multi_out``), and the
    exporter reports the first attempt's error. The same holds inside the body of a
    ``scan`` (``rnnkit.bptt.scan_export``), which TorchDynamo always traces.
    """
    if torch.onnx.is_in_onnx_export():
        return True
    return bool(getattr(_exporter_flags, "_is_onnx_exporting", False))
