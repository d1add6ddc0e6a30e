"""Batch-invariant batching: every forward call's shape is decided by one sequence's own length.

A neural encoder's embedding of a sequence can change in the last bits with its batch-mates: the
padded width and the number of rows select different matrix-multiply blocking, so float sums run in
another order. Here a sequence of length n always runs in a call of ``rows_per_call(padded_length(n))``
rows, padded to ``padded_length(n)`` columns, whatever else is being encoded: a short call is filled
with copies of its first row, which are computed and dropped. Row-wise kernels (matmul, attention with
a key mask, layer norm, masked pooling) then give the same bits for that sequence in any batch, with
any ``--batch-residues``, shard count or cache state.

The price is padding (under 1/4 of a call's positions, 1/8 on average over uniformly spread lengths)
and calls of at most ``CALL_TOKENS`` positions; ``benchmarks/test_batching.py`` measures it against
the token-budget batching that encoders offer as ``batching="fast"``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from lsdbench.encode.encoders import EncoderError

BATCHING_MODES = ("bucketed", "fast")
CALL_TOKENS = 4096  # positions per forward call (rows x padded width), the same for every bucket


def padded_length(n: int) -> int:
    """n rounded up to a multiple of max(8, 2^(bit_length(n - 1) - 3)): 8 widths per power of two."""
    n = max(int(n), 1)
    step = max(8, 1 << max((n - 1).bit_length() - 3, 0))
    return -(-n // step) * step


def rows_per_call(width: int, extra: int = 0) -> int:
    """Rows of every call for a bucket of ``width`` residues (``extra`` special tokens per row)."""
    return max(1, CALL_TOKENS // (width + extra))


def bucket_width(n: int, extra: int = 0) -> int:
    """The padded residue width of a sequence of n residues: its row of n + ``extra`` tokens is padded to
    ``padded_length``, so every row is a multiple of 8 tokens and rows start on the same matmul blocks."""
    return padded_length(n + extra) - extra


def bucket_batches(lengths: Sequence[int], extra: int = 0,
                   cap: int | None = None) -> Iterator[tuple[list[int], int, int]]:
    """(indices, width, rows) per call: indices of at most ``rows`` sequences that share a padded width.

    Buckets run in increasing width; within a bucket, indices keep their input order. ``cap`` (the
    encoder's ``max_length``): a sequence within it gets its bucket's width cut to ``cap``, so windows of
    exactly ``cap`` residues carry no bucket padding; a longer one (sent by a direct ``encode`` call,
    never by the harness, which windows it) gets calls of its own at its full bucket width, so
    neither kind's shape depends on the other being in the batch.
    """
    buckets: dict[tuple[int, bool], list[int]] = {}
    for i, n in enumerate(lengths):
        buckets.setdefault((bucket_width(n, extra), cap is not None and n > cap), []).append(i)
    for width, over in sorted(buckets):
        rows = rows_per_call(width, extra)
        members = buckets[width, over]
        shape = width if cap is None or over else min(width, cap)
        for a in range(0, len(members), rows):
            yield members[a:a + rows], shape, rows


def fill_rows(batch, rows: int):
    """``batch`` (a list, tensor or array) grown to ``rows`` rows with copies of its first row."""
    short = rows - len(batch)
    if short <= 0:
        return batch
    if isinstance(batch, list):
        return batch + [batch[0]] * short
    first = batch[:1]
    if hasattr(first, "expand"):  # torch
        import torch
        return torch.cat([batch, first.expand(short, *first.shape[1:])])
    import numpy as np
    return np.concatenate([batch, np.repeat(first, short, axis=0)])


def batching_mode(value) -> str:
    """The ``batching`` option of an encoder: "bucketed" (default, batch-invariant) or "fast"."""
    mode = "bucketed" if value in (None, "") else str(value)
    if mode not in BATCHING_MODES:
        raise EncoderError(f"option batching must be one of {', '.join(BATCHING_MODES)}, got {value!r}")
    return mode
