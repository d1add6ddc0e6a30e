"""Where lsdbench keeps downloads and embeddings, and where it looks for a data mirror.

Precedence for each setting: explicit argument > environment variable > default.
"""

from __future__ import annotations

import os
from pathlib import Path

import pooch

from lsdbench import LAUNCH_DIR

CACHE_ENV = "LSDBENCH_CACHE_DIR"
MIRROR_ENV = "LSDBENCH_MIRROR"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Root of the lsdbench cache (downloads under ``data/``, embeddings under ``embeddings/``)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(pooch.os_cache("lsdbench"))


def mirror(override: str | os.PathLike | None = None) -> str | None:
    """A mirror tried before the canonical URLs: a local directory or a base URL, laid out as HOST/PATH.

    A relative directory in ``LSDBENCH_MIRROR`` is taken from the directory the process started in, so
    code that changes directory later (a notebook, a test in tmp_path) still finds it."""
    if override:
        return str(override)
    value = os.environ.get(MIRROR_ENV) or None
    if value and "://" not in value and not Path(value).is_absolute():
        value = str((Path(LAUNCH_DIR) / value).resolve())
    return value
