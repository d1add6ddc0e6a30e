"""``lsdbench eval``, ``lsdbench show`` and ``lsdbench sweep``."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tabulate import tabulate

from lsdbench.cli.common import add_threads_option, data_options, register_user_cards
from lsdbench.encode import shards
from lsdbench.encode.encoders import merge_precision, parse_options
from lsdbench.encode.precision import PRECISIONS
from lsdbench.results.result import ResultError
from lsdbench.terminal import add_command, plural


def default_out(encoder) -> Path:
    """``results/<encoder>[-t0.5]-<config hash>/``: one folder per encoder configuration (as MTEB does), so
    results of different encoders never mix in one folder that ``submit`` or ``compare`` must untangle."""
    from lsdbench.results.result import run_name

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
    from lsdbench.run.plan import make_plan
    from lsdbench.tasks.registry import load_task

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
    from lsdbench.encode.encoders import resolve
    from lsdbench.run.evaluate import cards_for, evaluate

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
    from lsdbench.encode import distributed
    from lsdbench.encode.embedding import CachedRun

    CachedRun(cache_dir=args.cache_dir).prepare(encoder, args.encoder)  # the stale-file warning, as eval gives
    filled = shards.fill_eval(encoder, cards, shard, cache_dir=args.cache_dir, mirror=args.mirror,
                              progress=not args.quiet, long_sequences=args.long_sequences,
                              batch_residues=args.batch_residues)
    if distributed.is_main():
        print(shards.summary(shard, filled, "eval"))
    return 0


def cmd_show(args) -> int:
    from lsdbench.results.result_set import read_results

    results = read_results(*args.paths)
    if not results:
        raise ResultError(f"no result or submission files in {', '.join(args.paths)}")
    results.sort(key=lambda r: (r.encoder.name, json.dumps(r.encoder.config, sort_keys=True), r.task.name, r.probe.name))
    print(results.summary(timings=args.timings))
    return 0


def cmd_sweep(args) -> int:
    from lsdbench.run.sweep import run_sweep

    register_user_cards(args)
    values = args.t
    from lsdbench.encode.encoders import resolve
    from lsdbench.tasks.registry import get_card, list_cards
    from lsdbench.types import SweepableEncoder

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
        from lsdbench.encode import distributed
        from lsdbench.run.sweep import fill_shard

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
    add_threads_option(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plan-only", action="store_true",
                   help="print the plan (tasks, residues to encode, estimated time, torch threads) and stop; "
                        "no forward pass when this configuration's rate was recorded here, else one small batch")


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
