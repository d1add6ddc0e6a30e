"""``lsdbench encoders [NAME]``: the registered encoders (facts from ``lsdbench.encode.info``)."""

from __future__ import annotations

import textwrap
from typing import Any

from tabulate import tabulate

from lsdbench.encode.info import describe_encoder, list_encoders
from lsdbench.terminal import WIDTH, add_command, clip


def _fmt_options(options: dict[str, Any]) -> str:
    # options that default to None (checkpoint paths, devices) go last: the cut column keeps the ones with values
    ordered = sorted(options.items(), key=lambda kv: kv[1] is None)
    return ", ".join(f"{k}={v!r}" for k, v in ordered) or "(none)"


def cmd_encoders(args) -> int:
    if args.name:
        info = describe_encoder(args.name, build=not args.no_build)
        print(f"{info.name}: {info.description or '(no description)'}")
        print(f"provided by: {info.package} ({info.target})")
        if info.status == "ready":
            print(f"output dimension: {info.dim}; builds with default options: yes")
        elif info.status != "not built":
            print(textwrap.fill(f"{info.status} with default options: {info.detail}", WIDTH, break_on_hyphens=False))
        rows = [[k, repr(v)] for k, v in info.options.items()]
        print("\noptions (--encoder-opt KEY=VALUE):")
        print(tabulate(rows, headers=["option", "default"], tablefmt="github") if rows else "(none)")
        return 0
    infos = list_encoders(build=not args.no_build)
    # the options column gets what the other columns leave of the terminal width (names grow with entries)
    headers = ("encoder", "provided by", "dim", "status")
    cells = list(zip(*[(i.name, i.package, i.dim if i.dim is not None else "", i.status) for i in infos],
                     strict=True)) if infos else [()] * 4
    fixed = sum(max([len(h) + 2, *(len(str(v)) for v in col)]) for h, col in zip(headers, cells, strict=True))
    width = max(20, WIDTH - fixed - 16)
    rows = [[i.name, i.package, i.dim if i.dim is not None else "", i.status, clip(_fmt_options(i.options), width)]
            for i in infos]
    print(tabulate(rows, headers=["encoder", "provided by", "dim", "status", "options (defaults)"], tablefmt="github",
                   disable_numparse=True))
    missing = [i.name for i in infos if i.status in ("absent", "unavailable")]
    if missing:
        print(clip(f"\nnot buildable here with default options: {', '.join(missing)}; "
                   "lsdbench encoders NAME says why", WIDTH))
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "encoders", "list registered encoders: package, dimension, options, checkpoint",
                    description="List the encoders registered under the lsdbench.encoders entry points (by this "
                                "package, baselines and reference_models, or any installed package): the package "
                                "providing each, its output dimension, its options with their defaults, and "
                                "whether it builds here (absent: its checkpoint is not present). Nothing is "
                                "downloaded.",
                    examples=["lsdbench encoders", "lsdbench encoders lsd_tn_diffusion",
                              "lsdbench encoders my_encoder.py:MyEncoder --no-build"])
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="one encoder in detail: a registered name, module:attr or file.py:attr")
    p.add_argument("--no-build", action="store_true",
                   help="do not build the encoders (faster; no dimension or checkpoint status)")
    p.set_defaults(func=cmd_encoders)
