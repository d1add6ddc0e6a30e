"""Options and card selection shared by the commands that read task data."""

from __future__ import annotations

import argparse

from lsdbench.tasks import registry


def data_options() -> argparse.ArgumentParser:
    """Options shared by every command that reads task data."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--mirror", help="data mirror: a directory or base URL laid out as HOST/PATH "
                        "(default: $LSDBENCH_MIRROR)")
    parent.add_argument("--cache-dir", help="cache root (default: $LSDBENCH_CACHE_DIR or the user cache)")
    parent.add_argument("--card", action="append", default=[], metavar="PATH",
                        help="an extra task card (TOML) of your own; repeatable")
    return parent


THREADS_HELP = ("torch threads for the encoders' forward passes (default: $OMP_NUM_THREADS, else the CPUs "
                "this process may use: its CPU affinity, capped by a cgroup quota). On a machine shared with "
                "other jobs use fewer, e.g. --threads 1 or OMP_NUM_THREADS=1: an oversubscribed pool runs far "
                "slower. The plan prints the count it assumes")


def positive_int(text: str) -> int:
    """argparse type of a count: a whole number of at least 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return n


def add_threads_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, metavar="N", help=THREADS_HELP)


def register_user_cards(args) -> None:
    for path in args.card:
        registry.register_card(path)


def select_cards(args) -> list:
    """Cards named by ``args.task`` (names or paths) and/or ``args.suite``; default the open suite."""
    register_user_cards(args)
    names = list(getattr(args, "task", None) or [])
    cards = [registry.get_card(n) for n in names]
    if getattr(args, "suite", None):
        cards += registry.list_cards(args.suite)
    if not cards:
        cards = registry.list_cards("open")
    seen, unique = set(), []
    for card in cards:
        if card.name not in seen:
            seen.add(card.name)
            unique.append(card)
    return unique
