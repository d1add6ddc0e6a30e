"""Protocol ``lsdbench-probe-1``: features -> probe (per seed) -> metrics and a bootstrap CI.

The output is the probe-dependent part of a result file (see ``results.py``): chosen
hyperparameters, validation and test scores, per-seed scores, the 95 % percentile bootstrap CI of
the primary test metric (1,000 resamples of test items, seed 0) and per-item test predictions.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from lsdbench.metrics.registry import score_all
from lsdbench.metrics.values import finite
from lsdbench.probe.probes import CLASSIFICATION, PROBES
from lsdbench.stats import bootstrap_ci as ci
from lsdbench.tasks.cards import METRICS_BY_TYPE
from lsdbench.tasks.pairs import cluster_note

CI_LEVEL = 0.95
CI_RESAMPLES = 1000
CI_SEED = 0
SCORE_DECIMALS = 6
DEFAULT_SEEDS = {"linear": (0,), "mlp": (0, 1, 2)}
# Linear probes run on one BLAS/OpenMP thread: on probe-sized matrices extra threads only add
# synchronisation (the open suite's fits: 5x slower on two threads, benchmarks/test_probe.py), and a
# fixed thread count makes the fitted bits independent of the machine's core count.
LINEAR_PROBE_THREADS = 1


def pair_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Symmetric pair features ``[u + v, u * v, |u - v|]``: the order of a pair never matters."""
    u, v = np.asarray(u, np.float32), np.asarray(v, np.float32)
    if u.shape != v.shape:
        raise ValueError(f"pair embeddings differ in shape: {u.shape} vs {v.shape}")
    return np.ascontiguousarray(np.concatenate([u + v, u * v, np.abs(u - v)], axis=1))


def bootstrap_ci(task_type: str, metric: str, y_true, per_seed: list[dict], *, n_resamples: int = CI_RESAMPLES,
                 seed: int = CI_SEED, level: float = CI_LEVEL, clusters: list | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI over test items of the mean-over-seeds metric (``stats.bootstrap_ci``).

    Resample indices depend only on ``seed`` and the number of items (or, given ``clusters``, of
    clusters: a cluster bootstrap), so every result of a task is resampled identically. Resamples where
    the metric is undefined (one class only) are dropped.
    """
    y_true = list(y_true)
    predictions = {"ids": [str(i) for i in range(len(y_true))], "y_true": y_true, "per_seed": per_seed}
    if clusters is not None:
        predictions["clusters"] = list(clusters)
    result = {"task": {"name": "-", "type": task_type, "primary_metric": metric}, "predictions": predictions}
    return ci(result, level=level, n_resamples=n_resamples, seed=seed)


@dataclass
class ProbeOutcome:
    probe: str
    params: dict[str, Any]
    primary_metric: str
    seeds: list[int]
    per_seed: list[dict[str, Any]]
    valid: dict[str, float]
    test: dict[str, float]
    test_std: dict[str, float]
    ci: tuple[float, float]
    test_ids: list[str]
    y_true: list
    predictions: list[dict[str, Any]] = field(default_factory=list)
    fit_s: float = 0.0

    def result_fields(self, task_type: str | None = None, clusters: list | None = None) -> dict[str, Any]:
        """The probe's part of a result; given the test items' resampling ``clusters`` (pair tasks), the CI
        is the cluster bootstrap's and the result records the clusters (the cached outcome keeps the
        item CI, so a cache entry reads the same with or without them)."""
        fields = self._fields()
        if clusters is not None:
            low, high = bootstrap_ci(str(task_type), self.primary_metric, self.y_true, self.predictions,
                                     clusters=clusters)
            fields["test_ci"].update(low=low, high=high, resampling=cluster_note(clusters))
            fields["predictions"]["clusters"] = [[int(u) for u in units] for units in clusters]
        return fields

    def _fields(self) -> dict[str, Any]:
        low, high = self.ci
        return {
            "probe": {"name": self.probe, "params": self.params, "selected": self.per_seed[0]["selected"],
                      "seeds": self.seeds},
            "scores": {"valid": self.valid, "test": self.test},
            "test_std": self.test_std,
            "test_ci": {"metric": self.primary_metric, "low": low, "high": high, "level": CI_LEVEL,
                        "n_resamples": CI_RESAMPLES, "seed": CI_SEED},
            "per_seed": self.per_seed,
            "predictions": {"ids": self.test_ids, "y_true": self.y_true, "per_seed": self.predictions},
        }


def _labels_list(y: np.ndarray, task_type: str) -> list:
    return [int(v) for v in y] if task_type in CLASSIFICATION else [float(v) for v in y]


def _mean(dicts: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = [k for k in dicts[0] if all(k in d for d in dicts)]
    return ({k: float(np.mean([d[k] for d in dicts])) for k in keys},
            {k: float(np.std([d[k] for d in dicts])) for k in keys})


def _score_splits(est, task_type: str, primary_metric: str, metrics, splits):
    """Scores per split (all metrics on test, the primary one elsewhere) and the test outputs as stored."""
    scores, test_pred, test_score = {}, None, None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a constant prediction makes a correlation undefined: dropped
        for split, X, y in splits:
            if task_type in CLASSIFICATION:
                proba = est.predict_proba(X)
                pred = proba.argmax(axis=1)
                proba = np.round(proba, SCORE_DECIMALS)  # stored rounded: scores are computed from what is stored
                y_score = None if task_type == "multiclass" else proba[:, 1]
                if split == "test":
                    test_pred, test_score = pred, (proba if task_type == "multiclass" else y_score)
            else:
                pred, y_score = est.predict(X), None
                if split == "test":
                    test_pred = pred
            wanted = metrics if split == "test" else (primary_metric,)
            scores[split] = finite(score_all(wanted, np.asarray(y), pred, y_score))
    return scores, test_pred, test_score


def fit_and_score(task_type: str, primary_metric: str, X_train, y_train, X_valid, y_valid, X_test, y_test,
                  test_ids: Sequence[str], *, probe: str = "linear", probe_params: dict | None = None,
                  seeds: Sequence[int] | None = None, n_classes: int | None = None) -> ProbeOutcome:
    """Fit the probe once per seed, select on validation, score on test (all metrics of the task type)."""
    if probe not in PROBES:
        raise ValueError(f"unknown probe {probe!r}; choose one of {', '.join(PROBES)}")
    metrics = METRICS_BY_TYPE[task_type]
    if primary_metric not in metrics:
        raise ValueError(f"metric {primary_metric!r} does not apply to a {task_type} task")
    cls = PROBES[probe]
    seeds = list(seeds if seeds is not None else DEFAULT_SEEDS[probe])
    if probe == "linear" and len(seeds) != 1:
        seeds = seeds[:1]  # the linear probe is deterministic: more seeds would repeat one fit
    if n_classes is None and task_type in CLASSIFICATION:
        n_classes = int(max(np.max(y_train), np.max(y_valid), np.max(y_test))) + 1
    params = dict(probe_params or {})
    y_test = np.asarray(y_test)
    per_seed, predictions = [], []
    t0 = time.perf_counter()
    with threadpool_limits(LINEAR_PROBE_THREADS) if probe == "linear" else nullcontext():
        for seed in seeds:
            kwargs = dict(params, task_type=task_type, metric=primary_metric, n_classes=n_classes)
            if probe == "mlp":
                kwargs["seed"] = seed
            est = cls(**kwargs).fit(X_train, y_train, X_valid, y_valid)
            scores, test_pred, test_score = _score_splits(est, task_type, primary_metric, metrics,
                                                          (("valid", X_valid, y_valid), ("test", X_test, y_test)))
            per_seed.append({"seed": int(seed), "selected": est.selected_, "valid": scores["valid"],
                             "test": scores["test"]})
            entry = {"seed": int(seed), "y_pred": _labels_list(np.asarray(test_pred), task_type)}
            if test_score is not None:
                entry["y_score"] = np.asarray(test_score, float).tolist()
            predictions.append(entry)
    fit_s = time.perf_counter() - t0
    valid, _ = _mean([s["valid"] for s in per_seed])
    test, test_std = _mean([s["test"] for s in per_seed])
    ci = bootstrap_ci(task_type, primary_metric, y_test, predictions)
    full_params = {k: v for k, v in cls(task_type=task_type).get_params().items()
                   if k not in ("task_type", "metric", "n_classes", "seed")}
    full_params.update(params)
    if probe == "linear":
        full_params["grid"] = list(est._grid())  # record the grid actually searched
    return ProbeOutcome(probe=probe, params=_jsonable(full_params), primary_metric=primary_metric, seeds=seeds,
                        per_seed=per_seed, valid=valid, test=test, test_std=test_std, ci=ci,
                        test_ids=list(test_ids), y_true=_labels_list(y_test, task_type), predictions=predictions,
                        fit_s=fit_s)


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, (tuple, list, np.ndarray)):
            v = [float(x) for x in v]
        out[k] = v
    return out
