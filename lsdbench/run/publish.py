"""``lsdbench run --publish``: copy a run's files into the committed leaderboard folder, and rebuild
what a partial run (``--only``) cannot write whole: the sweep tables and figures from every result
file in the folder, and the claims from every submission in it."""

from __future__ import annotations

import shutil
from pathlib import Path

from lsdbench.encode.encoders import resolve
from lsdbench.leaderboard.submission import slugify, submission_filename
from lsdbench.leaderboard.validate import validate_submission
from lsdbench.results.result import read_result
from lsdbench.run.benchmark import health_of, judge_hypotheses, say, usable_references
from lsdbench.run.entries import EntriesError, Plan
from lsdbench.run.sweep import index_results, rebuild_tables
from lsdbench.tasks import registry


def publish(out_dir: str | Path, leaderboard_dir: str | Path, *, partial_plan: Plan | None = None) -> list[Path]:
    """Copy a run's submissions, figures, sweep tables and hypotheses report into the committed
    leaderboard folder.

    ``partial_plan``: the run evaluated only some of the plan's entries (``--only``), so its sweep
    tables, figures and hypotheses cover only those. Its submissions and per-level sweep results are
    copied; the sweep tables and figures are rebuilt from every result in the folder (``sweep.rebuild_tables``),
    and the hypotheses are left to ``retest_hypotheses``.
    """
    out, board = Path(out_dir), Path(leaderboard_dir)
    sweep = out / "sweep"
    paths = [(p, board / "submissions" / p.name) for p in sorted((out / "submissions").glob("*"))]
    if partial_plan is None:
        paths += [(p, board / "figures" / p.name) for p in sorted((out / "figures").glob("*"))]
        paths += [(p, board / p.name) for p in sorted((out / "leaderboard").glob("hypotheses.*"))]
        paths += [(p, board / "sweep" / p.name) for p in sorted(sweep.glob("sweep_*.csv")) + sorted(sweep.glob("sweep_*.json"))]
    paths += [(p, board / "sweep" / "results" / p.name) for p in sorted((sweep / "results").glob("*.json"))]
    copied = []
    for src, dest in paths:
        if src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            copied.append(dest)
    _drop_stale_results(board / "sweep" / "results", [dest for _, dest in paths if "results" in dest.parts])
    if partial_plan is not None:
        copied += rebuild_sweeps(partial_plan, board)
    return copied


def _drop_stale_results(folder: Path, fresh: list[Path]) -> None:
    """Remove the results of an encoder this run re-evaluated under another configuration (e.g. an
    earlier checkpoint): they would stay in the folder, matched to nothing, and mislead a reader."""
    fresh_set = set(fresh)
    names = {read_result(p).encoder.name for p in fresh if p.is_file()}
    for path in sorted(folder.glob("*.json")):
        if path not in fresh_set and read_result(path).encoder.name in names:
            path.unlink()


def rebuild_sweeps(plan: Plan, board: Path) -> list[Path]:
    """The folder's sweep tables and figures, rebuilt from its per-level results for every sweep entry
    whose results are there (an optional entry that never ran, e.g. one whose checkpoint is not trained
    yet, is left out, as a run leaves it out)."""
    results = board / "sweep" / "results"
    swept = {key[0] for key in index_results(results)} if results.is_dir() else set()
    specs = [e.spec for e in plan.entries if e.sweep and (not e.optional or e.spec in swept)]
    if not specs:
        return []
    tasks = [card.name for card in registry.list_cards(plan.suite)]
    references = list(usable_references(plan))
    rebuild_tables(specs, list(plan.levels), tasks, references=references, out_dir=board / "sweep")
    written = [board / "sweep" / "sweep_summary.json"]
    for task in tasks:
        written.append(board / "sweep" / f"sweep_{task}.csv")
        dest = board / "figures" / f"sweep_{task}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(board / "sweep" / f"sweep_{task}.png", dest)
        (board / "sweep" / f"sweep_{task}.png").unlink()  # the folder keeps figures under figures/ only
        written.append(dest)
    return written


def retest_hypotheses(plan: Plan, submissions_dir: str | Path, out_dir: str | Path, *, loader) -> list[Path]:
    """The plan's hypotheses re-tested from the submissions in ``submissions_dir`` (every entry's
    ``<slug>.<suite>.json``, validated) instead of a run's memory: what ``--only`` with ``--publish``
    uses, so the published claims always cover every published entry. Health comes from each entry's
    encoder, built as the run builds it (no forward pass); an optional entry without a submission or
    an encoder is left out, as the run leaves it out."""
    by_entry, health = {}, {}
    for entry in plan.entries:
        path = Path(submissions_dir) / submission_filename(slugify(entry.name), plan.suite)
        if not path.is_file():
            if not entry.optional:
                raise EntriesError(f"{path}: no submission for entry {entry.name!r}; run it first "
                                   f"(lsdbench run --only {entry.spec!r} --publish {Path(submissions_dir).parent})")
            continue
        sub = validate_submission(path, loader=loader)
        if len(sub.entries) != 1:
            raise EntriesError(f"{path}: holds probes {sorted(sub.entries)}; the main job writes one")
        (results,) = sub.entries.values()
        by_entry[entry.name] = results
        try:
            h = health_of(resolve(entry.spec, **entry.options))
        except Exception as exc:  # an optional entry whose encoder cannot be built now: no health mark
            if not entry.optional:
                raise
            say(f"-- {entry.name}: health unknown ({exc.__cause__ or exc})")
            h = None
        if h is not None:
            health[entry.name] = h
    written, _ = judge_hypotheses(plan, by_entry, health, out_dir)
    return written
