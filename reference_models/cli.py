"""``lsd-train``: one CLI for every stage.

    lsd-train data --out DATA                      # Swiss-Prot (or --source FASTA/URL), decontaminated
    lsd-train data --source debian:metaphlan2+metastudent --out DATA   # 1.4 M proteins, two Debian packages
    lsd-train subset DATA --out SMALL --max-residues 60M               # a carry-sized random subset
    lsd-train mlm|lsd_tn|lsd_nm --config small --data DATA --out RUN [--export DIR]
    lsd-train diffusion --config small --latent RUN_OF_AN_ENCODER --data DATA --out RUN [--export DIR]

Multi-GPU / multi-machine: ``torchrun --nproc_per_node N -m reference_models.training.train STAGE ...``.
Re-running the same command resumes from the last checkpoint in RUN.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from lsdbench.errors import UserError, user_message
from reference_models import checkpoint as C
from reference_models import config as cfgmod
from reference_models.corpus import data as D
from reference_models.corpus.debian_source import DEFAULT as DEBIAN
from reference_models.corpus.subset import parse_size, subset_corpus
from reference_models.evaluation import health as H
from reference_models.training.finalize import function_health, write_health


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lsd-train", description=__doc__.replace("``", ""),  # the docstring's reST marks: not for a terminal
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  lsd-train data --out runs/small/data\n"
               "  lsd-train lsd_tn --config small --data runs/small/data --out runs/small/lsd_tn\n"
               "  lsd-train diffusion --data runs/small/data --latent reference_models/checkpoints/lsd_tn "
               "--out runs/small/lsd_tn_diffusion\n  lsd-train health reference_models/checkpoints/mlm --data "
               "runs/small/data\n  bash reference_models/train_small.sh      # every committed checkpoint, in order")
    sub = p.add_subparsers(dest="stage", required=True, metavar="STAGE")
    d = sub.add_parser("data", help="prepare decontaminated pretraining data",
                       description="Stream the pretraining corpus (any size, plain or gzip, file or URL) into "
                                   "memory-mapped token files train.bin/.idx and heldout.bin/.idx with a manifest "
                                   "of sequence hashes, de-duplicated and with every sequence of a task's valid or "
                                   "test split removed.")
    d.add_argument("--source", default=D.SWISSPROT,
                   help=f"'{D.SWISSPROT}' (the p-scldata wheel), '{DEBIAN}' (two Debian data packages, 1.4 M "
                        "proteins), a FASTA file or a URL (.gz ok) (default: %(default)s)")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder")
    d.add_argument("--heldout-fraction", type=float, default=0.02,
                   help="share of sequences held out for evaluation (default: %(default)s)")
    d.add_argument("--no-decontaminate", action="store_true", help="skip removing task valid/test sequences")
    d.add_argument("--min-identity", type=float, metavar="F",
                   help="also remove sequences with >= F identity (e.g. 0.5) to a task valid/test sequence, "
                        "by MMseqs2 (Debian mmseqs2; skipped with a warning where it is not installed)")
    d.add_argument("--min-coverage", type=float, default=0.8, metavar="F",
                   help="... over >= F of either sequence (default: %(default)s)")
    d.add_argument("--max-residues", metavar="N", help="then keep only a random subset of about N residues "
                   "(e.g. 60M; see `lsd-train subset`), written to --out with the full corpus in --out/full")
    s = sub.add_parser("subset", help="a carry-sized random subset of a prepared corpus",
                       description="Write a random subset of a prepared corpus (at most N residues, sampled by "
                                   "sequence hash: the same corpus and N always give the same subset) as a "
                                   "corpus of its own, e.g. to carry to a machine that reaches no registry.")
    s.add_argument("data", metavar="DATA", help="directory written by `lsd-train data`")
    s.add_argument("--out", required=True, metavar="DIR", help="output folder")
    s.add_argument("--max-residues", required=True, metavar="N", help="residues to keep, e.g. 60M or 2500000")
    h = sub.add_parser("health", help="health diagnostics of a checkpoint directory (encoder or denoiser)",
                       description="Health by function (reference_models/evaluation/function_health.py, T1-T6 with 95 % CIs "
                                   "on open-suite test sequences); exit 1 when a target is missed.")
    h.add_argument("checkpoint", help="directory with model.safetensors and meta.json")
    h.add_argument("--data", required=True, help="directory written by `lsd-train data` (held-out sequences)")
    h.add_argument("--task-sequences", type=int, default=400,
                   help="open-suite test sequences the T3-T6 diagnostics use (default: %(default)s)")
    h.add_argument("--submissions", default="leaderboard/submissions", metavar="DIR",
                   help="submissions folder for T1/T2 (the entry against aac and random_transformer; "
                        "default: %(default)s, skipped where absent)")
    h.add_argument("--json", action="store_true", help="print the diagnostics as JSON")
    h.add_argument("--write", action="store_true",
                   help="also store the result in the checkpoint's meta.json and model card (atomically)")
    for name in cfgmod.STAGES:
        _add_stage(sub, name)
    return p


def _add_stage(sub, name: str) -> None:
    """The subcommand that trains stage ``name``."""
    what = "the denoiser on a frozen encoder's latents" if name == "diffusion" else f"the {name} encoder"
    s = sub.add_parser(name, help=f"train {what}",
                       description=f"Train {what}; resumes from the last checkpoint in --out, and writes "
                                   "model.safetensors, meta.json (with health) and a model card.")
    s.add_argument("--config", default="small",
                   help="packaged config name (tiny, small, base) or a .toml path (default: %(default)s)")
    s.add_argument("--data", required=True, metavar="DIR", help="directory written by `lsd-train data`")
    s.add_argument("--out", required=True, metavar="DIR", help="run directory (resumed when it holds a checkpoint)")
    s.add_argument("--export", metavar="DIR", help="also copy the final model files to this directory")
    s.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                   help="torch device (default here: %(default)s); under torchrun each rank takes its own GPU")
    s.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. train.steps=200 (TOML value); repeatable")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (the log CSV is still written)")
    if name == "diffusion":
        s.add_argument("--latent", required=True, metavar="DIR",
                       help="model directory of the frozen encoder (mlm, lsd_tn, lsd_nm)")


def prepare_data(source: str, out, *, heldout_fraction: float = 0.02, decontaminate: bool = True,
                 registry=None) -> dict:
    """Stream, de-duplicate, decontaminate against task valid/test splits, split off a held-out set and
    write memory-mapped token files (data.prepare, corpus.py)."""
    return D.prepare(source, out, heldout_fraction=heldout_fraction, decontaminate=decontaminate, registry=registry)


def run_data(args) -> int:
    """``lsd-train data``: prepare the corpus and print what decontamination removed."""
    try:
        full = Path(args.out) / "full" if args.max_residues else Path(args.out)
        budget = parse_size(args.max_residues) if args.max_residues else None  # checked before the long build
        info = D.prepare(args.source, full, heldout_fraction=args.heldout_fraction,
                         decontaminate=not args.no_decontaminate, min_identity=args.min_identity,
                         min_coverage=args.min_coverage)
    except (UserError, OSError) as exc:  # a bad source: one line, never a traceback
        print(f"lsd-train: error: {user_message(exc) or exc}", file=sys.stderr)
        return 2
    ident = info.get("identity_decontamination")
    if ident and ident["tool"]:
        print(f"removed {ident['removed']} more with >= {ident['min_identity']:.0%} identity over >= "
              f"{ident['min_coverage']:.0%} coverage ({ident['tool']} {ident['version']})")
    for source in info.get("sources", []):
        counts = ", ".join(f"{k} {v}" for k, v in source["counts"].items())
        print(f"{source['package']} {source['version']} ({source['licence']}): {counts}")
    if budget is not None:
        sub = subset_corpus(full, args.out, budget)
        print(f"subset of {sum(sub['residues'].values())} residues written to {args.out} (full corpus: {full})")
    dec = info["decontamination"]
    print(f"{info['n_train']} training and {info['n_heldout']} held-out sequences; removed {dec['removed']} "
          f"of {dec['input']} found in task valid/test splits")
    for row in dec["tasks"]:
        print(f"  {row['task']}: {row['status']}" + (f", removed {row['removed']}" if row["status"] == "used"
                                                     else f" ({row.get('reason', '')[:120]})"))
    return 0


def run_subset(args) -> int:
    """``lsd-train subset``: a carry-sized random subset of a prepared corpus."""
    info = subset_corpus(args.data, args.out, parse_size(args.max_residues))
    print(f"{info['n_train']} training and {info['n_heldout']} held-out sequences, "
          f"{sum(info['residues'].values())} residues, written to {args.out}")
    return 0


def run_health(args) -> int:
    """``lsd-train health``: recompute (and with --write store) a checkpoint's health; exit 1 on a missed target."""
    try:
        health = function_health(args.checkpoint, args.data, submissions=args.submissions,
                                 max_sequences=args.task_sequences)
    except (C.CheckpointError, OSError, KeyError, RuntimeError) as exc:
        print(f"lsd-train: error: {exc}", file=sys.stderr)
        return 2
    if args.write:
        write_health(args.checkpoint, health)
    if args.json:
        print(json.dumps(health, indent=1, sort_keys=True))
    else:
        verdict = "passes every target" if health["passed"] else f"MISSES {', '.join(health['missed'])}"
        print(f"{args.checkpoint}: {verdict}")
        print("\n".join(H.render_rows(health)))
    return 0 if health["passed"] else 1


COMMANDS = {"data": run_data, "subset": run_subset, "health": run_health}  # the subcommands that train nothing
