"""What the torch baselines share: weight hashing, thread and device handling, batched encoding, and their
base class ``TorchEncoder`` (runtime options, ``encode``, ``config``)."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from lsdbench.encode.batching import token_budget_batches
from lsdbench.encode.buckets import batching_mode, bucket_batches, fill_rows
from lsdbench.encode.encoders import EncoderError
from lsdbench.encode.precision import require

from ._seq import as_int


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over every tensor of the state dict (name, dtype, shape, raw bytes), in sorted name order."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + h.hexdigest()


def pick_device(device: str | None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(str(device))
    except RuntimeError as exc:
        raise EncoderError(f"option device: {exc}") from None


def threads_option(threads) -> int | None:
    """``threads`` option: None/0 keeps torch's setting (which follows OMP_NUM_THREADS)."""
    if threads in (None, "", 0, "0"):
        return None
    return as_int(threads, "threads", minimum=1)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block and restore the caller's setting after it."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_lengths(sequences: Sequence[str], max_length: int, name: str) -> None:
    for i, s in enumerate(sequences):
        if len(s) > max_length:
            raise ValueError(f"{name}: sequence {i} has {len(s)} residues, more than max_length={max_length}; "
                             f"lsdbench windows longer sequences before calling encode")


def encode_in_batches(sequences: Sequence[str], budget: int, dim: int,
                      run: Callable[[list[str], int | None], torch.Tensor], *, batching: str = "bucketed",
                      extra: int = 0) -> np.ndarray:
    """Pooled (n, dim) embeddings in input order; ``run(batch, width)`` -> (len(batch), dim).

    "bucketed": calls shaped by each sequence's own length (lsdbench.encode.buckets), so a sequence gets the same
    bits in any batch; ``width`` is the padded residue width and filler rows are dropped. "fast":
    token-budget batches of length-sorted sequences (``budget`` residues per call), ``width`` None.
    """
    seqs = list(sequences)
    out = np.zeros((len(seqs), dim), dtype=np.float32)
    if batching == "fast":
        for idx in token_budget_batches([len(s) for s in seqs], budget, longest_first=True):
            out[idx] = run([seqs[i] for i in idx], None).float().cpu().numpy()
    else:
        for idx, width, rows in bucket_batches([len(s) for s in seqs], extra=extra):
            out[idx] = run(fill_rows([seqs[i] for i in idx], rows), width)[:len(idx)].float().cpu().numpy()
    return np.ascontiguousarray(out)


class TorchEncoder:
    """Base of the torch baselines. ``set_runtime`` takes the options they share (``batch_residues``,
    ``batching``, ``threads``, ``device``, ``precision``); ``encode`` runs the subclass's ``_run(batch, width)``
    over batches. ``config`` is ``_config`` plus the batching mode where it changes the bits ("fast" is
    written into it; the default is not), and ``cache_inputs`` keys bucketed entries apart from those of
    caches filled before buckets."""

    name: str
    dim: int
    max_length: int
    batching: str
    extra_tokens = 0  # special tokens a forward call adds around each sequence (they shape the buckets)

    def set_runtime(self, *, device, threads, batch_residues, precision, batching) -> None:
        self.batch_residues = as_int(batch_residues, "batch_residues", minimum=1)
        self.batching = batching_mode(batching)
        self.threads = threads_option(threads)
        self.device = pick_device(device)
        self.precision = require(precision, self.device)

    @property
    def config(self) -> dict:
        return {**self._config, "batching": "fast"} if self.batching == "fast" else self._config

    @property
    def cache_inputs(self) -> dict:
        return {"batching": "bucketed"} if self.batching == "bucketed" else {}

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        check_lengths(sequences, self.max_length, self.name)
        with torch_threads(self.threads), torch.inference_mode():
            return encode_in_batches(sequences, self.batch_residues, self.dim, self._run, batching=self.batching,
                                     extra=self.extra_tokens)
