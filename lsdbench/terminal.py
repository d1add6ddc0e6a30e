"""Terminal output helpers: plurals, 120-column fitting, and subcommands with examples in --help."""

from __future__ import annotations

import argparse
import shutil
import textwrap

WIDTH = 120  # default terminal output fits this many columns (tables cut long cells; --wide does not)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 result file``, ``2 result files``; ``many`` for irregular plurals."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with an ellipsis."""
    text = str(text)
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def wrap(text: str, width: int = WIDTH) -> str:
    """Each line of ``text`` wrapped to ``width`` (line breaks already there are kept)."""
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False) if line.strip() else line
                     for line in str(text).split("\n"))


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions and examples keep their line breaks; every option with a default shows it."""

    def __init__(self, prog: str):
        super().__init__(prog, width=min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns), max_help_position=32)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default == [] or default is argparse.SUPPRESS:
            return text  # already says it, or there is no default worth printing
        return super()._get_help_string(action)


def add_command(subparsers, name: str, summary: str, *, description: str | None = None,
                examples: list[str] | tuple[str, ...] = (), parents=()) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` has a user-facing description and worked examples."""
    if description:
        description = description.replace("``", "")  # docstrings use reST literals; a terminal does not
    epilog = None
    if examples:
        epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(name, parents=list(parents), help=summary, description=description or summary,
                                 epilog=epilog, formatter_class=_Formatter)
