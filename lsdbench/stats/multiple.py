"""Multiple-testing corrections of a family of p-values, and the verdict each comparison gets from its
adjusted p (``holm`` / ``benjamini_hochberg`` through ``adjust``, then ``verdict``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from lsdbench.stats.predictions import ComparisonError
from lsdbench.stats.significance import CORRECTIONS, VERDICTS  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from lsdbench.stats.paired import PairedComparison



def _check_pvalues(pvalues) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float).ravel()
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    return p


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down; controls the family-wise error rate).

    In ascending order p_(1) <= ... <= p_(m): adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)),
    returned in the input order. Reject where adjusted p < alpha.
    """
    p = _check_pvalues(pvalues)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(stepped)
    return out


def benjamini_hochberg(pvalues) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up; controls the false discovery rate).

    adj_(i) = min_{j >= i} min(1, m / j * p_(j)) in ascending order, returned in the input order.
    """
    # not scipy.stats.false_discovery_control: it scales by p * (m / j), not (p * m) / j, so its last bits
    # differ from the adjusted p-values published so far (tests check the two agree to rounding)
    p = _check_pvalues(pvalues)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    out = np.empty(m)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def adjust(pvalues, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values: ``holm``, ``bh`` (Benjamini-Hochberg) or ``none``."""
    if method == "holm":
        return holm(pvalues)
    if method == "bh":
        return benjamini_hochberg(pvalues)
    if method == "none":
        return _check_pvalues(pvalues).copy()
    raise ComparisonError(f"unknown correction {method!r}; choose one of {', '.join(CORRECTIONS)}")


def verdict(comparison: PairedComparison, p_adjusted: float, alpha: float = 0.05) -> str:
    """'better' / 'worse' (A relative to B) when the adjusted p is below alpha, else 'not distinguishable'."""
    if not p_adjusted < alpha:  # also NaN
        return "not distinguishable"
    return "better" if comparison.better else "worse"


def judge(comparisons: Sequence[PairedComparison], *, correction: str = "holm",
          alpha: float = 0.05, family_size: int | None = None) -> list[tuple[float, str]]:
    """One family: adjust its p-values together and give each comparison its verdict, as
    ``(p_adjusted, verdict)`` in input order. The one place compare, sweep, hypotheses and the
    leaderboard turn p-values into verdicts.

    ``family_size``: the family declared in advance, at least as large as ``comparisons``; the
    comparisons not made count as p = 1 (the most conservative completion), so a verdict does not
    depend on how many of the declared comparisons one call happened to hold."""
    m = len(comparisons)
    if family_size is not None and (isinstance(family_size, bool) or int(family_size) != family_size
                                    or family_size < max(m, 1)):
        raise ComparisonError(f"family size (--family-size) {family_size!r} is smaller than the {m} comparisons of the family; "
                              f"declare at least {max(m, 1)}")
    if not comparisons:
        return []
    padded = [c.p_value for c in comparisons] + [1.0] * ((family_size or m) - m)
    adjusted = adjust(padded, method=correction)[:m]
    return [(float(p), verdict(c, float(p), alpha)) for c, p in zip(comparisons, adjusted, strict=True)]
