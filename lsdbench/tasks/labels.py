"""Class labels as read from files: one spelling per class.

The same class is written ``1`` by one tool and ``1.0`` by another (pandas writes an integer column
that has a missing value as floats; JSON and Parquet keep the number's type). Labels are compared in
their canonical spelling, so ``1``, ``1.0`` and ``1e0`` are one class and ``1.5`` stays itself.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")  # unambiguous: linear on any input
_EXACT = 2 ** 53  # above this a float no longer holds every integer: leave such labels as written


def canonical(raw: str) -> str:
    """``raw`` with an integer-valued number written as a plain integer; any other text unchanged."""
    text = raw.strip()
    if not _NUMBER.match(text):
        return raw
    value = float(text)
    if not value.is_integer() or abs(value) > _EXACT:
        return raw
    return str(int(value))
