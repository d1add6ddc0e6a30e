"""Classification metrics (accuracy, AUROC, MCC, macro F1), each one's forms side by side; ``metrics.METRICS``
holds them in one entry per metric. The forms and why the batched ones are separate code:
``metrics_regression``'s docstring.

Labels are class indices (0..k-1). ``y_score`` is the probability of class 1; only AUROC needs it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata
from sklearn import metrics as skm

from lsdbench.metrics.regression import midrank_plan

# --------------------------------------------------------------------------- plain forms


def accuracy(y_true, y_pred, y_score=None) -> float:
    return float(skm.accuracy_score(y_true, y_pred))


def auroc(y_true, y_pred, y_score=None) -> float:
    if y_score is None:
        raise ValueError("auroc needs y_score (the probability of class 1)")
    y_true = np.asarray(y_true)
    if np.unique(y_true).size < 2:
        raise ValueError("auroc is undefined when the items hold one class only")
    return float(skm.roc_auc_score(y_true, np.asarray(y_score, float)))


def mcc(y_true, y_pred, y_score=None) -> float:
    return float(skm.matthews_corrcoef(y_true, y_pred))


def macro_f1(y_true, y_pred, y_score=None) -> float:
    # average over the classes present in truth or prediction (scikit-learn's default label set)
    return float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))


def hits(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-item form of accuracy (1.0 where the prediction is right)."""
    return (y_pred == y_true).astype(float)


# --------------------------------------------------------------------------- AUROC, batched


def weighted_auroc(y_true: np.ndarray, y_pred: np.ndarray, y_score):
    score = y_pred.astype(float) if y_score is None else y_score
    if score.ndim != 1:
        return None
    order, starts, _ = midrank_plan(score)
    positive = (y_true == 1).astype(float)[order]

    def auroc_w(W, c):
        Ws = W[:, order]
        g_all = np.add.reduceat(Ws, starts, axis=1)
        g_pos = np.add.reduceat(Ws * positive, starts, axis=1)
        g_neg = g_all - g_pos
        below = np.cumsum(g_neg, axis=1) - g_neg  # negatives scored strictly lower; ties count 1/2
        n_pos, n_neg = g_pos.sum(axis=1), g_neg.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (g_pos * (below + g_neg / 2.0)).sum(axis=1) / (n_pos * n_neg)
        return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    return auroc_w


def auroc_rows(y_true: np.ndarray):
    positive = y_true == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()

    def auroc_r(P, S):
        s = P.astype(float) if S is None else S
        if s.ndim != 2 or n_pos == 0 or n_neg == 0:
            return np.full(len(P), np.nan)
        u = rankdata(s, axis=1)[:, positive].sum(axis=1) - n_pos * (n_pos + 1) / 2.0  # Mann-Whitney U
        return u / (n_pos * n_neg)
    return auroc_r


# --------------------------------------------------------------------------- MCC and macro F1, batched
# Both are functions of per-class counts (rows: resamples): tp, t_sum (true), p_sum (predicted), N items.


def mcc_of_counts(tp, t_sum, p_sum, N) -> np.ndarray:
    # multiclass form (as scikit-learn): 0 where a marginal is constant
    cov_tp = tp.sum(axis=1) * N - (t_sum * p_sum).sum(axis=1)
    cov_pp = N * N - (p_sum * p_sum).sum(axis=1)
    cov_tt = N * N - (t_sum * t_sum).sum(axis=1)
    denom = cov_tt * cov_pp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, cov_tp / np.sqrt(np.where(denom > 0, denom, 1.0)), 0.0)


def macro_f1_of_counts(tp, t_sum, p_sum, N) -> np.ndarray:
    denom = t_sum + p_sum  # = 2tp + fp + fn; > 0 exactly for labels present in truth or prediction
    present = denom > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2.0 * tp / np.where(present, denom, 1.0), 0.0)
    return f1.sum(axis=1) / present.sum(axis=1)


def _onehot(labels: np.ndarray, k: int, values=None) -> sp.csr_matrix:
    n = labels.size
    data = np.ones(n) if values is None else np.asarray(values, dtype=float)
    return sp.csr_matrix((data, (np.arange(n), labels)), shape=(n, k))


def _wmul(W: np.ndarray, M: sp.csr_matrix) -> np.ndarray:
    return np.asarray((M.T @ W.T).T)


def weighted_counts(of_counts):
    """Weighted form of a metric given as a function of per-class counts."""

    def weighted(y_true: np.ndarray, y_pred: np.ndarray, y_score=None):
        classes, inv = np.unique(np.r_[y_true, y_pred], return_inverse=True)
        k, n = classes.size, y_true.size
        t, p = inv[:n], inv[n:]
        T, P, TP = _onehot(t, k), _onehot(p, k), _onehot(t, k, t == p)
        return lambda W, c: of_counts(_wmul(W, TP), _wmul(W, T), _wmul(W, P), c["N"])
    return weighted


def counts_rows(of_counts):
    """Row-wise form of a metric given as a function of per-class counts."""

    def rows(y_true: np.ndarray):
        n = y_true.size

        def confusion(P, S):
            classes, inv = np.unique(np.r_[y_true, P.ravel()], return_inverse=True)
            k, rows = classes.size, len(P)
            t, p = inv[:n], inv[n:].reshape(rows, n)
            off = (np.arange(rows) * k)[:, None]
            t_sum = np.broadcast_to(np.bincount(t, minlength=k).astype(float), (rows, k))
            p_sum = np.bincount((p + off).ravel(), minlength=rows * k).reshape(rows, k).astype(float)
            tp = np.bincount((p + off).ravel(), weights=(p == t).ravel().astype(float),
                             minlength=rows * k).reshape(rows, k)
            return of_counts(tp, t_sum, p_sum, np.full(rows, float(n)))
        return confusion
    return rows
