"""Result files (schema ``lsdbench-result-1``): validation, atomic writing, safe reading.

A result is plain JSON (never pickle), validated twice: against ``result_schema.json`` for shape and
types, then for consistency the schema cannot express (one prediction per test id, seeds agree).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
from collections import Counter
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from . import strict_json
from .atomic import atomic_write_text
from .errors import UserError

RESULT_SCHEMA = "lsdbench-result-1"
MAX_BYTES = 64 * 1024 * 1024  # a result holds a few thousand predictions; anything far larger is not one


class ResultError(UserError, ValueError):
    """A result file or object does not follow lsdbench-result-1."""


def environment() -> dict[str, str]:
    """Library versions that can change a score, recorded in every result."""
    env = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for dist in ("numpy", "scipy", "scikit-learn", "torch"):
        try:
            env[dist.replace("scikit-learn", "sklearn")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return env


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(resources.files("lsdbench").joinpath("result_schema.json").read_text())


def config_hash(config: dict) -> str:
    """Short, stable hash of an encoder config (canonical JSON), used in file names and grouping."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


# Config entries shown in file and folder names besides the hash: the noise level t is what tells the
# files of one sweep apart, and a reader should not have to open them to find it.
NAMED_PARAMS = ("t",)


def run_name(encoder_name: str, config: dict) -> str:
    """``<encoder>[-t0.5]-<confighash>``: one encoder configuration, as in file and folder names."""
    named = "".join(f"-{_slug(f'{k}{config[k]}')}" for k in NAMED_PARAMS
                    if isinstance(config.get(k), (int, float, str)) and not isinstance(config.get(k), bool))
    slug = _slug(encoder_name)
    if slug != encoder_name:  # 'my enc' and 'my/enc' share a slug: the exact name's hash keeps them apart
        slug += "-" + hashlib.sha256(encoder_name.encode()).hexdigest()[:8]
    return f"{slug}{named}-{config_hash(config)}"


def result_filename(encoder_name: str, config: dict, task: str, probe: str) -> str:
    """``<encoder>[-t0.5]-<confighash>__<task>__<probe>.json``: distinct configs never overwrite each other."""
    return f"{run_name(encoder_name, config)}__{_slug(task)}__{_slug(probe)}.json"


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
    primary = obj["task"]["primary_metric"]
    if obj["test_ci"]["metric"] != primary:
        raise ResultError(f"{where}: test_ci is of {obj['test_ci']['metric']!r}, the primary metric is {primary!r}")
    for split in ("valid", "test"):
        if primary not in obj["scores"][split]:
            raise ResultError(f"{where}: scores.{split} lacks the primary metric {primary!r}")


def validate_result(obj: Any, source: str | None = None) -> dict:
    """Raise ResultError (naming ``source`` and the offending field) unless ``obj`` is a valid result."""
    where = source or "result"
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
    for key in ("ids", "y_true"):
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


def read_result(path: str | os.PathLike) -> dict:
    """Load and validate one result file (size-bounded, strict JSON: no NaN/Infinity)."""
    obj = strict_json.read(path, max_bytes=MAX_BYTES, error=ResultError)
    return validate_result(obj, str(path))


def dumps_result(result: dict) -> str:
    """Indented JSON, with the long per-item prediction lists on one line each (readable and small)."""
    marker = "\u0000predictions\u0000"
    text = json.dumps({**result, "predictions": marker}, indent=1, allow_nan=False)
    preds = json.dumps(result["predictions"], separators=(",", ":"), allow_nan=False)
    return text.replace(json.dumps(marker), preds, 1) + "\n"


def write_result(path: str | os.PathLike, result: dict, *, check: bool = True) -> Path:
    """Validate (``check=False``: the caller has just validated this very object), then write atomically."""
    if check:
        validate_result(result, str(path))
    return atomic_write_text(path, dumps_result(result))


def finite(scores: dict[str, float]) -> dict[str, float]:
    """Drop undefined (NaN) metrics: the schema stores only defined values."""
    return {k: float(v) for k, v in scores.items() if v is not None and math.isfinite(v)}
