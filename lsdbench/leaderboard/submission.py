"""Submission files: safe bounded reading, packaging result files into a submission, atomic writing.

A submission is untrusted input. It is read with a size bound checked before parsing, parsed with
plain ``json`` (no pickle, no eval, no object hooks beyond rejecting duplicate keys and NaN), and no
path or name taken from it is ever used to write: the only name derived from it is its slug, which
must match :data:`SLUG_RE`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from lsdbench import PROTOCOL, __version__, names, strict_json
from lsdbench.atomic import atomic_write_text
from lsdbench.leaderboard import SCHEMA_ID, SubmissionError
from lsdbench.names import SLUG_RE, SUITE_RE  # noqa: F401  (the schema's patterns; callers import them here)
from lsdbench.results.result import RESULT_SCHEMA, Result, ResultError, config_hash
from lsdbench.settings import SUBMISSION_FILE_BYTES

MAX_BYTES = SUBMISSION_FILE_BYTES.default  # default bound on a submission file; checked before reading
META_KEYS = ("parameters", "training_data", "licence", "link", "description")


@lru_cache(maxsize=1)
def submission_schema() -> dict[str, Any]:
    """The JSON Schema of ``lsdbench-submission-1`` (lsdbench/leaderboard/submission_schema.json)."""
    text = resources.files(__package__).joinpath("submission_schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def slugify(name: str) -> str:
    """The leaderboard id of an encoder name (``names.public_slug``); SubmissionError when none can be made."""
    try:
        return names.public_slug(name)
    except names.UnsafeName as exc:
        raise SubmissionError(str(exc)) from None


def parse_json_bytes(data: bytes, source: str) -> Any:
    """Strict JSON (``lsdbench.strict_json``); errors are SubmissionErrors naming ``source``."""
    return strict_json.parse(data, source, SubmissionError)


def load_json_file(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES, follow_symlinks: bool = True) -> Any:
    """A submission file read by ``lsdbench.strict_json`` (regular file, size-bounded before reading)."""
    return strict_json.read(path, max_bytes=max_bytes, error=SubmissionError, follow_symlinks=follow_symlinks)


def dumps_submission(obj: dict[str, Any]) -> str:
    """Stable text: sorted keys; metadata indented for review, one result object per line."""
    head = {k: v for k, v in obj.items() if k != "results"}
    lines = json.dumps(head, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False).splitlines()
    results = [json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
               for r in obj.get("results", [])]
    body = ' "results": [\n' + ",\n".join("  " + r for r in results) + "\n ]"
    # head always has other keys, so its last line is "}" and a comma goes after the previous one
    return "\n".join(lines[:-1]) + ",\n" + body + "\n}\n"


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic write (``lsdbench.atomic.atomic_write_text``), then readable by all like a checked-out file."""
    path = atomic_write_text(path, text)
    os.chmod(path, 0o644)
    return path


def write_submission(obj: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a submission object as stable text (no validation: see :func:`create_submission`)."""
    return write_text(path, dumps_submission(obj))


def submission_filename(name_slug: str, suite: str) -> str:
    """The one file name a submission may have in the submissions folder (``names.submission_filename``)."""
    try:
        return names.submission_filename(name_slug, suite)
    except names.UnsafeName as exc:
        raise SubmissionError(str(exc)) from None


def parse_meta(pairs: Iterable[str]) -> dict[str, Any]:
    """``key=value`` strings of the CLI into encoder metadata (``parameters`` as an integer)."""
    meta: dict[str, Any] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in META_KEYS:
            raise SubmissionError(f"--meta {item!r}: expected KEY=VALUE with KEY one of {', '.join(META_KEYS)}")
        if key == "parameters":
            try:
                meta[key] = int(value.strip().replace(",", "_"))
            except ValueError:
                raise SubmissionError(f"--meta parameters={value!r}: not an integer parameter count") from None
        else:
            meta[key] = value.strip()
    return meta


def collect_results(results_dir: str | os.PathLike, tasks: Iterable[str], *, encoder: str | None = None,
                    config: dict | None = None, probes: Iterable[str] | None = None) -> list[Result]:
    """Result files under ``results_dir`` (recursively) for ``tasks``, all from one encoder configuration.

    Files of other tasks or probes are ignored (a results folder often holds more than one suite), and
    JSON files that are not results (sweep summaries, submissions) too. ``encoder`` (a name) and
    ``config`` (the encoder's config dict) pick one configuration where the folder holds several;
    otherwise several configurations are an error. ``probes``: only these probes (default: all found).
    """
    wanted = set(tasks)
    wanted_probes = None if probes is None else set(probes)
    wanted_config = None if config is None else config_hash(config)
    root = Path(results_dir)
    if not root.is_dir():
        raise SubmissionError(f"{root}: not a directory of result files")
    found: list[dict] = []
    for path in sorted(root.rglob("*.json")):
        if path.is_symlink() or not path.is_file():
            continue
        obj = load_json_file(path)  # size-bounded, parsed once
        if not isinstance(obj, dict) or obj.get("schema") != RESULT_SCHEMA:
            continue  # not a result file
        try:
            result = Result.from_json(obj, str(path))
        except ResultError as exc:
            raise SubmissionError(str(exc)) from None
        if result.task.name not in wanted:
            continue
        if wanted_probes is not None and result.probe.name not in wanted_probes:
            continue
        if encoder is not None and result.encoder.name != encoder:
            continue
        if wanted_config is not None and config_hash(result.encoder.config) != wanted_config:
            continue
        found.append(result)
    if not found:
        raise SubmissionError(f"{root}: no result files for tasks {', '.join(sorted(wanted))}"
                              + (f" of encoder {encoder!r}" if encoder else "")
                              + (f" with config {config!r}" if config is not None else ""))
    keys = sorted({(r.encoder.name, config_hash(r.encoder.config)) for r in found})
    if len(keys) > 1:
        names = ", ".join(f"{n} (config {h})" for n, h in keys)
        raise SubmissionError(f"{root}: results of {len(keys)} encoder configurations ({names}); a submission "
                              f"holds one: pass --encoder NAME or a folder with one encoder's results")
    return sorted(found, key=lambda r: (r.probe.name, r.task.name))


def make_submission(results: list[dict], *, suite: str, name: str, meta: dict[str, Any] | None = None) -> dict:
    """A ``lsdbench-submission-1`` object from result objects and encoder metadata.

    ``dim`` comes from the results; ``training_data``, ``licence``, ``link`` and ``parameters`` must be
    given in ``meta`` (the leaderboard shows them).
    """
    meta = dict(meta or {})
    unknown = sorted(set(meta) - set(META_KEYS))
    if unknown:
        raise SubmissionError(f"unknown encoder metadata {unknown}; allowed: {', '.join(META_KEYS)}")
    missing = [k for k in ("parameters", "training_data", "licence", "link") if k not in meta]
    if missing:
        raise SubmissionError(f"missing encoder metadata: {', '.join(missing)} (give --meta KEY=VALUE)")
    dims = sorted({r["encoder"].get("dim") for r in results}, key=str)
    if len(dims) != 1:
        raise SubmissionError(f"results disagree on the embedding dimension: {dims}")
    slugify(name)  # fail early on a name the leaderboard cannot use
    encoder = {"name": name, "dim": dims[0], **meta}
    ordered = [dict(r) for r in sorted(results, key=lambda r: (r["probe"]["name"], r["task"]["name"]))]  # JSON objects
    return {"schema": SCHEMA_ID, "lsdbench_version": __version__, "protocol": PROTOCOL, "suite": suite,
            "encoder": encoder, "results": ordered}
