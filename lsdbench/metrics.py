"""Metrics by name, computed with scipy and scikit-learn so every score means what the literature means.

Labels of classification tasks are class indices (0..k-1). ``y_score`` is the probability of class 1
(binary, pair_binary) or an (n, k) matrix of class probabilities (multiclass); only AUROC needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm

HIGHER_IS_BETTER = {"spearman": True, "pearson": True, "mae": False, "accuracy": True, "auroc": True,
                    "mcc": True, "macro_f1": True}


def spearman(y_true, y_pred, y_score=None) -> float:
    return float(stats.spearmanr(y_true, y_pred).statistic)


def pearson(y_true, y_pred, y_score=None) -> float:
    return float(stats.pearsonr(np.asarray(y_true, float), np.asarray(y_pred, float)).statistic)


def mae(y_true, y_pred, y_score=None) -> float:
    return float(skm.mean_absolute_error(y_true, y_pred))


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


METRICS: dict[str, Callable[..., float]] = {
    "spearman": spearman, "pearson": pearson, "mae": mae, "accuracy": accuracy, "auroc": auroc, "mcc": mcc,
    "macro_f1": macro_f1,
}


def higher_is_better(metric: str) -> bool:
    try:
        return HIGHER_IS_BETTER[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}") from None


def compute_metric(metric: str, y_true, y_pred, y_score=None) -> float:
    """One metric of one set of predictions."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    return METRICS[metric](y_true, y_pred, y_score)


def score_all(metrics: Sequence[str], y_true, y_pred, y_score=None) -> dict[str, float]:
    return {m: compute_metric(m, y_true, y_pred, y_score) for m in metrics}


def score_predictions(task_type: str, metric: str, y_true, per_seed: Sequence[dict], index=None) -> float:
    """Mean over seeds of ``metric`` on each seed's predictions, on the items ``index`` (default all).

    This is the one definition of a result's score: the leaderboard recomputes claimed scores with it
    and the paired tests resample it.
    """
    y_true = np.asarray(y_true)
    if index is not None:
        index = np.asarray(index)
        y_true = y_true[index]
    values = []
    for seed in per_seed:
        y_pred = np.asarray(seed["y_pred"])
        y_score = seed.get("y_score")
        y_score = None if y_score is None else np.asarray(y_score, float)
        if index is not None:
            y_pred = y_pred[index]
            y_score = None if y_score is None else y_score[index]
        if metric == "auroc" and task_type == "multiclass":
            raise ValueError("auroc is defined here for binary tasks only")
        values.append(compute_metric(metric, y_true, y_pred, y_score))
    if not values:
        raise ValueError("no per-seed predictions to score")
    return float(np.mean(values))
