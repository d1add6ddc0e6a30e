"""Exceptions that mean bad input or configuration (reported as one line), not a bug in lsdbench."""

from __future__ import annotations

import importlib

_NAMES = (
    ("lsdbench.cards", "CardError"),
    ("lsdbench.fetch", "FetchError"),
    ("lsdbench.formats", "FormatError"),
    ("lsdbench.sequences", "SequenceError"),
    ("lsdbench.registry", "TaskError"),
    ("lsdbench.encoders", "EncoderError"),
    ("lsdbench.results", "ResultError"),
    ("lsdbench.stats", "ComparisonError"),
    ("lsdbench.leaderboard", "SubmissionError"),
)


def _collect() -> tuple[type[BaseException], ...]:
    found = []
    for module, name in _NAMES:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


USER_ERRORS = _collect()
