"""Find task cards (packaged and the user's own) and load tasks into hashed splits."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from lsdbench.tasks.cards import CardError, TaskCard, load_card
from lsdbench.tasks.pairs import partition, partitioned_splits
from lsdbench.tasks.sources import TRUST_PATHS_ENV, Sources, local_source_path, source_path
from lsdbench.tasks.splits import TaskError, carve, check_expectations, check_splits, declared_splits
from lsdbench.types import SPLIT_NAMES, Task

# Loading's parts (task_sources, task_splits, task_pairs) keep their old names here.
__all__ = ["TASKS_ENV", "TRUST_PATHS_ENV", "TaskError", "all_cards", "carve", "get_card", "list_cards", "load_task",
           "local_source_path", "partition", "register_card", "source_path", "suites"]

TASKS_ENV = "LSDBENCH_TASKS"  # extra card files or folders, separated by os.pathsep
_user_cards: dict[str, TaskCard] = {}  # register_card's; looked up here at each call, so tests can swap it


def _packaged_cards() -> dict[str, TaskCard]:
    cards = {}
    for entry in sorted(resources.files("lsdbench._cards").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with resources.as_file(entry) as path:
                card = load_card(path)
            cards[card.name] = card
    return cards


def _check_shadowing(card: TaskCard, packaged: dict[str, TaskCard]) -> TaskCard:
    """A user's card named like a packaged task would silently change what that name means in `eval`,
    suites and `leaderboard validate`: refused unless the card says ``replaces_packaged = true``."""
    if card.name in packaged and not card.replaces_packaged:
        raise CardError(f"{card.path or 'card'}: its name {card.name!r} is a packaged task's; rename the card, or "
                        f"add `replaces_packaged = true` to it to use it instead of the packaged one")
    return card


def _env_cards(packaged: dict[str, TaskCard]) -> dict[str, TaskCard]:
    cards = {}
    for item in filter(None, os.environ.get(TASKS_ENV, "").split(os.pathsep)):
        path = Path(item)
        for file in sorted(path.glob("*.toml")) if path.is_dir() else [path]:
            card = _check_shadowing(load_card(file), packaged)
            cards[card.name] = card
    return cards


def register_card(card: TaskCard | str | os.PathLike) -> TaskCard:
    """Make a user's card (object or TOML path) available by name for this process."""
    if not isinstance(card, TaskCard):
        card = load_card(card)
    _user_cards[card.name] = _check_shadowing(card, _packaged_cards())
    return card


def all_cards() -> dict[str, TaskCard]:
    packaged = _packaged_cards()
    return {**packaged, **_env_cards(packaged), **_user_cards}


def list_cards(suite: str | None = None) -> list[TaskCard]:
    cards = list(all_cards().values())
    if suite is not None:
        cards = [c for c in cards if suite in c.suites]
        if not cards:
            raise CardError(f"no tasks in suite {suite!r}; suites: {', '.join(suites())}")
    return cards


def suites() -> list[str]:
    return sorted({s for c in all_cards().values() for s in c.suites})


def get_card(name_or_path: str | os.PathLike | TaskCard) -> TaskCard:
    """A card by registered name, or read from a ``.toml`` path."""
    if isinstance(name_or_path, TaskCard):
        return name_or_path
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        return _check_shadowing(load_card(text), _packaged_cards())
    cards = all_cards()
    if text not in cards:
        raise CardError(f"unknown task {text!r}; known tasks: {', '.join(sorted(cards))} "
                        f"(or pass a path to a .toml card)")
    return cards[text]


def load_task(task: str | os.PathLike | TaskCard, *, cache_dir=None, mirror=None, progress: bool = True) -> Task:
    """Fetch (verified), parse and split a task. ``task`` is a registered name, a card path or a card."""
    card = get_card(task)
    report: dict = {}
    sources = Sources(card, report, cache_dir=cache_dir, mirror=mirror, progress=progress)
    if card.partition is not None:
        splits = partitioned_splits(card, sources.rows, report)
    else:
        splits = declared_splits(card, sources.rows)
    check_splits(card, splits)
    check_expectations(card, splits)
    return Task(card=card, splits={n: splits[n] for n in SPLIT_NAMES}, report=report)
