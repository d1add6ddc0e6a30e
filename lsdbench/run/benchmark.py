"""The main job (``lsdbench run``): the default benchmark end to end, driven by an entries file.

suite -> fetch, verify, describe -> evaluate every entry -> noise-level sweeps (validation-selected
level) -> one submission per entry -> leaderboard (README.md, leaderboard.csv, index.html, figures)
-> the entries file's hypotheses ("A beats B"), tested per task with Holm over the family.

Everything flows one way, in memory: each task is loaded (and its split hashes computed) once, each
encoder is built once (a sweep's levels share its weights), each result is validated when it is made
and each submission when it is packaged, and the leaderboard ranks those validated objects; files are
written for people and for ``--publish``, never read back. An entry marked ``optional`` (e.g. a
reference model whose checkpoint is absent) is skipped with a note. Every step reads the embedding and
probe caches first, so a rerun or a resumed run costs no forward pass and no probe fit.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata
from tqdm.auto import tqdm

from lsdbench.comparison.hypotheses import check_hypotheses, summarize, write_report
from lsdbench.encode import threads as torch_threads
from lsdbench.encode.embedding import CachedRun
from lsdbench.encode.encoders import resolve
from lsdbench.leaderboard.build import BuildReport
from lsdbench.leaderboard.package import submit_results
from lsdbench.leaderboard.submission import slugify
from lsdbench.leaderboard.validate import TaskLoader
from lsdbench.metrics.registry import higher_is_better
from lsdbench.results.result import result_filename, write_result
from lsdbench.run.entries import EntriesError, Entry, Plan, load_plan  # noqa: F401  (the CLI and tests import them from here)
from lsdbench.run.evaluate import evaluate_task
from lsdbench.run.plan import make_plan, threads_text, total_estimate
from lsdbench.run.stream import StreamingBoard, streaming_order
from lsdbench.run.sweep import sweep_families, variants_of
from lsdbench.tasks import registry
from lsdbench.tasks.info import describe
from lsdbench.types import Encoder, Task

PROBE = "linear"  # the main job's probe: one per leaderboard entry


def health_of(encoder) -> dict | None:
    """An encoder's own health summary (``passed``, ``missed``), when it exposes one as ``health``."""
    health = getattr(encoder, "health", None)
    return health if isinstance(health, dict) and "passed" in health else None


def parameter_count(encoder) -> int | None:
    """Trainable parameters, when the encoder says (``n_parameters``) or wraps a torch module (``model``)."""
    n = getattr(encoder, "n_parameters", None)
    if n is not None:
        return int(n)
    model = getattr(encoder, "model", None)
    if model is not None and hasattr(model, "parameters"):
        return int(sum(p.numel() for p in model.parameters()))
    return None


def select_suite_level(levels: list[float], results_by_task: dict[str, list[Mapping]]) -> int:
    """One level for the whole suite, chosen on VALIDATION only: the best mean rank across tasks.

    A leaderboard entry is one encoder configuration, so the level cannot differ between tasks. Ranks
    (1 = best validation primary metric on that task, ties averaged) put tasks of different metrics on
    one scale. Ties of the mean rank go to the first level in the given order.
    """
    ranks = []
    for results in results_by_task.values():
        metric = results[0]["task"]["primary_metric"]  # any result mapping: a Result or its JSON
        scores = np.array([r["scores"]["valid"][metric] for r in results])
        ranks.append(rankdata(-scores if higher_is_better(metric) else scores))
    mean = np.mean(ranks, axis=0)
    return int(np.flatnonzero(mean == mean.min())[0])


def say(msg: str) -> None:
    print(msg, flush=True)


def run_benchmark(plan: Plan, out_dir: str | Path, *, cache_dir=None, mirror=None, progress: bool = True,
                  only: list[str] | None = None, plan_only: bool = False, extended: bool = False) -> dict[str, Any]:
    """Run the plan; returns a summary (entries evaluated, skipped, selected levels, leaderboard files).
    ``plan_only``: print what would run and the estimate, and return before running it. ``extended``:
    also the entries marked ``extended`` (hours of controls), which otherwise run only when ``only`` names them."""
    out = Path(out_dir)
    summary: dict[str, Any] = {"evaluated": [], "skipped": {}, "selected": {}}
    tasks = load_suite(plan.suite, cache_dir=cache_dir, mirror=mirror, progress=progress)
    entries, encoders = build_encoders(plan, only, summary, extended=extended)
    if any(e.sweep for e in entries) and not plan.levels:
        raise EntriesError("the entries file sweeps a parameter but lists no levels")
    families = {e.name: (encoders[e.name], variants_of(encoders[e.name], plan.levels, e.sweep))
                for e in entries if e.sweep}
    minutes = _show_plan(entries, encoders, families, plan, tasks, cache_dir=cache_dir)
    if plan_only:
        return summary
    cached_run = CachedRun(cache_dir=cache_dir)
    order = streaming_order(entries, minutes)
    board = StreamingBoard(out, order, TaskLoader(cache_dir=cache_dir, mirror=mirror, tasks=tasks))
    report = board.build()  # before anything runs: every entry pending
    by_entry: dict[str, dict[str, dict]] = {}
    for entry in [e for e in order if not e.sweep]:
        say(f"\n== {entry.name} ({entry.spec}) ==")
        encoder = encoders[entry.name]
        cached_run.prepare(encoder, entry.spec)
        results = [evaluate_task(encoder, task, probe=PROBE, spec=entry.spec, cache_dir=cache_dir,
                                 progress=progress)
                   for task in tqdm(tasks, desc=encoder.name, unit="task", disable=not progress)]
        report = _publish_entry(entry, encoder, results, board, plan, summary, by_entry)
    swept = [e for e in order if e.sweep]
    if swept:  # the sweeps are most of a run: last, after every cheaper entry is on the leaderboard
        chosen = _sweep(swept, families, plan, out, tasks, cache_dir=cache_dir, progress=progress,
                        summary=summary, cached_run=cached_run)
        for entry in swept:
            say(f"\n== {entry.name} ({entry.spec}) ==")
            report = _publish_entry(entry, *chosen[entry.name], board, plan, summary, by_entry)
    summary["leaderboard"] = [str(p) for p in report.written]
    if report.invalid:
        raise EntriesError(f"invalid submissions were produced: {sorted(report.invalid)}")
    # the claims read the entries in the entries file's order, whatever order they ran in
    by_entry = {e.name: by_entry[e.name] for e in entries}
    summary["evaluated"] = list(by_entry)
    summary["health"] = {e.name: summary["health"][e.name] for e in entries if e.name in summary.get("health", {})}
    say(f"\nleaderboard: {', '.join(summary['leaderboard'])}")
    written, counts = judge_hypotheses(plan, by_entry, summary.get("health", {}), out / "leaderboard")
    summary["leaderboard"] += [str(p) for p in written]
    if counts is not None:
        summary["hypotheses"] = counts
    return summary


def load_suite(suite: str, *, cache_dir=None, mirror=None, progress: bool = True) -> list[Task]:
    """Every task of ``suite``, fetched, verified and loaded once for the whole run, each described in a line."""
    say(f"== suite {suite}: fetch, verify, describe ==")
    tasks = []
    for card in registry.list_cards(suite):
        task = registry.load_task(card, cache_dir=cache_dir, mirror=mirror, progress=progress)
        tasks.append(task)
        info = describe(task)
        sizes = " / ".join(str(info["splits"][s]["items"]) for s in ("train", "valid", "test"))
        say(f"{card.name:32s} {card.type:12s} {sizes:22s} test {info['splits']['test']['hash'][:19]}...")
    return tasks


def build_encoders(plan: Plan, only: list[str] | None, summary: dict,
                   extended: bool = False) -> tuple[list[Entry], dict[str, Encoder]]:
    """The entries to run (``only``: by spec or name) and each one's encoder, built once for the run; an
    optional entry that cannot be built (e.g. absent weights) is skipped and noted in ``summary``; an
    ``extended`` entry runs only with ``extended`` or when ``only`` names it."""
    entries, encoders = [], {}
    for entry in plan.entries:
        named = bool(only) and (entry.spec in only or entry.name in only)
        if (only and not named) or (entry.extended and not (extended or named)):
            continue
        try:
            encoders[entry.name] = resolve(entry.spec, **entry.options)
        except Exception as exc:  # an optional entry that cannot be built (e.g. absent weights) is skipped
            if not entry.optional:
                raise
            reason = str(exc.__cause__ or exc)  # the encoder's own words, not resolve()'s wrapping
            summary["skipped"][entry.name] = reason
            say(f"-- {entry.name}: skipped ({reason})")
            continue
        entries.append(entry)
    return entries, encoders


def _publish_entry(entry: Entry, encoder: Encoder, results: list, board: StreamingBoard, plan: Plan,
                   summary: dict, by_entry: dict) -> BuildReport:
    """Write an entry's results and submission, then rewrite the leaderboard (both atomically)."""
    res_dir = board.out / "results" / slugify(entry.name)
    for res in results:
        write_result(res_dir / result_filename(encoder.name, encoder.config, res.task.name, PROBE), res,
                     check=False)  # validated by evaluate_task, and again as part of its submission
    by_entry[entry.name] = {r.task.name: r for r in results}
    path, sub = submit_results(results, board.out / "submissions", suite=plan.suite, name=entry.name,
                               meta=_submission_meta(entry, encoder, summary), loader=board.loader)
    return board.done(entry.name, path, sub)


def _submission_meta(entry: Entry, encoder: Encoder, summary: dict) -> dict[str, Any]:
    """The leaderboard metadata of an entry: the entries file's, the encoder's parameter count, and a
    health mark on the description of a model that misses a target."""
    meta = dict(entry.meta)
    health = health_of(encoder)
    if health is not None:
        summary.setdefault("health", {})[entry.name] = health
        if not health["passed"]:
            meta["description"] = (f"{meta.get('description', '')} [HEALTH: misses "
                                   f"{', '.join(health.get('missed', []))}]").strip()
    n = parameter_count(encoder)
    meta["parameters"] = n if n is not None else int(meta.get("parameters", 0))
    return meta


def untestable_entries(health: dict[str, dict]) -> dict[str, str]:
    """Entries no claim can rest on, with why. A health record with ``testable`` (the reference models'
    health by function) is gated on it alone: only an entry that learned nothing detectable (it beat the
    untrained random transformer on no task) is left out; a record with only ``passed`` (an older
    checkpoint, a user's encoder) is gated on passing every target."""
    out = {}
    for name, h in health.items():
        if "testable" in h:
            if not h["testable"]:
                out[name] = "learned nothing detectable (beats the untrained random transformer on no task)"
        elif not h["passed"]:
            out[name] = "misses " + ", ".join(h.get("missed", []))
    return out


def judge_hypotheses(plan: Plan, by_entry: dict[str, dict[str, dict]], health: dict[str, dict],
                     out_dir: str | Path) -> tuple[list[Path], dict | None]:
    """Test the plan's hypotheses on ``by_entry`` (entry name -> task -> result) and write
    hypotheses.md/.json to ``out_dir``; a hypothesis whose entries are absent is skipped with a note.
    Returns the files written and the verdict counts per claim (None when nothing was testable)."""
    testable = [h for h in plan.hypotheses if h.better in by_entry and any(t in by_entry for t in h.than)]
    for h in plan.hypotheses:
        if h not in testable:
            say(f"-- hypothesis {h.claim!r}: skipped (its entries were not evaluated)")
    if not testable:
        return [], None
    untestable = untestable_entries(health)
    rows = check_hypotheses(testable, by_entry, untestable=untestable)
    controls = {name: {task: res.score for task, res in by_entry[name].items()}
                for name in plan.controls if name in by_entry}
    involved = {n for h in testable for n in (h.better, *h.than)}
    written = write_report(rows, out_dir, controls=controls,
                           health={n: h for n, h in health.items() if n in involved})
    counts = summarize(rows)
    for claim, c in counts.items():
        say(f"hypothesis {claim!r}: " + ", ".join(f"{v} {k}" for k, v in c.items()))
    return written, counts


def _show_plan(entries: list[Entry], encoders: dict, families: dict, plan: Plan, tasks: list, *,
               cache_dir) -> dict[str, float | None]:
    """Entries x tasks (x levels), residues to encode and an estimate, before anything runs; returns
    each entry's estimated minutes of encoding (None: unknown)."""
    levels = list(plan.levels)
    say(f"\n== plan: {len(entries)} entries on {len(tasks)} tasks; sweeps over {len(levels)} levels; "
        f"{threads_text(torch_threads.chosen())} ==")
    costs = []
    for entry in entries:
        variants = families[entry.name][1] if entry.sweep else []
        costs.append(make_plan(encoders[entry.name], tasks, variants=variants, levels=levels if entry.sweep else [],
                               cache_dir=cache_dir))
        say(f"  {costs[-1].brief()}")
    say(f"estimate: {total_estimate(costs)}")
    return {entry.name: cost.minutes() for entry, cost in zip(entries, costs, strict=True)}


def _sweep(entries: list[Entry], families: dict, plan: Plan, out: Path, tasks: list[Task], *, cache_dir, progress,
           summary, cached_run: CachedRun) -> dict[str, tuple[Encoder, list[dict]]]:
    """Sweep every family together (one figure per task, one line per family), then pick each family's
    level for the leaderboard on validation; returns each entry's encoder and results at that level."""
    references = usable_references(plan, verbose=True)
    say(f"\n== sweep {', '.join(e.spec for e in entries)} over {list(plan.levels)} ==")
    run = sweep_families({e.spec: families[e.name] for e in entries}, plan.levels, tasks, references=references,
                         out_dir=out / "sweep", probe=PROBE, cache_dir=cache_dir, progress=progress,
                         cached_run=cached_run)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        shutil.copyfile(out / "sweep" / f"sweep_{task.name}.png", figures / f"sweep_{task.name}.png")
    chosen = {}
    for entry in entries:
        by_task = {task.name: run.results[task.name][entry.spec] for task in tasks}
        star = select_suite_level(list(plan.levels), by_task)
        summary["selected"][entry.name] = plan.levels[star]
        say(f"{entry.name}: {entry.sweep} = {plan.levels[star]} selected on validation (best mean rank over tasks)")
        chosen[entry.name] = (families[entry.name][1][star], [by_task[task.name][star] for task in tasks])
    return chosen


def usable_references(plan: Plan, *, verbose: bool = False) -> dict[str, Encoder]:
    """The plan's sweep references that can be built here, built; the others (e.g. absent weights) are
    left out, so the figures go without their lines, in a run and in a rebuild alike."""
    usable = {}
    for ref in plan.references:
        try:
            usable[ref] = resolve(ref)
        except Exception as exc:
            if verbose:
                say(f"-- reference {ref}: skipped ({exc.__cause__ or exc})")
    return usable
