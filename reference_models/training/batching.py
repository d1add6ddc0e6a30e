"""Training batches: an epoch's token-budget batches of random crops, in a seeded order.

Batches are grouped by the project's one token-budget batcher (``lsdbench.encode.batching``) with bos/eos as
the ``extra`` tokens of every row, so short crops come in big batches and long ones in small batches.
"""

from __future__ import annotations

import numpy as np

from lsdbench.encode.batching import token_budget_bounds


def random_crop(sequence: str, max_len: int, rng: np.random.Generator) -> str:
    """A random window of ``max_len`` residues (the whole sequence when it is shorter)."""
    if len(sequence) <= max_len:
        return sequence
    start = int(rng.integers(0, len(sequence) - max_len + 1))
    return sequence[start:start + max_len]


def sequence_lengths(sequences) -> np.ndarray:
    """Lengths (int32) of a list of str, or of a memory-mapped corpus (its ``lengths``, without reading it)."""
    lengths = getattr(sequences, "lengths", None)
    return np.asarray(lengths if lengths is not None else [len(s) for s in sequences], dtype=np.int32)


class EpochBatches:
    """One epoch's batches, made on demand: ``batches[k]`` is a list of cropped sequences (str)."""

    def __init__(self, sequences, order, bounds, perm, starts, crop_lengths):
        self.sequences, self.order, self.bounds, self.perm = sequences, order, bounds, perm
        self.starts, self.crop_lengths = starts, crop_lengths

    def __len__(self) -> int:
        return len(self.perm)

    def indices(self, k: int) -> np.ndarray:
        b = self.perm[k]
        return self.order[self.bounds[b]:self.bounds[b + 1]]

    def __getitem__(self, k: int) -> list[str]:
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        out = []
        for i in self.indices(k % len(self)):
            start = int(self.starts[i])
            out.append(self.sequences[int(i)][start:start + int(self.crop_lengths[i])])
        return out

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __eq__(self, other) -> bool:
        return list(self) == list(other)


class EpochPlan:
    """The training data order: per epoch, seeded crops and a seeded shuffle of token-budget batches.

    Everything is a function of (seed, epoch), so a run resumes from (epoch, batch index) alone and
    every DDP process builds the same global batches. ``sequences`` is a list of str or a memory-mapped
    corpus (corpus.TokenCorpus): the plan holds lengths, crop offsets and the batch order (16 bytes per
    sequence, 8 more transiently while an epoch is planned), never the sequences. The draws are those of ``random_crop`` over the sequences in
    order (one ``integers`` draw per sequence longer than ``max_len``), then one ``permutation``.
    """

    def __init__(self, sequences, *, max_len: int, budget: int, seed: int, min_rows: int = 1):
        if budget < max_len + 2:
            raise ValueError(f"token budget {budget} is smaller than one cropped sequence ({max_len} + 2)")
        self.sequences, self.max_len, self.budget, self.seed, self.min_rows = sequences, max_len, budget, seed, min_rows
        self.lengths = sequence_lengths(sequences)
        self._epoch, self._batches = -1, None  # one epoch's plan at a time

    def epoch(self, epoch: int) -> EpochBatches:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            long = self.lengths > self.max_len
            starts = np.zeros(len(self.lengths), dtype=np.int32)
            if long.any():  # numpy draws an array of bounded integers as it draws them one by one
                starts[long] = rng.integers(0, self.lengths[long].astype(np.int64) - self.max_len + 1)
            crop_lengths = np.minimum(self.lengths, self.max_len).astype(np.int32)
            order, bounds = token_budget_bounds(crop_lengths, self.budget, extra=2, min_rows=self.min_rows)
            perm = rng.permutation(len(bounds) - 1)
            self._batches = EpochBatches(self.sequences, order, bounds, perm, starts, crop_lengths)
            self._epoch = epoch
        return self._batches
