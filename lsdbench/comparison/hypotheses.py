"""Claims stated in the entries file ("A beats B"), tested with paired tests on every task of the suite.

A hypothesis names two or more leaderboard entries: ``better`` and the ``than`` entries it should beat.
Each (than-entry, task) pair is one paired bootstrap test of the primary metric on the shared test
items (10,000 resamples by default, so the p-value floor of 1e-4 stays far below alpha after Holm
over a family of dozens); Holm's correction runs over each family of hypotheses (``family``, default
"paper": all of its hypotheses x entries x tasks), so a claim never "holds" by testing many things.
Per comparison the verdict is ``holds`` (better, adjusted p < alpha), ``reversed`` (significantly
worse), ``not distinguishable``, or ``not testable`` when an entry it rests on learned nothing
detectable (its ``health`` says so; see lsdbench.run.benchmark.untestable_entries): such a comparison is reported, but left
out of the Holm family and never counted as reproduced or refuted. Control comparisons
(``health_gated = false``, e.g. "the MLM beats an untrained transformer") are diagnostics themselves
and are always tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from lsdbench.atomic import atomic_write_bytes, atomic_write_text
from lsdbench.stats import judge, paired_test

VERDICTS = {"better": "holds", "worse": "reversed", "not distinguishable": "not distinguishable"}


DEFAULT_HYPOTHESIS_RESAMPLES = 10_000
NOT_TESTABLE = "not testable"


@dataclass(frozen=True)
class Hypothesis:
    claim: str  # the sentence being tested, e.g. a paper's finding
    better: str  # entry name
    than: tuple[str, ...]  # entry names
    family: str = "paper"  # Holm runs within a family
    health_gated: bool = True  # False for control comparisons, which are health diagnostics themselves


def check_hypotheses(hypotheses: list[Hypothesis], results: dict[str, dict[str, dict]], *, alpha: float = 0.05,
                     n_resamples: int = DEFAULT_HYPOTHESIS_RESAMPLES,
                     untestable: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``results[entry][task]`` -> result dict. Returns one row per (hypothesis, than-entry, task).

    ``untestable`` maps entry names to why they cannot support a claim (a missed health target).
    """
    untestable = untestable or {}
    rows, comparisons = [], []
    for h in hypotheses:
        for other in h.than:
            for task in sorted(results.get(h.better, {})):
                if task not in results.get(other, {}):
                    continue
                c = paired_test(results[h.better][task], results[other][task], n_resamples=n_resamples,
                                labels=(h.better, other))
                comparisons.append(c)
                why = "; ".join(f"{n}: {untestable[n]}" for n in (h.better, other)
                                if n in untestable and h.health_gated)
                rows.append({"claim": h.claim, "family": h.family, "better": h.better, "than": other, "task": task,
                             "metric": c.metric, "score_better": c.score_a, "score_than": c.score_b,
                             "delta": c.delta, "ci_low": c.ci_low, "ci_high": c.ci_high, "p": c.p_value,
                             "n_resamples": int(n_resamples), **({"not_testable": why} if why else {})})
    for family in sorted({r["family"] for r in rows}):
        members = [i for i, r in enumerate(rows) if r["family"] == family and "not_testable" not in r]
        verdicts = judge([comparisons[i] for i in members], correction="holm", alpha=alpha)
        for i, (p_adj, v) in zip(members, verdicts, strict=True):
            rows[i]["p_holm"] = p_adj
            rows[i]["verdict"] = VERDICTS[v]
    for row in rows:
        if "not_testable" in row:
            row["p_holm"], row["verdict"] = None, NOT_TESTABLE
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per claim: how many comparisons hold, are reversed, or are not distinguishable."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        counts = out.setdefault(row["claim"], {"holds": 0, "reversed": 0, "not distinguishable": 0, NOT_TESTABLE: 0})
        counts[row["verdict"]] += 1
    return out


def _health_mark(h: dict) -> str:
    mark = "pass" if h.get("passed") else "misses " + ", ".join(h.get("missed", []))
    if h.get("testable") is False or ("testable" not in h and not h.get("passed")):
        return f"**not testable**: {mark}"
    return mark


def write_report(rows: list[dict[str, Any]], out_dir: str | Path, *, alpha: float = 0.05,
                 controls: dict[str, dict[str, float]] | None = None,
                 health: dict[str, dict] | None = None) -> list[Path]:
    """``hypotheses.md`` (controls, health, one table per claim) and ``hypotheses.json`` (every row), atomically.

    ``controls[entry][task]`` are scores of control entries printed beside the claims; ``health[entry]`` is
    an encoder's health summary (``passed``, ``missed``).
    """
    out = Path(out_dir)
    n_res = sorted({r.get("n_resamples") for r in rows if r.get("n_resamples")})
    families = sorted({r.get("family", "paper") for r in rows})
    sizes = {f: sum(r.get("family", "paper") == f and r["verdict"] != NOT_TESTABLE for r in rows) for f in families}
    lines = ["# Hypotheses", "",
             f"Paired bootstrap tests of the primary metric on the test items ({', '.join(map(str, n_res))} "
             "resamples); Holm over each family (" + ", ".join(f"{f}: {n} comparisons" for f, n in sizes.items())
             + f"); alpha = {alpha}. The intervals are **unadjusted** 95 % percentile bootstrap intervals of A - B; "
             "the verdict uses the Holm-adjusted p, so an interval that excludes 0 can still be 'not "
             f"distinguishable'. '{NOT_TESTABLE}': an entry learned nothing detectable (it beats the untrained "
             "random transformer on no task), so the comparison supports nothing either way. Generated by "
             "`lsdbench run`; do not edit.", ""]
    tasks = sorted({r["task"] for r in rows})
    if controls:
        lines += ["## Controls", "", "Primary-metric test scores of the controls every claim should be read against:", ""]
        table = [[name] + [f"{scores[t]:.3f}" if t in scores else "-" for t in tasks] for name, scores in controls.items()]
        lines += [tabulate(table, headers=["control", *tasks], tablefmt="github", disable_numparse=True), ""]
    if health:
        lines += ["## Health of the entries", "",
                  "From each encoder's `health` (for the reference models: T1-T6 of "
                  "reference_models/evaluation/function_health.py, judged by what the representation does):", ""]
        table = [[name, _health_mark(h)] for name, h in health.items()]
        lines += [tabulate(table, headers=["entry", "health"], tablefmt="github", disable_numparse=True), ""]
    for claim, counts in summarize(rows).items():
        lines += [f"## {claim}", "", ", ".join(f"{v} {k}" for k, v in counts.items() if v or k != NOT_TESTABLE)
                  + f" (of {sum(counts.values())} comparisons)", ""]
        table = [[r["task"], r["better"], r["than"], f"{r['score_better']:.3f}", f"{r['score_than']:.3f}",
                  f"{r['delta']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]",
                  "-" if r["p_holm"] is None else f"{r['p_holm']:.3g}", r["verdict"]]
                 for r in rows if r["claim"] == claim]
        lines += [tabulate(table, headers=["task", "A", "B", "A", "B", "A - B [95% CI, unadjusted]", "p (Holm)",
                                           "verdict"], tablefmt="github", disable_numparse=True), ""]
    md, js = out / "hypotheses.md", out / "hypotheses.json"
    atomic_write_text(md, "\n".join(lines))
    atomic_write_bytes(js, (json.dumps(rows, indent=1, sort_keys=True) + "\n").encode())
    return [md, js]
