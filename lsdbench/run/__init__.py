"""Orchestration: encoders and task names in; results, sweeps, submissions and the leaderboard out.

``evaluate`` (one encoder, several tasks), ``sweep`` (a noise-level family), ``benchmark`` (the main
job of the entries file), ``plan`` (cost estimates) and ``publish`` (committing a run's files).
"""

from lsdbench import lazy_exports

_EXPORTS = {
    "evaluate_task": "lsdbench.run.evaluate",
    "cards_for": "lsdbench.run.evaluate",
    "run_sweep": "lsdbench.run.sweep",
    "sweep_encoder": "lsdbench.run.sweep",
    "run_benchmark": "lsdbench.run.benchmark",
    "EntriesError": "lsdbench.run.entries",
    "Plan": "lsdbench.run.entries",
    "load_plan": "lsdbench.run.entries",
    "make_plan": "lsdbench.run.plan",
    "publish": "lsdbench.run.publish",
    "retest_hypotheses": "lsdbench.run.publish",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
