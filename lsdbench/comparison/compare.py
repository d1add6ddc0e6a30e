"""``lsdbench compare``: paired significance tables of result files (the rules: ``lsdbench compare --help``,
``lsdbench.cli.compare.DESCRIPTION``)."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from lsdbench.metrics.registry import higher_is_better
from lsdbench.results.loading import load, result_paths
from lsdbench.stats import (
    DEFAULT_RESAMPLES,
    ComparisonError,
    compare_many,
    disambiguated_labels,
    group_key,
)
from lsdbench.stats.many import family_key
from lsdbench.terminal import WIDTH

COLUMNS = ("A", "B", "score A", "score B", "delta", "CI", "p", "adjusted p", "verdict")


def load_results(paths_or_dirs: Sequence[str | os.PathLike]) -> tuple[list[dict], list[str]]:
    """Validated results and where each came from: result and submission files as given, and every
    result or submission ``*.json`` inside folders (recursively, sorted paths); a file reached twice is
    read once."""
    loaded = load(result_paths(paths_or_dirs, "load_results(paths_or_dirs)"), missing_error=ComparisonError)
    return [x.result for x in loaded], [x.source for x in loaded]


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


class ComparisonTables(dict):
    """``{task: [row, ...]}`` as before (a plain dict to JSON and to old code), plus what was compared
    with what: ``reference`` (who A is and where it came from), ``notes`` (groups left out and why),
    ``str()`` the printed tables and ``to_dataframe()`` one row per comparison."""

    reference: str = ""
    notes: list[str]

    def __str__(self) -> str:
        """What ``lsdbench compare`` prints: who A is, the tables, and a note per task left out."""
        text = f"reference (A): {self.reference}\n\n{format_tables(self)}"
        return text + "".join("\n" + textwrap.fill(f"note: {note}", WIDTH, subsequent_indent="  ")
                              for note in getattr(self, "notes", []))

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([{"table": key, **row} for key, rows in self.items() for row in rows])


def _inputs(paths: Sequence[str | os.PathLike], reference: str | None) -> tuple[list, str | None]:
    """Inputs with a reference given as a path (file or folder) moved first: the first input is A."""
    if reference is None or not Path(reference).exists():
        return list(paths), reference
    target = Path(reference).resolve()
    return [reference, *(p for p in paths if Path(p).resolve() != target)], None


def _groups(loaded) -> dict[tuple[str, str], list]:
    groups: dict[tuple[str, str], list] = {}
    for x in loaded:
        try:
            groups.setdefault(group_key(x.result), []).append(x)
        except (KeyError, TypeError):
            raise ComparisonError(f"{x.source}: not an lsdbench result") from None
    return groups


def _select(loaded, paths: list, by_position: bool, method: str) -> tuple[list, list[tuple[str, str]]]:
    """The results to compare and a note for every task and probe left out, and why. ``by_position``:
    A is the first input's result; a task it has no result on, or several, cannot be compared."""
    keep, notes, first = [], [], str(paths[0])
    for (task, probe), members in _groups(loaded).items():
        where = f"{task} ({probe})"
        metric = members[0].result.task.primary_metric
        if method == "mcnemar" and metric != "accuracy":
            notes.append((where, f"McNemar's test compares accuracies and the primary metric is {metric}"))
            continue
        if by_position:
            refs = [x for x in members if x.origin == 0]
            if len(refs) > 1:
                raise ComparisonError(
                    f"{first} holds {len(refs)} results on {where} ("
                    + ", ".join(disambiguated_labels([x.result for x in refs])) + "); the first argument is the "
                    "reference (A): give one encoder's results first, or name it with --reference")
            if not refs:
                notes.append((where, f"the reference {first} has no result on it"))
                continue
        if len(members) < 2:
            notes.append((where, f"only {paths[members[0].origin]} has a result on it"))
            continue
        keep += members
    return keep, notes


def compare(paths_or_dirs: Sequence[str | os.PathLike], method: str = "bootstrap", correction: str = "holm",
            alpha: float = 0.05, reference: str | None = None, n_resamples: int = DEFAULT_RESAMPLES,
            seed: int = 0, family: str = "all", family_size: int | None = None) -> ComparisonTables:
    """Paired comparisons of result files, submissions or folders of them, one list of rows per task
    (``task [probe]`` where one task was probed several ways).

    The reference (A) is the first path's result on each task; ``reference`` given as a path (file or
    folder) is put first, given as a name (encoder name, spec or display label) picks A in each task by
    name instead. Tasks without both a reference and another result are left out with a note. Each row
    holds the ``PairedComparison`` fields (``source_a``/``source_b``: the files) plus the correction,
    alpha, the family (``family``: ``all`` comparisons of the call, one A-vs-B ``pair`` over its tasks, or
    one ``task``), its number of comparisons and the declared ``family_size`` (None: the comparisons
    made). Fix the family by the question (``pair``, or a declared size) and a verdict no longer
    depends on what else was passed.
    """
    paths, name = _inputs(result_paths(paths_or_dirs, "compare(paths_or_dirs)"), reference)
    loaded = load(paths, missing_error=ComparisonError)
    if len(loaded) < 2:
        raise ComparisonError(f"need at least two result files to compare, found {len(loaded)}")
    first = str(paths[0])
    selected, notes = _select(loaded, paths, name is None, method)
    if not selected:
        if notes and method == "mcnemar":
            raise ComparisonError(f"{notes[0][0]}: {notes[0][1]}; use --method bootstrap or permutation")
        raise ComparisonError("nothing to compare: no two results share a task and probe")
    comparisons = compare_many([x.result for x in selected], reference=name, method=method, correction=correction,
                               alpha=alpha, n_resamples=n_resamples, seed=seed, sources=[x.source for x in selected],
                               family=family, family_size=family_size)
    if not comparisons:
        raise ComparisonError("nothing to compare: no two results share a task and probe")
    compared = {(c.task, c.probe) for c in comparisons}
    notes += [(f"{t} ({p})", f"no result of the reference {name!r}") for t, p in _groups(selected)
              if (t, p) not in compared]
    probes: dict[str, set[str]] = {}
    for c in comparisons:
        probes.setdefault(c.task, set()).add(c.probe)
    tables = ComparisonTables()
    keys = [family_key(family, a, b) for a, b in _pairs(comparisons, selected)]
    for c, fkey in zip(comparisons, keys, strict=True):
        key = c.task if len(probes[c.task]) == 1 else f"{c.task} [{c.probe}]"
        row = {k: _clean(v) for k, v in c.as_dict().items()}
        row.update(correction=correction, alpha=alpha, n_comparisons=keys.count(fkey), family=family,
                   family_size=family_size)
        tables.setdefault(key, []).append(row)
    refs = sorted({row["a"] for rows in tables.values() for row in rows})
    tables.reference = f"{', '.join(refs)} " + (f"(named by --reference {name})" if name else f"from {first}")
    reasons: dict[str, list[str]] = {}
    for where, reason in notes:
        reasons.setdefault(reason, []).append(where)
    tables.notes = [f"skipped {', '.join(wheres)}: {reason}" for reason, wheres in reasons.items()]
    return tables


def _pairs(comparisons, selected) -> list[tuple[dict, dict]]:
    """The two results of each comparison, found by their sources (compare_many sets them)."""
    by_source = {str(x.source): x.result for x in selected}
    return [(by_source[c.source_a], by_source[c.source_b]) for c in comparisons]


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


def _family(rows: list[dict[str, Any]]) -> str:
    """The family the correction ran over, in words: which comparisons, how many, and a declared size."""
    first = rows[0]
    family, declared = first.get("family", "all"), first.get("family_size")
    sizes = sorted({r["n_comparisons"] for r in rows})
    if family == "all":
        text = "the one comparison" if sizes == [1] else f"all {sizes[0]} comparisons of this call"
    else:
        what = "each A-vs-B pair of encoders (its tasks)" if family == "pair" else "each task (and probe)"
        count = "/".join(map(str, sizes))
        text = f"the comparisons of {what}, a family of {count} (--family {family})"
    if declared is not None:
        text += f", declared as a family of {declared} (--family-size {declared}; comparisons not made count as p = 1)"
    return text


def format_tables(tables: dict[str, list[dict[str, Any]]]) -> str:
    """One GitHub-style table per task, then a note on the method, correction and alpha used."""
    parts = []
    first, all_rows = None, [r for rows in tables.values() for r in rows]
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
    parts.append(textwrap.fill(
        f"delta = score A - score B. p: {_METHOD_TEXT[first['method']]}; CI: paired bootstrap percentile "
        f"interval ({first['n_resamples']} resamples, seed {first['seed']}). adjusted p: {correction} over "
        f"{_family(all_rows)}; verdict (A relative to B) at alpha = {first['alpha']:g} on the "
        "adjusted p.", WIDTH))
    clustered = sorted({f"{key} ({r['n_clusters']} proteins, {r['n_components']} components)"
                        for key, rows in tables.items() for r in rows if r.get("n_clusters") is not None})
    if clustered:
        parts.append(textwrap.fill(
            f"Items that share proteins ({', '.join(clustered)}): the CI and the bootstrap p resample proteins "
            "(multi-way cluster bootstrap, a pair weighted by the product of its proteins' draw counts; "
            "conservative), the permutation test swaps whole connected components.", WIDTH))
    return "\n\n".join(parts)


from lsdbench import _make_callable as make_callable  # noqa: E402  (after compare is defined)

make_callable(__name__, compare)
