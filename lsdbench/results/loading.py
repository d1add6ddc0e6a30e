"""Read results from what users point at: result files, submission files, and folders of either.

A submission (``lsdbench-submission-1``, as in ``leaderboard/submissions/``) holds its encoder's result
objects unchanged, so it is as good a source of results as the folder it was packaged from; reading it
here lets ``compare`` and ``show`` take the committed baselines without re-running them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsdbench import strict_json
from lsdbench.results.result import MAX_BYTES, RESULT_SCHEMA, Result, ResultError
from lsdbench.types import PATH_TYPES, one_or_many

log = logging.getLogger(__name__)

SUBMISSION_SCHEMA = "lsdbench-submission-1"  # == lsdbench.leaderboard.SCHEMA_ID, without importing it


@dataclass(frozen=True)
class Loaded:
    """One result, the file it came from (``source``: the file, plus the task and probe inside a
    submission) and which of the given paths led to it (``origin``, an index)."""

    result: Result
    source: str
    origin: int


def _read_json(path: Path) -> object:
    return strict_json.read(path, max_bytes=MAX_BYTES, error=ResultError)


def _from_object(obj: object, path: Path) -> list[tuple[Result, str]] | None:
    """(result, source) pairs of a parsed file, or None when it is neither a result nor a submission."""
    if not isinstance(obj, dict):
        return None
    if obj.get("schema") == RESULT_SCHEMA:
        return [(Result.from_json(obj, str(path)), str(path))]
    if obj.get("schema") == SUBMISSION_SCHEMA:
        items = obj.get("results")
        if not isinstance(items, list):
            raise ResultError(f"{path}: a submission's 'results' must be a list of result objects")
        out = []
        for i, r in enumerate(items):
            where = f"{path} (results[{i}])"
            result = Result.from_json(r, where)
            out.append((result, f"{path} [{result.task.name}, {result.probe.name}]"))
        return out
    return None


def read_file(path: str | os.PathLike) -> list[tuple[Result, str]]:
    """The results of one file named by the user: a result, or every result of a submission."""
    path = Path(path)
    obj = _read_json(path)  # ResultError naming the file: unreadable, too large, or not strict JSON
    found = _from_object(obj, path)
    if found is None:
        schema = obj.get("schema") if isinstance(obj, dict) else None
        raise ResultError(f"{path}: schema is {schema!r}; expected a result ({RESULT_SCHEMA!r}) or a "
                          f"submission ({SUBMISSION_SCHEMA!r})")
    return found


def _read_in_folder(path: Path) -> list[tuple[Result, str]] | None:
    """Like read_file, but a folder may hold other JSON (sweep summaries, caches): those give None."""
    try:
        obj = _read_json(path)
    except ResultError as exc:
        log.warning("%s; skipped", exc)
        return None
    return _from_object(obj, path)


def result_paths(paths: Any, what: str = "the paths argument") -> list:
    """Paths of result files, submissions or folders as the Python API takes them: one path (a single
    string is one path, never its characters) or a list/tuple of paths; anything else is a UserError."""
    if isinstance(paths, (list, tuple)) and not paths:
        return []
    return one_or_many(paths, PATH_TYPES, what, "a path or a list of paths (str or os.PathLike)")


def load(paths: Sequence[str | os.PathLike], missing_error: type[Exception] = ResultError) -> list[Loaded]:
    """Every result under ``paths``, in the order given (inside a folder: sorted paths, recursively).

    A file reached twice is read once, for the first path that reaches it. ``missing_error`` is raised
    for a path that does not exist (``compare`` raises its own error type).
    """
    paths = result_paths(paths)
    loaded: list[Loaded] = []
    seen: set[Path] = set()
    for origin, item in enumerate(paths):
        path = Path(item)
        if path.is_dir():
            skipped = 0
            for p in sorted(path.rglob("*.json")):
                key = p.resolve()
                if not p.is_file() or key in seen:
                    continue
                found = _read_in_folder(p)
                if found is None:
                    skipped += 1
                    continue
                seen.add(key)
                loaded += [Loaded(r, s, origin) for r, s in found]
            if skipped:
                log.info("%s: skipped %d JSON file(s) that are not lsdbench results or submissions", path, skipped)
        elif path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                loaded += [Loaded(r, s, origin) for r, s in read_file(path)]
        else:
            raise missing_error(f"{path}: no such file or folder")
    return loaded
