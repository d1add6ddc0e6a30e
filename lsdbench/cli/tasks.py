"""``lsdbench tasks | fetch | info | mirror export``: the task registry from the command line."""

from __future__ import annotations

import json

from tabulate import tabulate

from lsdbench.cli.common import data_options, register_user_cards, select_cards
from lsdbench.tasks import fetch, registry
from lsdbench.tasks.info import describe
from lsdbench.terminal import add_command, clip, wrap
from lsdbench.types import SPLIT_NAMES


def cmd_tasks(args) -> int:
    register_user_cards(args)
    rows = []
    for card in registry.list_cards(args.suite):
        sizes = "/".join(str(card.expected_sizes.get(s, "?")) for s in SPLIT_NAMES)
        row = [card.name, ",".join(card.suites), card.type, card.primary_metric, sizes]
        if args.wide:
            row += [card.describe_source(), card.licence.split(";")[0]]
        else:  # a full URL is 150 characters: where it is hosted fits 120 columns (licences: lsdbench info)
            row.append(clip(_short_url(card.describe_source()), 24))
        rows.append(row)
    headers = ["task", "suites", "type", "metric", "train/valid/test", "source"] + (["licence"] if args.wide else [])
    print(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    return 0


def _short_url(text: str) -> str:
    """Where a file comes from, short: ``github.com/owner/repo`` for GitHub raw files, else the host."""
    if "://" not in text:
        return text
    host, _, path = text.split("://", 1)[1].partition("/")
    if host == "raw.githubusercontent.com":
        return "github.com/" + "/".join(path.split("/")[:2])
    return host


def cmd_fetch(args) -> int:
    from lsdbench import settings

    rows = []
    for card in select_cards(args):
        task = registry.load_task(card, cache_dir=args.cache_dir, mirror=args.mirror)
        for name, split in task.splits.items():
            rows.append([card.name, name, len(split), split.content_hash()[:23] + "..."])
    print(tabulate(rows, headers=["task", "split", "items", "content hash"], tablefmt="github"))
    mirror = settings.mirror(args.mirror)
    origin = (f"copied from the mirror {mirror} (tried before each canonical URL)" if mirror
              else "downloaded from their canonical URLs (no mirror set: LSDBENCH_MIRROR or --mirror)")
    print(wrap(f"\nfiles verified and kept under {settings.cache_dir(args.cache_dir) / 'data'}, {origin}; "
               "a file already there is not fetched again"))
    return 0


def cmd_info(args) -> int:
    register_user_cards(args)
    task = registry.load_task(args.task, cache_dir=args.cache_dir, mirror=args.mirror)
    info = describe(task)
    say = print if args.wide else lambda text: print(wrap(text))  # prose fits 120 columns too
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    say(f"{info['name']} (version {info['version']}; suites {', '.join(info['suites'])})")
    say(f"type {info['type']}; metrics {', '.join(info['metrics'])}; licence {info['licence']}\n")
    say(info["description"] + "\n")
    if info["notes"]:
        say(info["notes"] + "\n")
    pairs = info["type"] == "pair_binary"
    rows = []
    for name, e in info["splits"].items():
        ln = e["length"]
        label = ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in e["label"].items())
        rows.append([name, e["items"], *([e["proteins"]] if pairs else []), e["hash"] if args.wide else clip(e["hash"], 16),
                     f"{ln['min']}/{ln['median']:.0f}/{ln['p95']:.0f}/{ln['max']}", label])
    print(tabulate(rows, headers=["split", "pairs" if pairs else "items", *(["proteins"] if pairs else []),
                                  "content hash", "len min/med/p95/max", "labels"], tablefmt="github"))
    say(f"\n{'proteins' if pairs else 'sequences'} shared between splits: "
          + ", ".join(f"{k} {v}" for k, v in info["shared_sequences"].items()))
    if pairs:
        say("pairs with one / both proteins in an earlier split's pairs: " + ", ".join(
            f"{k} {v['one']} / {v['both']} of {v['pairs']}" for k, v in info["pairs_touching"].items()))
    for source, r in info.get("load_report", {}).get("sources", {}).items():
        say(f"source {source!r}: {r['rows']} rows; {r['duplicate_pairs']} duplicated pairs "
              f"({'dropped' if r['duplicate_pairs_policy'] == 'drop' else 'kept'}"
              + (f", {r['conflicting_duplicates']} with another label" if r["conflicting_duplicates"] else "")
              + f"); {r['self_pairs']} self-pairs "
              f"({'dropped' if r['self_pairs_policy'] == 'drop' else 'kept'}); {r['pairs']} pairs used")
    for name, spec in task.card.splits.items():  # the card's description refers to "the seed below"
        if spec.carve_from:
            say(f"split {name}: {spec.fraction:.0%} of {spec.carve_from} carved by seed {spec.seed}"
                f"{', stratified by label' if spec.stratify else ''}")
    part = info.get("load_report", {}).get("partition")
    if part:
        shares = " / ".join(f"{part['fractions'][n]:g}" for n in SPLIT_NAMES)
        unit = "proteins" if part["by"] == "protein" else "pairs"
        say(f"partition by {part['by']} (seed {part['seed']}; train / valid / test shares of the {unit} "
              f"{shares}): of {part['pairs']} pairs, " + " / ".join(str(part["kept"][n]) for n in SPLIT_NAMES)
              + f" kept, {part['dropped_straddling']} dropped as straddling two splits, "
              f"{part['dropped_unassigned']} left out")
    say(f"\ncitation:\n{info['citation']}")
    return 0


def cmd_mirror_export(args) -> int:
    urls = []
    for card in select_cards(args):
        urls += [(s.url, s.hash) for s in card.sources.values() if s.url]
    written = fetch.export_mirror(sorted(set(urls)), args.dest, cache_dir=args.cache_dir, mirror=args.mirror)
    for path in written:
        print(path)
    print(f"wrote {len(written)} files to {args.dest}; use it with LSDBENCH_MIRROR={args.dest}")
    return 0


def register(subparsers) -> None:
    common = data_options()
    p = add_command(subparsers, "tasks", "list registered tasks: suites, type, metric, split sizes, source, licence",
                    parents=[common], examples=["lsdbench tasks", "lsdbench tasks --suite open",
                                                "lsdbench tasks --wide   # full source URLs"])
    p.add_argument("--suite", help="only tasks of this suite (default: every task)")
    p.add_argument("--wide", action="store_true", help="full source URLs and licences (default: hosts only, to fit 120 columns)")
    p.set_defaults(func=cmd_tasks)

    p = add_command(subparsers, "fetch", "download (or copy from the mirror), verify hashes, parse; print split hashes",
                    parents=[common], examples=["lsdbench fetch --suite open", "lsdbench fetch metal_ion_binding",
                                                "lsdbench fetch --mirror ../shared/mirror ppi_yeast"])
    p.add_argument("task", nargs="*", help="task names or card paths (default: the open suite)")
    p.add_argument("--suite", help="every task of this suite")
    p.set_defaults(func=cmd_fetch)

    p = add_command(subparsers, "info", "describe one task: splits, hashes, labels, lengths, overlap, citation",
                    parents=[common], examples=["lsdbench info metal_ion_binding", "lsdbench info ppi_yeast --json"])
    p.add_argument("task", help="task name or card path")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--wide", action="store_true", help="full split hashes and unwrapped lines (default: fit 120 columns)")
    p.set_defaults(func=cmd_info)

    p = add_command(subparsers, "mirror", "data mirrors for machines without internet",
                    examples=["lsdbench mirror export /media/usb/mirror", "lsdbench mirror export DIR ppi_yeast"])
    sub = p.add_subparsers(dest="mirror_command", metavar="COMMAND", required=True)
    e = add_command(sub, "export", "write a mirror (DIR/HOST/PATH) of the fetched task files", parents=[common],
                    examples=["lsdbench mirror export /media/usb/mirror",
                              "LSDBENCH_MIRROR=/media/usb/mirror lsdbench fetch   # on the offline machine"])
    e.add_argument("dest", help="output directory")
    e.add_argument("task", nargs="*", help="task names (default: the open suite)")
    e.add_argument("--suite", help="every task of this suite")
    e.set_defaults(func=cmd_mirror_export)
