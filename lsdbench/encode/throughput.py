"""Measured encoding rates (residues per second) for the plans' estimates, read from the cost records.

Every real encoding pass already leaves ``cost.json`` in each cache entry it filled (``lsdbench.encode.cost``:
residues, seconds, variants filled at once, machine). The rate of an encoder *name* on this machine is
read from the newest such record of any of its configurations, so a plan can estimate a configuration
that has never been cached. Cache files are untrusted: anything malformed is ignored, never believed.
"""

from __future__ import annotations

import json
from pathlib import Path

from lsdbench.encode import cost
from lsdbench.names import cache_folder
from lsdbench.settings import cache_dir as resolve_cache_dir

MIN_RESIDUES = 2_000  # shorter passes are dominated by start-up costs: not worth an estimate


def _passes(record_path: Path, variants: int, machine: dict) -> list[dict]:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict) or record.get("machine") != machine or not isinstance(record.get("passes"), dict):
        return []
    return [p for p in record["passes"].values()
            if isinstance(p, dict) and p.get("variants") == variants and cost._positive(p.get("seconds"))
            and cost._positive(p.get("residues")) and p["residues"] >= MIN_RESIDUES]


def rate(name: str, variants: int = 1, cache_dir=None) -> float | None:
    """Residues per second of ``name`` filling ``variants`` caches per pass on this machine, from the
    newest cost record of any of its configurations; None when none was recorded."""
    folder = resolve_cache_dir(cache_dir) / "embeddings" / cache_folder(name)
    machine = cost.machine()
    records = sorted(folder.glob(f"*/{cost.RECORD}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in records:
        passes = _passes(path, variants, machine)
        if passes:
            return sum(p["residues"] for p in passes) / sum(p["seconds"] for p in passes)
    return None
