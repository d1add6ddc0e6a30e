"""``lsdbench eval``, ``lsdbench cache`` and ``lsdbench run`` (the main job)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tabulate import tabulate

from . import embed_cache, shards
from .encoders import merge_precision, parse_options
from .precision import PRECISIONS
from .results import ResultError
from .task_commands import data_options, register_user_cards
from .terminal import add_command, clip, plural


def default_out(encoder) -> Path:
    """``results/<encoder>[-t0.5]-<config hash>/``: one folder per encoder configuration (as MTEB does), so
    results of different encoders never mix in one folder that ``submit`` or ``compare`` must untangle."""
    from .results import run_name

    return Path("results") / run_name(encoder.name, encoder.config)


def number_list(kind: type):
    """argparse type: comma-separated numbers of ``kind`` (a bad one is a usage error, not a traceback)."""
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                             f"{'integers' if kind is int else 'numbers'}") from None
        if kind is float and not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"{text!r} holds a value that is not finite")
        return values
    parse.__name__ = f"{kind.__name__} list"
    return parse


def show_plan(encoder, cards, args, *, variants=(), levels=(), shard=None) -> None:
    """Print what is about to run and an estimate of its time (stdout; stderr is kept for errors)."""
    from .plan import make_plan
    from .registry import load_task

    tasks = [load_task(c, cache_dir=args.cache_dir, mirror=args.mirror, progress=not args.quiet) for c in cards]
    plan = make_plan(encoder, tasks, variants=variants, levels=levels, shard=shard,
                     long_sequences=getattr(args, "long_sequences", "window"), cache_dir=args.cache_dir)
    print(plan.summary() + "\n", flush=True)


def run_shard(args) -> shards.Shard | None:
    """The shard this eval/sweep fills (``--shard``, else the environment's); None: a whole run that probes."""
    shard = shards.chosen(args.shard)
    if shard is not None and args.recompute:  # each shard would delete what the others had written
        raise shards.ShardError("--recompute cannot be sharded: each shard would delete the others' embeddings; "
                                "run `lsdbench cache clear --encoder NAME` once before starting the shards")
    return shard


def cmd_eval(args) -> int:
    from .encoders import resolve
    from .evaluate import cards_for, evaluate

    register_user_cards(args)
    seeds = args.seeds or None
    shard = run_shard(args)
    encoder = resolve(args.encoder, **merge_precision(parse_options(args.encoder_opt), args.precision))
    cards = cards_for(args.task or None, args.suite)
    show_plan(encoder, cards, args, shard=shard)
    if args.plan_only:
        return 0
    if shard is not None:
        return eval_shard(encoder, cards, shard, args)
    out = None if args.no_save else Path(args.out) if args.out else default_out(encoder)
    results = evaluate(encoder, args.task or None, suite=args.suite, probe=args.probe, out_dir=out, spec=args.encoder,
                       cache_dir=args.cache_dir, mirror=args.mirror, seeds=seeds, long_sequences=args.long_sequences,
                       batch_residues=args.batch_residues, progress=not args.quiet, reuse_probe=not args.refit,
                       recompute=args.recompute)
    if not results:  # a helper rank under torchrun: rank 0 reports
        return 0
    print(results.summary())
    if out is None:
        print("\nnothing saved (--no-save); without it the results go to " + str(default_out(encoder)))
    else:
        print(f"\nsaved {plural(len(results), 'result file')} to {out}/  (see them again: lsdbench show {out})")
    return 0


def eval_shard(encoder, cards, shard, args) -> int:
    """``eval --shard``: fill this shard of the cache on every task and mark it done; no probe, no result file."""
    from . import distributed
    from .embedding import CachedRun

    CachedRun(cache_dir=args.cache_dir).prepare(encoder, args.encoder)  # the stale-file warning, as eval gives
    filled = shards.fill_eval(encoder, cards, shard, cache_dir=args.cache_dir, mirror=args.mirror,
                              progress=not args.quiet, long_sequences=args.long_sequences,
                              batch_residues=args.batch_residues)
    if distributed.is_main():
        print(shards.summary(shard, filled, "eval"))
    return 0


def cmd_show(args) -> int:
    from .result_set import read_results

    results = read_results(*args.paths)
    if not results:
        raise ResultError(f"no result or submission files in {', '.join(args.paths)}")
    results.sort(key=lambda r: (r.encoder, json.dumps(r["encoder"]["config"], sort_keys=True), r.task, r.probe))
    print(results.summary(timings=args.timings))
    return 0


def cmd_sweep(args) -> int:
    from .sweep import run_sweep

    register_user_cards(args)
    values = args.t
    from .encoders import resolve
    from .registry import get_card, list_cards
    from .types import SweepableEncoder

    cards = [get_card(t) for t in args.task] if args.task else list_cards(args.suite or "open")  # as run_sweep
    shard = run_shard(args)
    options = parse_options(args.encoder_opt)
    for spec in args.encoder:
        base = resolve(spec, **merge_precision(options, args.precision))
        if isinstance(base, SweepableEncoder):
            show_plan(base, cards, args, variants=[base.with_param(v) for v in values], levels=values, shard=shard)
    for ref in args.reference:
        show_plan(resolve(ref, precision=args.precision), cards, args, shard=shard)
    if args.plan_only:
        return 0
    common = dict(references=args.reference, options=options, precision=args.precision, cache_dir=args.cache_dir,
                  mirror=args.mirror, progress=not args.quiet)
    if shard is not None:
        from . import distributed
        from .sweep import fill_shard

        filled = fill_shard(args.encoder, values, cards, shard, **common)
        if distributed.is_main():
            print(shards.summary(shard, filled, "sweep"))
        return 0
    table = run_sweep(args.encoder, values, tasks=args.task or None, suite=args.suite or "open", out_dir=args.out,
                      probe=args.probe, alpha=args.alpha, reuse_probe=not args.refit, recompute=args.recompute,
                      **common)
    for task, rows in table.items():
        print(f"\n## {task}")
        print(tabulate([[r["encoder"], r.get("t", ""), f"{r['valid']:.4f}", f"{r['test']:.4f}",
                         f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]", f"{r['delta']:+.4f}", f"{r['p_adjusted']:.3g}",
                         r["verdict"]] for r in rows],
                       headers=["encoder", "t", "valid", "test", "95% CI", "delta vs t*", "adj. p", "verdict"],
                       tablefmt="github"))
    print(f"\nwrote results, sweep_<task>.csv and sweep_<task>.png to {args.out}")
    return 0


def differing_keys(configs: list[dict]) -> list[str]:
    """The config keys whose values differ among ``configs`` (what tells the configurations apart)."""
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1]


def cmd_cache_info(args) -> int:
    entries = embed_cache.cache_summary(args.cache_dir)
    by_name: dict[str, list[dict]] = {}
    for e in entries:
        by_name.setdefault(e["name"], []).append(e)
    rows = []
    for name, group in sorted(by_name.items()):
        keys = differing_keys([e["config"] for e in group])
        for e in sorted(group, key=lambda e: [json.dumps(e["config"].get(k), sort_keys=True) for k in keys]):
            shown = ", ".join(f"{k}={json.dumps(e['config'].get(k))}" for k in keys) or "(one configuration)"
            rows.append([name, clip(shown, 60), Path(e["path"]).name[:12], f"{e['sequences']:,}",
                         f"{e['bytes'] / 2**20:.1f}"])
    print(tabulate(rows, headers=["encoder", "distinguishing config", "cache key", "sequences", "MiB"],
                   tablefmt="github", disable_numparse=True))
    from . import probe_cache  # scikit-learn and torch: only for the commands that read probe outcomes
    from .settings import cache_dir

    n, size = probe_cache.count(args.cache_dir)
    print(f"\n{plural(len(entries), 'encoder configuration')}; {plural(n, 'probe outcome')} ({size / 2**20:.1f} MiB)")
    print(f"cache: {cache_dir(args.cache_dir)}")
    return 0


def cmd_cache_clear(args) -> int:
    from . import probe_cache

    n = embed_cache.clear(args.cache_dir, args.encoder)
    print(f"removed {plural(n, 'cached encoder configuration')}")
    if args.encoder is None or args.probes:  # outcomes are keyed by content, not by encoder name
        print(f"removed {plural(probe_cache.clear(args.cache_dir), 'cached probe outcome')}")
    return 0


def cmd_cache_verify(args) -> int:
    """Exit 0 when every checked entry is complete, 1 when something is missing (a finding, not an error)."""
    from .cache_verify import report, verify

    register_user_cards(args)
    checks = verify(args.encoder, args.task, cache_dir=args.cache_dir, mirror=args.mirror)
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword option for the encoder (JSON scalars decoded; see lsdbench encoders NAME); "
                        "repeatable")
    p.add_argument("--task", action="append", default=[], metavar="TASK",
                   help="task name or card path; repeatable (see lsdbench tasks)")
    p.add_argument("--suite", help="evaluate every task of this suite (default: open, if no --task)")
    p.add_argument("--probe", default="linear", choices=["linear", "mlp"],
                   help="linear: ridge / logistic regression, strength chosen on validation; mlp: one hidden "
                        "layer, three seeds")
    p.add_argument("--seeds", type=number_list(int), metavar="LIST", help="comma-separated probe seeds (default: 0 for linear, 0,1,2 for mlp)")
    p.add_argument("--long-sequences", default="window", choices=["window", "crop"],
                   help="sequences longer than the encoder's max_length: overlapping windows averaged, "
                        "or cropped to the first max_length residues")
    p.add_argument("--batch-residues", type=int, metavar="N",
                   help="residues per encode call (default: the encoder's own batch_residues, else 16384)")
    p.add_argument("--refit", action="store_true",
                   help="fit probes again even where the probe cache holds the outcome for these features")
    p.add_argument("--recompute", action="store_true",
                   help="delete the cached embeddings of the encoder configurations this command evaluates and "
                        "compute them again: the cache key is name + config, so use it after editing an "
                        "encoder's code without changing its config")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="precision of the forward pass, for encoders that take a 'precision' option; recorded in "
                        "the encoder's config, so it keys the cache and the result files (default: fp32, the "
                        "encoder's own)")
    p.add_argument("--shard", type=shard_arg, metavar="I/N",
                   help="only fill the embedding cache with shard I of N (0 <= I < N) and mark it done; no probe. "
                        "Default: a Slurm array task's SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT, or "
                        "RANK/WORLD_SIZE outside torchrun; 'none' ignores them")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plan-only", action="store_true",
                   help="print the plan (tasks, residues to encode, estimated time) and stop")


def shard_arg(text: str):
    """argparse type of --shard: a bad value is a usage error that says what is wrong."""
    try:
        return shards.parse(text)
    except shards.ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers) -> None:
    common = data_options()
    p = add_command(subparsers, "eval", "evaluate an encoder on tasks and save one result file per task",
                    description="Embed every sequence of the tasks (through the embedding cache), fit the fixed "
                                "probe on train, choose its strength on valid, score test with a bootstrap CI, "
                                "and save one result file per task (default folder: results/<encoder>-<config "
                                "hash>/).", parents=[common],
                    examples=["lsdbench eval --encoder aac --task metal_ion_binding",
                              "lsdbench eval --encoder my_encoder.py:MyEncoder --encoder-opt dim=32 --suite open",
                              "lsdbench eval --encoder lsd_tn_diffusion --encoder-opt t=0.3 --out results/lsd_t03"])
    p.add_argument("--encoder", required=True, metavar="SPEC",
                   help="registered name (lsdbench encoders), module:attr, or path/to/file.py:attr")
    add_eval_options(p)
    save = p.add_mutually_exclusive_group()
    save.add_argument("--out", metavar="DIR", help="folder for the result files (default: results/<encoder>-<config "
                                                   "hash>/, one folder per encoder configuration)")
    save.add_argument("--no-save", action="store_true", help="print the table only; write no result file")
    p.set_defaults(func=cmd_eval)

    p = add_command(subparsers, "show", "print the table of saved results",
                    description="Print the summary table of result files, submission files or folders of them.",
                    examples=["lsdbench show results/", "lsdbench show leaderboard/submissions/aac.open.json"])
    p.add_argument("paths", nargs="+", metavar="PATH", help="result or submission files, or folders of them")
    p.add_argument("--timings", action="store_true", help="add the embedding and fitting seconds")
    p.set_defaults(func=cmd_show)

    p = add_command(subparsers, "sweep", "evaluate a noise-level family of encoders",
                    description="Evaluate an encoder at several noise levels t (the clean latent is computed once "
                                "per batch), select t* on validation only, test every t against t* and t* against "
                                "the references (Holm), and write sweep_<task>.csv and sweep_<task>.png per task. "
                                "The plan and an estimate of the time are printed first.", parents=[common],
                    examples=["lsdbench sweep --encoder lsd_tn_diffusion --t 0,0.3,0.7 --task metal_ion_binding "
                              "--out runs/sweep",
                              "lsdbench sweep --encoder lsd_tn_diffusion --reference lsd_tn_latent --out runs/sweep"])
    p.add_argument("--encoder", action="append", required=True, metavar="SPEC",
                   help="an encoder with a sweep parameter (e.g. lsd_tn_diffusion); repeatable")
    p.add_argument("--t", type=number_list(float), default="0,0.1,0.2,0.3,0.5,0.7,0.9", metavar="LIST",
                   help="comma-separated noise levels in [0, 1]")
    p.add_argument("--reference", action="append", default=[], metavar="SPEC",
                   help="encoders drawn as reference lines and tested against the selected level; repeatable")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdicts")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (results/, CSVs, figures)")
    add_eval_options(p)
    p.set_defaults(func=cmd_sweep)

    p = add_command(subparsers, "cache", "the embedding and probe-outcome caches",
                    examples=["lsdbench cache info", "lsdbench cache clear --encoder lsd_tn_diffusion",
                              "lsdbench cache verify --encoder esm2"])
    sub = p.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    i = add_command(sub, "info", "list cached encoder configurations (with the config keys that tell them apart)",
                    parents=[common], examples=["lsdbench cache info --cache-dir /tmp/cache"])
    i.set_defaults(func=cmd_cache_info)
    c = add_command(sub, "clear", "delete cached embeddings (and probe outcomes)", parents=[common],
                    examples=["lsdbench cache clear", "lsdbench cache clear --encoder aac --probes"])
    c.add_argument("--encoder", metavar="NAME", help="only this encoder name (default: every encoder)")
    c.add_argument("--probes", action="store_true",
                   help="also delete every cached probe outcome (always done without --encoder)")
    c.set_defaults(func=cmd_cache_clear)
    v = add_command(sub, "verify", "check that the cache holds every sequence of tasks, shard by shard (--shard runs)",
                    description="Read every shard file of the cached encoder configurations (checksums, names) and "
                                "their completion markers of --shard runs; per task, check each marker against the "
                                "task's data, name the shards without a marker and the sequences not cached (by item "
                                "id and owning shard). Exit status 0 when everything checked is complete, else 1.",
                    parents=[common],
                    examples=["lsdbench cache verify", "lsdbench cache verify --encoder esm2 --task metal_ion_binding"])
    v.add_argument("--encoder", metavar="NAME", help="only this encoder name (default: every cached encoder)")
    v.add_argument("--task", action="append", default=[], metavar="TASK",
                   help="check these tasks (names or card paths); repeatable (default: the tasks the markers name)")
    v.set_defaults(func=cmd_cache_verify)

    p = add_command(subparsers, "run", "the main job: the default benchmark and leaderboard (about an hour on 2 cores)",
                    description="Fetch the suite, evaluate every entry of the entries file, sweep the diffusion "
                                "encoders, write submissions, build the leaderboard and test the hypotheses. "
                                "Resumes from the caches.", parents=[common],
                    examples=["lsdbench run", "lsdbench run --only aac --only dpc --out runs/small",
                              "lsdbench run --publish leaderboard"])
    p.add_argument("--entries", default="leaderboard/entries.toml", metavar="FILE",
                   help="encoders to benchmark and their leaderboard metadata (default: %(default)s)")
    p.add_argument("--suite", help="suite to run (default: the entries file's)")
    p.add_argument("--out", default="runs/bench", metavar="DIR", help="output folder (default: %(default)s)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="only these entries; repeatable (default: every entry)")
    p.add_argument("--publish", metavar="DIR",
                   help="also copy submissions, figures and sweep tables to DIR (e.g. leaderboard) and rebuild it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plan-only", action="store_true",
                   help="print the plan (entries, residues to encode, estimated time) and stop")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from .benchmark import cmd_run as run  # the main job's modules load only when it runs, not for --help

    return run(args)
