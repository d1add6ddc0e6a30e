"""Strict, size-bounded JSON reading for untrusted files: submissions, results, checkpoint metadata.

One reader for every file lsdbench did not write itself in this run: a regular file only (links refused
where asked), its size checked on the metadata before reading and again on what was read (the file may
grow in between), UTF-8, no NaN/Infinity, no duplicate keys (``json`` keeps the last one silently, so a
reviewer reading the first would be misled), bounded nesting. Errors are raised as the caller's own
error class, with messages that name the file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (scores and predictions must be finite numbers)")


def parse(data: bytes, source: str, error: type[Exception] = ValueError) -> Any:
    """Strict JSON from bytes; errors (``error``) name ``source``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)
    except RecursionError:
        raise error(f"{source}: JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, over-long integers
        raise error(f"{source}: not valid JSON: {exc}") from None


def read(path: str | os.PathLike, *, max_bytes: int, error: type[Exception] = ValueError,
         follow_symlinks: bool = True) -> Any:
    """Parse a JSON file of at most ``max_bytes``, refusing anything but a regular file; an oversized
    file is never loaded into memory whole."""
    path = Path(path)
    try:
        st = os.stat(path) if follow_symlinks else os.lstat(path)
    except FileNotFoundError:
        raise error(f"{path}: cannot read (no such file)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise error(f"{path}: is a symbolic link; submissions must be regular files")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file")
    if st.st_size > max_bytes:
        raise error(f"{path}: {st.st_size} bytes is over the limit of {max_bytes} bytes")
    flags = os.O_RDONLY | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{path}: more than the limit of {max_bytes} bytes")
    return parse(data, str(path), error)
