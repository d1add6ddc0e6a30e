"""Package results into a validated submission file: what ``leaderboard submit`` and the main job write.

The text is validated as it will be read back (``check_submission`` on the written bytes parsed again),
and only a valid submission is written. This module sits above ``submission`` (file format) and
``validate`` (checks), so neither imports the other's caller.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lsdbench.leaderboard import SubmissionError
from lsdbench.leaderboard.submission import (
    MAX_BYTES,
    collect_results,
    dumps_submission,
    make_submission,
    parse_json_bytes,
    slugify,
    submission_filename,
    write_text,
)
from lsdbench.leaderboard.validate import Report, TaskLoader, ValidatedSubmission, check_submission
from lsdbench.results.result import Result


def checked_text(submission: dict[str, Any], source: str, loader: TaskLoader | None = None) -> tuple[str, Report]:
    """The text a submission is written as, and the validation Report of exactly that text parsed back."""
    text = dumps_submission(submission)
    data = text.encode("utf-8")
    if len(data) > MAX_BYTES:
        raise SubmissionError(f"{source}: the submission would be {len(data)} bytes, over the limit of "
                              f"{MAX_BYTES}; nothing written")
    return text, check_submission(parse_json_bytes(data, source), source=source, loader=loader)


def submit_results(results: list[Result], submissions_dir: str | os.PathLike, *, suite: str, name: str,
                   meta: dict[str, Any], loader: TaskLoader) -> tuple[Path, ValidatedSubmission]:
    """Write ``results`` (one encoder configuration, already in memory) as the validated submission
    ``submissions_dir/<slug>.<suite>.json``; returns its path and the validated submission, which the
    leaderboard can rank without reading the file again. SubmissionError (nothing written) if invalid."""
    submission = make_submission(results, suite=suite, name=name, meta=meta)
    path = Path(submissions_dir) / submission_filename(slugify(name), suite)
    text, report = checked_text(submission, str(path), loader)
    if not report.ok:
        raise SubmissionError(report.message() + "\nnothing written", report.problems)
    return write_text(path, text), report.submission


def create_submission(results_dir: str | os.PathLike, submissions_dir: str | os.PathLike, *, suite: str, name: str,
                      parameters: int, dim: int, training_data: str, licence: str, link: str,
                      description: str | None = None, encoder: str | None = None, config: dict | None = None,
                      probes: Iterable[str] | None = None, loader: TaskLoader | None = None,
                      cache_dir: str | os.PathLike | None = None, mirror: str | None = None) -> Path:
    """Package one encoder's result files into a validated submission and write it to the leaderboard.

    Collects the results of ``suite``'s tasks under ``results_dir`` (``encoder``/``config``/``probes``
    select, see :func:`collect_results`), adds the metadata, validates the submission against the
    registry (``loader``, else one on ``cache_dir``/``mirror``) and writes it atomically as
    ``submissions_dir/<slug>.<suite>.json``, the only name the leaderboard accepts; returns that path.
    Raises SubmissionError (every problem listed) and writes nothing when it is not valid, including
    when ``dim`` is not the results' embedding dimension.
    """
    loader = loader or TaskLoader(cache_dir=cache_dir, mirror=mirror)
    results = collect_results(results_dir, loader.suite_cards(suite), encoder=encoder, config=config, probes=probes)
    dims = sorted({r.encoder.dim for r in results})
    if dims != [dim]:
        raise SubmissionError(f"{results_dir}: the results' embedding dimension is {dims}, not the dim={dim} given")
    meta: dict[str, Any] = {"parameters": int(parameters), "training_data": training_data, "licence": licence,
                            "link": link}
    if description is not None:
        meta["description"] = description
    return submit_results(results, submissions_dir, suite=suite, name=name, meta=meta, loader=loader)[0]
