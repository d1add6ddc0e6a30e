"""The main job (``lsdbench run``): the default benchmark end to end, driven by an entries file.

suite -> fetch, verify, describe -> evaluate every entry -> noise-level sweeps (validation-selected
level) -> one submission per entry -> leaderboard (README.md, leaderboard.csv, index.html, figures)
-> the entries file's hypotheses ("A beats B"), tested per task with Holm over the family.

Entries name encoders by spec only (registered names, ``module:attr``, ``file.py:attr``), so the
default benchmark plugs in baselines and reference models exactly as any user's package would. An
entry marked ``optional`` (e.g. a reference model whose checkpoint is absent) is skipped with a note.
Every step reads the embedding cache first, so a rerun or a resumed run costs no forward pass.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import registry
from .encoders import resolve
from .errors import UserError
from .evaluate import evaluate
from .hypotheses import Hypothesis, check_hypotheses, summarize, write_report
from .metrics import higher_is_better
from .results import read_result, result_filename, write_result
from .task_info import describe

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class EntriesError(UserError, ValueError):
    """The entries file is missing a field or holds an invalid value."""


@dataclass(frozen=True)
class Entry:
    name: str  # display name on the leaderboard
    spec: str
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # training_data, licence, link, description, parameters
    optional: bool = False
    sweep: str | None = None  # the option swept (e.g. "t"); the entry is then scored at its selected level


@dataclass(frozen=True)
class Plan:
    suite: str
    levels: tuple[float, ...]
    references: tuple[str, ...]
    entries: tuple[Entry, ...]
    hypotheses: tuple[Hypothesis, ...] = ()
    controls: tuple[str, ...] = ()  # entry names whose scores are printed beside every claim


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EntriesError(f"{path}: cannot read entries file: {exc}") from exc
    entries = []
    for i, raw in enumerate(data.get("entry", [])):
        where = f"{path}: entry {i + 1}"
        for key in ("name", "spec", "training_data", "licence", "link"):
            if key not in raw:
                raise EntriesError(f"{where} ({raw.get('name', '?')}): missing {key!r}")
        meta = {k: raw[k] for k in ("training_data", "licence", "link", "description", "parameters") if k in raw}
        entries.append(Entry(name=raw["name"], spec=raw["spec"], options=dict(raw.get("options", {})), meta=meta,
                             optional=bool(raw.get("optional", False)), sweep=raw.get("sweep")))
    if not entries:
        raise EntriesError(f"{path}: no [[entry]] tables")
    names = {e.name for e in entries}
    hypotheses = []
    for i, raw in enumerate(data.get("hypothesis", [])):
        where = f"{path}: hypothesis {i + 1}"
        for key in ("claim", "better", "than"):
            if key not in raw:
                raise EntriesError(f"{where}: missing {key!r}")
        than = [raw["than"]] if isinstance(raw["than"], str) else list(raw["than"])
        unknown = [n for n in [raw["better"], *than] if n not in names]
        if unknown:
            raise EntriesError(f"{where}: {', '.join(map(repr, unknown))} is not the name of an [[entry]]")
        hypotheses.append(Hypothesis(claim=str(raw["claim"]), better=raw["better"], than=tuple(than),
                                     family=str(raw.get("family", "paper")),
                                     health_gated=bool(raw.get("health_gated", True))))
    controls = tuple(data.get("controls", []))
    unknown = [n for n in controls if n not in names]
    if unknown:
        raise EntriesError(f"{path}: controls: {', '.join(map(repr, unknown))} is not the name of an [[entry]]")
    return Plan(suite=data.get("suite", "open"), levels=tuple(float(t) for t in data.get("levels", [])),
                references=tuple(data.get("references", [])), entries=tuple(entries), hypotheses=tuple(hypotheses),
                controls=controls)


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


def select_suite_level(levels: list[float], results_by_task: dict[str, list[dict]]) -> int:
    """One level for the whole suite, chosen on VALIDATION only: the best mean rank across tasks.

    A leaderboard entry is one encoder configuration, so the level cannot differ between tasks. Ranks
    (1 = best validation primary metric on that task, ties averaged) put tasks of different metrics on
    one scale. Ties of the mean rank go to the first level in the given order.
    """
    from scipy.stats import rankdata

    ranks = []
    for results in results_by_task.values():
        metric = results[0]["task"]["primary_metric"]
        scores = np.array([r["scores"]["valid"][metric] for r in results])
        ranks.append(rankdata(-scores if higher_is_better(metric) else scores))
    mean = np.mean(ranks, axis=0)
    return int(np.flatnonzero(mean == mean.min())[0])


def _say(msg: str) -> None:
    print(msg, flush=True)


def run_benchmark(plan: Plan, out_dir: str | Path, *, cache_dir=None, mirror=None, progress: bool = True,
                  only: list[str] | None = None, plan_only: bool = False) -> dict[str, Any]:
    """Run the plan; returns a summary (entries evaluated, skipped, selected levels, leaderboard files).
    ``plan_only``: print what would run and the estimate, and return before running it."""
    from .leaderboard import TaskLoader, build_leaderboard, create_submission
    from .leaderboard.submission import slugify

    loader = TaskLoader(cache_dir=cache_dir, mirror=mirror)

    out = Path(out_dir)
    summary: dict[str, Any] = {"evaluated": [], "skipped": {}, "selected": {}}
    cards = registry.list_cards(plan.suite)
    _say(f"== suite {plan.suite}: fetch, verify, describe ==")
    tasks = []
    for card in cards:
        task = registry.load_task(card, cache_dir=cache_dir, mirror=mirror, progress=progress)
        tasks.append(task)
        info = describe(task)
        sizes = " / ".join(str(info["splits"][s]["items"]) for s in ("train", "valid", "test"))
        _say(f"{card.name:32s} {card.type:12s} {sizes:22s} test {info['splits']['test']['hash'][:19]}...")
    entries, encoders = [], {}
    for entry in plan.entries:
        if only and entry.spec not in only and entry.name not in only:
            continue
        try:
            encoders[entry.name] = resolve(entry.spec, **entry.options)
        except Exception as exc:  # an optional entry that cannot be built (e.g. absent weights) is skipped
            if not entry.optional:
                raise
            reason = str(exc.__cause__ or exc)  # the encoder's own words, not resolve()'s wrapping
            summary["skipped"][entry.name] = reason
            _say(f"-- {entry.name}: skipped ({reason})")
            continue
        entries.append(entry)
    _show_plan(entries, encoders, plan, tasks, cache_dir=cache_dir)
    if plan_only:
        return summary
    sweeping = [e for e in entries if e.sweep]
    if sweeping:
        _sweep(sweeping, plan, out, cards, cache_dir=cache_dir, mirror=mirror, progress=progress, summary=summary)
    sub_dir = out / "submissions"
    by_entry: dict[str, dict[str, dict]] = {}
    for entry in entries:
        _say(f"\n== {entry.name} ({entry.spec}) ==")
        res_dir = out / "results" / slugify(entry.name)
        if entry.sweep:
            options = {**entry.options, entry.sweep: summary["selected"][entry.name]}
            encoder = resolve(entry.spec, **options)
            results = [read_result(out / "sweep" / "results" / result_filename(encoder.name, encoder.config,
                                                                               card.name, "linear"))
                       for card in cards]
            for res in results:
                write_result(res_dir / result_filename(encoder.name, encoder.config, res["task"]["name"], "linear"),
                             res)
        else:
            encoder = encoders[entry.name]
            results = evaluate(entry.spec, [c.name for c in cards], encoder_options=entry.options, out_dir=res_dir,
                               cache_dir=cache_dir, mirror=mirror, progress=progress)
        by_entry[entry.name] = {r["task"]["name"]: r for r in results}
        meta = dict(entry.meta)
        health = health_of(encoder)
        if health is not None:
            summary.setdefault("health", {})[entry.name] = health
            if not health["passed"]:  # the leaderboard mark: a model that misses a target says so
                meta["description"] = (f"{meta.get('description', '')} [HEALTH: misses "
                                       f"{', '.join(health.get('missed', []))}]").strip()
        n = parameter_count(encoder)
        create_submission(res_dir, sub_dir, suite=plan.suite, name=entry.name,
                          parameters=n if n is not None else int(meta.get("parameters", 0)),
                          dim=results[0]["encoder"]["dim"], training_data=meta["training_data"],
                          licence=meta["licence"], link=meta["link"], description=meta.get("description"),
                          encoder=encoder.name, config=encoder.config, loader=loader)
        summary["evaluated"].append(entry.name)
    figures = out / "figures"
    report = build_leaderboard(sub_dir, out / "leaderboard", figures_dir=figures, loader=loader)
    summary["leaderboard"] = [str(p) for p in report.written]
    if report.invalid:
        raise EntriesError(f"invalid submissions were produced: {sorted(report.invalid)}")
    _say(f"\nleaderboard: {', '.join(summary['leaderboard'])}")
    written, counts = judge_hypotheses(plan, by_entry, summary.get("health", {}), out / "leaderboard")
    summary["leaderboard"] += [str(p) for p in written]
    if counts is not None:
        summary["hypotheses"] = counts
    return summary


def judge_hypotheses(plan: Plan, by_entry: dict[str, dict[str, dict]], health: dict[str, dict],
                     out_dir: str | Path) -> tuple[list[Path], dict | None]:
    """Test the plan's hypotheses on ``by_entry`` (entry name -> task -> result) and write
    hypotheses.md/.json to ``out_dir``; a hypothesis whose entries are absent is skipped with a note.
    Returns the files written and the verdict counts per claim (None when nothing was testable)."""
    testable = [h for h in plan.hypotheses if h.better in by_entry and any(t in by_entry for t in h.than)]
    for h in plan.hypotheses:
        if h not in testable:
            _say(f"-- hypothesis {h.claim!r}: skipped (its entries were not evaluated)")
    if not testable:
        return [], None
    untestable = {name: "misses " + ", ".join(h.get("missed", [])) for name, h in health.items() if not h["passed"]}
    rows = check_hypotheses(testable, by_entry, untestable=untestable)
    controls = {name: {task: res["scores"]["test"][res["task"]["primary_metric"]]
                       for task, res in by_entry[name].items()} for name in plan.controls if name in by_entry}
    involved = {n for h in testable for n in (h.better, *h.than)}
    written = write_report(rows, out_dir, controls=controls,
                           health={n: h for n, h in health.items() if n in involved})
    counts = summarize(rows)
    for claim, c in counts.items():
        _say(f"hypothesis {claim!r}: " + ", ".join(f"{v} {k}" for k, v in c.items()))
    return written, counts


def retest_hypotheses(plan: Plan, submissions_dir: str | Path, out_dir: str | Path, *, loader) -> list[Path]:
    """The plan's hypotheses re-tested from the submissions in ``submissions_dir`` (every entry's
    ``<slug>.<suite>.json``, validated) instead of a run's memory: what ``--only`` with ``--publish``
    uses, so the published claims always cover every published entry. Health comes from each entry's
    encoder, built as the run builds it (no forward pass); an optional entry without a submission or
    an encoder is left out, as the run leaves it out."""
    from .leaderboard.submission import slugify, submission_filename
    from .leaderboard.validate import validate_submission

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
            _say(f"-- {entry.name}: health unknown ({exc.__cause__ or exc})")
            h = None
        if h is not None:
            health[entry.name] = h
    written, _ = judge_hypotheses(plan, by_entry, health, out_dir)
    return written


def _show_plan(entries: list[Entry], encoders: dict, plan: Plan, tasks: list, *, cache_dir) -> None:
    """Entries x tasks (x levels), residues to encode and an estimate, before anything runs."""
    from .plan import make_plan, total_estimate

    levels = list(plan.levels)
    _say(f"\n== plan: {len(entries)} entries on {len(tasks)} tasks; sweeps over {len(levels)} levels ==")
    costs = []
    for entry in entries:
        enc = encoders[entry.name]
        variants = [resolve(entry.spec, **{**entry.options, entry.sweep: v}) for v in levels] if entry.sweep else []
        costs.append(make_plan(enc, tasks, variants=variants, levels=levels if entry.sweep else [],
                               cache_dir=cache_dir))
        _say(f"  {costs[-1].brief()}")
    _say(f"estimate: {total_estimate(costs)}")


def _sweep(entries: list[Entry], plan: Plan, out: Path, cards, *, cache_dir, mirror, progress, summary) -> None:
    """Sweep every family together (one figure per task, one line per family), then pick each family's
    level for the leaderboard on validation."""
    from .sweep import run_sweep

    if not plan.levels:
        raise EntriesError("the entries file sweeps a parameter but lists no levels")
    references = usable_references(plan, say=True)
    _say(f"\n== sweep {', '.join(e.spec for e in entries)} over {list(plan.levels)} ==")
    run_sweep([e.spec for e in entries], list(plan.levels), tasks=[c.name for c in cards], suite=None,
              references=references, out_dir=out / "sweep", cache_dir=cache_dir, mirror=mirror, progress=progress)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    for card in cards:
        shutil.copyfile(out / "sweep" / f"sweep_{card.name}.png", figures / f"sweep_{card.name}.png")
    for entry in entries:
        by_task = {}
        for card in cards:
            by_task[card.name] = []
            for level in plan.levels:
                enc = resolve(entry.spec, **{**entry.options, entry.sweep: level})
                by_task[card.name].append(read_result(
                    out / "sweep" / "results" / result_filename(enc.name, enc.config, card.name, "linear")))
        star = select_suite_level(list(plan.levels), by_task)
        summary["selected"][entry.name] = plan.levels[star]
        _say(f"{entry.name}: {entry.sweep} = {plan.levels[star]} selected on validation (best mean rank over tasks)")


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
        copied += _rebuild_sweeps(partial_plan, board)
    return copied


def _drop_stale_results(folder: Path, fresh: list[Path]) -> None:
    """Remove the results of an encoder this run re-evaluated under another configuration (e.g. an
    earlier checkpoint): they would stay in the folder, matched to nothing, and mislead a reader."""
    from .results import read_result

    fresh_set = set(fresh)
    names = {read_result(p)["encoder"]["name"] for p in fresh if p.is_file()}
    for path in sorted(folder.glob("*.json")):
        if path not in fresh_set and read_result(path)["encoder"]["name"] in names:
            path.unlink()


def _rebuild_sweeps(plan: Plan, board: Path) -> list[Path]:
    """The folder's sweep tables and figures, rebuilt from its per-level results for every sweep entry."""
    from .sweep import rebuild_tables

    specs = [e.spec for e in plan.entries if e.sweep]
    if not specs:
        return []
    tasks = [card.name for card in registry.list_cards(plan.suite)]
    references = usable_references(plan)
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


def usable_references(plan: Plan, *, say: bool = False) -> list[str]:
    """The plan's sweep references that can be built here; the others (e.g. absent weights) are left
    out, so the figures go without their lines, in a run and in a rebuild alike."""
    usable = []
    for ref in plan.references:
        try:
            resolve(ref)
            usable.append(ref)
        except Exception as exc:
            if say:
                _say(f"-- reference {ref}: skipped ({exc.__cause__ or exc})")
    return usable
