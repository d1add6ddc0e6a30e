"""One result's per-item test predictions as arrays (``_Preds``), the checks that two results are
comparable, and a result's score through ``metrics.score_predictions`` (the reference every faster
path is checked against)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lsdbench.errors import UserError
from lsdbench.metrics import (
    registry as metrics,  # looked up at call time: lsdbench.metrics.registry is the definition of a score
)
from lsdbench.stats.clusters import ClusterError, Clusters, make_clusters

CLASSIFICATION = ("binary", "multiclass", "pair_binary")


class ComparisonError(UserError, ValueError):
    """Two results cannot be compared (different tasks, splits or items), or a bad test option."""


@dataclass
class _Preds:
    """One result's test predictions as arrays (seeds stacked)."""

    label: str
    task: str
    task_type: str
    metric: str
    probe: str
    ids: list[str]
    y_true: np.ndarray
    y_pred: list[np.ndarray]
    y_score: list[np.ndarray | None]
    per_seed: list[dict]  # as stored, for metrics.score_predictions
    clusters: Clusters | None = None  # units shared by items (stats.clusters); None: independent items

    @property
    def n(self) -> int:
        return len(self.ids)


def result_label(result: dict) -> str:
    """Short display name of a result: the encoder name."""
    return str(result.get("encoder", {}).get("name", "?"))


def _preds(result: dict, where: str) -> _Preds:
    try:
        task = result["task"]
        pred = result["predictions"]
        ids = list(pred["ids"])
        per_seed = list(pred["per_seed"])
        task_type, metric = task["type"], task["primary_metric"]
        y_true_raw = pred["y_true"]
    except (KeyError, TypeError) as exc:
        raise ComparisonError(f"{where}: not a result with per-item test predictions (missing {exc})") from None
    if not per_seed:
        raise ComparisonError(f"{where}: the result has no per-seed predictions")
    dtype = np.float64 if task_type == "regression" else np.int64
    y_true = np.asarray(y_true_raw, dtype=dtype)
    y_pred, y_score = [], []
    for s in per_seed:
        yp = np.asarray(s["y_pred"], dtype=dtype)
        if yp.shape != y_true.shape or len(ids) != y_true.size:
            raise ComparisonError(f"{where}: predictions of seed {s.get('seed')} do not match the {len(ids)} test ids")
        y_pred.append(yp)
        ys = s.get("y_score")
        y_score.append(None if ys is None else np.asarray(ys, dtype=np.float64))
    probe = str(result.get("probe", {}).get("name", ""))
    clusters = pred.get("clusters")
    if clusters is not None:
        clusters = _clusters(clusters, len(ids), where)
    return _Preds(result_label(result), str(task["name"]), task_type, metric, probe, ids, y_true, y_pred,
                  y_score, per_seed, clusters)


def _clusters(raw, n: int, where: str) -> Clusters:
    try:
        return make_clusters(raw, n)
    except ClusterError as exc:
        raise ComparisonError(f"{where}: {exc}") from None


def shared_clusters(pa: _Preds, pb: _Preds, wa: str, wb: str) -> Clusters | None:
    """The resampling clusters of a paired comparison: either result's (the split hashes already agree),
    None when neither records any; two different partitions of the same items cannot both be right."""
    if pa.clusters is None or pb.clusters is None:
        return pa.clusters if pb.clusters is None else pb.clusters
    if pa.clusters.key != pb.clusters.key:
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: they record different "
                              "resampling clusters of the same test items; re-run both with this lsdbench")
    return pa.clusters


def _describe(result: dict) -> str:
    enc = result.get("encoder", {}) if isinstance(result, Mapping) else {}
    config = enc.get("config") or {}
    extra = ", ".join(f"{k}={config[k]}" for k in sorted(config)) if config else ""
    return f"encoder {enc.get('name', '?')}" + (f" ({extra})" if extra else "")


def _check_pair(ra: dict, rb: dict, pa: _Preds, pb: _Preds, wa: str, wb: str) -> None:
    if pa.task != pb.task:
        raise ComparisonError(f"cannot compare {wa} with {wb}: different tasks ({pa.task!r} vs {pb.task!r})")
    ha, hb = ra["task"].get("split_hashes") or {}, rb["task"].get("split_hashes") or {}
    differ = [s for s in ("test", "train", "valid") if ha.get(s) != hb.get(s)]  # probes trained on other data
    if differ:
        hashes = "; ".join(f"{s} hash {ha.get(s)} vs {hb.get(s)}" for s in differ)
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: they were scored on different "
                              f"{'/'.join(differ)} splits ({hashes}); re-run both with the same task data")
    if (pa.task_type, pa.metric) != (pb.task_type, pb.metric):
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: task type/metric differ "
                              f"({pa.task_type}/{pa.metric} vs {pb.task_type}/{pb.metric})")
    if pa.ids != pb.ids:
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: their test item ids differ")
    same = (np.allclose(pa.y_true, pb.y_true, rtol=1e-9, atol=1e-12) if pa.task_type == "regression"
            else np.array_equal(pa.y_true, pb.y_true))
    if not same:
        raise ComparisonError(f"cannot compare {wa} with {wb} on {pa.task}: their test labels differ")


def _score_full(p: _Preds, index=None) -> float:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # degenerate resamples (constant values) give NaN: dropped later
        try:
            return float(metrics.score_predictions(p.task_type, p.metric, p.y_true, p.per_seed, index=index))
        except (ValueError, ZeroDivisionError):
            return float("nan")


def _seed_score(p: _Preds, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    """One seed's metric through metrics.compute_metric (slow path of the permutation test)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return float(metrics.compute_metric(p.metric, p.y_true, y_pred, y_score))
        except (ValueError, ZeroDivisionError):
            return float("nan")
