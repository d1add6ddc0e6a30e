"""``lsdbench compare``: the paired significance tables of ``lsdbench.comparison.compare`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lsdbench.cli.common import positive_int
from lsdbench.stats.significance import CORRECTIONS, DEFAULT_RESAMPLES, FAMILIES, METHODS
from lsdbench.terminal import add_command

DESCRIPTION = """\
Results are grouped by task and probe. In each group the reference (A) is compared with every other
result (B) on the shared test items with ``lsdbench.stats.paired_test``. The reference is the first
argument's result on each task (a result file, a submission such as
``leaderboard/submissions/aac.open.json``, or a folder holding one encoder's results), so
``lsdbench compare A B C`` tests A against B and A against C on every task they share; ``--reference``
names A instead. Tasks that lack A or any B are left out with a note. The multiple-testing family is
chosen, not implied: ``--family all`` (default) corrects over every comparison of the call, ``--family
pair`` over the tasks of one A-vs-B pair (so A vs B gets the same verdict whatever else is passed),
``--family task`` over the comparisons of one task; ``--family-size N`` corrects each family as if it
held N comparisons (the ones not made count as p = 1), e.g. the size of a family declared before the
experiment. The footer names the family used."""


def _write_json(path: Path, data: Any) -> None:
    from lsdbench.results.result import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")


def cmd_compare(args) -> int:
    from lsdbench.comparison import compare as library  # scipy and scikit-learn: only when the command runs

    tables = library.compare(args.results, method=args.method, correction=args.correction, alpha=args.alpha,
                             reference=args.reference, n_resamples=args.n_resamples, seed=args.seed,
                             family=args.family, family_size=args.family_size)
    print(tables)  # who A is, the tables, and a note per task left out
    if args.json_out:
        _write_json(Path(args.json_out), tables)
        print(f"\nwrote {args.json_out}")
    return 0


def register(subparsers) -> None:
    p = add_command(
        subparsers, "compare", "paired significance tests: is encoder A better than B on each task?",
        description=DESCRIPTION,
        examples=["lsdbench compare leaderboard/submissions/aac.open.json results/   # A = aac, B = your results",
                  "lsdbench compare results/aac-1a2b3c4d5e/ results/dpc-6f7a8b9c0d/ --method permutation",
                  "lsdbench compare runs/sweep/results/ --reference 'lsd_tn_diffusion[t=0.5]' --json cmp.json"])
    p.add_argument("results", nargs="+", metavar="RESULT",
                   help="result files, submission files (*.open.json) or folders of them (searched recursively); "
                        "the first is the reference A")
    p.add_argument("--method", choices=METHODS, default="bootstrap",
                   help="p-value: paired bootstrap, permutation test, or exact McNemar (accuracy tasks only; "
                        "other tasks are skipped with a note)")
    p.add_argument("--correction", choices=CORRECTIONS, default="holm",
                   help="multiple-testing correction over each family (bh: Benjamini-Hochberg)")
    p.add_argument("--family", choices=FAMILIES, default="all",
                   help="what one family of the correction holds: all comparisons of the call, those of one "
                        "A-vs-B pair over its tasks, or those of one task (default: all)")
    p.add_argument("--family-size", type=positive_int, default=None, metavar="N",
                   help="correct each family as if it held N comparisons (at least those made; the others count "
                        "as p = 1), e.g. a family declared before the experiment")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdicts")
    p.add_argument("--n-resamples", type=int, default=DEFAULT_RESAMPLES,
                   help="bootstrap resamples / random permutations")
    p.add_argument("--seed", type=int, default=0, help="random seed of the resampling")
    p.add_argument("--reference", default=None, metavar="FILE|DIR|NAME",
                   help="A, if not the first argument: a result or submission file or folder (compared with all "
                        "the others), or an encoder name or label such as 'lsd_tn_diffusion[t=0.5]' "
                        "(default: the first argument)")
    p.add_argument("--json", dest="json_out", metavar="OUT", help="also write the rows as JSON to OUT")
    p.set_defaults(func=cmd_compare)
