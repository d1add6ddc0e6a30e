"""The public leaderboard: submission files (one per encoder and suite), their validation against the
task registry, and the static build (``README.md``, ``leaderboard.csv``, ``index.html``).

Heavy names are imported lazily so that ``lsdbench --help`` and ``lsdbench.errors`` stay cheap and
never fail because of a module the leaderboard needs only at run time.
"""

from __future__ import annotations

from typing import Any

from lsdbench.errors import UserError

SCHEMA_ID = "lsdbench-submission-1"


class SubmissionError(UserError, ValueError):
    """A submission file is unreadable or invalid; the message names the file and every problem."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


_LAZY = {
    "MAX_BYTES": "submission",
    "make_submission": "submission",
    "create_submission": "package",
    "submit_results": "package",
    "collect_results": "submission",
    "submission_filename": "submission",
    "write_submission": "submission",
    "load_json_file": "submission",
    "slugify": "submission",
    "submission_schema": "submission",
    "TaskLoader": "validate",
    "Report": "validate",
    "ValidatedSubmission": "validate",
    "check_submission": "validate",
    "validate_submission": "validate",
    "build_leaderboard": "build",
    "rank_suite": "build",
    "render_html": "html",
}

__all__ = ["SCHEMA_ID", "SubmissionError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
