"""Noise-level sweeps: evaluate a one-parameter family of encoders, pick the level on validation,
test every level against the chosen one and against references, and plot metric against level.

An encoder takes part when it offers ``sweep_param`` (the option's name, e.g. ``t``) and
``with_param(value)``; with ``encode_sweep`` as well, the shared part of the forward pass (the clean
latent) is computed once per batch for all levels.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsdbench.atomic import atomic_write_bytes
from lsdbench.encode import distributed, shards
from lsdbench.encode.embedding import CachedRun, embed_sweep
from lsdbench.encode.encoders import EncoderError, merge_precision, policy_for, resolve
from lsdbench.metrics.registry import higher_is_better
from lsdbench.results.result import (
    Result,
    ResultError,
    config_hash,
    read_result,
    result_filename,
    run_name,
    write_result,
)
from lsdbench.run.evaluate import evaluate_task
from lsdbench.run.selection import best_on_test, chosen_shares
from lsdbench.stats import judge, paired_test
from lsdbench.tasks import registry
from lsdbench.types import SweepableEncoder


def select_level(results: list[Mapping]) -> int:
    """Index of the level with the best VALIDATION primary metric (never test); ties -> first level.
    ``results``: any result mappings (``Result`` objects or their JSON)."""
    metric = results[0]["task"]["primary_metric"]
    scores = np.array([r["scores"]["valid"][metric] for r in results])
    best = scores.max() if higher_is_better(metric) else scores.min()
    return int(np.flatnonzero(scores == best)[0])


def family(spec: str, values: Sequence[float], options: dict | None = None) -> tuple:
    """The encoder of ``spec`` and its variants at ``values`` (one per noise level)."""
    base = resolve(spec, **(options or {}))
    return base, variants_of(base, values)


def variants_of(base, values: Sequence[float], param: str | None = None) -> list:
    """``base`` at each of ``values`` (``with_param``, weights shared); ``param``, when given, must be the
    parameter the encoder sweeps (an entries file's ``sweep = "t"``)."""
    if not isinstance(base, SweepableEncoder):
        raise EncoderError(f"encoder {base.name!r} has no sweep parameter (needs sweep_param and with_param)")
    if param is not None and param != base.sweep_param:
        raise EncoderError(f"encoder {base.name!r} sweeps {base.sweep_param!r}, not {param!r}")
    return [base.with_param(v) for v in values]


def _fill_family(spec: str, values: Sequence[float], task, shard, *, options, cache_dir, progress):
    """``sweep --shard`` for one family on one task: one shared pass fills every level's share, as a sweep does."""
    base, variants = family(spec, values, options)
    policy = policy_for(base)

    def fill(seqs: list[str], ids: list[str]) -> None:
        embed_sweep(base, variants, values, seqs, ids=ids, task=task.name, policy=policy, cache_dir=cache_dir,
                    progress=progress and distributed.is_main())

    return shards.fill_task(variants, fill, task, shard, policy=policy, cache_dir=cache_dir,
                            what=f"{base.name} x {len(variants)} levels")


def fill_shard(specs: Sequence[str], values: Sequence[float], cards, shard, *, references: Sequence[str] = (),
               options: dict | None = None, precision: str | None = None, cache_dir=None, mirror=None,
               progress: bool = True) -> list:
    """``lsdbench sweep --shard``: fill this shard of every level's and every reference's cache; no probe."""
    options = merge_precision(options or {}, precision)
    filled = []
    for card in cards:
        task = registry.load_task(card, cache_dir=cache_dir, mirror=mirror, progress=progress)
        for ref in references:  # embedded as run_sweep's evaluate_task embeds them (default policy, batches)
            filled.append(shards.fill_encoder(resolve(ref, precision=precision), task, shard, cache_dir=cache_dir,
                                              progress=progress))
        for spec in specs:
            filled.append(_fill_family(spec, values, task, shard, options=options, cache_dir=cache_dir,
                                       progress=progress))
    return [f for f in filled if f is not None]


def sweep_encoder(spec: str, values: Sequence[float], task, *, options: dict | None = None, probe: str = "linear",
                  cache_dir=None, progress: bool = True, batch_residues: int | None = None,
                  reuse_probe: bool = True, cached_run: CachedRun | None = None) -> list[dict]:
    """Results of ``spec`` at each level on one loaded task (one shared pass fills every level's cache).

    ``cached_run`` (one per run, so a level is recomputed once, not once per task) prepares each level's
    cache entry: see ``CachedRun``.
    """
    base, variants = family(spec, values, options)
    return sweep_family(base, variants, values, task, spec=spec, probe=probe, cache_dir=cache_dir, progress=progress,
                        batch_residues=batch_residues, reuse_probe=reuse_probe, cached_run=cached_run)


def sweep_family(base: SweepableEncoder, variants: Sequence, values: Sequence[float], task, *, spec: str,
                 probe: str = "linear", cache_dir=None, progress: bool = True, batch_residues: int | None = None,
                 reuse_probe: bool = True, cached_run: CachedRun | None = None) -> list[dict]:
    """``sweep_encoder`` for a family already built (``family``): what a run over many tasks calls, so the
    encoder and its checkpoints are built once, not once per task."""
    cached_run = cached_run or CachedRun(cache_dir=cache_dir)
    for variant in variants:
        cached_run.prepare(variant, spec)
    policy = policy_for(base)
    seqs, ids = task.sequences_and_ids()
    embed_sweep(base, variants, values, seqs, ids=ids, task=task.name, policy=policy, cache_dir=cache_dir,
                batch_residues=batch_residues, progress=progress)
    return [evaluate_task(v, task, probe=probe, spec=spec, cache_dir=cache_dir, progress=progress,
                          batch_residues=batch_residues, reuse_probe=reuse_probe) for v in variants]


def analyse(spec: str, param: str, values: Sequence[float], results: list[dict], references: dict[str, dict],
            *, alpha: float = 0.05, correction: str = "holm") -> list[dict[str, Any]]:
    """One row per level, then one per reference, each with its own scores and tested against the
    validation-selected level t* (delta = row - t*). All tests of one (encoder, task) form one
    correction family. Level rows also say how noisy the pick is (selection.py): ``test_best`` (the
    level best on test) and ``chosen_share`` (how often the level wins on validation-sized draws)."""
    metric = results[0].task.primary_metric
    star = select_level(results)
    shares, on_test = chosen_shares(results), best_on_test(results)

    def row(name, value, res: Result, role):
        return {"encoder": name, "task": res.task.name, param: value, "metric": metric, "role": role,
                "valid": res.scores["valid"][metric], "test": res.scores["test"][metric],
                "ci_low": res.test_ci.low, "ci_high": res.test_ci.high,
                "selected": role == "level" and value == values[star], "versus": f"{spec} at {param}*"}

    rows, tests = [], []
    for i, (value, res) in enumerate(zip(values, results, strict=True)):
        r = row(spec, value, res, "level")
        if i == star:
            r.update(delta=0.0, p=1.0, p_adjusted=1.0, verdict="selected")
        else:
            tests.append((r, paired_test(res, results[star])))
        rows.append(r)
    for name, ref in references.items():
        r = row(name, "", ref, "reference")  # the reference's own scores, not the diffusion's again
        tests.append((r, paired_test(ref, results[star])))
        rows.append(r)
    verdicts = judge([cmp for _, cmp in tests], correction=correction, alpha=alpha)
    for (r, cmp), (p_adj, verdict) in zip(tests, verdicts, strict=True):
        r.update(delta=cmp.delta, p=cmp.p_value, p_adjusted=p_adj, verdict=verdict)
    for i, r in enumerate(rows[:len(results)]):  # after the test columns: older readers keep their places
        r.update(test_best=i == on_test, chosen_share=shares[i])
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def plot_task(path: Path, task: str, param: str, curves: dict[str, list[dict]], references: dict[str, dict]) -> None:
    """Metric against level with 95 % CI bands, one line per encoder; dashed lines for references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    metric = None
    for i, (spec, rows) in enumerate(sorted(curves.items())):
        rows = [r for r in rows if r["role"] == "level"]
        metric = rows[0]["metric"]
        x = np.array([r[param] for r in rows], dtype=float)
        y = np.array([r["test"] for r in rows])
        color = f"C{i}"
        ax.plot(x, y, "o-", color=color, label=spec)
        ax.fill_between(x, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows], color=color, alpha=0.15)
        star = next(r for r in rows if r["selected"])
        ax.plot([star[param]], [star["test"]], marker="*", markersize=14, color=color, linestyle="none")
    for j, (name, ref) in enumerate(sorted(references.items())):
        ax.axhline(ref.score, linestyle="--", color=f"C{len(curves) + j}", label=f"{name} (reference)")
    ax.set_xlabel(f"noise level {param}")
    ax.set_ylabel(f"test {metric} (95 % CI)")
    ax.set_title(f"{task}: representation quality against noise level")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    # the star is this task's choice; say so, since the leaderboard picks one level for the whole suite
    fig.text(0.01, 0.01, f"star: {param}* chosen on this task's validation split; the leaderboard uses one "
                         f"{param} per encoder for the whole suite", fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: identical bytes
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def run_sweep(specs: Sequence[str], values: Sequence[float], *, tasks: Sequence[str] | None = None,
              suite: str | None = "open", references: Sequence[str] = (), out_dir: str | Path,
              probe: str = "linear", options: dict | None = None, cache_dir=None, mirror=None,
              progress: bool = True, alpha: float = 0.05, reuse_probe: bool = True,
              recompute: bool = False, precision: str | None = None) -> dict[str, list[dict]]:
    """Sweep each encoder over ``values`` on each task; write results, a CSV and a PNG per task.

    ``recompute`` deletes the cached embeddings of every encoder configuration the sweep embeds (levels
    and references) before it first embeds it, so all are computed again. ``precision`` (``--precision``)
    applies to the swept encoders and the references alike.
    """
    options = merge_precision(options or {}, precision)
    cards = [registry.get_card(t) for t in tasks] if tasks else registry.list_cards(suite or "open")
    families = {spec: family(spec, values, options) for spec in specs}
    refs = {ref: resolve(ref, precision=precision) for ref in references}
    loaded = (registry.load_task(card, cache_dir=cache_dir, mirror=mirror, progress=progress) for card in cards)
    return sweep_families(families, values, loaded, references=refs, out_dir=out_dir, probe=probe,
                          cache_dir=cache_dir, progress=progress, alpha=alpha, reuse_probe=reuse_probe,
                          cached_run=CachedRun(recompute, cache_dir)).table


@dataclass
class SweepRun:
    """What a sweep computed, kept for the main job: per task, each family's results in level order and
    each reference's result, and the rows of every task's table."""

    results: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    references: dict[str, dict[str, dict]] = field(default_factory=dict)
    table: dict[str, list[dict]] = field(default_factory=dict)


def sweep_families(families: dict[str, tuple], values: Sequence[float], tasks: Iterable, *,
                   references: dict[str, Any], out_dir: str | Path, probe: str = "linear", cache_dir=None,
                   progress: bool = True, alpha: float = 0.05, reuse_probe: bool = True,
                   cached_run: CachedRun | None = None) -> SweepRun:
    """``run_sweep`` on built families (spec -> ``family(...)``), built references (spec -> encoder) and
    loaded tasks; writes what run_sweep writes and returns it in memory (``SweepRun``)."""
    out = Path(out_dir)
    cached_run = cached_run or CachedRun(cache_dir=cache_dir)
    run = SweepRun()
    for task in tasks:
        refs = {}
        for ref, enc in references.items():
            cached_run.prepare(enc, ref)
            res = evaluate_task(enc, task, probe=probe, spec=ref, cache_dir=cache_dir, progress=progress,
                                reuse_probe=reuse_probe)
            write_result(out / "results" / result_filename(enc.name, enc.config, task.name, probe), res, check=False)
            refs[ref] = res
        curves = {}
        for spec, (base, variants) in families.items():
            results = sweep_family(base, variants, values, task, spec=spec, probe=probe, cache_dir=cache_dir,
                                   progress=progress, reuse_probe=reuse_probe, cached_run=cached_run)
            for res in results:
                write_result(out / "results" / result_filename(res.encoder.name, res.encoder.config, task.name, probe),
                             res, check=False)  # validated by evaluate_task
            curves[spec] = results
        params = {spec: base.sweep_param for spec, (base, _) in families.items()}
        run.table[task.name] = write_task_tables(out, task.name, curves, refs, values, alpha=alpha, params=params)
        run.results[task.name], run.references[task.name] = curves, refs
    atomic_write_bytes(out / "sweep_summary.json", json.dumps(run.table, indent=1, sort_keys=True).encode())
    return run


def write_task_tables(out: Path, task: str, results: dict[str, list[dict]], references: dict[str, dict],
                      values: Sequence[float], *, params: dict[str, str], alpha: float = 0.05) -> list[dict]:
    """A task's sweep table (CSV) and figure (PNG) from each family's per-level results (``results[spec]``,
    in ``values`` order) and the references' results; returns the table's rows. ``params``: each family's
    sweep parameter (its encoder's ``sweep_param``)."""
    curves, param = {}, None
    for spec, levels in results.items():
        param = params[spec]
        curves[spec] = analyse(spec, param, values, levels, references, alpha=alpha)
    rows = [r for spec in results for r in curves[spec]]
    write_csv(out / f"sweep_{task}.csv", rows)
    plot_task(out / f"sweep_{task}.png", task, param, curves, references)
    return rows


def rebuild_tables(specs: Sequence[str], values: Sequence[float], tasks: Sequence[str], *,
                   references: Sequence[str] = (), out_dir: str | Path, probe: str = "linear",
                   options: dict | None = None, alpha: float = 0.05) -> dict[str, list[dict]]:
    """The sweep tables, figures and summary of ``out_dir`` rebuilt from the result files in
    ``out_dir/results`` alone (no encoding, no probe): what a partial main job publishes, so a folder
    that holds every family's results gets tables of every family, as one full sweep writes them.
    Results are found by what they record (encoder name and config, task, probe), not by file name,
    which has changed across versions; each encoder is built only to know its config."""
    out = Path(out_dir)
    found = index_results(out / "results")

    def load(enc, task):
        key = (enc.name, config_hash(enc.config), task, probe)
        if key not in found:
            raise ResultError(f"{out / 'results'}: no result of {enc.name} ({run_name(enc.name, enc.config)}) "
                              f"on {task} with the {probe} probe; run its sweep first")
        return found[key]

    ref_encoders = {ref: resolve(ref) for ref in references}  # each built once, not once per task
    families = {spec: family(spec, values, options) for spec in specs}
    params = {spec: base.sweep_param for spec, (base, _) in families.items()}
    table: dict[str, list[dict]] = {}
    for task in tasks:
        refs = {ref: load(enc, task) for ref, enc in ref_encoders.items()}
        results = {spec: [load(v, task) for v in variants] for spec, (_, variants) in families.items()}
        table[task] = write_task_tables(out, task, results, refs, values, alpha=alpha, params=params)
    atomic_write_bytes(out / "sweep_summary.json", json.dumps(table, indent=1, sort_keys=True).encode())
    return table


def index_results(folder: Path) -> dict[tuple[str, str, str, str], Result]:
    """Every result file of ``folder`` (validated), keyed by (encoder name, config hash, task, probe)."""
    index = {}
    for path in sorted(Path(folder).glob("*.json")):
        r = read_result(path)
        index[(r.encoder.name, config_hash(r.encoder.config), r.task.name, r.probe.name)] = r
    return index


from lsdbench import _make_callable as make_callable  # noqa: E402  (after run_sweep is defined)

make_callable(__name__, run_sweep)
