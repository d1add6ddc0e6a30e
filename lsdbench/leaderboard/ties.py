"""Significance-aware ranks of one task: statistical tie groups instead of a strict order of point estimates.

Ranking by point estimates lets noise decide: two entries equal up to the last digits swap places on a
re-run. Groups are formed top down: the best remaining entry leads a group, every other remaining entry
is tested against it (paired test, Holm over those comparisons), and the entries not distinguishable from
the leader join its group; the rest go on to the next round. The first round is the leaderboard's test
against the task's best, so group 1 is the best and its '†' entries.

An entry's significance-aware rank is its group's span of positions (``low``..``high``: the entries of
better groups come first) and, for the mean over tasks, the middle of that span, as tied ranks are
averaged. Entries that noise alone orders differently stay in one group, so they keep the same rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# leader, the others (indices) -> the others' verdicts against the leader, in their order
Tester = Callable[[int, Sequence[int]], Sequence[str]]


@dataclass(frozen=True)
class TieRank:
    group: int  # 1 = the best entry's group
    low: int  # first position of the group
    high: int  # last position of the group

    @property
    def mid(self) -> float:
        """The rank that enters the mean rank: ties averaged over the group's positions."""
        return (self.low + self.high) / 2

    def text(self) -> str:
        """'3' for a group of one, '1–4' (en dash) for a group of four."""
        return str(self.low) if self.low == self.high else f"{self.low}\u2013{self.high}"


def tie_groups(signed: np.ndarray, test: Tester) -> list[TieRank]:
    """The tie rank of every entry, from scores signed so that higher is better.

    The leader of each round is the best remaining entry, the first in index order among equal bests
    (entries come sorted by key, so the choice is deterministic)."""
    signed = np.asarray(signed, dtype=float)
    remaining = sorted(range(len(signed)), key=lambda i: (-signed[i], i))
    out: dict[int, TieRank] = {}
    group, placed = 0, 0
    while remaining:
        leader, others = remaining[0], remaining[1:]
        verdicts = list(test(leader, others)) if others else []
        if len(verdicts) != len(others):
            raise ValueError(f"tester gave {len(verdicts)} verdicts for {len(others)} comparisons")
        tied = {i for i, v in zip(others, verdicts, strict=True) if v == "not distinguishable"}
        members = [leader] + [i for i in others if i in tied]
        group += 1
        rank = TieRank(group, placed + 1, placed + len(members))
        out.update((i, rank) for i in members)
        placed += len(members)
        remaining = [i for i in others if i not in tied]
    return [out[i] for i in range(len(signed))]
