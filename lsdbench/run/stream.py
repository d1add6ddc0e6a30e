"""The leaderboard a main job rewrites as each entry finishes, so its first rows appear in minutes.

The run's order: entries that are not swept, cheapest first (their estimated encoding time; a few
seconds of baselines before hours of transformers), then the swept entries, whose sweep is most of a
run. After each entry its submission and the whole leaderboard are rewritten (both atomically), and
a leaderboard that is still waiting for entries names them in a note, so a run stopped at any point
leaves a valid partial leaderboard that says what it lacks. The last build has no note: a complete
run writes the same bytes as if it had built the leaderboard once at its end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from lsdbench.leaderboard.build import BuildReport, build_leaderboard
from lsdbench.leaderboard.validate import TaskLoader, ValidatedSubmission
from lsdbench.run.entries import Entry

CHEAP_MINUTES = 1.0  # estimates below this are noise, not an order: such entries keep the entries file's order


def streaming_order(entries: Sequence[Entry], minutes: Mapping[str, float | None]) -> list[Entry]:
    """Entries not swept first, cheapest first (an unknown estimate last among them), then the swept
    ones; ties keep the entries file's order, so the order is stable from run to run."""
    def key(entry: Entry) -> tuple[bool, float]:
        m = minutes.get(entry.name)
        cost = math.inf if m is None else (0.0 if m < CHEAP_MINUTES else m)
        return entry.sweep is not None, cost
    return sorted(entries, key=key)  # stable


class StreamingBoard:
    """The run's submissions folder and leaderboard, rebuilt after each entry with what is pending."""

    def __init__(self, out: Path, entries: Sequence[Entry], loader: TaskLoader):
        self.out = Path(out)
        self.loader = loader
        self.pending = [e.name for e in entries]
        self.known: dict[str, ValidatedSubmission] = {}

    def build(self) -> BuildReport:
        (self.out / "submissions").mkdir(parents=True, exist_ok=True)  # empty before the first entry finishes
        return build_leaderboard(self.out / "submissions", self.out / "leaderboard", figures_dir=self.out / "figures",
                                 loader=self.loader, known=self.known, pending=tuple(self.pending))

    def done(self, name: str, path: Path, submission: ValidatedSubmission) -> BuildReport:
        """Entry ``name`` wrote its submission at ``path``: rebuild the leaderboard without it pending."""
        self.known[path.name] = submission
        self.pending.remove(name)
        report = self.build()
        left = f"; pending: {', '.join(self.pending)}" if self.pending else ""
        print(f"leaderboard rewritten ({len(self.known)} entries{left})", flush=True)
        return report
