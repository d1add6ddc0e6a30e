"""Result files (schema ``lsdbench-result-1``): validation, atomic writing, safe reading.

A result is plain JSON (never pickle), validated twice: against ``result_schema.json`` for shape and
types, then for consistency the schema cannot express (one prediction per test id, seeds agree).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from lsdbench import strict_json
from lsdbench.atomic import atomic_write_text
from lsdbench.encode.cost import environment  # noqa: F401  (its old home: callers import it here)
from lsdbench.errors import UserError
from lsdbench.metrics.values import finite  # noqa: F401  (its old home)
from lsdbench.names import config_hash, result_filename, run_name  # noqa: F401  (their old home: callers import them here)
from lsdbench.settings import RESULT_FILE_BYTES

RESULT_SCHEMA = "lsdbench-result-1"
MAX_BYTES = RESULT_FILE_BYTES.default  # a result holds a few thousand predictions; anything far larger is not one


class ResultError(UserError, ValueError):
    """A result file or object does not follow lsdbench-result-1."""


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("lsdbench.results").joinpath("result_schema.json").read_text())


def _check_clusters(obj: dict, n: int, where: str) -> None:
    """Resampling units, when recorded: one list per item, and test_ci says they were used."""
    clusters = obj["predictions"].get("clusters")
    if clusters is not None:
        if len(clusters) != n:
            raise ResultError(f"{where}: predictions.clusters has {len(clusters)} items, ids has {n}")
        if "resampling" not in obj["test_ci"]:
            raise ResultError(f"{where}: predictions.clusters is given but test_ci.resampling does not say so")
        bad = next((i for i, units in enumerate(clusters) if not isinstance(units, list) or not 0 < len(units) <= 2
                    or any(isinstance(u, bool) or not isinstance(u, int) or u < 0 for u in units)), None)
        if bad is not None:
            raise ResultError(f"{where}: predictions.clusters[{bad}] is not a list of one or two unit numbers")
    elif "resampling" in obj["test_ci"]:
        raise ResultError(f"{where}: test_ci.resampling is given but predictions.clusters is not")


def _check_consistency(obj: dict, where: str) -> None:
    pred = obj["predictions"]
    n = len(pred["ids"])
    if len(set(pred["ids"])) != n:
        raise ResultError(f"{where}: predictions.ids are not unique")
    if len(pred["y_true"]) != n:
        raise ResultError(f"{where}: predictions.y_true has {len(pred['y_true'])} items, ids has {n}")
    if obj["task"]["sizes"].get("test") != n:
        raise ResultError(f"{where}: task.sizes.test is {obj['task']['sizes'].get('test')}, predictions hold {n}")
    seeds = [s["seed"] for s in pred["per_seed"]]
    if seeds != list(obj["probe"]["seeds"]) or [s["seed"] for s in obj["per_seed"]] != seeds:
        raise ResultError(f"{where}: probe.seeds, per_seed and predictions.per_seed list different seeds")
    for s in pred["per_seed"]:
        if len(s["y_pred"]) != n:
            raise ResultError(f"{where}: seed {s['seed']}: {len(s['y_pred'])} predictions for {n} test items")
        if "y_score" in s and len(s["y_score"]) != n:
            raise ResultError(f"{where}: seed {s['seed']}: {len(s['y_score'])} scores for {n} test items")
    _check_clusters(obj, n, where)
    primary = obj["task"]["primary_metric"]
    if obj["test_ci"]["metric"] != primary:
        raise ResultError(f"{where}: test_ci is of {obj['test_ci']['metric']!r}, the primary metric is {primary!r}")
    for split in ("valid", "test"):
        if primary not in obj["scores"][split]:
            raise ResultError(f"{where}: scores.{split} lacks the primary metric {primary!r}")


def validate_result(obj: Any, source: str | None = None) -> dict:
    """Raise ResultError (naming ``source`` and the offending field) unless ``obj`` is a valid result."""
    where = source or "result"
    if isinstance(obj, Result):
        obj = obj.data
    if not isinstance(obj, dict):
        raise ResultError(f"{where}: a result is a JSON object, got {type(obj).__name__}")
    if obj.get("schema") != RESULT_SCHEMA:
        raise ResultError(f"{where}: schema is {obj.get('schema')!r}, expected {RESULT_SCHEMA!r}")
    # jsonschema checks the structure on a copy whose per-item lists are cut to their first item;
    # the full lists (thousands of items) are then checked with numpy, many times faster.
    error = jsonschema.exceptions.best_match(_validator().iter_errors(_head_of_lists(obj)))
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultError(f"{where}: at {path}: {error.message[:300]}")
    _check_items(obj["predictions"], where)
    _check_consistency(obj, where)
    return obj


@lru_cache(maxsize=1)
def _validator():
    return jsonschema.Draft202012Validator(schema())


def _head_of_lists(obj: dict) -> dict:
    pred = obj.get("predictions")
    if not isinstance(pred, dict):
        return obj
    head = dict(pred)
    for key in ("ids", "y_true", "clusters"):
        if isinstance(pred.get(key), list):
            head[key] = pred[key][:1]
    if isinstance(pred.get("per_seed"), list):
        head["per_seed"] = [{k: (v[:1] if k in ("y_pred", "y_score") and isinstance(v, list) else v)
                             for k, v in s.items()} if isinstance(s, dict) else s for s in pred["per_seed"]]
    return {**obj, "predictions": head}


def _numbers(values: list, what: str, where: str) -> np.ndarray:
    """A numeric array of ``values`` (no bools, strings, nulls or nesting where numbers belong)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or (arr.ndim == 1 and any(isinstance(v, bool) for v in values)):
        if values and isinstance(values[0], list):
            width = Counter(len(v) for v in values if isinstance(v, list)).most_common(1)[0][0]
            bad = next((i for i, v in enumerate(values) if not isinstance(v, list) or len(v) != width), 0)
            raise ResultError(f"{where}: {what}[{bad}] is not a list of {width} numbers like the other items")
        bad = next((i for i, v in enumerate(values) if isinstance(v, bool) or not isinstance(v, (int, float))), 0)
        raise ResultError(f"{where}: {what}[{bad}] is not a number")
    if not np.isfinite(arr).all():
        raise ResultError(f"{where}: {what} holds NaN or inf")
    return arr


def _check_items(pred: dict, where: str) -> None:
    ids = pred["ids"]
    bad = next((i for i, v in enumerate(ids) if not isinstance(v, str) or not 0 < len(v) <= 200), None)
    if bad is not None:
        raise ResultError(f"{where}: predictions.ids[{bad}] is not a string of 1 to 200 characters")
    if _numbers(pred["y_true"], "predictions.y_true", where).ndim != 1:
        raise ResultError(f"{where}: predictions.y_true must be a flat list of labels")
    for s in pred["per_seed"]:
        if _numbers(s["y_pred"], f"seed {s['seed']} y_pred", where).ndim != 1:
            raise ResultError(f"{where}: seed {s['seed']}: y_pred must be a flat list")
        if "y_score" in s and _numbers(s["y_score"], f"seed {s['seed']} y_score", where).ndim not in (1, 2):
            raise ResultError(f"{where}: seed {s['seed']}: y_score must be numbers or equal-length lists of numbers")


def read_result(path: str | os.PathLike) -> Result:
    """Load and validate one result file (size-bounded, strict JSON: no NaN/Infinity)."""
    obj = strict_json.read(path, max_bytes=MAX_BYTES, error=ResultError)
    return Result(validate_result(obj, str(path)))


def dumps_result(result: Mapping) -> str:
    """Indented JSON, with the long per-item prediction lists on one line each (readable and small)."""
    marker = "\u0000predictions\u0000"
    text = json.dumps({**result, "predictions": marker}, indent=1, allow_nan=False)
    preds = json.dumps(result["predictions"], separators=(",", ":"), allow_nan=False)
    return text.replace(json.dumps(marker), preds, 1) + "\n"


def write_result(path: str | os.PathLike, result: Mapping, *, check: bool = True) -> Path:
    """Validate (``check=False``: the caller has just validated this very object), then write atomically."""
    if check:
        validate_result(result, str(path))
    return atomic_write_text(path, dumps_result(result))


# ---- the typed result -------------------------------------------------------------------------------

@dataclass(frozen=True)
class EncoderInfo:
    name: str
    spec: str
    config: dict[str, Any]  # everything that changes the output; hashed into file names
    dim: int  # pooled embedding dimension (before pair features)
    long_sequences: dict[str, Any]  # the policy for sequences longer than max_length


@dataclass(frozen=True)
class TaskInfo:
    name: str
    version: str
    type: str
    primary_metric: str
    split_hashes: dict[str, str]
    sizes: dict[str, int]


@dataclass(frozen=True)
class ProbeInfo:
    name: str
    params: dict[str, Any]
    selected: dict[str, Any]  # hyperparameters chosen on validation (the first seed's)
    seeds: list[int]


@dataclass(frozen=True)
class Interval:
    """The percentile bootstrap CI of the primary test metric."""

    metric: str
    low: float
    high: float
    level: float
    n_resamples: int
    seed: int
    resampling: str | None = None  # the resampling unit where not the item (pair tasks: protein clusters)


@dataclass(frozen=True)
class SeedPredictions:
    seed: int
    y_pred: list
    y_score: list | None  # classification: class-1 probability (binary) or class probabilities


@dataclass(frozen=True)
class Predictions:
    ids: list[str]
    y_true: list
    per_seed: tuple[SeedPredictions, ...]
    clusters: list[list[int]] | None = None  # resampling units of each item (pair tasks: proteins); None: items


@dataclass(frozen=True, eq=False)
class Result(Mapping):
    """One validated ``lsdbench-result-1`` object, typed: ``result.task.primary_metric``,
    ``result.scores["test"]``, ``result.test_ci.low``, ``result.predictions.per_seed[0].y_pred``.

    Built from the JSON object (``Result(obj)``, after ``validate_result``; ``read_result`` and
    ``evaluate_task`` return one), which it keeps as ``data`` and gives back unchanged (``to_json``), so
    writing it again gives the same bytes. It is also a read-only mapping over that object, so code that
    indexes ``result["scores"]["test"]`` keeps working. Treat the nested values as read-only: they are the
    typed fields' own.
    """

    data: dict[str, Any] = field(repr=False)
    encoder: EncoderInfo = field(init=False)
    task: TaskInfo = field(init=False)
    probe: ProbeInfo = field(init=False)
    scores: dict[str, dict[str, float]] = field(init=False)  # split ("valid", "test") -> metric -> value
    test_std: dict[str, float] = field(init=False)
    test_ci: Interval = field(init=False)
    per_seed: list[dict[str, Any]] = field(init=False)  # each seed's selected hyperparameters and scores
    predictions: Predictions = field(init=False)
    timings: dict[str, Any] = field(init=False)  # this run's seconds, and whether its probe was reused
    cost: dict[str, Any] | None = field(init=False)  # what encoding cost (lsdbench.encode.cost); absent in old files
    environment: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        d = self.data
        pred = d["predictions"]
        typed = {
            "encoder": EncoderInfo(**d["encoder"]), "task": TaskInfo(**d["task"]), "probe": ProbeInfo(**d["probe"]),
            "scores": d["scores"], "test_std": d["test_std"], "test_ci": Interval(**d["test_ci"]),
            "per_seed": d["per_seed"], "timings": d["timings"], "cost": d.get("cost"),
            "environment": d["environment"],
            "predictions": Predictions(pred["ids"], pred["y_true"], tuple(
                SeedPredictions(s["seed"], s["y_pred"], s.get("y_score")) for s in pred["per_seed"]),
                pred.get("clusters")),
        }
        for name, value in typed.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_json(cls, obj: Any, source: str | None = None) -> Result:
        """A validated result (ResultError naming ``source`` if ``obj`` is not one)."""
        return obj if isinstance(obj, Result) else cls(validate_result(obj, source))

    def to_json(self) -> dict[str, Any]:
        return self.data

    # read-only mapping over the JSON object
    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def metric(self) -> str:
        return self.task.primary_metric

    @property
    def score(self) -> float:
        """The primary metric on the test split (for the MLP probe: the mean over seeds)."""
        return float(self.scores["test"][self.metric])

    @property
    def ci(self) -> tuple[float, float]:
        return float(self.test_ci.low), float(self.test_ci.high)

    def __repr__(self) -> str:
        low, high = self.ci
        return (f"Result({self.encoder.name} on {self.task.name}, {self.probe.name} probe: test {self.metric} "
                f"{self.score:.4f} [{low:.4f}, {high:.4f}])")
