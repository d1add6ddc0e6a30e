"""Where lsdbench keeps downloads and embeddings, and where it looks for a data mirror.

Precedence for each setting: explicit argument > environment variable > default.
"""

from __future__ import annotations

import os
from pathlib import Path

import pooch

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
    """A mirror tried before the canonical URLs: a local directory or a base URL, laid out as HOST/PATH."""
    if override:
        return str(override)
    return os.environ.get(MIRROR_ENV) or None
