"""Token-budget batching of length-sorted buckets and random cropping (esm's batching, made seedable).

A batch holds as many sequences as fit in ``budget`` padded tokens (length + bos/eos), so short
sequences come in big batches and long ones in small batches, and little compute goes to padding.
"""

from __future__ import annotations

import numpy as np


def token_budget_batches(lengths, budget: int, *, extra: int = 2, min_rows: int = 1) -> list[list[int]]:
    """Indices grouped into batches of length-sorted sequences with rows * (max length + extra) <= budget.

    A single sequence longer than the budget gets a batch of its own. ``min_rows`` keeps the last rows
    of a batch together when it must be shared by that many processes (DDP).
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        size = lengths[i] + extra
        if current and (len(current) + 1) * max(longest, size) > budget and len(current) >= min_rows:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size)
    if current:
        if len(current) < min_rows and batches:
            batches[-1].extend(current)
        else:
            batches.append(current)
    return batches


def random_crop(sequence: str, max_len: int, rng: np.random.Generator) -> str:
    """A random window of ``max_len`` residues (the whole sequence when it is shorter)."""
    if len(sequence) <= max_len:
        return sequence
    start = int(rng.integers(0, len(sequence) - max_len + 1))
    return sequence[start:start + max_len]


class EpochPlan:
    """The training data order: per epoch, seeded crops and a seeded shuffle of token-budget batches.

    Everything is a function of (seed, epoch), so a run resumes from (epoch, batch index) alone and
    every DDP process builds the same global batches.
    """

    def __init__(self, sequences: list[str], *, max_len: int, budget: int, seed: int, min_rows: int = 1):
        if budget < max_len + 2:
            raise ValueError(f"token budget {budget} is smaller than one cropped sequence ({max_len} + 2)")
        self.sequences, self.max_len, self.budget, self.seed, self.min_rows = sequences, max_len, budget, seed, min_rows
        self._epoch, self._batches = -1, []

    def epoch(self, epoch: int) -> list[list[str]]:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            crops = [random_crop(s, self.max_len, rng) for s in self.sequences]
            batches = token_budget_batches([len(c) for c in crops], self.budget, min_rows=self.min_rows)
            order = rng.permutation(len(batches))
            self._batches = [[crops[i] for i in batches[k]] for k in order]
            self._epoch = epoch
        return self._batches
