"""The leaderboard's table model: columns, entries with their cost, cells, rows and suite tables, and the
protocol constants every view of them states (resamples, alpha, seed, CI level)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lsdbench.encode.cost import describe_machine
from lsdbench.leaderboard.ties import TieRank
from lsdbench.leaderboard.trust import Flag

CI_RESAMPLES = 1000
TEST_RESAMPLES = 2000
ALPHA = 0.05
SEED = 0
CI_LEVEL = 0.95


@dataclass(frozen=True)
class Column:
    """One task of a suite as a leaderboard column."""

    task: str
    metric: str
    type: str
    higher_is_better: bool


@dataclass(frozen=True)
class Cost:
    """An entry's encoding cost over its tasks, from the results that record it (None: none does)."""

    residues_per_s: float | None = None  # median over tasks: one long-sequence task does not decide it
    peak_rss_bytes: int | None = None  # largest over tasks
    cuda_peak_bytes: int | None = None
    machines: tuple[str, ...] = ()  # where the recorded costs were measured, described for people

    @property
    def known(self) -> bool:
        return self.residues_per_s is not None or self.peak_rss_bytes is not None


def entry_cost(results: dict[str, dict[str, Any]]) -> Cost:
    costs = [results[task].get("cost") for task in sorted(results)]
    costs = [c for c in costs if isinstance(c, dict)]
    rates = [float(c["residues_per_s"]) for c in costs if c.get("residues_per_s") is not None]
    rss = [int(c["peak_rss_bytes"]) for c in costs if c.get("peak_rss_bytes") is not None]
    gpu = [int(c["cuda_peak_bytes"]) for c in costs if c.get("cuda_peak_bytes") is not None]
    machines = sorted({describe_machine(c["machine"]) for c in costs if c.get("machine")})
    return Cost(residues_per_s=float(np.median(rates)) if rates else None, peak_rss_bytes=max(rss) if rss else None,
                cuda_peak_bytes=max(gpu) if gpu else None, machines=tuple(machines))


@dataclass
class Entry:
    """One row: a submission's results with one probe."""

    slug: str
    probe: str
    encoder: dict[str, Any]
    suite: str
    source: str
    lsdbench_version: str
    results: dict[str, dict[str, Any]]
    scores: dict[str, float]
    flags: list[Flag] = field(default_factory=list)  # set by flag_entries, over all suites

    @property
    def key(self) -> str:
        return f"{self.slug}/{self.probe}"

    @property
    def name(self) -> str:
        return self.encoder["name"]

    @cached_property
    def cost(self) -> Cost:
        return entry_cost(self.results)

    def marks(self, task: str) -> str:
        """The flag marks of a task's cell, each after a space ('' when none)."""
        return "".join(f" {f.mark}" for f in self.flags if f.task == task)


@dataclass
class Cell:
    score: float
    ci_low: float
    ci_high: float
    tie: TieRank  # the entry's statistical tie group on the task (ties.py)
    best: bool
    tied: bool  # not distinguishable from the best (the best itself is not marked tied)
    delta: float | None = None  # entry minus best
    p_adjusted: float | None = None

    @property
    def rank(self) -> float:
        """The significance-aware rank that enters the mean rank: the middle of the tie group's positions."""
        return self.tie.mid


@dataclass
class Row:
    entry: Entry
    cells: dict[str, Cell]
    mean_rank: float
    position: int = 0


@dataclass
class SuiteTable:
    suite: str
    columns: list[Column]
    rows: list[Row]
    cost_figure: bytes | None = None  # PNG of mean rank against cost, when enough entries record cost

    @property
    def machines(self) -> list[str]:
        """Every machine the table's costs were measured on, in row order; M1, M2, ... in the tables."""
        return list(dict.fromkeys(m for row in self.rows for m in row.entry.cost.machines))

    def machine_marks(self, cost: Cost) -> list[str]:
        index = self.machines
        return [f"M{index.index(m) + 1}" for m in cost.machines]


@dataclass
class BuildReport:
    tables: list[SuiteTable]
    invalid: dict[str, list[str]] = field(default_factory=dict)  # file -> problems
    written: list[Path] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)


def flagged(table: SuiteTable) -> list[tuple[Entry, Flag]]:
    """(entry, flag) of every flag in the table, in row order."""
    return [(row.entry, f) for row in table.rows for f in row.entry.flags]
