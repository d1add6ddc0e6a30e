"""A result's metric on whole batches of resamples, through the batched forms of its registry entry
(``metrics.METRICS``): weighted (bootstrap count matrices) and row-wise (the permutation test's swapped
predictions), averaged over seeds.

Resampling with ``metrics.score_predictions`` costs one Python call per resample; the batched forms
evaluate a whole batch at once. Each is checked on the full sample against ``score_predictions`` before
use, so the plain form stays the definition: where they disagree, callers take the slow path.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from lsdbench.metrics.registry import METRICS
from lsdbench.stats.predictions import _Preds, _score_full

log = logging.getLogger(__name__)

WeightedFn = Callable[[np.ndarray, dict], np.ndarray]


def _entry(name: str):
    return METRICS.get(name)  # an unknown metric has no batched form: the slow path reports it


def _close(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9 * max(1.0, abs(y))


def _weighted_scorer(p: _Preds, observed: float) -> WeightedFn | None:
    """Mean over seeds of the metric on weighted resamples; None unless it reproduces ``observed``."""
    entry = _entry(p.metric)
    if entry is None:
        return None
    parts = [entry.batch_weighted(p.task_type, p.y_true, yp, ys) for yp, ys in zip(p.y_pred, p.y_score, strict=True)]
    if any(f is None for f in parts):
        return None

    def scorer(W, c):
        with np.errstate(all="ignore"):
            return np.mean([f(W, c) for f in parts], axis=0)

    ones = np.ones((1, p.n))
    check = float(scorer(ones, {"N": np.array([float(p.n)])})[0])
    if not _close(check, observed):  # metrics.score_predictions defines the metric differently: use it
        log.debug("batched %s differs from score_predictions (%r vs %r); slow path", p.metric, check, observed)
        return None
    return scorer


def _rows_scorer(p: _Preds) -> Callable | None:
    """One seed's metric of per-row predictions P and scores S (rows x items); None unless it reproduces
    ``p``'s score on its own predictions."""
    entry = _entry(p.metric)
    f = None if entry is None else entry.batch_rows(p.task_type, p.y_true)
    if f is None:
        return None
    check = np.mean([f(yp[None, :], None if ys is None else ys[None, :])[0]
                     for yp, ys in zip(p.y_pred, p.y_score, strict=True)])
    return f if _close(float(check), _score_full(p)) else None


def _mean_item_values(p: _Preds) -> np.ndarray | None:
    """Per item, the mean over seeds of what an additive metric (a mean over items) averages; else None."""
    entry = _entry(p.metric)
    if entry is None or entry.per_item is None:
        return None
    return np.mean([entry.per_item(p.y_true, yp) for yp in p.y_pred], axis=0)
