"""``lsdbench submit`` and ``lsdbench leaderboard validate | build | submit``.

Heavy modules are imported inside the handlers so building the ``lsdbench`` parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys

from lsdbench.cli.common import data_options, register_user_cards
from lsdbench.terminal import add_command

MIB = 2**20


def _loader(args):
    from lsdbench.leaderboard.validate import TaskLoader

    register_user_cards(args)
    return TaskLoader(cache_dir=args.cache_dir, mirror=args.mirror)


def _max_bytes(args) -> int:
    return int(args.max_mib * MIB)


def _summary(sub) -> str:
    probes = ", ".join(f"{p} ({len(sub.entries[p])} tasks)" for p in sorted(sub.entries))
    return f"valid: encoder {sub.encoder['name']!r}, suite {sub.suite!r}, probes {probes}"


def _flag_warnings(valid: list[tuple[str, object]], args, loader) -> list[str]:
    """'FILE: warning: ...' for each flag of the valid files, compared with each other and with the valid
    submissions in --against. Flags are warnings: they never make a file invalid."""
    from lsdbench.leaderboard.build import entries_of, flag_entries, gather
    from lsdbench.leaderboard.trust import warning

    mine = [(path, e) for path, sub in valid for e in entries_of(sub)]
    refs = []
    if args.against:
        subs, _ = gather(args.against, loader, max_bytes=_max_bytes(args))  # its invalid files are not compared
        refs = [e for sub in subs for e in entries_of(sub)]
    flag_entries([e for _, e in mine] + refs)
    return [f"{path}: warning: {warning(e, f)}" for path, e in mine for f in e.flags]


def cmd_validate(args) -> int:
    from lsdbench.leaderboard.validate import check_submission

    loader = _loader(args)
    valid, failed = [], 0
    for path in args.file:
        report = check_submission(path, loader=loader, max_bytes=_max_bytes(args))
        if report.ok:
            valid.append((path, report.submission))
            print(f"{path}: {_summary(report.submission)}")
        else:
            failed += 1
            print(report.message(), file=sys.stderr)
    for line in _flag_warnings(valid, args, loader):
        print(line, file=sys.stderr)
    if failed:
        print(f"{failed} of {len(args.file)} file(s) invalid", file=sys.stderr)
    return 1 if failed else 0


def cmd_build(args) -> int:
    from lsdbench.leaderboard.build import build_leaderboard
    from lsdbench.leaderboard.trust import warning

    report = build_leaderboard(args.submissions, args.out, figures_dir=args.figures, loader=_loader(args),
                               max_bytes=_max_bytes(args), progress=not args.quiet)
    for table in report.tables:
        print(f"suite {table.suite}: {len(table.rows)} entries, {len(table.columns)} tasks")
    for name in report.figures:
        print(f"figure: {name}")
    for path in report.written:
        print(f"wrote {path}")
    for table in report.tables:
        for row in table.rows:
            for flag in row.entry.flags:
                print(f"warning: {warning(row.entry, flag)}", file=sys.stderr)
    for path, problems in sorted(report.invalid.items()):
        print(f"{path}: left out, invalid submission, {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
    if report.invalid:
        print(f"{len(report.invalid)} invalid submission(s) were left out of the leaderboard", file=sys.stderr)
        return 1
    return 0


def cmd_submit(args) -> int:
    from pathlib import Path

    from lsdbench.leaderboard.package import checked_text
    from lsdbench.leaderboard.submission import (
        collect_results,
        make_submission,
        parse_meta,
        slugify,
        submission_filename,
        write_text,
    )

    loader = _loader(args)
    cards = loader.suite_cards(args.suite)
    results = collect_results(args.results, cards, encoder=args.encoder)
    submission = make_submission(results, suite=args.suite, name=args.name, meta=parse_meta(args.meta))
    canonical = submission_filename(slugify(args.name), args.suite)
    out = Path(args.out) if args.out else Path(canonical)
    # validate exactly what will be written (the text parsed back), and write only a valid file
    text, report = checked_text(submission, str(out), loader)
    if not report.ok:
        print(report.message(), file=sys.stderr)
        print(f"{out}: not written", file=sys.stderr)
        return 1
    write_text(out, text)
    print(f"wrote {out}: {_summary(report.submission)}")
    if out.name != canonical:
        print(f"note: in leaderboard/submissions/ the file must be named {canonical}")
    print(f"next: add it as leaderboard/submissions/{canonical} in a pull request (see CONTRIBUTING.md)")
    return 0


def _add_submit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", required=True, metavar="DIR", help="folder of result files (lsdbench eval --out)")
    p.add_argument("--suite", default="open", help="suite the submission covers (default: open)")
    p.add_argument("--name", required=True, help="encoder display name on the leaderboard")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="encoder metadata: parameters, training_data, licence, link (required), description; "
                        "repeatable")
    p.add_argument("--encoder", metavar="NAME",
                   help="take only results of this encoder name (when DIR holds several; default: DIR holds one)")
    p.add_argument("--out", metavar="FILE", help="submission file to write (default: <slug>.<suite>.json here)")
    p.set_defaults(func=cmd_submit)


def register(subparsers) -> None:
    common = data_options()
    size = argparse.ArgumentParser(add_help=False)
    size.add_argument("--max-mib", type=float, default=64.0,
                      help="largest submission file accepted, in MiB, checked before reading (default: 64)")
    submit_examples = ['lsdbench submit --results results/my_encoder --name "My encoder" --meta parameters=0 '
                       "--meta training_data=none --meta licence=MIT --meta link=https://example.org",
                       "lsdbench submit --results results/ --encoder my_encoder --name Mine --meta ... --out mine.json"]

    p = add_command(subparsers, "submit", "package result files into a leaderboard submission", parents=[common],
                    description="Package one encoder's result files (every task of the suite) and its metadata into "
                                "a validated submission file (see CONTRIBUTING.md).", examples=submit_examples)
    _add_submit_arguments(p)

    lb = add_command(subparsers, "leaderboard", "validate submissions and build the leaderboard",
                     examples=["lsdbench leaderboard validate my-encoder.open.json", "lsdbench leaderboard build"])
    sub = lb.add_subparsers(dest="leaderboard_command", metavar="COMMAND", required=True)
    v = add_command(sub, "validate", "check submission files against the registry (scores recomputed)",
                    parents=[common, size], examples=["lsdbench leaderboard validate my-encoder.open.json",
                                                      "lsdbench leaderboard validate leaderboard/submissions/*.json"])
    v.add_argument("file", nargs="+", help="submission JSON file(s)")
    v.add_argument("--against", metavar="DIR",
                   help="also warn when a file's predictions are identical to those of a valid submission in DIR "
                        "(e.g. leaderboard/submissions); the files given are always compared with each other")
    v.set_defaults(func=cmd_validate)

    b = add_command(sub, "build", "write README.md, leaderboard.csv and index.html from the valid submissions",
                    parents=[common, size], examples=["lsdbench leaderboard build",
                                                      "lsdbench leaderboard build --submissions subs/ --out board/"])
    b.add_argument("--submissions", default="leaderboard/submissions", metavar="DIR",
                   help="folder of submission files (default: leaderboard/submissions)")
    b.add_argument("--out", default="leaderboard", metavar="DIR", help="output folder (default: leaderboard)")
    b.add_argument("--figures", metavar="DIR", help="PNG figures to include (default: OUT/figures)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=cmd_build)

    s = add_command(sub, "submit", "same as `lsdbench submit`", parents=[common], examples=submit_examples)
    _add_submit_arguments(s)
