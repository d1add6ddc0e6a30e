"""``lsdbench cache info | clear | verify``: the embedding and probe-outcome caches."""

from __future__ import annotations

import json
from pathlib import Path

from tabulate import tabulate

from lsdbench.cli.common import data_options, register_user_cards
from lsdbench.encode import cache as embed_cache
from lsdbench.terminal import add_command, clip, plural


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
    from lsdbench.probe import (
        cache as probe_cache,  # scikit-learn and torch: only for the commands that read probe outcomes
    )
    from lsdbench.settings import cache_dir

    n, size = probe_cache.count(args.cache_dir)
    print(f"\n{plural(len(entries), 'encoder configuration')}; {plural(n, 'probe outcome')} ({size / 2**20:.1f} MiB)")
    print(f"cache: {cache_dir(args.cache_dir)}")
    return 0


def cmd_cache_clear(args) -> int:
    from lsdbench.probe import cache as probe_cache

    n = embed_cache.clear(args.cache_dir, args.encoder)
    print(f"removed {plural(n, 'cached encoder configuration')}")
    if args.encoder is None or args.probes:  # outcomes are keyed by content, not by encoder name
        print(f"removed {plural(probe_cache.clear(args.cache_dir), 'cached probe outcome')}")
    return 0


def cmd_cache_verify(args) -> int:
    """Exit 0 when every checked entry is complete, 1 when something is missing (a finding, not an error)."""
    from lsdbench.encode.cache_verify import report, verify

    register_user_cards(args)
    checks = verify(args.encoder, args.task, cache_dir=args.cache_dir, mirror=args.mirror)
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def register(subparsers) -> None:
    common = data_options()
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
