"""Measured encoding rates (residues per second), kept in the cache so plans can estimate run times.

Each real encoding pass (``embedding._fill``) records residues and seconds under the encoder's name and
the number of variants it filled at once (a sweep fills several per pass). The file lives in the cache
folder, so it is a cache entry: read defensively (anything that is not a finite positive number is
ignored), written atomically, and never needed for correctness.
"""

from __future__ import annotations

import json
import math
import os

from .atomic import atomic_write_text
from .settings import cache_dir as resolve_cache_dir

FILENAME = "throughput.json"
MIN_RESIDUES = 2_000  # shorter passes are dominated by start-up costs: not worth remembering


def _key(name: str, variants: int) -> str:
    return name if variants == 1 else f"{name} x{variants}"


def _read(cache_dir) -> dict[str, float]:
    path = resolve_cache_dir(cache_dir) / FILENAME
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): float(v) for k, v in raw.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0}


def rate(name: str, variants: int = 1, cache_dir=None) -> float | None:
    """Residues per second of the last recorded pass of ``name`` filling ``variants`` caches, if any."""
    return _read(cache_dir).get(_key(name, variants))


def record(name: str, variants: int, residues: int, seconds: float, cache_dir=None) -> None:
    """Remember a pass's rate; failures to write are ignored (an estimate is never worth an error)."""
    if residues < MIN_RESIDUES or seconds <= 0:
        return
    rates = _read(cache_dir)
    rates[_key(name, variants)] = residues / seconds
    try:
        root = resolve_cache_dir(cache_dir)
        os.makedirs(root, exist_ok=True)
        atomic_write_text(root / FILENAME, json.dumps(rates, indent=1, sort_keys=True))
    except OSError:
        pass
