"""Lower precision as a recorded choice: ``--precision fp32|bf16|fp16``.

The contract (checked by ``lsdbench.encode.encoders.resolve``): an encoder supports a precision by taking a
``precision`` option and recording any value other than ``fp32`` in its config, so that cache entries,
result files and their names at different precisions never mix. ``fp32`` is every encoder's own default
and is never passed, so the default path is the encoder's, bit for bit. Encoders without the option
refuse any other precision. The torch helpers below serve encoders (the baselines, the reference
models); lsdbench itself does not run models.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from lsdbench.errors import UserError

PRECISIONS = ("fp32", "bf16", "fp16")
DEFAULT = "fp32"


class PrecisionError(UserError, ValueError):
    """A precision that does not exist, or that the encoder's device cannot run."""


def check_name(precision: Any) -> str:
    if precision not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def option(precision: Any) -> str:
    """An encoder's ``precision`` option: None means the default."""
    return DEFAULT if precision in (None, "") else check_name(precision)


def torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[check_name(precision)]


def supported(precision: str, device) -> bool:
    """Whether torch autocast on ``device`` really computes in ``precision``: a tiny matmul is run, since torch
    turns autocast off with only a warning for a dtype the device lacks (fp32 would then be recorded as bf16)."""
    import torch

    if check_name(precision) == DEFAULT:
        return True
    device = torch.device(device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.autocast(device.type, dtype=torch_dtype(precision)):
                one = torch.ones(2, 2, device=device)
                return (one @ one).dtype == torch_dtype(precision)
    except (RuntimeError, ValueError):  # no autocast for this device type at all
        return False


def require(precision: Any, device) -> str:
    """The precision option checked against the device the encoder runs on (one-line error if unsupported)."""
    precision = option(precision)
    if not supported(precision, device):
        raise PrecisionError(f"precision {precision} is not supported on device {device} by this torch "
                             f"(autocast does not compute in it there); use fp32" +
                             (" or bf16" if supported("bf16", device) else ""))
    return precision


def autocast(precision: str, device):
    """The context an encoder's forward pass runs in: nothing at all for fp32 (the default path is untouched),
    else torch autocast to the lower precision (weights stay fp32; matmuls run in the lower precision)."""
    if precision == DEFAULT:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(torch.device(device).type, dtype=torch_dtype(precision))


def record(config: dict[str, Any], precision: str) -> dict[str, Any]:
    """``config`` with the precision recorded, unless it is fp32 (configs, cache keys and result file names
    of the default stay what they were before precisions existed)."""
    return config if precision == DEFAULT else {**config, "precision": precision}
