"""How noisy the choice of a sweep's level is: t* is picked on a small validation set, and no test
interval shows the noise of that pick.

Results record test predictions only, so the pick is re-run on validation-sized resamples of the TEST
items (same items for every level in a draw, so levels stay paired): each draw takes ``n_valid`` test
items with replacement and picks the level with the best score on them, as ``select_level`` does on
validation. ``chosen_share`` is how often each level wins; a t* that wins a small share was one of
several levels a validation set of that size cannot tell apart. This assumes validation and test items
come from one distribution, and resamples items, not protein clusters (pair tasks: an approximation).
``test_best`` marks the level with the best full-test score, so a reader sees the cost of the pick
(test at t* against the best test score) beside its noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from lsdbench.metrics.registry import higher_is_better, score_predictions

SELECTION_DRAWS = 200
SELECTION_SEED = 0


def _score(result: Any, index: np.ndarray) -> float:
    pred = result["predictions"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a degenerate draw (one class, constant values) gives NaN: never chosen
        try:
            return float(score_predictions(result["task"]["type"], result["task"]["primary_metric"],
                                           pred["y_true"], pred["per_seed"], index=index))
        except (ValueError, ZeroDivisionError):
            return float("nan")


def _best(scores: np.ndarray, higher: bool) -> int | None:
    """Index of the best finite score (first of equal bests, as select_level); None when none is finite."""
    finite = np.isfinite(scores)
    if not finite.any():
        return None
    signed = np.where(finite, scores if higher else -scores, -np.inf)
    return int(np.flatnonzero(signed == signed.max())[0])


def chosen_shares(results: Sequence[Any], *, n_draws: int = SELECTION_DRAWS, seed: int = SELECTION_SEED) -> list[float]:
    """Share of validation-sized draws of the test items on which each level has the best score."""
    first = results[0]
    n_test, n_valid = len(first["predictions"]["y_true"]), int(first["task"]["sizes"]["valid"])
    higher = bool(higher_is_better(first["task"]["primary_metric"]))
    rng = np.random.default_rng(seed)
    wins, counted = np.zeros(len(results)), 0
    for _ in range(n_draws):
        index = rng.integers(0, n_test, size=min(n_valid, n_test) or n_test)
        best = _best(np.array([_score(r, index) for r in results]), higher)
        if best is not None:
            wins[best] += 1
            counted += 1
    return (wins / counted).tolist() if counted else [float("nan")] * len(results)


def best_on_test(results: Sequence[Any]) -> int:
    """Index of the level with the best full-test primary score (first of equal bests)."""
    metric = results[0]["task"]["primary_metric"]
    return _best(np.array([float(r["scores"]["test"][metric]) for r in results]), bool(higher_is_better(metric)))
