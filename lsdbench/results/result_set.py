"""Results of one call as Python objects: ``Results``, a list of typed ``Result`` objects
(``lsdbench.results.result``, where results are read and written) that prints as a table and has a pandas view.
"""

from __future__ import annotations

import os

from tabulate import tabulate

from lsdbench.results.loading import load, result_paths
from lsdbench.results.result import Result
from lsdbench.stats import disambiguated_labels

__all__ = ["Result", "Results", "read_results"]

COLUMNS = ["encoder", "task", "probe", "metric", "valid", "test", "95% CI", "embed s", "fit s"]


def row(r: Result) -> dict:
    """The flat record of ``Results.to_dataframe``."""
    low, high = r.ci
    return {"encoder": r.encoder.name, "task": r.task.name, "probe": r.probe.name, "metric": r.metric,
            "valid": float(r.scores["valid"][r.metric]), "test": r.score, "ci_low": low, "ci_high": high,
            "test_std": float(r.test_std.get(r.metric, 0.0)), "config": r.encoder.config,
            "embed_s": r.timings["embed_s"], "fit_s": r.timings["fit_s"]}


class Results(list):
    """Results of one call (a list of ``Result``); ``print(results)`` shows the summary table and
    ``results.to_dataframe()`` gives one row per result. ``saved_to``: where they were written, if anywhere."""

    saved_to: str | None = None

    def __init__(self, items=(), saved_to: str | os.PathLike | None = None):
        super().__init__(Result.from_json(r) for r in items)
        self.saved_to = None if saved_to is None else str(saved_to)

    def summary(self, timings: bool = True) -> str:
        """The table; where configurations of one encoder name share a task (``--out`` folders collect
        them while a user iterates), the name carries the config entries that differ (``enc[dim=32]``)."""
        rows = []
        for r, label in zip(self, disambiguated_labels(self), strict=True):
            low, high = r.ci
            std = r.test_std.get(r.metric, 0.0)
            test = f"{r.score:.4f}" + (f" ± {std:.4f}" if std else "")
            line = [label, r.task.name, r.probe.name, r.metric, f"{r.scores['valid'][r.metric]:.4f}", test,
                    f"[{low:.4f}, {high:.4f}]"]
            if timings:
                line += [f"{r.timings['embed_s']:.1f}", f"{r.timings['fit_s']:.1f}"]
            rows.append(line)
        headers = COLUMNS if timings else COLUMNS[:-2]
        return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary() if self else "Results([])"

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([row(r) for r in self])


def read_results(*paths: str | os.PathLike) -> Results:
    """Every result in these files, submissions or folders (see ``lsdbench show``); one list of paths is
    taken as the paths it holds."""
    return Results(x.result for x in load(result_paths(paths[0] if len(paths) == 1 else paths, "read_results()")))
