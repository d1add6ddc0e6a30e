"""Pair tasks: duplicate and self-pair checks, and the hashed [partition] into protein-disjoint splits."""

from __future__ import annotations

from lsdbench.tasks.cards import TaskCard
from lsdbench.tasks.labels import canonical
from lsdbench.tasks.sequences import normalize
from lsdbench.tasks.splits import RowsOf, TaskError, carve_key, make_split
from lsdbench.text import excerpt
from lsdbench.types import SPLIT_NAMES, Split

CLUSTERS = "multi-way cluster bootstrap"  # how a pair task's test items are resampled (stats.clusters)


def pair_checks(card: TaskCard, rows: list[dict], display: str) -> tuple[list[dict], dict]:
    """Count (and, as the card says, drop) duplicated pairs, A-B and B-A alike, and self-pairs.

    Pairs are compared by their normalised sequences, so two ids of one sequence count as one protein.
    Of duplicated pairs the first in file order is kept; duplicates whose labels disagree cannot be
    dropped silently and stop the load.
    """
    dup_policy = card.format.get("duplicate_pairs", "keep")
    self_policy = card.format.get("self_pairs", "keep")
    first: dict[tuple[str, str], dict] = {}
    kept, n_dup, n_self, conflicts = [], 0, 0, []
    for row in rows:
        a = row["sequence"] = normalize(row.get("sequence", ""), source=display, record=row["id"])
        b = row["sequence_b"] = normalize(row.get("sequence_b", ""), source=display, record=row["id"])
        if a == b:
            n_self += 1
            if self_policy == "drop":
                continue
        key = (min(a, b), max(a, b))
        if key in first:
            n_dup += 1
            if canonical(first[key].get("label", "")) != canonical(row.get("label", "")):
                conflicts.append((first[key]["id"], row["id"]))
            if dup_policy == "drop":
                continue
        else:
            first[key] = row
        kept.append(row)
    if conflicts and dup_policy == "drop":
        shown = ", ".join(f"{excerpt(x)} and {excerpt(y)}" for x, y in conflicts[:5])
        raise TaskError(f"task {card.name!r}: {display}: {len(conflicts)} duplicated pair(s) carry different "
                        f"labels ({shown}{' ...' if len(conflicts) > 5 else ''}); cannot pick one")
    return kept, {"rows": len(rows), "pairs": len(kept), "duplicate_pairs": n_dup,
                  "duplicate_pairs_policy": dup_policy, "conflicting_duplicates": len(conflicts),
                  "self_pairs": n_self, "self_pairs_policy": self_policy}


def _pair_key(row: dict) -> str:
    a, b = row["sequence"], row["sequence_b"]
    return f"{min(a, b)}:{max(a, b)}"


def _assign(items: set[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Rank items by sha256(seed:item) and cut consecutive blocks: test, valid, train; the rest unassigned."""
    ranked = sorted(items, key=lambda item: (carve_key(seed, item), item))
    n = len(ranked)
    counts = {name: int(round(fractions[name] * n)) for name in SPLIT_NAMES}
    if abs(sum(fractions.values()) - 1.0) < 1e-9:
        counts["train"] = n - counts["valid"] - counts["test"]
    where, start = {}, 0
    for name in ("test", "valid", "train"):
        for item in ranked[start:start + counts[name]]:
            where[item] = name
        start += counts[name]
    return where


def partition(card: TaskCard, rows: list[dict]) -> tuple[dict[str, list[dict]], dict]:
    """Split pair rows as ``card.partition`` says; return rows per split and what was kept and dropped.

    ``by = "protein"``: every distinct sequence goes to one split; a pair is kept when both its proteins
    are in the same split, so no protein of a test pair is in any train or valid pair. ``by = "pair"``:
    each pair (unordered) goes to one split: the leaky random-pair split.
    """
    spec = card.partition
    out: dict[str, list[dict]] = {name: [] for name in SPLIT_NAMES}
    straddling = left_out = 0
    if spec.by == "protein":
        where = _assign({s for row in rows for s in (row["sequence"], row["sequence_b"])}, spec.fractions,
                        spec.seed)
        for row in rows:
            a, b = where.get(row["sequence"]), where.get(row["sequence_b"])
            if a is None or b is None:
                left_out += 1
            elif a != b:
                straddling += 1
            else:
                out[a].append(row)
        proteins = {name: sum(1 for v in where.values() if v == name) for name in SPLIT_NAMES}
    else:
        where = _assign({_pair_key(row) for row in rows}, spec.fractions, spec.seed)
        for row in rows:
            name = where.get(_pair_key(row))
            if name is None:
                left_out += 1
            else:
                out[name].append(row)
        proteins = None
    report = {"by": spec.by, "seed": spec.seed, "fractions": dict(spec.fractions), "pairs": len(rows),
              "kept": {name: len(v) for name, v in out.items()}, "dropped_straddling": straddling,
              "dropped_unassigned": left_out}
    if proteins is not None:
        report["proteins_assigned"] = proteins
    return out, report


def partitioned_splits(card: TaskCard, rows_of: RowsOf, report: dict) -> dict[str, Split]:
    """Every split from the one source ``card.partition`` names, its rows assigned as it says."""
    rows, display = rows_of(card.partition.source)
    parts, report["partition"] = partition(card, rows)
    return {name: make_split(card, name, parts[name], display) for name in SPLIT_NAMES}


def protein_clusters(split: Split) -> list[list[int]] | None:
    """Resampling units of a pair split: per pair, the numbers of its proteins (normalised sequences,
    numbered 0..k-1 by first appearance; one number for a self-pair); None for single sequences.

    Pairs that share a protein are not independent, and a test split's protein graph is usually one
    giant connected component (ppi_yeast: 692 of its 707 test pairs), so resampling components would
    leave a handful of units. The bootstrap resamples proteins instead (a multi-way cluster bootstrap,
    ``stats.clusters``); the permutation test swaps whole components.
    """
    if not split.is_pair:
        return None
    number: dict[str, int] = {}
    return [sorted({number.setdefault(a, len(number)), number.setdefault(b, len(number))})
            for a, b in zip(split.sequences, split.sequences_b, strict=True)]


def cluster_note(clusters: list[list[int]]) -> str:
    """How a result's items were resampled, as its ``test_ci.resampling`` records it."""
    proteins = len({u for units in clusters for u in units})
    return f"{CLUSTERS}: bootstrap over the {proteins} proteins of the {len(clusters)} test pairs"
