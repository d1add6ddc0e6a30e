"""Elementary paired tests: exact McNemar on per-item correctness, and the bootstrap p-value of a
set of resampled deltas."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

# scipy is imported where it is used (see the package docstring: `--help` must start without it)


def mcnemar_exact(correct_a, correct_b) -> float:
    """Exact two-sided McNemar p-value: binomial test of the discordant items against 1/2.

    ``correct_a``/``correct_b``: per-item booleans (was the item classified correctly by A / by B).
    Items both got right or both got wrong carry no information; with no discordant item p = 1.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("correct_a and correct_b must be 1-d arrays of the same length")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5, alternative="two-sided").pvalue)


def bootstrap_pvalue(deltas, tol: float = 0.0) -> float:
    """Two-sided percentile-inversion p-value of ``H0: delta = 0`` from bootstrap deltas.

    Deltas within ``tol`` of 0 count on both sides (float noise must not decide a tie).
    """
    d = np.asarray(deltas, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    low = int(np.sum(d <= tol))
    high = int(np.sum(d >= -tol))
    return float(min(1.0, 2.0 * (1 + min(low, high)) / (d.size + 1)))
