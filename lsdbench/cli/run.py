"""``lsdbench run``: the main job (``lsdbench.run.benchmark``), whose modules load only when it runs, not for --help."""

from __future__ import annotations

import sys
from pathlib import Path

from lsdbench.cli.common import add_threads_option, data_options
from lsdbench.terminal import add_command


def cmd_run(args) -> int:
    from lsdbench.run.benchmark import run_benchmark
    from lsdbench.run.entries import EntriesError, Plan, load_plan
    from lsdbench.run.publish import publish, retest_hypotheses
    from lsdbench.tasks.cards import CardError

    try:
        plan = load_plan(args.entries)
    except EntriesError as exc:
        print(f"lsdbench: error: {exc}", file=sys.stderr)
        return 2
    if args.suite:
        plan = Plan(args.suite, plan.levels, plan.references, plan.entries, plan.hypotheses, plan.controls)
    try:
        summary = run_benchmark(plan, args.out, cache_dir=args.cache_dir, mirror=args.mirror,
                                progress=not args.quiet, only=args.only or None, plan_only=args.plan_only,
                                extended=args.extended)
    except CardError as exc:
        print(f"lsdbench: error: {exc}", file=sys.stderr)
        return 2
    if args.plan_only:
        return 0
    if summary["skipped"]:
        print(f"\nskipped {len(summary['skipped'])} optional entries: {', '.join(summary['skipped'])}")
    if args.publish:
        from lsdbench.leaderboard.build import build_leaderboard
        from lsdbench.leaderboard.validate import TaskLoader

        partial = bool(args.only)  # a partial run's sweep tables and claims cover only its entries: rebuilt from every file
        copied = publish(args.out, args.publish, partial_plan=plan if partial else None)
        build_leaderboard(Path(args.publish) / "submissions", args.publish, cache_dir=args.cache_dir,
                          mirror=args.mirror)
        if partial:
            loader = TaskLoader(cache_dir=args.cache_dir, mirror=args.mirror)
            try:
                copied += retest_hypotheses(plan, Path(args.publish) / "submissions", args.publish, loader=loader)
            except EntriesError as exc:
                print(f"lsdbench: error: {exc}", file=sys.stderr)
                return 2
        print(f"published {len(copied)} files to {args.publish} and rebuilt its leaderboard")
    return 0


def register(subparsers) -> None:
    common = data_options()
    p = add_command(subparsers, "run", "the main job: the default benchmark and leaderboard (several hours on 2 cores from an empty cache; --plan-only estimates it)",
                    description="Fetch the suite, evaluate every entry of the entries file, sweep the diffusion "
                                "encoders, write submissions, build the leaderboard and test the hypotheses. "
                                "Cheap entries run first and the sweeps last; the leaderboard is rewritten as each "
                                "entry finishes (a partial one names the pending entries). Resumes from the caches.", parents=[common],
                    examples=["lsdbench run", "lsdbench run --only aac --only dpc --out runs/small",
                              "lsdbench run --publish leaderboard"])
    p.add_argument("--entries", default="leaderboard/entries.toml", metavar="FILE",
                   help="encoders to benchmark and their leaderboard metadata (default: %(default)s)")
    p.add_argument("--suite", help="suite to run (default: the entries file's)")
    p.add_argument("--out", default="runs/bench", metavar="DIR", help="output folder (default: %(default)s)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="only these entries; repeatable (default: every entry)")
    p.add_argument("--publish", metavar="DIR",
                   help="also copy submissions, figures and sweep tables to DIR (e.g. leaderboard) and rebuild it; "
                        "with --only, DIR's sweep tables and claims are rebuilt from all its files")
    add_threads_option(p)
    p.add_argument("--extended", action="store_true",
                   help="also the entries marked extended in the entries file (the random-denoiser controls and "
                        "the faithful readings' sweeps: many hours on 2 cores); --only NAME runs one of them")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plan-only", action="store_true",
                   help="print the plan (entries, residues to encode, estimated time, torch threads) and stop; "
                        "no forward pass for a configuration whose rate was recorded here, else one small batch")
    p.set_defaults(func=cmd_run)
