"""Encoding cost, recorded in result files (``cost``) and shown on the leaderboard.

A result's cost says where its embeddings came from (``computed`` by this run, ``cached``, or
``partly_cached``), how many residues this run encoded and in how many seconds, and the throughput,
peak memory and machine of the process that computed the embeddings. A cached re-evaluation encodes
nothing, so each encoding pass also leaves a small record (``cost.json``) in the cache entry it
filled: a later run that reads the embeddings reports that pass's throughput instead of none, and the
plans read their rates there (``throughput``). The record is a cache file: read defensively, written
atomically, never needed for correctness.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from lsdbench.atomic import atomic_write_text
from lsdbench.encode import threads

RECORD = "cost.json"
_TEXT = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass
class Tally:
    """What one evaluation's encoding passes did, added up over its ``embed`` calls."""

    residues: int = 0
    seconds: float = 0.0
    encoded: int = 0  # sequences encoded by this run
    cached: int = 0  # sequences found in the cache
    # taken at the end of each pass, as the cache's record is: a rerun from the cache then reports the same
    peak_rss_bytes: int | None = None
    cuda_peak_bytes: int | None = None
    machine: dict[str, Any] | None = None

    def add(self, residues: int, seconds: float, encoded: int, cached: int,
            measured: dict[str, Any] | None = None) -> None:
        self.residues += residues
        self.seconds += seconds
        self.encoded += encoded
        self.cached += cached
        if measured is not None:
            self.machine = measured["machine"]
            for key in ("peak_rss_bytes", "cuda_peak_bytes"):
                if measured.get(key) is not None:
                    setattr(self, key, max(getattr(self, key) or 0, measured[key]))


def _clean(text: str, limit: int = 200) -> str:
    return " ".join(_TEXT.sub(" ", text).split())[:limit]


def _cpu_model() -> str:
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    key, _, value = line.partition(":")
                    if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                        return _clean(value)
        except OSError:
            pass
    elif sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=5).stdout
            if out.strip():
                return _clean(out)
        except (OSError, subprocess.SubprocessError):
            pass
    return _clean(platform.processor() or platform.machine() or "unknown CPU")


@lru_cache(maxsize=1)
def _cpu() -> tuple[str, int]:
    try:  # the cores this process may run on, which is what bounds its throughput
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return _cpu_model() or "unknown CPU", max(cores, 1)


def _cuda():
    """torch.cuda when this process has used CUDA, else None (torch is never imported just to ask)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda
    except Exception:  # a broken CUDA set-up must not fail an evaluation over a number it only reports
        return None
    return None


def machine() -> dict[str, Any]:
    """CPU model and usable cores, and the GPU's name when this process ran CUDA."""
    cpu, cores = _cpu()
    out: dict[str, Any] = {"cpu": cpu, "cores": cores}
    cuda = _cuda()
    if cuda is not None:
        try:
            out["gpu"] = _clean(cuda.get_device_name(cuda.current_device())) or "unknown GPU"
        except Exception:
            pass
    return out


def describe_machine(m: dict[str, Any]) -> str:
    """One line for people: ``AMD EPYC, 2 cores, NVIDIA H200``."""
    text = f"{m['cpu']}, {m['cores']} core{'' if m['cores'] == 1 else 's'}"
    return text + (f", {m['gpu']}" if m.get("gpu") else "")


def peak_memory() -> dict[str, int | None]:
    """Peak resident memory of this process so far, and the CUDA allocator's peak when it used CUDA."""
    out: dict[str, int | None] = {"peak_rss_bytes": None}
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_rss_bytes"] = int(rss if sys.platform == "darwin" else rss * 1024)  # macOS: bytes; else KiB
    except (ImportError, OSError, ValueError):
        pass  # Windows has no getrusage: unknown, not a guess
    cuda = _cuda()
    if cuda is not None:
        try:
            out["cuda_peak_bytes"] = int(max(cuda.max_memory_allocated(d) for d in range(cuda.device_count())))
        except Exception:
            pass
    return out


def measure() -> dict[str, Any]:
    """Peak memory, machine and torch's thread count (when loaded), taken right after an encoding pass."""
    return {**peak_memory(), "machine": machine(), "threads": threads.in_use()}


# ---- the record of the passes that filled a cache entry ----

def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _read(entry_dir: Path) -> dict[str, Any]:
    try:
        raw = json.loads((Path(entry_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) and isinstance(raw.get("passes"), dict) else {}


def record_pass(entry_dir: Path, task: str, residues: int, seconds: float, variants: int,
                measured: dict[str, Any]) -> None:
    """Add a pass to the entry's record (per task; restarted when another machine fills the entry)."""
    if residues <= 0 or seconds <= 0:
        return
    record = _read(entry_dir)
    if record.get("machine") != measured["machine"]:
        record = {"machine": measured["machine"], "passes": {}}
    old = record["passes"].get(task)
    new = {"residues": residues, "seconds": seconds, "variants": variants,
           **{k: v for k, v in measured.items() if k != "machine" and v is not None}}
    if isinstance(old, dict) and old.get("variants") == variants and old.get("threads") == new.get("threads") \
            and _positive(old.get("residues")) and _positive(old.get("seconds")):  # a resumed or extended pass: one rate over both
        new["residues"] += old["residues"]
        new["seconds"] += old["seconds"]
        for key in ("peak_rss_bytes", "cuda_peak_bytes"):
            if _positive(old.get(key)):
                new[key] = max(new.get(key, 0), old[key])
    record["passes"][task] = new
    try:
        atomic_write_text(Path(entry_dir) / RECORD, json.dumps(record, indent=1, sort_keys=True))
    except OSError:
        pass  # a cost record is never worth failing a run


def _stored(entry_dir: Path, task: str) -> dict[str, Any] | None:
    """The task's own pass, else the entry's passes together (its sequences may have come with another task)."""
    record = _read(entry_dir)
    m = record.get("machine")
    if not (isinstance(m, dict) and isinstance(m.get("cpu"), str) and _positive(m.get("cores"))):
        return None
    passes = [p for p in record["passes"].values()
              if isinstance(p, dict) and _positive(p.get("residues")) and _positive(p.get("seconds"))
              and isinstance(p.get("variants"), int) and p["variants"] >= 1]
    own = record["passes"].get(task)
    if own in passes:
        passes = [own]
    if not passes or len({p["variants"] for p in passes}) != 1:
        return None
    out: dict[str, Any] = {"residues_per_s": sum(p["residues"] for p in passes) / sum(p["seconds"] for p in passes),
                           "variants": passes[0]["variants"]}
    for key in ("peak_rss_bytes", "cuda_peak_bytes"):
        known = [int(p[key]) for p in passes if _positive(p.get(key))]
        out[key] = max(known) if known else None
    machine_out = {"cpu": _clean(m["cpu"]) or "unknown CPU", "cores": int(m["cores"])}
    if isinstance(m.get("gpu"), str) and _clean(m["gpu"]):
        machine_out["gpu"] = _clean(m["gpu"])
    out["machine"] = machine_out
    return out


def result_cost(tally: Tally, entry_dir: Path, task: str) -> dict[str, Any]:
    """The ``cost`` object of a result, from this run's tally or, when it encoded nothing, the cache's record."""
    if tally.encoded:
        source = "partly_cached" if tally.cached else "computed"
        rate = tally.residues / tally.seconds if tally.seconds > 0 else None
        measured: dict[str, Any] = {"peak_rss_bytes": tally.peak_rss_bytes, "cuda_peak_bytes": tally.cuda_peak_bytes,
                                    "machine": tally.machine or machine()}
    else:
        source = "cached"
        measured = _stored(entry_dir, task) or {"peak_rss_bytes": None, "machine": None}
        rate = measured.pop("residues_per_s", None)
    cost: dict[str, Any] = {"embeddings": source, "residues": int(tally.residues),
                            "encode_s": round(tally.seconds, 3),
                            "residues_per_s": None if rate is None else float(f"{rate:.4g}"),  # never 0
                            "peak_rss_bytes": measured.get("peak_rss_bytes"), "machine": measured.get("machine")}
    if measured.get("cuda_peak_bytes") is not None:
        cost["cuda_peak_bytes"] = measured["cuda_peak_bytes"]
    if measured.get("variants", 1) > 1:  # a sweep's pass encoded several configurations at this rate
        cost["variants"] = measured["variants"]
    return cost


def environment() -> dict[str, str]:
    """Library versions that can change a score, recorded in every result."""
    env = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for dist in ("numpy", "scipy", "scikit-learn", "torch"):
        try:
            env[dist.replace("scikit-learn", "sklearn")] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return env
