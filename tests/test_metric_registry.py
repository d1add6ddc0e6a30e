"""The metric registry (``lsdbench.metrics.registry.METRICS``): one entry per metric, and every batched form in an
entry agrees with the entry's plain form (the definition of a score), on data with ties and rare classes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lsdbench.metrics import registry as metrics
from lsdbench.metrics.registry import METRICS
from lsdbench.tasks.cards import METRICS_BY_TYPE

# (metric, task type) for every task type a metric applies to
PAIRS = [(name, t) for name, m in METRICS.items() for t in m.task_types]
COUNT_BASED = ("accuracy", "mcc", "macro_f1")  # integer counts: the batched form is exact, not just close


def _plain(name, y_true, y_pred, y_score=None) -> float:
    try:
        return METRICS[name].score(y_true, y_pred, y_score)
    except ValueError:  # AUROC of one class only: the batched forms give NaN
        return math.nan


def _data(task_type: str, rng, n: int = 40):
    """Truth, predictions and scores with ties (rounded values, few classes; a rare class)."""
    if task_type == "regression":
        y = np.round(rng.normal(size=n), 1)
        return y, np.round(y + 0.8 * rng.normal(size=n), 1), None
    k = 5 if task_type == "multiclass" else 2
    y = rng.integers(0, k, n)
    y[:2] = (0, 1)  # both classes present
    y[-1] = k - 1
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))
    score = np.round(np.clip(0.5 * pred + 0.5 * rng.random(n), 0, 1), 2)
    return y, pred, score if k == 2 else None


def _counts(rng, n: int, resamples: int) -> tuple[np.ndarray, np.ndarray]:
    idx = rng.integers(0, n, size=(resamples, n))
    W = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)
    return idx, W


def test_registry_covers_every_metric_a_card_may_name_for_its_task_types():
    for task_type, names in METRICS_BY_TYPE.items():
        assert all(task_type in METRICS[name].task_types for name in names), task_type
    assert {n for names in METRICS_BY_TYPE.values() for n in names} == set(METRICS)
    assert all(m.name == name for name, m in METRICS.items())


def test_direction_and_lookup_come_from_the_entry():
    assert metrics.HIGHER_IS_BETTER == {name: m.higher_is_better for name, m in METRICS.items()}
    assert not metrics.higher_is_better("mae") and metrics.higher_is_better("spearman")
    assert metrics.entry("auroc") is METRICS["auroc"]
    for call in (lambda: metrics.entry("r2"), lambda: metrics.higher_is_better("r2"),
                 lambda: metrics.compute_metric("r2", [0, 1], [0, 1])):
        with pytest.raises(ValueError, match="unknown metric 'r2'"):
            call()
    y, p = [0, 1, 1, 0], [0, 1, 0, 0]
    assert METRICS["accuracy"](y, p) == metrics.compute_metric("accuracy", y, p) == metrics.accuracy(y, p) == 0.75


@pytest.mark.parametrize(("name", "task_type"), PAIRS)
def test_weighted_form_equals_the_plain_form_on_the_resampled_items(name, task_type):
    rng = np.random.default_rng(len(name) + len(task_type))
    y, p, s = _data(task_type, rng)
    f = METRICS[name].batch_weighted(task_type, y, p, s)
    assert f is not None
    idx, W = _counts(rng, y.size, 60)
    got = f(W, {"N": W.sum(axis=1)})
    expected = [_plain(name, y[r], p[r], None if s is None else s[r]) for r in idx]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    ones = f(np.ones((1, y.size)), {"N": np.array([float(y.size)])})[0]
    if name in COUNT_BASED:
        assert ones == _plain(name, y, p, s)
    else:
        assert ones == pytest.approx(_plain(name, y, p, s), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("name", "task_type"), [(n, t) for n, t in PAIRS if METRICS[n].rows is not None])
def test_row_wise_form_equals_the_plain_form_row_by_row(name, task_type):
    rng = np.random.default_rng(3 + len(name))
    y, _, _ = _data(task_type, rng)
    rows = [_data(task_type, np.random.default_rng(100 + r), y.size) for r in range(30)]
    P = np.stack([p for _, p, _ in rows])
    S = None if rows[0][2] is None else np.stack([s for _, _, s in rows])
    f = METRICS[name].batch_rows(task_type, y)
    expected = [_plain(name, y, P[r], None if S is None else S[r]) for r in range(len(P))]
    np.testing.assert_allclose(f(P, S), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.per_item is not None])
def test_per_item_form_averages_to_the_plain_form(name):
    entry = METRICS[name]
    y, p, _ = _data(entry.task_types[0], np.random.default_rng(5), 57)
    assert np.mean(entry.per_item(y, p)) == pytest.approx(entry.score(y, p), rel=1e-12)
    assert entry.weighted is None  # its weighted form is derived from the per-item form


def test_batched_forms_apply_only_to_the_task_types_of_the_entry():
    y, p, s = _data("binary", np.random.default_rng(6))
    for name, entry in METRICS.items():
        for task_type in set(METRICS_BY_TYPE) - set(entry.task_types):
            assert entry.batch_weighted(task_type, y, p, s) is None, (name, task_type)
            assert entry.batch_rows(task_type, y) is None, (name, task_type)


@pytest.mark.parametrize(("name", "task_type"), PAIRS)
def test_stats_take_the_batched_path_for_every_metric(name, task_type):
    """The bootstrap and the permutation test use the entry's batched forms (not the slow per-resample path)."""
    from lsdbench.stats.predictions import _preds, _score_full
    from lsdbench.stats.weighted import _mean_item_values, _rows_scorer, _weighted_scorer

    y, p, s = _data(task_type, np.random.default_rng(7))
    seed = {"seed": 0, "y_pred": p.tolist(), **({} if s is None else {"y_score": s.tolist()})}
    result = {"task": {"name": "toy", "type": task_type, "primary_metric": name},
              "predictions": {"ids": [str(i) for i in range(y.size)], "y_true": y.tolist(), "per_seed": [seed]}}
    pr = _preds(result, "toy")
    assert _weighted_scorer(pr, _score_full(pr)) is not None
    assert (_mean_item_values(pr) is not None) or (_rows_scorer(pr) is not None)
