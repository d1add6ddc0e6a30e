"""Token-budget batching: length-sorted sequences grouped so that rows x (longest + extra) <= budget.

The one batcher of the project (esm's batching, vectorized and seedable): the harness groups the pieces
it hands an encoder (``longest_first``, no special tokens), the torch baselines and the reference
models' ``batching="fast"`` group their forward calls, and training groups crops (shortest first, with
bos/eos as ``extra``). Short sequences come in big batches and long ones in small batches, so little
compute goes to padding. A batch-invariant alternative for encoders is in ``buckets.py``.
"""

from __future__ import annotations

import numpy as np


def token_budget_bounds(lengths, budget: int, *, extra: int = 0, min_rows: int = 1,
                        longest_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(order, bounds): batch k is ``order[bounds[k]:bounds[k + 1]]``; see ``token_budget_batches``.

    Sequences are taken in length order (ties by index); a batch closes before the sequence that would
    take it over the budget, once it has ``min_rows`` rows. Shortest first, lengths only grow along
    ``order``, so the closing point of each batch is found with a vectorized scan of at most
    budget / length candidates; longest first, the first row of a batch is its longest.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths if longest_first else lengths, kind="stable")
    order = order.astype(np.int32) if len(order) < 2**31 else order
    size = lengths[order] + extra
    n = len(order)
    bounds = [0]
    p = 0
    while p < n:
        if longest_first:
            k = max(1, min_rows, budget // int(size[p]))
        else:
            # closing after k rows: (k + 1) * size[p + k] > budget, which holds for every k >= budget // size[p]
            w = min(n - 1 - p, max(1, budget // int(size[p])))
            ks = np.arange(1, w + 1)
            over = np.flatnonzero((ks + 1) * size[p + ks] > budget)
            k = max(int(ks[over[0]]), min_rows) if len(over) else n - p
        p = min(n, p + k)
        bounds.append(p)
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < min_rows:
        del bounds[-2]  # too few rows left for every process: they join the previous batch
    return order, np.asarray(bounds, dtype=np.int64)


def token_budget_batches(lengths, budget: int, *, extra: int = 0, min_rows: int = 1,
                         longest_first: bool = False) -> list[list[int]]:
    """Indices grouped into batches of length-sorted sequences with rows * (max length + extra) <= budget.

    A single sequence longer than the budget gets a batch of its own. ``min_rows`` keeps the last rows
    of a batch together when it must be shared by that many processes (DDP).
    """
    order, bounds = token_budget_bounds(lengths, budget, extra=extra, min_rows=min_rows, longest_first=longest_first)
    return [order[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
