"""Measured encoding rates (residues per second) for the plans' estimates, read from the cost records.

Every real encoding pass already leaves ``cost.json`` in each cache entry it filled (``lsdbench.encode.cost``:
residues, seconds, variants filled at once, torch's thread count, machine). A rate is read from the
entry of the very configuration planned (the cache key: encoder name and config), never from another
configuration of the same name, whose cost may differ fifty-fold; nor from a pass run with another
torch thread count. Cache files are untrusted: anything malformed is ignored, never believed.
"""

from __future__ import annotations

import json
from pathlib import Path

from lsdbench.encode import cost

MIN_RESIDUES = 2_000  # shorter passes are dominated by start-up costs: not worth an estimate


def _passes(record_path: Path, variants: int, machine: dict, threads: int | None) -> list[dict]:
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(record, dict) or record.get("machine") != machine or not isinstance(record.get("passes"), dict):
        return []
    return [p for p in record["passes"].values()
            if isinstance(p, dict) and p.get("variants") == variants and cost._positive(p.get("seconds"))
            and cost._positive(p.get("residues")) and p["residues"] >= MIN_RESIDUES
            and (threads is None or p.get("threads") in (None, threads))]


def rate(entry_dir: str | Path, variants: int = 1, threads: int | None = None) -> float | None:
    """Residues per second of the configuration whose cache entry is ``entry_dir``, filling ``variants``
    caches per pass on this machine (with ``threads`` torch threads, when a pass recorded its count);
    None when no such pass was recorded."""
    passes = _passes(Path(entry_dir) / cost.RECORD, variants, cost.machine(), threads)
    if not passes:
        return None
    return sum(p["residues"] for p in passes) / sum(p["seconds"] for p in passes)
