"""Regression metrics (Spearman, Pearson, MAE), each one's forms side by side; ``metrics.METRICS`` holds
them in one entry per metric.

- plain form ``(y_true, y_pred, y_score=None) -> float``: the definition of a score (scipy / scikit-learn);
- weighted form ``(y_true, y_pred, y_score) -> f(W, cache)``: the metric on a batch of bootstrap resamples
  given as a count matrix W (resamples x items: how often each item was drawn), which equals scoring the
  resampled items with their repeats; ``cache["N"]`` holds each resample's size;
- row-wise form ``(y_true) -> f(P, S)``: the metric of each row of a matrix of predictions P (and scores S)
  against one truth (the permutation test's swapped predictions);
- per-item form ``(y_true, y_pred) -> values``: for a metric that is a mean over items, what is averaged.

The batched forms exist for speed (one Python call per batch, not per resample). They are not derived
from the plain form because their floats differ from scipy's in the last bits, and the committed CIs
and p-values come from them: callers check them on the full sample against the plain form before use.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
from scipy import stats
from sklearn import metrics as skm

# --------------------------------------------------------------------------- plain forms


def spearman(y_true, y_pred, y_score=None) -> float:
    return float(stats.spearmanr(y_true, y_pred).statistic)


def pearson(y_true, y_pred, y_score=None) -> float:
    return float(stats.pearsonr(np.asarray(y_true, float), np.asarray(y_pred, float)).statistic)


def mae(y_true, y_pred, y_score=None) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


def absolute_errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-item form of MAE."""
    return np.abs(y_pred - y_true)


# --------------------------------------------------------------------------- batched forms


def midrank_plan(values: np.ndarray):
    """Sort order, starts of tie groups in sorted order, and each item's tie group."""
    order = np.argsort(values, kind="mergesort")
    sv = values[order]
    new = np.r_[True, sv[1:] != sv[:-1]]
    starts = np.flatnonzero(new)
    group = np.empty(values.size, dtype=np.intp)
    group[order] = np.cumsum(new) - 1
    return order, starts, group


def _weighted_centred_ranks(W: np.ndarray, plan, N: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank) of every item in each weighted resample, minus (N+1)/2."""
    order, starts, group = plan
    g = W[:, order]
    if starts.size != g.shape[1]:
        g = np.add.reduceat(g, starts, axis=1)  # weight of each tie group
    # mean rank of a group, cum - (g - 1)/2, minus the mean rank (N + 1)/2, in place for speed
    mid = np.cumsum(g, axis=1)
    mid -= 0.5 * g
    mid -= (0.5 * N)[:, None]
    return mid[:, group]


def _corr(sxy, sxx, syy, scale_x, scale_y) -> np.ndarray:
    """Correlation from centred sums; NaN (as scipy) where a side is constant, i.e. its centred sum of
    squares is rounding noise relative to its raw sum of squares ``scale``."""
    ok = (sxx > 1e-12 * scale_x) & (syy > 1e-12 * scale_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, sxy / np.sqrt(np.where(ok, sxx * syy, 1.0)), np.nan)


def weighted_pearson(y_true: np.ndarray, y_pred: np.ndarray, y_score=None):
    x = y_pred - y_pred.mean()
    y = y_true - y_true.mean()  # centring first keeps the moment sums well conditioned

    def pearson_w(W, c):
        N = c["N"]
        sx, sy, sxx, syy = W @ x, W @ y, W @ (x * x), W @ (y * y)
        return _corr(W @ (x * y) - sx * sy / N, sxx - sx * sx / N, syy - sy * sy / N, sxx, syy)
    return pearson_w


def _recent(c: dict, kind: str, values: np.ndarray, make, keep: int = 2):
    """``make()`` kept in the resample batch's cache ``c`` under the content of ``values``, the ``keep``
    most recent per kind: a batch's cache lives as long as its resample stream (stats.resampling), so
    the labels' ranks, and the ranks of the result every level of a sweep is tested against, are
    computed once per batch instead of once per comparison."""
    lru = c.setdefault(kind, OrderedDict())
    key = hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest() + str(values.dtype)
    if key not in lru:
        lru[key] = make()
        while len(lru) > keep:
            lru.popitem(last=False)
    lru.move_to_end(key)
    return lru[key]


def weighted_spearman(y_true: np.ndarray, y_pred: np.ndarray, y_score=None):
    plan = midrank_plan(y_pred)

    def ranks(W, c, values, values_plan):
        r = _weighted_centred_ranks(W, values_plan, c["N"])
        return r, np.einsum("ij,ij,ij->i", W, r, r)

    def spearman_w(W, c):
        rt, syy = _recent(c, "spearman_true", y_true, lambda: ranks(W, c, y_true, midrank_plan(y_true)))
        rp, sxx = _recent(c, "spearman_pred", y_pred, lambda: ranks(W, c, y_pred, plan))
        sxy = np.einsum("ij,ij,ij->i", W, rt, rp)
        return _corr(sxy, sxx, syy, sxx, syy)  # centred ranks of a constant side are exactly 0
    return spearman_w


def correlation_rows(ranked: bool):
    """Row-wise form of Spearman (``ranked``) or Pearson."""

    def rows(y_true: np.ndarray):
        yt = stats.rankdata(y_true) if ranked else y_true.astype(float)
        yt_scale = float(yt @ yt)
        yt = yt - yt.mean()

        def corr(P, S):
            x = stats.rankdata(P, axis=1) if ranked else P.astype(float)
            raw = (x * x).sum(axis=1)
            x = x - x.mean(axis=1, keepdims=True)
            return _corr(x @ yt, (x * x).sum(axis=1), np.full(len(x), yt @ yt), raw, yt_scale)
        return corr
    return rows
