"""Comparing a reference result with many others as one family, and naming results apart.

- ``compare_many`` corrects the p-values of its comparisons by family (Holm by default,
  Benjamini-Hochberg as an option) and gives each a verdict at ``alpha`` on the adjusted p:
  ``better`` / ``worse`` (A relative to B) or ``not distinguishable``. A family is every comparison
  of the call (``all``), those of one task and probe (``task``) or those of one A-vs-B pair of
  encoders over its tasks (``pair``), optionally declared larger (``family_size``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from lsdbench.stats.multiple import CORRECTIONS, judge
from lsdbench.stats.paired import PairedComparison, paired_test
from lsdbench.stats.predictions import ComparisonError, result_label
from lsdbench.stats.resampling import DEFAULT_RESAMPLES
from lsdbench.stats.significance import FAMILIES


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


def _encoder_identity(result: dict) -> str:
    """The same encoder and configuration, whatever file or task its result came from."""
    enc = result.get("encoder") or {}
    return json.dumps([result_label(result), enc.get("config") or {}], sort_keys=True, default=str)


def family_key(family: str, result_a: dict, result_b: dict) -> tuple:
    """The family a comparison of A with B belongs to."""
    if family == "all":
        return ()
    if family == "task":
        return group_key(result_a)
    if family == "pair":
        return _encoder_identity(result_a), _encoder_identity(result_b)
    raise ComparisonError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")


def judge_by_family(tests: Sequence[PairedComparison], keys: Sequence[tuple], *, correction: str, alpha: float,
                    family_size: int | None = None) -> list[PairedComparison]:
    """Each comparison with its adjusted p and verdict, adjusted within its family (same key)."""
    out = list(tests)
    families: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        families.setdefault(key, []).append(i)
    for members in families.values():
        judged = judge([tests[i] for i in members], correction=correction, alpha=alpha, family_size=family_size)
        for i, (p, v) in zip(members, judged, strict=True):
            out[i] = replace(tests[i], p_adjusted=p, verdict=v)
    return out


def compare_many(results: Sequence[dict], reference: str | int | None = None, method: str = "bootstrap",
                 correction: str = "holm", alpha: float = 0.05, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                 *, labels: Sequence[str] | None = None, sources: Sequence[str] | None = None,
                 family: str = "all", family_size: int | None = None) -> list[PairedComparison]:
    """Compare a reference result with every other result of the same task and probe.

    Within each (task, probe) group the reference is A and every other result in turn is B, in input
    order. ``reference``: None (the first result of each group), an index into ``results``, or a name
    matched against the display label, encoder name, encoder spec or source; groups without it are
    skipped. ``family``: what one family of ``correction`` holds (``FAMILIES``; default: every comparison
    returned), ``family_size``: each family as declared, at least its comparisons (see ``judge``); each
    comparison carries ``p_adjusted`` and a verdict at ``alpha``.
    """
    if correction not in CORRECTIONS:
        raise ComparisonError(f"unknown correction {correction!r}; choose one of {', '.join(CORRECTIONS)}")
    if family not in FAMILIES:  # refused before any test runs
        raise ComparisonError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
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
    keys: list[tuple] = []
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
            keys.append(family_key(family, results[ref], results[j]))
    if reference is not None and not found_reference:
        raise ComparisonError(f"reference {reference!r} matches none of the results")
    return judge_by_family(tests, keys, correction=correction, alpha=alpha, family_size=family_size)
