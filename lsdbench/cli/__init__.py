"""The ``lsdbench`` command: argument parsing and handlers that call the library, nothing else.

Each command group lives in its own module of this package and registers itself here. Heavy modules are
imported inside the handlers, so ``lsdbench --help`` and ``lsdbench tasks`` never load torch, scikit-learn or scipy.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from lsdbench import __version__

# Modules exposing register(subparsers); each adds its commands with set_defaults(func=handler).
COMMAND_MODULES = (
    "lsdbench.cli.tasks",
    "lsdbench.cli.encoders",
    "lsdbench.cli.evaluate",
    "lsdbench.cli.cache",
    "lsdbench.cli.run",
    "lsdbench.cli.compare",
    "lsdbench.cli.leaderboard",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors in the same one-line form as every other user error (exit 2)."""

    def error(self, message: str):  # noqa: D102
        hint = f" (see {self.prog} --help)"
        self.exit(2, f"lsdbench: error: {' '.join(message.split())}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lsdbench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Benchmark protein sequence representations: evaluate an encoder on hashed tasks with a fixed "
                    "probe,\ncompare results with paired tests, sweep noise levels, and build the leaderboard.",
        epilog="start here:\n  lsdbench encoders                                       # what can be evaluated\n"
               "  lsdbench eval --encoder dpc --task metal_ion_binding     # saved to results/dpc-<hash>/\n"
               "  lsdbench compare leaderboard/submissions/aac.open.json results/\n"
               "every command: lsdbench COMMAND --help (with examples)")
    parser.add_argument("--version", action="version", version=f"lsdbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not name.startswith(exc.name or "?"):  # a real import error inside the module must surface
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from lsdbench.encode import threads

    threads.set_threads(getattr(args, "threads", None))  # for this command only
    try:
        return _run(args)
    finally:
        threads.set_threads(None)


def _run(args) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co. that stopped reading: not an error of ours
        sys.stderr.close()
        return 0
    except Exception as exc:  # user-facing errors: one clear line, no traceback unless --verbose
        if args.verbose:
            raise
        from lsdbench.errors import user_message

        message = user_message(exc)
        if message is None:
            raise
        print(f"lsdbench: error: {message}", file=sys.stderr)
        return 2

