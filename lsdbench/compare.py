"""``lsdbench compare``: paired significance tables of result files.

Results are grouped by task and probe. In each group the reference (A) is compared with every other
result (B) on the shared test items with ``lsdbench.stats.paired_test``. By default the reference is
the first result of the group in the order given on the command line (inside a folder: sorted
paths), so ``lsdbench compare A B C`` tests A against B and A against C on every task they share.
All comparisons of one call form one family for the multiple-testing correction.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from .stats import CORRECTIONS, DEFAULT_RESAMPLES, METHODS, ComparisonError, compare_many

log = logging.getLogger(__name__)

COLUMNS = ("A", "B", "score A", "score B", "delta", "CI", "p", "adjusted p", "verdict")


def _result_in_folder(path: Path) -> dict | None:
    """The validated result in ``path``, or None when the file is no result (a folder may also hold sweep
    summaries or submissions). A file that says it is a result but is not a valid one is an error."""
    from .results import MAX_BYTES, RESULT_SCHEMA, validate_result

    try:
        if path.stat().st_size > MAX_BYTES:
            log.warning("%s: larger than a result file may be (%d bytes); skipped", path, MAX_BYTES)
            return None
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh, parse_constant=_reject_constant)
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or obj.get("schema") != RESULT_SCHEMA:
        return None
    return validate_result(obj, str(path))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def load_results(paths_or_dirs: Sequence[str | os.PathLike]) -> tuple[list[dict], list[str]]:
    """Validated results and the path each came from: files as given (each must be a result), and every
    result ``*.json`` inside folders (recursively, sorted paths); a file reached twice is read once."""
    from .results import read_result

    results: list[dict] = []
    sources: list[str] = []
    seen: set[Path] = set()
    for item in paths_or_dirs:
        path = Path(item)
        if path.is_dir():
            skipped = 0
            for p in sorted(path.rglob("*.json")):
                key = p.resolve()
                if not p.is_file() or key in seen:
                    continue
                result = _result_in_folder(p)
                if result is None:
                    skipped += 1
                    continue
                seen.add(key)
                results.append(result)
                sources.append(str(p))
            if skipped:
                log.info("%s: skipped %d JSON file(s) that are not lsdbench results", path, skipped)
        elif path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                results.append(read_result(path))
                sources.append(str(path))
        else:
            raise ComparisonError(f"{path}: no such file or folder")
    return results, sources


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def compare(paths_or_dirs: Sequence[str | os.PathLike], method: str = "bootstrap", correction: str = "holm",
            alpha: float = 0.05, reference: str | None = None, n_resamples: int = DEFAULT_RESAMPLES,
            seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Paired comparisons of result files, one list of rows per task (``task [probe]`` where one task
    was probed several ways). ``reference``: a result file, or an encoder name/spec/label; default the
    first result of each task. Each row holds the ``PairedComparison`` fields (``source_a``/``source_b``:
    the files) plus the correction, alpha and family size."""
    results, sources = load_results(paths_or_dirs)
    if len(results) < 2:
        raise ComparisonError(f"need at least two result files to compare, found {len(results)}")
    ref: str | int | None = reference
    if reference is not None and Path(reference).is_file():
        target = Path(reference).resolve()
        matches = [i for i, s in enumerate(sources) if Path(s).resolve() == target]
        if not matches:
            raise ComparisonError(f"reference {reference} is not among the results given")
        ref = matches[0]
    comparisons = compare_many(results, reference=ref, method=method, correction=correction, alpha=alpha,
                               n_resamples=n_resamples, seed=seed, sources=sources)
    if not comparisons:
        raise ComparisonError("nothing to compare: no two results share a task and probe")
    probes: dict[str, set[str]] = {}
    for c in comparisons:
        probes.setdefault(c.task, set()).add(c.probe)
    tables: dict[str, list[dict[str, Any]]] = {}
    for c in comparisons:
        key = c.task if len(probes[c.task]) == 1 else f"{c.task} [{c.probe}]"
        row = {k: _clean(v) for k, v in c.as_dict().items()}
        row.update(correction=correction, alpha=alpha, n_comparisons=len(comparisons))
        tables.setdefault(key, []).append(row)
    return tables


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    text = f"{p:.3f}"
    return f"{p:.1e}" if text == "0.000" else text


def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


_METHOD_TEXT = {
    "bootstrap": "paired bootstrap over test items (two-sided, percentile inversion)",
    "permutation": "paired permutation test (per-item swaps of A's and B's predictions, two-sided)",
    "mcnemar": "exact McNemar test (binomial test on the items exactly one of A, B got right)",
}
_CORRECTION_TEXT = {"holm": "Holm-Bonferroni", "bh": "Benjamini-Hochberg", "none": "no correction"}


def format_tables(tables: dict[str, list[dict[str, Any]]]) -> str:
    """One GitHub-style table per task, then a note on the method, correction and alpha used."""
    from .metrics import higher_is_better

    parts = []
    first = None
    for key, rows in tables.items():
        first = first or rows[0]
        metric = rows[0]["metric"]
        direction = "higher" if higher_is_better(metric) else "lower"
        level = round(100 * rows[0]["ci_level"], 2)
        headers = list(COLUMNS)
        headers[5] = f"{level:g}% CI"
        body = [[r["a"], r["b"], _fmt(r["score_a"]), _fmt(r["score_b"]), _fmt(r["delta"], True),
                 f"[{_fmt(r['ci_low'], True)}, {_fmt(r['ci_high'], True)}]", _fmt_p(r["p_value"]),
                 _fmt_p(r["p_adjusted"]), r["verdict"]] for r in rows]
        parts.append(f"## {key}: {metric} ({direction} is better), probe {rows[0]['probe']}, "
                     f"{rows[0]['n_items']} test items\n\n" + tabulate(body, headers=headers, tablefmt="github", disable_numparse=True))
    if first is None:
        return ""
    correction = _CORRECTION_TEXT.get(first["correction"], first["correction"])
    parts.append(
        f"delta = score A - score B. p: {_METHOD_TEXT[first['method']]}; CI: paired bootstrap percentile "
        f"interval ({first['n_resamples']} resamples, seed {first['seed']}). adjusted p: {correction} over all "
        f"{first['n_comparisons']} comparisons; verdict (A relative to B) at alpha = {first['alpha']:g} on the "
        "adjusted p.")
    return "\n\n".join(parts)


def _write_json(path: Path, data: Any) -> None:
    from .results import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")


def run(args) -> int:
    tables = compare(args.results, method=args.method, correction=args.correction, alpha=args.alpha,
                     reference=args.reference, n_resamples=args.n_resamples, seed=args.seed)
    print(format_tables(tables))
    if args.json_out:
        _write_json(Path(args.json_out), tables)
        print(f"\nwrote {args.json_out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="paired significance tests between result files",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("results", nargs="+", metavar="RESULT",
                   help="result JSON files or folders (searched recursively for result files)")
    p.add_argument("--method", choices=METHODS, default="bootstrap",
                   help="p-value: paired bootstrap (default), permutation test, or exact McNemar (accuracy)")
    p.add_argument("--correction", choices=CORRECTIONS, default="holm",
                   help="multiple-testing correction over all comparisons (default holm; bh: Benjamini-Hochberg)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdicts (default 0.05)")
    p.add_argument("--n-resamples", type=int, default=DEFAULT_RESAMPLES,
                   help=f"bootstrap resamples / random permutations (default {DEFAULT_RESAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="random seed of the resampling (default 0)")
    p.add_argument("--reference", default=None,
                   help="result file or encoder name to compare everything against (default: first result per task)")
    p.add_argument("--json", dest="json_out", metavar="OUT", help="also write the rows as JSON to OUT")
    p.set_defaults(func=run)
