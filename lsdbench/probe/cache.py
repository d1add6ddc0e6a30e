"""A content-addressed cache of probe outcomes: a re-evaluation from cached embeddings fits nothing.

The probe protocol is deterministic given its inputs, so the key is a sha256 over exactly what the
probe sees: the feature matrices and labels of every split, the test ids, the task type, metric and
number of classes, the probe with its parameters and seeds, the protocol, the linear probe's thread
count and the environment every result records (``results.environment``: library versions that can
change a score; an upgrade refits rather than reusing an outcome it might not reproduce). Anything
that changes an embedding (encoder config, long-sequence policy, a new task version) changes the
features and therefore the key; nothing needs invalidating.

Layout: ``CACHE/probes/<key[:2]>/<key>.json``, one ``ProbeOutcome`` each, written atomically. A
file that does not parse or does not match its key is reported, deleted and refitted. Plain JSON:
nothing in the cache is executed or unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lsdbench import PROTOCOL, settings
from lsdbench.atomic import atomic_write_text
from lsdbench.encode.cost import environment
from lsdbench.metrics.registry import score_predictions
from lsdbench.probe.probing import LINEAR_PROBE_THREADS, ProbeOutcome, bootstrap_ci

log = logging.getLogger(__name__)
SCHEMA = "lsdbench-probe-outcome-1"
TOLERANCE = 1e-9  # as the leaderboard validator: a recomputed score equals the stored one to rounding


def _update_array(h, name: str, array) -> None:
    a = np.ascontiguousarray(array)
    h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())


def outcome_key(task_type: str, primary_metric: str, features: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                test_ids: Sequence[str], *, probe: str, probe_params: dict | None, seeds: Sequence[int] | None,
                n_classes: int | None) -> str:
    """sha256 of everything ``probing.fit_and_score`` reads."""
    h = hashlib.sha256()
    meta = {"schema": SCHEMA, "protocol": PROTOCOL, "task_type": task_type, "metric": primary_metric,
            "probe": probe, "params": probe_params or {}, "seeds": None if seeds is None else [int(s) for s in seeds],
            "n_classes": n_classes, "environment": environment(), "splits": sorted(features),
            "linear_probe_threads": LINEAR_PROBE_THREADS}
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for split in sorted(features):
        _update_array(h, f"X_{split}", np.asarray(features[split], np.float32))
        _update_array(h, f"y_{split}", np.asarray(labels[split]))
    h.update("\x1f".join(map(str, test_ids)).encode())
    return h.hexdigest()


def _path(key: str, cache_dir=None) -> Path:
    return settings.cache_dir(cache_dir) / "probes" / key[:2] / f"{key}.json"


def _finite_numbers(value, where: str) -> None:
    """Every number in a nested structure is finite (JSON from the cache may hold NaN or Infinity)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _finite_numbers(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        try:  # a list of numbers (predictions: thousands of items) at numpy speed
            numbers = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):  # strings, records or ragged lists: item by item
            numbers = None
        if numbers is not None:
            if not np.isfinite(numbers).all():
                raise ValueError(f"{where} holds {numbers[~np.isfinite(numbers)].flat[0]}")
            return
        for v in value:
            _finite_numbers(v, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} holds {value}")


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def verify(outcome: ProbeOutcome, task_type: str, test_ids: Sequence[str], y_true: Sequence) -> None:
    """Raise ValueError unless the outcome belongs to these test items and its numbers are its own.

    A cache entry is a plain file anyone can edit: its ids and labels must be the task's, and every
    test number it claims (overall, per seed and the CI) is recomputed from its stored predictions
    with ``metrics.score_predictions``, the leaderboard validator's definition of a score.
    """
    _finite_numbers(vars(outcome), "outcome")  # its fields as they are: asdict would copy every list
    if list(outcome.test_ids) != list(test_ids):
        raise ValueError("its test ids are not the task's")
    if list(outcome.y_true) != list(y_true):
        raise ValueError("its test labels are not the task's")
    by_seed = {p["seed"]: p for p in outcome.predictions}
    if [p["seed"] for p in outcome.predictions] != list(outcome.seeds) or len(by_seed) != len(outcome.seeds):
        raise ValueError("its predictions do not match its seeds")
    for metric, claimed in outcome.test.items():
        if not _close(claimed, score_predictions(task_type, metric, y_true, outcome.predictions)):
            raise ValueError(f"its test {metric} {claimed!r} is not what its predictions give")
    for entry in outcome.per_seed:
        for metric, claimed in entry["test"].items():
            if not _close(claimed, score_predictions(task_type, metric, y_true, [by_seed[entry["seed"]]])):
                raise ValueError(f"its seed {entry['seed']} test {metric} is not what its predictions give")
    low, high = bootstrap_ci(task_type, outcome.primary_metric, y_true, outcome.predictions)
    if not (_close(outcome.ci[0], low) and _close(outcome.ci[1], high)):
        raise ValueError("its confidence interval is not what its predictions give")


def load(key: str, cache_dir=None, *, task_type: str | None = None, test_ids: Sequence[str] | None = None,
         y_true: Sequence | None = None) -> ProbeOutcome | None:
    """The stored outcome of ``key``, or None (also when the file is unreadable or, given the task's
    ``task_type``, ``test_ids`` and ``y_true``, fails :func:`verify`: it is deleted and refitted)."""
    path = _path(key, cache_dir)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema") != SCHEMA or data.get("key") != key:
            raise ValueError("schema or key does not match the file name")
        outcome = _outcome(data["outcome"])
        outcome.result_fields()  # every field a result needs is there
        if task_type is not None:
            verify(outcome, task_type, test_ids, y_true)
        return outcome
    except Exception as exc:  # truncated, edited or foreign file: refit
        log.warning("probe cache entry %s is not usable (%s); deleting it, the probe will be fitted again",
                    path, exc)
        path.unlink(missing_ok=True)
        return None


def _outcome(fields: dict) -> ProbeOutcome:
    fields["ci"] = tuple(fields["ci"])
    return ProbeOutcome(**fields)


def as_stored(outcome: ProbeOutcome) -> ProbeOutcome:
    """The outcome as the cache gives it back (every mapping in sorted key order, plain JSON numbers), so
    a result written after a fresh fit has the same bytes as one written after reusing the fit."""
    return _outcome(json.loads(json.dumps(dataclasses.asdict(outcome), sort_keys=True)))


def store(key: str, outcome: ProbeOutcome, cache_dir=None) -> Path | None:
    """Write the outcome; a cache that cannot be written costs a refit next time, never this result."""
    payload = {"schema": SCHEMA, "key": key, "outcome": dataclasses.asdict(outcome)}
    path = _path(key, cache_dir)
    try:
        return atomic_write_text(path, json.dumps(payload, sort_keys=True))
    except OSError as exc:
        log.warning("could not write the probe cache entry %s (%s); the outcome is used but not cached", path, exc)
        return None


def count(cache_dir=None) -> tuple[int, int]:
    """Number of stored outcomes and their bytes."""
    files = list((settings.cache_dir(cache_dir) / "probes").glob("*/*.json"))
    return len(files), sum(f.stat().st_size for f in files)


def clear(cache_dir=None) -> int:
    n, _ = count(cache_dir)
    shutil.rmtree(settings.cache_dir(cache_dir) / "probes", ignore_errors=True)
    return n
