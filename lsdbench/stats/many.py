"""Comparing a reference result with many others as one family, and naming results apart.

- ``compare_many`` corrects the p-values of all its comparisons as one family (Holm by default,
  Benjamini-Hochberg as an option) and gives each a verdict at ``alpha`` on the adjusted p:
  ``better`` / ``worse`` (A relative to B) or ``not distinguishable``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from lsdbench.stats.multiple import CORRECTIONS, judge
from lsdbench.stats.paired import PairedComparison, paired_test
from lsdbench.stats.predictions import ComparisonError, result_label
from lsdbench.stats.resampling import DEFAULT_RESAMPLES


def group_key(result: dict) -> tuple[str, str]:
    """Results are compared within one task and probe."""
    return str(result["task"]["name"]), str(result.get("probe", {}).get("name", ""))


def disambiguated_labels(results: Sequence[dict], sources: Sequence[str] | None = None) -> list[str]:
    """Encoder names, plus the config entries that differ (``lsd[t=0.1]``) where names repeat within a
    task and probe, plus the source (file) or position where even that is not unique."""
    labels = [result_label(r) for r in results]
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(results):
        groups.setdefault((group_key(r), labels[i]), []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        configs = [results[i].get("encoder", {}).get("config") or {} for i in members]
        keys = sorted({k for c in configs for k in c})
        differing = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
        for i, c in zip(members, configs, strict=True):
            if differing:
                labels[i] += "[" + ",".join(f"{k}={c.get(k)}" for k in differing) + "]"
        seen: dict[str, int] = {}
        for i in members:
            seen[labels[i]] = seen.get(labels[i], 0) + 1
        for i in members:
            if seen[labels[i]] > 1:
                labels[i] += f" ({sources[i]})" if sources else f" #{i}"
    return labels


def _pick_reference(members: list[int], results, labels, sources, reference) -> int | None:
    if reference is None:
        return members[0]
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        return int(reference) if int(reference) in members else None
    ref = str(reference)
    matches = []
    for i in members:
        enc = results[i].get("encoder", {})
        names = {labels[i], str(enc.get("name")), str(enc.get("spec"))}
        if sources:
            names |= {str(sources[i])}
        if ref in names:
            matches.append(i)
    if len(matches) > 1:
        task, probe = group_key(results[members[0]])
        raise ComparisonError(f"reference {ref!r} matches {len(matches)} results of {task} ({probe}): "
                              + ", ".join(labels[i] for i in matches) + "; name one of these instead")
    return matches[0] if matches else None


def compare_many(results: Sequence[dict], reference: str | int | None = None, method: str = "bootstrap",
                 correction: str = "holm", alpha: float = 0.05, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                 *, labels: Sequence[str] | None = None, sources: Sequence[str] | None = None) -> list[PairedComparison]:
    """Compare a reference result with every other result of the same task and probe.

    Within each (task, probe) group the reference is A and every other result in turn is B, in input
    order. ``reference``: None (the first result of each group), an index into ``results``, or a name
    matched against the display label, encoder name, encoder spec or source; groups without it are
    skipped. All comparisons returned form one family for ``correction``; each carries ``p_adjusted``
    and a verdict at ``alpha``.
    """
    if correction not in CORRECTIONS:
        raise ComparisonError(f"unknown correction {correction!r}; choose one of {', '.join(CORRECTIONS)}")
    results = list(results)
    if sources is not None and len(sources) != len(results):
        raise ValueError("sources must name every result")
    labels = list(labels) if labels is not None else disambiguated_labels(results, sources)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(results):
        try:
            groups.setdefault(group_key(r), []).append(i)
        except (KeyError, TypeError):
            raise ComparisonError(f"{sources[i] if sources else f'result #{i}'}: not an lsdbench result") from None
    tests: list[PairedComparison] = []
    found_reference = False
    for members in groups.values():
        ref = _pick_reference(members, results, labels, sources, reference)
        if ref is None:
            continue
        found_reference = True
        for j in members:
            if j == ref:
                continue
            where = (f"{labels[ref]} ({sources[ref]})", f"{labels[j]} ({sources[j]})") if sources else None
            test = paired_test(results[ref], results[j], method=method, n_resamples=n_resamples, seed=seed,
                               alpha=alpha, labels=(labels[ref], labels[j]), where=where)
            if sources:
                test = replace(test, source_a=str(sources[ref]), source_b=str(sources[j]))
            tests.append(test)
    if reference is not None and not found_reference:
        raise ComparisonError(f"reference {reference!r} matches none of the results")
    return [replace(t, p_adjusted=p, verdict=v)
            for t, (p, v) in zip(tests, judge(tests, correction=correction, alpha=alpha), strict=True)]
