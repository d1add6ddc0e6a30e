"""The task metrics re-implemented on whole batches of resamples: weighted (bootstrap count matrices)
and row-wise (per-resample predictions of the permutation test)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .predictions import CLASSIFICATION, _Preds

if TYPE_CHECKING:
    import scipy.sparse

# scipy is imported where it is used (see the package docstring: `--help` must start without it)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- batched metrics
# Resampling many times with metrics.score_predictions costs one Python call per resample; these
# evaluate a metric on a whole batch of resamples at once. The bootstrap form takes a count matrix
# W (resamples x items: how often each item was drawn), which equals scoring the resampled items
# with their repeats; the permutation form takes a matrix of per-resample predictions. Both are
# checked on the full sample against score_predictions before use, else the slow path is taken.


def _midrank_plan(values: np.ndarray):
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


def _wpearson(W: np.ndarray, x: np.ndarray, y: np.ndarray, N: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    y = y - y.mean()  # centring first keeps the moment sums well conditioned
    sx, sy, sxx, syy = W @ x, W @ y, W @ (x * x), W @ (y * y)
    return _corr(W @ (x * y) - sx * sy / N, sxx - sx * sx / N, syy - sy * sy / N, sxx, syy)


def _onehot(labels: np.ndarray, k: int, values=None) -> scipy.sparse.csr_matrix:
    import scipy.sparse as sp

    n = labels.size
    data = np.ones(n) if values is None else np.asarray(values, dtype=float)
    return sp.csr_matrix((data, (np.arange(n), labels)), shape=(n, k))


def _wmul(W: np.ndarray, M: scipy.sparse.csr_matrix) -> np.ndarray:
    return np.asarray((M.T @ W.T).T)


def _confusion_metric(metric: str, tp, t_sum, p_sum, N) -> np.ndarray:
    if metric == "accuracy":
        return tp.sum(axis=1) / N
    if metric == "macro_f1":
        denom = t_sum + p_sum  # = 2tp + fp + fn; > 0 exactly for labels present in truth or prediction
        present = denom > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(present, 2.0 * tp / np.where(present, denom, 1.0), 0.0)
        return f1.sum(axis=1) / present.sum(axis=1)
    # mcc, multiclass form (as scikit-learn): 0 where a marginal is constant
    cov_tp = tp.sum(axis=1) * N - (t_sum * p_sum).sum(axis=1)
    cov_pp = N * N - (p_sum * p_sum).sum(axis=1)
    cov_tt = N * N - (t_sum * t_sum).sum(axis=1)
    denom = cov_tt * cov_pp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, cov_tp / np.sqrt(np.where(denom > 0, denom, 1.0)), 0.0)


def _auroc_rows_weighted(W, score, positive, N) -> np.ndarray:
    order, starts, _ = _midrank_plan(score)
    Ws = W[:, order]
    g_all = np.add.reduceat(Ws, starts, axis=1)
    g_pos = np.add.reduceat(Ws * positive[order], starts, axis=1)
    g_neg = g_all - g_pos
    below = np.cumsum(g_neg, axis=1) - g_neg  # negatives scored strictly lower; ties count 1/2
    n_pos, n_neg = g_pos.sum(axis=1), g_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (g_pos * (below + g_neg / 2.0)).sum(axis=1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


WeightedFn = Callable[[np.ndarray, dict], np.ndarray]


def _weighted_seed(task_type: str, metric: str, y_true: np.ndarray, y_pred: np.ndarray,
                   y_score: np.ndarray | None) -> WeightedFn | None:
    """Metric of one seed's predictions on weighted resamples, or None if not available in batch form."""
    if metric == "mae" and task_type == "regression":
        loss = np.abs(y_pred - y_true)
        return lambda W, c: W @ loss / c["N"]
    if metric == "pearson" and task_type == "regression":
        return lambda W, c: _wpearson(W, y_pred, y_true, c["N"])
    if metric == "spearman" and task_type == "regression":
        plan = _midrank_plan(y_pred)

        def spearman(W, c):
            if "true_ranks" not in c:  # shared by every seed and both results of a comparison
                c["true_ranks"] = _weighted_centred_ranks(W, _midrank_plan(y_true), c["N"])
            rt, rp = c["true_ranks"], _weighted_centred_ranks(W, plan, c["N"])
            sxx, syy = np.einsum("ij,ij,ij->i", W, rp, rp), np.einsum("ij,ij,ij->i", W, rt, rt)
            sxy = np.einsum("ij,ij,ij->i", W, rt, rp)
            return _corr(sxy, sxx, syy, sxx, syy)  # centred ranks of a constant side are exactly 0
        return spearman
    if task_type not in CLASSIFICATION:
        return None
    if metric == "auroc" and task_type != "multiclass":
        score = y_pred.astype(float) if y_score is None else y_score
        if score.ndim != 1:
            return None
        positive = (y_true == 1).astype(float)
        return lambda W, c: _auroc_rows_weighted(W, score, positive, c["N"])
    if metric in ("accuracy", "macro_f1", "mcc"):
        if metric == "accuracy":
            hit = (y_pred == y_true).astype(float)
            return lambda W, c: W @ hit / c["N"]
        classes, inv = np.unique(np.r_[y_true, y_pred], return_inverse=True)
        k, n = classes.size, y_true.size
        t, p = inv[:n], inv[n:]
        T, P, TP = _onehot(t, k), _onehot(p, k), _onehot(t, k, t == p)
        return lambda W, c: _confusion_metric(metric, _wmul(W, TP), _wmul(W, T), _wmul(W, P), c["N"])
    return None


def _rowwise_seed(task_type: str, metric: str, y_true: np.ndarray) -> Callable | None:
    """Metric of per-row predictions P (rows x items) and scores S, same truth for every row."""
    from scipy.stats import rankdata

    n = y_true.size
    if metric in ("pearson", "spearman") and task_type == "regression":
        yt = rankdata(y_true) if metric == "spearman" else y_true.astype(float)
        yt_scale = float(yt @ yt)
        yt = yt - yt.mean()

        def corr(P, S):
            x = rankdata(P, axis=1) if metric == "spearman" else P.astype(float)
            raw = (x * x).sum(axis=1)
            x = x - x.mean(axis=1, keepdims=True)
            return _corr(x @ yt, (x * x).sum(axis=1), np.full(len(x), yt @ yt), raw, yt_scale)
        return corr
    if task_type not in CLASSIFICATION:
        return None
    if metric == "auroc" and task_type != "multiclass":
        positive = y_true == 1
        n_pos, n_neg = positive.sum(), (~positive).sum()

        def auroc(P, S):
            s = P.astype(float) if S is None else S
            if s.ndim != 2 or n_pos == 0 or n_neg == 0:
                return np.full(len(P), np.nan)
            u = rankdata(s, axis=1)[:, positive].sum(axis=1) - n_pos * (n_pos + 1) / 2.0  # Mann-Whitney U
            return u / (n_pos * n_neg)
        return auroc
    if metric in ("macro_f1", "mcc"):
        def confusion(P, S):
            classes, inv = np.unique(np.r_[y_true, P.ravel()], return_inverse=True)
            k, rows = classes.size, len(P)
            t, p = inv[:n], inv[n:].reshape(rows, n)
            off = (np.arange(rows) * k)[:, None]
            t_sum = np.broadcast_to(np.bincount(t, minlength=k).astype(float), (rows, k))
            p_sum = np.bincount((p + off).ravel(), minlength=rows * k).reshape(rows, k).astype(float)
            tp = np.bincount((p + off).ravel(), weights=(p == t).ravel().astype(float),
                             minlength=rows * k).reshape(rows, k)
            return _confusion_metric(metric, tp, t_sum, p_sum, np.full(rows, float(n)))
        return confusion
    return None


def _close(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9 * max(1.0, abs(y))


def _weighted_scorer(p: _Preds, observed: float) -> WeightedFn | None:
    """Mean over seeds of the metric on weighted resamples; None unless it reproduces ``observed``."""
    parts = [_weighted_seed(p.task_type, p.metric, p.y_true, yp, ys) for yp, ys in zip(p.y_pred, p.y_score, strict=True)]
    if any(f is None for f in parts):
        return None

    def scorer(W, c):
        with np.errstate(all="ignore"):
            return np.mean([f(W, c) for f in parts], axis=0)

    ones = np.ones((1, p.n))
    check = float(scorer(ones, {"N": np.array([float(p.n)])})[0])
    if not _close(check, observed):  # metrics.py defines the metric differently: use it directly
        log.debug("batched %s differs from score_predictions (%r vs %r); slow path", p.metric, check, observed)
        return None
    return scorer
