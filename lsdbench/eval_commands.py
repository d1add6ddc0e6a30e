"""``lsdbench eval``, ``lsdbench cache`` and ``lsdbench run`` (the main job)."""

from __future__ import annotations

import argparse
import json
import math

from tabulate import tabulate

from . import embed_cache, probe_cache
from .encoders import parse_options
from .task_commands import data_options, register_user_cards


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


def summary_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        metric = r["task"]["primary_metric"]
        ci = r["test_ci"]
        std = r.get("test_std", {}).get(metric, 0.0)
        test = f"{r['scores']['test'][metric]:.4f}" + (f" ± {std:.4f}" if std else "")
        rows.append([r["encoder"]["name"], r["task"]["name"], r["probe"]["name"], metric,
                     f"{r['scores']['valid'][metric]:.4f}", test, f"[{ci['low']:.4f}, {ci['high']:.4f}]",
                     f"{r['timings']['embed_s']:.1f}", f"{r['timings']['fit_s']:.1f}"])
    return tabulate(rows, headers=["encoder", "task", "probe", "metric", "valid", "test", "95% CI",
                                   "embed s", "fit s"], tablefmt="github")


def cmd_eval(args) -> int:
    from .evaluate import evaluate

    register_user_cards(args)
    seeds = args.seeds or None
    results = evaluate(args.encoder, args.task or None, suite=args.suite, probe=args.probe, out_dir=args.out,
                       encoder_options=parse_options(args.encoder_opt), cache_dir=args.cache_dir,
                       mirror=args.mirror, seeds=seeds, long_sequences=args.long_sequences,
                       batch_residues=args.batch_residues, progress=not args.quiet, reuse_probe=not args.refit,
                       recompute=args.recompute)
    if not results:  # a helper rank under torchrun: rank 0 reports
        return 0
    print(summary_table(results))
    if args.out:
        print(f"\nwrote {len(results)} result files to {args.out}")
    return 0


def cmd_sweep(args) -> int:
    from .sweep import run_sweep

    register_user_cards(args)
    values = args.t
    table = run_sweep(args.encoder, values, tasks=args.task or None, suite=args.suite or "open",
                      references=args.reference, out_dir=args.out, probe=args.probe,
                      options=parse_options(args.encoder_opt), cache_dir=args.cache_dir, mirror=args.mirror,
                      progress=not args.quiet, alpha=args.alpha, reuse_probe=not args.refit,
                      recompute=args.recompute)
    for task, rows in table.items():
        print(f"\n## {task}")
        print(tabulate([[r["encoder"], r.get("t", ""), r["versus"], f"{r['valid']:.4f}", f"{r['test']:.4f}",
                         f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]", f"{r['delta']:+.4f}", f"{r['p_adjusted']:.3g}",
                         r["verdict"]] for r in rows],
                       headers=["encoder", "t", "versus", "valid", "test", "95% CI", "delta", "adj. p", "verdict"],
                       tablefmt="github"))
    print(f"\nwrote results, sweep_<task>.csv and sweep_<task>.png to {args.out}")
    return 0


def cmd_cache_info(args) -> int:
    entries = embed_cache.cache_summary(args.cache_dir)
    rows = [[e["name"], json.dumps(e["config"], sort_keys=True)[:70], e["sequences"], f"{e['bytes'] / 2**20:.1f}"]
            for e in entries]
    print(tabulate(rows, headers=["encoder", "config", "sequences", "MiB"], tablefmt="github"))
    from .settings import cache_dir

    n, size = probe_cache.count(args.cache_dir)
    print(f"\nprobe outcomes: {n} ({size / 2**20:.1f} MiB)")
    print(f"cache: {cache_dir(args.cache_dir)}")
    return 0


def cmd_cache_clear(args) -> int:
    n = embed_cache.clear(args.cache_dir, args.encoder)
    print(f"removed {n} cached encoder configuration(s)")
    if args.encoder is None or args.probes:  # outcomes are keyed by content, not by encoder name
        print(f"removed {probe_cache.clear(args.cache_dir)} cached probe outcome(s)")
    return 0


def add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword option for the encoder (JSON scalars decoded); repeatable")
    p.add_argument("--task", action="append", default=[], help="task name or card path; repeatable")
    p.add_argument("--suite", help="evaluate every task of this suite (default: open, if no --task)")
    p.add_argument("--probe", default="linear", choices=["linear", "mlp"])
    p.add_argument("--seeds", type=number_list(int), help="comma-separated probe seeds (mlp default 0,1,2)")
    p.add_argument("--long-sequences", default="window", choices=["window", "crop"],
                   help="sequences longer than the encoder's max_length: overlapping windows averaged "
                        "(default) or cropped to the first max_length residues")
    p.add_argument("--batch-residues", type=int, help="token budget per encode call")
    p.add_argument("--refit", action="store_true",
                   help="fit probes again even where the probe cache holds the outcome for these features")
    p.add_argument("--recompute", action="store_true",
                   help="delete the cached embeddings of the encoder configurations this command evaluates and "
                        "compute them again: the cache key is name + config, so use it after editing an "
                        "encoder's code without changing its config")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def register(subparsers) -> None:
    common = data_options()
    p = subparsers.add_parser("eval", parents=[common], help="evaluate an encoder on tasks")
    p.add_argument("--encoder", required=True, metavar="SPEC",
                   help="registered name, module:attr, or path/to/file.py:attr")
    add_eval_options(p)
    p.add_argument("--out", help="directory for the result files")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("sweep", parents=[common], help="evaluate a noise-level family of encoders")
    p.add_argument("--encoder", action="append", required=True, metavar="SPEC",
                   help="an encoder with a sweep parameter (e.g. lsd_tn_diffusion); repeatable")
    p.add_argument("--t", type=number_list(float), default="0,0.1,0.2,0.3,0.5,0.7,0.9",
                   help="comma-separated levels")
    p.add_argument("--reference", action="append", default=[], metavar="SPEC",
                   help="encoders drawn as reference lines and tested against the selected level")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--out", required=True, help="output directory")
    add_eval_options(p)
    p.set_defaults(func=cmd_sweep)

    p = subparsers.add_parser("cache", help="the embedding and probe-outcome caches")
    sub = p.add_subparsers(dest="cache_command", required=True)
    i = sub.add_parser("info", parents=[common], help="list cached encoders")
    i.set_defaults(func=cmd_cache_info)
    c = sub.add_parser("clear", parents=[common], help="delete cached embeddings")
    c.add_argument("--encoder", help="only this encoder name")
    c.add_argument("--probes", action="store_true",
                   help="also delete every cached probe outcome (always done without --encoder)")
    c.set_defaults(func=cmd_cache_clear)

    from .benchmark import cmd_run

    p = subparsers.add_parser("run", parents=[common], help="the main job: the default benchmark and leaderboard")
    p.add_argument("--entries", default="leaderboard/entries.toml",
                   help="encoders to benchmark and their leaderboard metadata (default: %(default)s)")
    p.add_argument("--suite", help="suite to run (default: the entries file's)")
    p.add_argument("--out", default="runs/bench", help="output folder (default: %(default)s)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="only these entries; repeatable")
    p.add_argument("--publish", metavar="DIR",
                   help="also copy submissions, figures and sweep tables to DIR (e.g. leaderboard) and rebuild it")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)
