"""Results as Python objects: a readable summary and a pandas view over the plain result dicts.

``Result`` is the validated ``lsdbench-result-1`` dict itself (a dict subclass), so code that indexes
``result["scores"]["test"]`` or dumps it as JSON keeps working; it only adds names for what people
look up first and a one-line ``repr``. ``Results`` is a list of them that prints as a table.
"""

from __future__ import annotations

import os

from tabulate import tabulate

COLUMNS = ["encoder", "task", "probe", "metric", "valid", "test", "95% CI", "embed s", "fit s"]


class Result(dict):
    """One result (encoder x task x probe); every field of the JSON file is still reachable by key."""

    @property
    def encoder(self) -> str:
        return self["encoder"]["name"]

    @property
    def task(self) -> str:
        return self["task"]["name"]

    @property
    def probe(self) -> str:
        return self["probe"]["name"]

    @property
    def metric(self) -> str:
        return self["task"]["primary_metric"]

    @property
    def score(self) -> float:
        """The primary metric on the test split (for the MLP probe: the mean over seeds)."""
        return float(self["scores"]["test"][self.metric])

    @property
    def ci(self) -> tuple[float, float]:
        return float(self["test_ci"]["low"]), float(self["test_ci"]["high"])

    def __repr__(self) -> str:
        low, high = self.ci
        return (f"Result({self.encoder} on {self.task}, {self.probe} probe: test {self.metric} {self.score:.4f} "
                f"[{low:.4f}, {high:.4f}])")

    def row(self) -> dict:
        """The flat record of ``Results.to_dataframe``."""
        low, high = self.ci
        return {"encoder": self.encoder, "task": self.task, "probe": self.probe, "metric": self.metric,
                "valid": float(self["scores"]["valid"][self.metric]), "test": self.score, "ci_low": low,
                "ci_high": high, "test_std": float(self.get("test_std", {}).get(self.metric, 0.0)),
                "config": self["encoder"].get("config", {}), "embed_s": self["timings"]["embed_s"],
                "fit_s": self["timings"]["fit_s"]}


class Results(list):
    """Results of one call (a list of ``Result``); ``print(results)`` shows the summary table and
    ``results.to_dataframe()`` gives one row per result. ``saved_to``: where they were written, if anywhere."""

    saved_to: str | None = None

    def __init__(self, items=(), saved_to: str | os.PathLike | None = None):
        super().__init__(r if isinstance(r, Result) else Result(r) for r in items)
        self.saved_to = None if saved_to is None else str(saved_to)

    def summary(self, timings: bool = True) -> str:
        rows = []
        for r in self:
            low, high = r.ci
            std = r.get("test_std", {}).get(r.metric, 0.0)
            test = f"{r.score:.4f}" + (f" ± {std:.4f}" if std else "")
            row = [r.encoder, r.task, r.probe, r.metric, f"{r['scores']['valid'][r.metric]:.4f}", test,
                   f"[{low:.4f}, {high:.4f}]"]
            if timings:
                row += [f"{r['timings']['embed_s']:.1f}", f"{r['timings']['fit_s']:.1f}"]
            rows.append(row)
        headers = COLUMNS if timings else COLUMNS[:-2]
        return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary() if self else "Results([])"

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([r.row() for r in self])


def read_results(*paths: str | os.PathLike) -> Results:
    """Every result in these files, submissions or folders (see ``lsdbench show``)."""
    from .loading import load

    return Results(x.result for x in load(paths))
