"""Flags on leaderboard entries: warnings shown beside a score, never a reason to reject a submission.

Validation (validate.py) proves that every score follows from the submitted predictions and the
registry's labels. It cannot prove the predictions came from a probe on the encoder's embeddings:
the test labels are public, so anyone can fit the test set or copy another entry's predictions. The
leaderboard shows the signs of that it can see, and leaves the judgement to people:

- near-perfect: the primary metric within NEAR_PERFECT_MARGIN of its maximum (metrics whose maximum
  is 1), or predictions equal to the labels on at least NEAR_PERFECT_SHARE of the test items;
- identical: some seed's y_pred or y_score vector on a task is exactly another encoder's (entries of
  one encoder, e.g. the same results in two suites, are not compared with each other);
- near-copy: not identical, but some seed's y_pred equals another encoder's on at least NEAR_COPY_SHARE
  of the test items (a copy with a few predictions changed; independent encoders, even two readings of
  one model, agree on at most 94 % of items in the committed leaderboard).

Entries are duck-typed as in build.Entry: ``name``, ``slug``, ``probe``, ``suite``, ``results`` (task ->
canonical result, predictions in registry order) and ``scores`` (task -> recomputed primary metric).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

NEAR_PERFECT_MARGIN = 0.01
NEAR_PERFECT_SHARE = 0.99
BOUNDED_BY_ONE = ("accuracy", "auroc", "mcc", "macro_f1", "spearman", "pearson")
LABEL_RTOL = 1e-9  # a regression prediction "equals" its label within this (copied labels are exact)

NEAR_COPY_SHARE = 0.99

MARKS = {"near-perfect": "‼", "identical": "≡", "near-copy": "≈"}
RULES = {
    "near-perfect": f"near-perfect score (primary metric within {NEAR_PERFECT_MARGIN} of its maximum of 1, or "
                    f"predictions equal to the labels on >= {NEAR_PERFECT_SHARE:.0%} of test items)",
    "identical": "test predictions identical to another encoder's entry on the task (the same y_pred or y_score "
                 "vector of a seed)",
    "near-copy": f"test predictions equal to another encoder's on >= {NEAR_COPY_SHARE:.0%} of test items (a seed's "
                 f"y_pred vector), though not identical",
}


@dataclass(frozen=True)
class Flag:
    kind: str  # a key of MARKS
    task: str
    detail: str  # one line for people

    @property
    def mark(self) -> str:
        return MARKS[self.kind]

    def text(self) -> str:
        return f"{self.mark} {self.task}: {self.detail}"


def warning(entry, flag: Flag) -> str:
    """A flag as one line of command output."""
    return f"{entry.name} ({entry.probe}), task {flag.task}: {flag.detail}"


def legend() -> str:
    """One line explaining the marks."""
    marks = "; ".join(f"{MARKS[k]}: {RULES[k]}" for k in MARKS)
    return (f"Flags, warnings for readers and not rejections (test labels are public; see CONTRIBUTING.md, "
            f"Leaderboard trust model): {marks}.")


def label_share(result: dict[str, Any]) -> float:
    """Share of test items whose prediction equals the label, averaged over seeds."""
    pred = result["predictions"]
    y_true = np.asarray(pred["y_true"], dtype=np.float64)
    shares = [np.mean(np.isclose(np.asarray(sp["y_pred"], dtype=np.float64), y_true, rtol=LABEL_RTOL, atol=0.0))
              for sp in pred["per_seed"]]
    return float(np.mean(shares))


def near_perfect(task: str, result: dict[str, Any], score: float) -> Flag | None:
    metric = result["task"]["primary_metric"]
    share = label_share(result)
    at_max = metric in BOUNDED_BY_ONE and score >= 1.0 - NEAR_PERFECT_MARGIN
    if not (at_max or share >= NEAR_PERFECT_SHARE):
        return None
    return Flag("near-perfect", task, f"near-perfect: {metric} {score:.4f}, predictions equal to the labels on "
                                      f"{share:.1%} of test items")


def _digests(result: dict[str, Any]) -> set[tuple[str, str]]:
    """(vector kind, sha256) of every seed's y_pred and y_score, in registry order as canonicalised."""
    out = set()
    for sp in result["predictions"]["per_seed"]:
        for kind in ("y_pred", "y_score"):
            if kind in sp:
                arr = np.ascontiguousarray(sp[kind], dtype=np.float64) + 0.0  # + 0.0: -0.0 hashes as 0.0
                out.add((kind, hashlib.sha256(repr(arr.shape).encode() + arr.tobytes()).hexdigest()))
    return out


def _label(entry, suite: str) -> str:
    where = "" if entry.suite == suite else f", suite {entry.suite}"
    return f"{entry.name!r} ({entry.probe}{where})"


def identical_flags(entries: list) -> list[list[Flag]]:
    """Per entry (in the given order), a flag for each task whose predictions another encoder has too."""
    holders: dict[tuple[str, tuple[str, str]], list[int]] = {}
    digests = [{task: _digests(res) for task, res in e.results.items()} for e in entries]
    for i, by_task in enumerate(digests):
        for task, found in by_task.items():
            for d in found:
                holders.setdefault((task, d), []).append(i)
    flags: list[list[Flag]] = []
    for i, e in enumerate(entries):
        mine = []
        for task in sorted(digests[i]):
            others = {j for d in digests[i][task] for j in holders[task, d] if entries[j].slug != e.slug}
            if others:
                names = ", ".join(sorted(_label(entries[j], e.suite) for j in others))
                mine.append(Flag("identical", task, f"test predictions identical to those of {names}"))
        flags.append(mine)
    return flags


def _y_preds(result: dict[str, Any]) -> list[np.ndarray]:
    return [np.asarray(sp["y_pred"], dtype=np.float64) + 0.0 for sp in result["predictions"]["per_seed"]]


def _agreement(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """The highest share of test items on which a seed of ``a`` and a seed of ``b`` predict the same."""
    shares = [float(np.mean(x == y)) for x in a for y in b if x.shape == y.shape and x.size]
    return max(shares, default=0.0)


def near_copy_flags(entries: list, identical: list[list[Flag]]) -> list[list[Flag]]:
    """Per entry, a flag for each task whose predictions agree with another encoder's on at least
    NEAR_COPY_SHARE of the items without being identical (those are flagged as identical already)."""
    preds = [{task: _y_preds(res) for task, res in e.results.items()} for e in entries]
    same = [{f.task for f in flags} for flags in identical]
    flags: list[list[Flag]] = [[] for _ in entries]
    for i, e in enumerate(entries):
        for task in sorted(preds[i]):
            if task in same[i]:
                continue
            close = [(j, _agreement(preds[i][task], preds[j][task])) for j, other in enumerate(entries)
                     if other.slug != e.slug and task in preds[j]]
            close = [(j, share) for j, share in close if share >= NEAR_COPY_SHARE]
            if close:
                names = ", ".join(sorted(f"{_label(entries[j], e.suite)} on {share:.1%}" for j, share in close))
                flags[i].append(Flag("near-copy", task, f"test predictions equal to those of {names} of the items"))
    return flags


def entry_flags(entries: list) -> list[list[Flag]]:
    """Every flag of each entry (in the given order), sorted by task, then kind."""
    copies = identical_flags(entries)
    near = near_copy_flags(entries, copies)
    out = []
    for e, same, close in zip(entries, copies, near, strict=True):
        perfect = [near_perfect(task, e.results[task], e.scores[task]) for task in sorted(e.results)]
        found = [f for f in perfect if f is not None] + same + close
        out.append(sorted(found, key=lambda f: (f.task, list(MARKS).index(f.kind))))
    return out
