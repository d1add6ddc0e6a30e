"""What ``lsdbench info`` shows and the main job prints: facts about a loaded task (split hashes, label
balance, lengths, sequences shared between splits; for pair tasks, proteins and pairs touching earlier splits)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from lsdbench.types import SPLIT_NAMES


def describe(task) -> dict:
    """Facts about a loaded task: split hashes, label balance, lengths, overlap between splits."""
    card = task.card
    info = {"name": card.name, "version": card.version, "suites": list(card.suites), "type": card.type,
            "metrics": list(card.metrics), "licence": card.licence, "description": card.description,
            "citation": card.citation, "notes": card.notes, "splits": {}, "shared_sequences": {}}
    seqsets = {}
    for name, split in task.splits.items():
        lengths = np.array([len(s) for s in split.all_sequences()])
        entry = {"items": len(split), "hash": split.content_hash(),
                 "length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                            "p95": float(np.percentile(lengths, 95)), "max": int(lengths.max())}}
        if card.type == "regression":
            entry["label"] = {"mean": float(split.labels.mean()), "std": float(split.labels.std()),
                              "min": float(split.labels.min()), "max": float(split.labels.max())}
        else:
            counts = Counter(split.labels.tolist())
            entry["label"] = {card.label_names[k]: counts.get(k, 0) for k in range(len(card.label_names))}
        info["splits"][name] = entry
        seqsets[name] = set(split.all_sequences())
    for i, a in enumerate(SPLIT_NAMES):
        for b in SPLIT_NAMES[i + 1:]:
            info["shared_sequences"][f"{a}/{b}"] = len(seqsets[a] & seqsets[b])
    if card.type == "pair_binary":
        _describe_pairs(task, info, seqsets)
    if task.report:
        info["load_report"] = task.report
    return info


def _describe_pairs(task, info: dict, seqsets: dict) -> None:
    """Pair tasks: distinct proteins (sequences) per split, and how many pairs touch an earlier split's
    proteins (Park & Marcotte: a pair with both proteins seen in training is C1, one is C2, none C3)."""
    for name in task.splits:
        info["splits"][name]["proteins"] = len(seqsets[name])
    info["pairs_touching"] = {}
    for later, earlier in (("valid", "train"), ("test", "train"), ("test", "valid")):
        seen = seqsets[earlier]
        split = task.splits[later]
        hits = [(a in seen) + (b in seen) for a, b in zip(split.sequences, split.sequences_b, strict=True)]
        info["pairs_touching"][f"{later}/{earlier}"] = {"one": hits.count(1), "both": hits.count(2),
                                                        "pairs": len(hits)}
