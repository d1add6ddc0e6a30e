"""Exceptions that mean bad input or configuration (reported as one line), not a bug in lsdbench."""

from __future__ import annotations

import errno


class UserError(Exception):
    """Base of every error that means bad input or configuration: the CLI prints its message as one
    ``lsdbench: error:`` line, the pytest plugin as one failure line. Each module's error class derives
    from it (and from the builtin it used to be, e.g. ValueError); an encoder package may derive its own."""


# What to do about a file-system error: the message says it, so the user need not read a traceback.
_OS_HINTS = {
    errno.EACCES: "check its permissions, or point LSDBENCH_CACHE_DIR / --out somewhere writable",
    errno.EPERM: "check its permissions, or point LSDBENCH_CACHE_DIR / --out somewhere writable",
    errno.EROFS: "the file system is read-only; point LSDBENCH_CACHE_DIR / --out somewhere writable",
    errno.ENOSPC: "the disk is full; free space or point LSDBENCH_CACHE_DIR / --out to another disk",
    errno.EDQUOT: "the disk quota is exceeded; free space or point LSDBENCH_CACHE_DIR elsewhere",
    errno.EEXIST: "a file is in the way of a folder; remove it or choose another path",
    errno.ENOTDIR: "a file is in the way of a folder; remove it or choose another path",
    errno.EISDIR: "a folder is where a file was expected; choose a file path",
    errno.ENOENT: "check the path",
}


def user_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug (shown with its traceback)."""
    if isinstance(exc, UserError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.errno is not None:
        where = exc.filename if exc.filename is not None else ""
        text = f"{exc.strerror}: {where}".rstrip(": ")
        hint = _OS_HINTS.get(exc.errno)
        if hint:
            text += f" ({hint})"
    else:
        return None
    return " ".join(text.split())  # one line, whatever the message held
