"""How many threads torch's intra-op pool gets: the CPUs this process may actually use.

torch sizes its pool from the machine's cores, which a CPU affinity mask (taskset, Slurm) or a
cgroup quota (a container's ``cpu.max``) can make far more than the process gets; an oversubscribed
pool is slow (a user's CNN ran 50x slower with 2 threads than with 1 on a busy 2-core machine). The
count, first found: ``--threads``; ``OMP_NUM_THREADS`` (torch reads it itself); the CPUs available
(affinity, capped by the cgroup quota). On a machine shared with other jobs, give fewer
(``OMP_NUM_THREADS=1`` or ``--threads 1``). torch is never imported just to set it: the count is
applied when an encoder has loaded torch (after it is built, and before each encoding pass).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

_override: int | None = None
CGROUP = Path("/sys/fs/cgroup")


def set_threads(n: int | None) -> None:
    """The ``--threads`` of this process (None: decide from OMP_NUM_THREADS, then the CPUs available)."""
    global _override
    _override = n


def _cgroup_quota(root: Path = CGROUP) -> float | None:
    """CPUs the cgroup quota allows (``cpu.max`` of cgroup v2, or v1's cfs quota / period); None: no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def _own_cgroup() -> Path:
    """The cgroup v2 folder of this process (``0::/path`` of /proc/self/cgroup), else the root."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                own = CGROUP / line[3:].strip().lstrip("/")
                if (own / "cpu.max").is_file():
                    return own
    except OSError:
        pass
    return CGROUP


def available_cpus(root: Path | None = None) -> int:
    """CPUs this process may run on (its affinity), capped by the cgroup's quota (rounded up: a 1.5-CPU
    quota keeps 2 threads busy)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows: no affinity mask to ask
        n = os.cpu_count() or 1
    quota = _cgroup_quota(_own_cgroup() if root is None else root)
    if quota is not None and quota > 0:
        n = min(n, math.ceil(quota))
    return max(n, 1)


def chosen() -> tuple[int, str]:
    """The thread count and where it came from (for the plan's line)."""
    if _override is not None:
        return _override, "--threads"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), "OMP_NUM_THREADS"
    return available_cpus(), "the CPUs available to this process"


def apply() -> None:
    """Size torch's intra-op pool, when an encoder has loaded torch (no-op otherwise)."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "set_num_threads"):
        return
    n, _ = chosen()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def in_use() -> int | None:
    """torch's intra-op threads now, when torch is loaded (recorded with each encoding pass's rate)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None and hasattr(torch, "get_num_threads") else None
