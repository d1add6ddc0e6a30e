"""The metric registry: ``METRICS`` holds one ``Metric`` per name (direction, task types, and every form
of the metric), and scoring, the bootstrap CIs and the paired tests all go through it.

The plain forms are computed with scipy and scikit-learn so every score means what the literature
means; the batched forms (vectorized over resamples, for the bootstrap and permutation tests) sit next
to them in ``metrics_regression`` / ``metrics_classification``, and ``tests/test_metric_registry.py``
proves each agrees with its plain form.

Labels of classification tasks are class indices (0..k-1). ``y_score`` is the probability of class 1
(binary, pair_binary) or an (n, k) matrix of class probabilities (multiclass); only AUROC needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lsdbench.metrics.classification import (
    accuracy,
    auroc,
    auroc_rows,
    counts_rows,
    hits,
    macro_f1,
    macro_f1_of_counts,
    mcc,
    mcc_of_counts,
    weighted_auroc,
    weighted_counts,
)
from lsdbench.metrics.regression import (
    absolute_errors,
    correlation_rows,
    mae,
    pearson,
    spearman,
    weighted_pearson,
    weighted_spearman,
)
from lsdbench.metrics.values import finite  # noqa: F401  (scores as the result schema stores them)

WeightedFn = Callable[[np.ndarray, dict], np.ndarray]  # (W: resamples x items counts, cache) -> values
RowsFn = Callable[[np.ndarray, "np.ndarray | None"], np.ndarray]  # (P, S: rows x items) -> values


@dataclass(frozen=True)
class Metric:
    """One metric: its direction, the task types it applies to, and its forms (see ``metrics_regression``).

    ``score`` is the definition; ``per_item`` (metrics that are a mean over items) or ``weighted`` and
    ``rows`` are the batched forms. An additive metric's weighted form is derived from ``per_item``.
    """

    name: str
    higher_is_better: bool
    task_types: tuple[str, ...]  # where its batched forms apply: cards.METRICS_BY_TYPE's, and MCC multiclass
    score: Callable[..., float]  # (y_true, y_pred, y_score=None) -> float
    per_item: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None  # (y_true, y_pred) -> values
    weighted: Callable[..., WeightedFn | None] | None = None  # (y_true, y_pred, y_score) -> WeightedFn
    rows: Callable[[np.ndarray], RowsFn] | None = None  # (y_true) -> RowsFn

    def __call__(self, y_true, y_pred, y_score=None) -> float:
        return self.score(y_true, y_pred, y_score)

    def batch_weighted(self, task_type: str, y_true: np.ndarray, y_pred: np.ndarray,
                       y_score: np.ndarray | None) -> WeightedFn | None:
        """One seed's metric on a batch of weighted resamples, or None where no batched form applies."""
        if task_type not in self.task_types:
            return None
        if self.per_item is not None:
            values = self.per_item(y_true, y_pred)
            return lambda W, c: W @ values / c["N"]
        return None if self.weighted is None else self.weighted(y_true, y_pred, y_score)

    def batch_rows(self, task_type: str, y_true: np.ndarray) -> RowsFn | None:
        """The metric of each row of predictions against ``y_true``, or None where no row-wise form applies."""
        if task_type not in self.task_types or self.rows is None:
            return None
        return self.rows(y_true)


_REGRESSION = ("regression",)
_CLASSIFICATION = ("binary", "multiclass", "pair_binary")
_BINARY = ("binary", "pair_binary")

# Plain and batched forms are both kept: for the correlations, MAE and AUROC the batched ones differ from
# scipy / scikit-learn in the last bits (committed numbers must reproduce); for accuracy, MCC and macro F1
# they agree exactly (tested), but scikit-learn's checks of the labels stay part of scoring.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("spearman", True, _REGRESSION, spearman, weighted=weighted_spearman, rows=correlation_rows(True)),
    Metric("pearson", True, _REGRESSION, pearson, weighted=weighted_pearson, rows=correlation_rows(False)),
    Metric("mae", False, _REGRESSION, mae, per_item=absolute_errors),
    Metric("accuracy", True, _CLASSIFICATION, accuracy, per_item=hits),
    Metric("auroc", True, _BINARY, auroc, weighted=weighted_auroc, rows=auroc_rows),
    Metric("mcc", True, _CLASSIFICATION, mcc, weighted=weighted_counts(mcc_of_counts), rows=counts_rows(mcc_of_counts)),
    Metric("macro_f1", True, _CLASSIFICATION, macro_f1, weighted=weighted_counts(macro_f1_of_counts),
           rows=counts_rows(macro_f1_of_counts)),
)}
HIGHER_IS_BETTER = {name: m.higher_is_better for name, m in METRICS.items()}


def entry(name: str) -> Metric:
    """The registry entry of ``name``."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def higher_is_better(metric_name: str) -> bool:
    return entry(metric_name).higher_is_better


def compute_metric(metric_name: str, y_true, y_pred, y_score=None) -> float:
    """One metric of one set of predictions."""
    return entry(metric_name).score(y_true, y_pred, y_score)


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


__all__ = [
    "HIGHER_IS_BETTER", "METRICS", "Metric", "accuracy", "auroc", "compute_metric", "entry", "higher_is_better", "mae",
    "macro_f1", "mcc", "pearson", "score_all", "score_predictions", "spearman",
]
