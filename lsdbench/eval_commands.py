"""``lsdbench run``: the main job."""

from __future__ import annotations

from . import registry
from .task_commands import data_options, describe


def cmd_run(args) -> int:
    print(f"== suite {args.suite}: fetch, verify, describe ==")
    for card in registry.list_cards(args.suite):
        task = registry.load_task(card, cache_dir=args.cache_dir, mirror=args.mirror)
        info = describe(task)
        sizes = " / ".join(str(info["splits"][s]["items"]) for s in ("train", "valid", "test"))
        print(f"{card.name:32s} {card.type:12s} {sizes:22s} test {info['splits']['test']['hash'][:19]}...")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("run", parents=[data_options()], help="the main job: the default benchmark")
    p.add_argument("--suite", default="open")
    p.set_defaults(func=cmd_run)
