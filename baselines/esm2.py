"""``esm2``: ESM-2 (Lin et al., Science 2023) through Hugging Face ``transformers`` (optional extra ``esm``).

``pip install -e ".[esm]"``, then for example::

    lsdbench eval --encoder esm2 --suite open                                   # facebook/esm2_t6_8M_UR50D
    lsdbench eval --encoder esm2 --encoder-opt checkpoint=facebook/esm2_t33_650M_UR50D --encoder-opt layer=20

Options:

- ``checkpoint``: a Hugging Face model id (default ``facebook/esm2_t6_8M_UR50D``) or a local directory
  written by ``save_pretrained``. Masked-LM checkpoints load fine: only the encoder is kept.
- ``layer``: which hidden state to pool, 0 = embeddings, ``num_layers`` = final (after the last
  LayerNorm, the fair-esm ``repr_layers`` convention); negative counts from the end (default -1).
- ``dtype``: ``float32`` (default), ``float16`` or ``bfloat16`` for the forward pass (recorded in config).
- ``precision``: ``fp32`` (default), ``bf16`` or ``fp16`` (``lsdbench --precision``): sets ``dtype`` to match,
  where the device supports it, and is recorded in config as well.
- ``revision``, ``local_files_only``: passed to ``from_pretrained`` (``HF_HUB_OFFLINE=1`` works too).
- ``device`` (cuda when available), ``threads`` (torch's setting), ``batch_residues`` (8192).
- ``batching``: "bucketed" (default; each forward call shaped by one sequence's own length, so a sequence
  gets the same bits in any batch) or "fast" (token-budget batches; recorded in config).
- ``model``: an ``EsmModel`` instance to wrap instead of loading one (from Python only).

Each sequence is tokenised as ``<cls> residues <eos>`` with the ESM-2 alphabet (every ESM-2 checkpoint
shares it; X B Z U O have their own tokens), right-padded, and the chosen hidden state is averaged over
the real residues only (no cls, eos or padding). ESM-2 was trained on crops of at most 1022 residues, so
``max_length = 1022``: lsdbench windows longer sequences. ``config`` records the checkpoint, the layer, the
dtype and a sha256 of the weights actually loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lsdbench.encode.encoders import EncoderError
from lsdbench.encode.precision import record

from ._seq import as_bool, as_int, encode_concat, lookup_table, padded
from ._torch import TorchEncoder, state_dict_sha256

__all__ = ["ESM2", "DEFAULT_CHECKPOINT", "ESM_TOKENS"]

DEFAULT_CHECKPOINT = "facebook/esm2_t6_8M_UR50D"
# the ESM-2 vocabulary (fair-esm Alphabet "ESM-1b", identical in every ESM-2 checkpoint)
ESM_TOKENS = ["<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K",
              "Q", "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>"]
CLS, PAD, EOS = 0, 1, 2
_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_DTYPE_OF = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}  # precision -> dtype option
_INSTALL = 'pip install -e ".[esm]"  (or pip install "transformers>=4.40")'


def _load(checkpoint: str, revision: str | None, local_files_only: bool):
    try:
        from transformers import EsmModel
    except ImportError as exc:
        raise EncoderError(f"encoder esm2 needs Hugging Face transformers, which is not installed ({exc}); "
                           f"install it with: {_INSTALL}") from None
    path = os.path.expanduser(checkpoint)
    local = os.path.isdir(path)
    # hub ids are "name" or "org/name"; anything else is meant as a directory
    if not local and (checkpoint.startswith((".", "~")) or os.path.isabs(checkpoint) or checkpoint.count("/") > 1 or os.path.exists(path)):
        raise EncoderError(f"esm2 checkpoint {checkpoint!r} is not a directory written by save_pretrained")
    try:
        model = EsmModel.from_pretrained(path if local else checkpoint, add_pooling_layer=False,
                                         revision=revision, local_files_only=local_files_only)
    except Exception as exc:  # OSError, HF hub errors, ValueError: all mean "cannot get these weights"
        raise EncoderError(
            f"cannot load ESM-2 checkpoint {checkpoint!r}: {type(exc).__name__}: {str(exc).splitlines()[0]} "
            f"-- without network access, download it beforehand (huggingface-cli download {checkpoint}) and "
            f"set HF_HUB_OFFLINE=1, or pass checkpoint=DIR, a directory written by save_pretrained"
        ) from None
    return model


def _dtype(dtype: str, precision: str) -> str:
    """The dtype the weights are cast to: ``precision``'s when it is lower than fp32 (dtype must then agree)."""
    if precision == "fp32":
        return dtype
    if dtype not in ("float32", _DTYPE_OF[precision]):
        raise EncoderError(f"options dtype={dtype} and precision={precision} disagree; give one")
    return _DTYPE_OF[precision]


class ESM2(TorchEncoder):
    """ESM-2 hidden states mean-pooled over residues (entry point ``esm2``); see the module docstring."""

    name = "esm2"
    max_length = 1022
    extra_tokens = 2  # <cls> and <eos>

    def __init__(self, checkpoint: str = DEFAULT_CHECKPOINT, layer: int = -1, dtype: str = "float32",
                 revision: str | None = None, local_files_only: bool = False, device: str | None = None,
                 threads: int | None = None, batch_residues: int = 8192, model: Any = None,
                 precision: str | None = None, batching: str | None = None):
        if dtype not in _DTYPES:
            raise EncoderError(f"option dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.set_runtime(device=device, threads=threads, batch_residues=batch_residues, precision=precision,
                         batching=batching)
        self.dtype = _dtype(str(dtype), self.precision)
        self.revision = None if revision in (None, "") else str(revision)
        if model is None:
            self.checkpoint = str(checkpoint)
            model = _load(self.checkpoint, self.revision, as_bool(local_files_only, "local_files_only"))
        else:
            if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
                raise EncoderError("option model must be a transformers EsmModel instance")
            self.checkpoint = getattr(model.config, "_name_or_path", "") or "<model instance>"
        cfg = model.config
        if getattr(cfg, "vocab_size", None) != len(ESM_TOKENS) or getattr(cfg, "pad_token_id", None) != PAD:
            raise EncoderError(f"{self.checkpoint!r} does not use the ESM-2 vocabulary (vocab_size 33, pad 1)")
        self.num_layers = int(cfg.num_hidden_layers)
        layer = as_int(layer, "layer")
        if not -(self.num_layers + 1) <= layer <= self.num_layers:
            raise EncoderError(f"option layer must lie in [-{self.num_layers + 1}, {self.num_layers}] for "
                               f"{self.checkpoint!r}, got {layer}")
        self.layer = layer % (self.num_layers + 1)
        self.dim = int(cfg.hidden_size)
        self.weights_sha256 = state_dict_sha256(model)  # the weights actually used, before any cast
        self.model = model.to(device=self.device, dtype=_DTYPES[self.dtype]).eval()
        self._table = lookup_table([ESM_TOKENS.index(a) for a in "ACDEFGHIKLMNPQRSTVWYXBZUO"])

    @property
    def _config(self) -> dict[str, Any]:
        return record({"version": 1, "checkpoint": self.checkpoint, "revision": self.revision,
                       "weights_sha256": self.weights_sha256, "layer": self.layer, "num_layers": self.num_layers,
                       "dim": self.dim, "dtype": self.dtype, "pooling": "mean over residues (no cls/eos)",
                       "max_length": self.max_length}, self.precision)

    def tokenize(self, batch: Sequence[str], width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``<cls> seq <eos> <pad>...`` token ids (b, max(L, width) + 2) and the mask of the residue positions."""
        codes, lengths = encode_concat(batch, self._table)
        width = max(int(lengths.max()), min(width or 0, self.max_length))
        ids = padded(codes, lengths, offset=1, fill=PAD, width=width + 2)
        ids[:, 0] = CLS
        ids[np.arange(lengths.size), lengths + 1] = EOS
        pos = np.arange(ids.shape[1])[None, :]
        residues = (pos >= 1) & (pos <= lengths[:, None])
        return torch.from_numpy(ids), torch.from_numpy(residues)

    def _run(self, batch: list[str], width: int | None = None) -> torch.Tensor:
        ids, residues = self.tokenize(batch, width)
        ids, residues = ids.to(self.device), residues.to(self.device)
        attention = (ids != PAD).long()
        final = self.layer == self.num_layers
        out = self.model(input_ids=ids, attention_mask=attention, output_hidden_states=not final)
        h = (out.last_hidden_state if final else out.hidden_states[self.layer]).float()
        m = residues[..., None].float()
        return (h * m).sum(1) / m.sum(1)
