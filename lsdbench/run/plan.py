"""What a long command is about to do, and about how long it will take, printed before it starts.

Tasks x encoders (x noise levels), the residues to encode (what the embedding cache already holds
costs nothing) and an estimate from a measured rate: the recorded passes of this very configuration
on this machine (``throughput``: no forward pass), else one timed ``encode`` call on about 2,000
residues of the first task; with the torch thread count it assumes (``lsdbench.encode.threads``).
Probe fitting is not estimated (seconds per task for linear probes; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from lsdbench.encode import threads as torch_threads
from lsdbench.encode import throughput
from lsdbench.encode.cache import sequence_key
from lsdbench.encode.embedding import cache_for
from lsdbench.encode.encoders import LongSequencePolicy, policy_for
from lsdbench.terminal import plural
from lsdbench.types import Encoder, Task

CALIBRATION_RESIDUES = 2_000


@dataclass
class TaskCost:
    name: str
    sequences: int  # distinct sequences
    residues: int  # of the distinct sequences, after the long-sequence policy's windows
    to_encode: int  # residues of the sequences the cache lacks


@dataclass
class Plan:
    encoder: str
    levels: list[float] = field(default_factory=list)  # empty: one configuration
    tasks: list[TaskCost] = field(default_factory=list)
    rate: float | None = None  # residues per second of one pass
    rate_source: str = ""
    shard: str = ""  # "I/N" when only that shard's sequences are filled (--shard)
    threads: tuple[int, str] = field(default_factory=torch_threads.chosen)  # torch threads assumed, and why

    @property
    def to_encode(self) -> int:
        return sum(t.to_encode for t in self.tasks)

    @property
    def residues(self) -> int:
        return sum(t.residues for t in self.tasks)

    def minutes(self) -> float | None:
        if not self.to_encode:
            return 0.0
        return None if not self.rate else self.to_encode / self.rate / 60

    def estimate(self) -> str:
        minutes = self.minutes()
        if minutes == 0.0:
            return "nothing to encode"
        return "time unknown" if minutes is None else f"~{_duration(minutes)}"

    def brief(self) -> str:
        """One line: what, residues to encode, estimate."""
        what = self.encoder + (f" x {len(self.levels)} levels" if self.levels else "")
        return f"{what:<36} {_count(self.to_encode):>7} of {_count(self.residues):>7} residues to encode  " \
               f"{self.estimate()}"

    def summary(self) -> str:
        what = self.encoder + (f" at {plural(len(self.levels), 'noise level')}" if self.levels else "")
        what += f", shard {self.shard} only" if self.shard else ""
        cached = self.residues - self.to_encode
        lines = [f"plan: {what} on {plural(len(self.tasks), 'task')}: {_count(self.residues)} residues, "
                 f"{_count(self.to_encode)} to encode ({_count(cached)} cached)"]
        for t in self.tasks:
            lines.append(f"  {t.name:<32} {t.sequences:>8,} sequences {_count(t.residues):>7} residues "
                         f"{_count(t.to_encode):>7} to encode")
        minutes = self.minutes()
        probes = "" if self.shard else ", plus probe fitting"  # a shard run fits no probe
        if minutes == 0.0:
            lines.append("estimate: nothing to encode" + ("" if self.shard else "; probes only"))
        elif minutes is None:
            lines.append("estimate: unknown (no rate measured)")
        else:
            lines.append(f"estimate: ~{_duration(minutes)} of encoding at {self.rate:,.0f} residues/s "
                         f"({self.rate_source}; {threads_text(self.threads)}){probes}")
        return "\n".join(lines)


def threads_text(chosen: tuple[int, str]) -> str:
    """``2 torch threads (the CPUs available to this process)``: what the estimate assumes."""
    n, source = chosen
    return f"{plural(n, 'torch thread')} ({source})"


def _count(n: int) -> str:
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return str(n)


def total_estimate(plans: Sequence[Plan]) -> str:
    """The summed encoding time of several plans (a lower bound when some rate is unknown)."""
    known = [p.minutes() for p in plans if p.minutes() is not None]
    if len(known) == len(plans) and not any(known):
        return "nothing to encode; probes only (a cached probe outcome is reused, not refitted)"
    text = f"~{_duration(sum(known))} of encoding, plus probe fitting"
    return text + (" (some rates unknown: more)" if len(known) < len(plans) else "")


def _duration(minutes: float) -> str:
    if minutes < 1:
        return f"{max(1, round(minutes * 60))} s"
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def task_cost(encoders: Sequence[Encoder], task: Task, policy: LongSequencePolicy, cache_dir=None,
              shard=None) -> TaskCost:
    """Residues of a task's distinct sequences (those ``shard`` owns, if given), and of those some of
    ``encoders``' caches lack."""
    unique: dict[str, str] = {}
    for split in task.splits.values():
        for seq in split.all_sequences():
            unique.setdefault(sequence_key(seq), seq)
    if shard is not None:
        unique = {k: s for k, s in unique.items() if shard.owns(k)}
    missing: set[str] = set()
    for enc in encoders:
        missing.update(cache_for(enc, policy, cache_dir).missing(unique))
    length = {k: sum(len(p) for p in policy.pieces(s)) for k, s in unique.items()}
    return TaskCost(task.name, len(unique), sum(length.values()), sum(length[k] for k in missing))


def calibrate(encode, sample: Sequence[str]) -> float | None:
    """Residues per second of one call of ``encode`` on ``sample`` (after nothing was warmed up, so a
    slight overestimate of the time), or None when the sample is empty or the call fails (the run
    itself will report the encoder's error)."""
    residues = sum(map(len, sample))
    if not residues:
        return None
    torch_threads.apply()
    t0 = time.perf_counter()
    try:
        encode(list(sample))
    except KeyboardInterrupt:
        raise
    except BaseException:  # SystemExit too: the run itself reports the encoder's failure, as an error
        return None
    return residues / max(time.perf_counter() - t0, 1e-6)


def make_plan(encoder: Encoder, tasks: Sequence[Task], *, variants: Sequence[Encoder] = (),
              levels: Sequence[float] = (), long_sequences: str = "window", cache_dir=None, shard=None) -> Plan:
    """The plan of evaluating ``encoder`` (or its sweep ``variants`` at ``levels``) on ``tasks``; with ``shard``
    (lsdbench.encode.shards), of filling that shard only."""
    policy = policy_for(encoder, long_sequences)
    filled = list(variants) or [encoder]
    plan = Plan(encoder.name, list(levels), [task_cost(filled, t, policy, cache_dir, shard) for t in tasks],
                shard=str(shard) if shard is not None else "")
    if not plan.to_encode:
        return plan
    entry = cache_for(filled[0], policy, cache_dir).dir  # the cache key: this name and config
    known = throughput.rate(entry, len(filled), threads=plan.threads[0])
    if known:
        plan.rate, plan.rate_source = known, "measured on this machine for this configuration"
        return plan
    sample: list[str] = []
    for task in tasks:
        for seq in (s for split in task.splits.values() for s in split.all_sequences()):
            for piece in policy.pieces(seq):
                if sum(map(len, sample)) >= CALIBRATION_RESIDUES:
                    break
                sample.append(piece)
        if sample:
            break
    if variants and hasattr(encoder, "encode_sweep"):
        rate = calibrate(lambda batch: encoder.encode_sweep(batch, list(levels)), sample)
    else:
        rate = calibrate(lambda batch: [v.encode(batch) for v in filled], sample)
    if rate:
        plan.rate, plan.rate_source = rate, f"timed now on {sum(map(len, sample)):,} residues"
    return plan
