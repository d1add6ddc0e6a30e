"""Validate a submission against its schema and the task registry, collecting every problem.

What a valid submission guarantees: the schema holds; the suite is complete (every task of the suite
exactly once per probe, nothing else); protocol and task versions are the current ones; split hashes
equal the registry's; the test item ids are exactly the registry's test ids, each once; the file's
``y_true`` equals the registry's labels; each ``y_pred`` is the class its ``y_score`` gives (argmax;
binary: y_score > 0.5), so no entry mixes two predictors; and every claimed test score (mean over
seeds, and each seed's) equals the score recomputed from the predictions and the REGISTRY's labels
within 1e-9. What it cannot guarantee (the labels are public) is flagged by ``trust.py`` instead.
"""

from __future__ import annotations

import copy
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator

from lsdbench import PROTOCOL
from lsdbench.leaderboard import SCHEMA_ID, SubmissionError
from lsdbench.leaderboard.result_checks import (
    check_ids,
    check_per_seed,
    check_seed_scores,
    check_split_hashes,
    check_test_scores,
    check_y_true,
)
from lsdbench.leaderboard.submission import MAX_BYTES, load_json_file, slugify, submission_schema
from lsdbench.results.result import Result, ResultError, config_hash, validate_result
from lsdbench.results.result import schema as result_schema
from lsdbench.tasks import registry
from lsdbench.tasks.cards import CardError
from lsdbench.tasks.pairs import cluster_note, protein_clusters


class TaskLoader:
    """Suites and loaded tasks of the registry, each task loaded once (validating many files)."""

    def __init__(self, *, cache_dir: str | os.PathLike | None = None, mirror: str | None = None,
                 tasks: Iterable[Any] = ()):
        """``tasks``: tasks the caller has already loaded (the main job), used instead of loading them again."""
        self.cache_dir, self.mirror = cache_dir, mirror
        self._tasks: dict[str, Any] = {task.name: task for task in tasks}

    def suite_cards(self, suite: str) -> dict[str, Any]:
        """Cards of ``suite`` by name; CardError for an unknown suite."""
        return {c.name: c for c in registry.list_cards(suite)}

    def task(self, name: str):
        if name not in self._tasks:
            self._tasks[name] = registry.load_task(name, cache_dir=self.cache_dir, mirror=self.mirror,
                                                   progress=False)
        return self._tasks[name]


@dataclass
class ValidatedSubmission:
    """A submission that passed every check, with canonical copies of its results.

    ``entries[probe][task]`` is the result (a typed ``Result``) with predictions reordered to the
    registry's test order and ``y_true`` replaced by the registry's labels; ``scores[probe][task]`` the recomputed primary
    metric. Everything downstream (CIs, paired tests) uses these, never the file's own numbers.
    """

    source: str
    data: dict[str, Any]
    slug: str
    entries: dict[str, dict[str, Result]]
    scores: dict[str, dict[str, float]]

    @property
    def suite(self) -> str:
        return self.data["suite"]

    @property
    def encoder(self) -> dict[str, Any]:
        return self.data["encoder"]


@dataclass
class Report:
    source: str
    problems: list[str] = field(default_factory=list)
    submission: ValidatedSubmission | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.submission is not None

    def message(self) -> str:
        if self.ok:
            return f"{self.source}: valid"
        lines = [f"{self.source}: invalid submission, {len(self.problems)} problem(s):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _json_path(error) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _schema_problems(obj: Any) -> list[tuple[str, list]]:
    """(message, path) of every schema violation, in a stable order."""
    validator = Draft202012Validator(submission_schema())
    errors = sorted(validator.iter_errors(obj), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    out = []
    for e in errors:
        msg = e.message if len(e.message) <= 300 else e.message[:300] + "..."
        out.append((f"schema: at {_json_path(e)}: {msg}", list(e.absolute_path)))
    return out


def _canonical(result: dict, order: np.ndarray, task) -> dict:
    """The result with predictions in registry test order and the registry's labels as y_true."""
    test = task.splits["test"]
    out = copy.deepcopy({k: v for k, v in result.items() if k != "predictions"})
    per_seed = []
    for sp in result["predictions"]["per_seed"]:
        item = {"seed": sp["seed"], "y_pred": [sp["y_pred"][i] for i in order]}
        if "y_score" in sp:
            item["y_score"] = [sp["y_score"][i] for i in order]
        per_seed.append(item)
    labels = test.labels.tolist()
    out["predictions"] = {"ids": list(test.ids), "y_true": labels, "per_seed": per_seed}
    units = protein_clusters(test) if "clusters" in result["predictions"] else None
    if units is not None:  # resampling units are the registry's, never the submission's
        out["predictions"]["clusters"] = units
        out["test_ci"]["resampling"] = cluster_note(units)
    elif "clusters" in result["predictions"]:
        out["test_ci"].pop("resampling", None)
    return out


def _name_of(obj: Any, key: str) -> Any:
    part = obj.get(key) if isinstance(obj, dict) else None
    return part.get("name") if isinstance(part, dict) else None


def _result_shape_ok(res: dict) -> bool:
    """Whether ``res`` follows the lsdbench-result-1 JSON Schema (its consistency aside)."""
    return not any(True for _ in Draft202012Validator(result_schema()).iter_errors(res))


def _result_finding(res: dict, ctx: str) -> str | None:
    """What validate_result finds wrong with ``res`` as a problem message, or None."""
    try:
        validate_result(res, ctx)
    except ResultError as exc:
        return f"{ctx}: not a valid lsdbench-result-1 object: {str(exc).removeprefix(f'{ctx}: ')}"
    return None


def _check_task_meta(res: dict, sub: dict, card, ctx: str, problems: list[str]) -> None:
    """Task version, type and primary metric as the registry has them; encoder.dim as the submission's."""
    meta = res["task"]
    for key, expected in (("version", card.version), ("type", card.type), ("primary_metric", card.primary_metric)):
        if str(meta.get(key)) != str(expected):
            problems.append(f"{ctx}: task {key} {meta.get(key)!r}, the registry has {expected!r}")
    if res["encoder"].get("dim") != sub["encoder"]["dim"]:
        problems.append(f"{ctx}: encoder.dim {res['encoder'].get('dim')!r} differs from the submission's "
                        f"encoder.dim {sub['encoder']['dim']!r}")


def _check_result(i: int, res: dict, sub: dict, cards: dict, loader: TaskLoader,
                  problems: list[str]) -> tuple[dict, float] | None:
    """Check one result against the registry; the canonical result and recomputed primary score."""
    task_name, probe_name = _name_of(res, "task"), _name_of(res, "probe")
    ctx = f"results[{i}] (task {str(task_name)[:80]!r}, probe {str(probe_name)[:40]!r})"
    # a consistency finding of validate_result is reported unless the ids explain it
    inconsistent = _result_finding(res, ctx)
    if inconsistent is not None and not _result_shape_ok(res):
        problems.append(inconsistent)  # wrong shape or types: nothing below can be checked safely
        return None
    before = len(problems)
    if res["protocol"] != PROTOCOL:
        problems.append(f"{ctx}: protocol {res['protocol']!r}, expected {PROTOCOL!r}")
    if not isinstance(task_name, str) or task_name not in cards:
        problems.append(f"{ctx}: task {task_name!r} is not in suite {sub['suite']!r} "
                        f"(its tasks: {', '.join(sorted(cards))})")
        return None
    card = cards[task_name]
    _check_task_meta(res, sub, card, ctx, problems)
    task = loader.task(task_name)
    check_split_hashes(res["task"], task, ctx, problems)

    test = task.splits["test"]
    pred = res["predictions"]
    ids = pred["ids"]
    if not check_ids(ids, test, ctx, problems):
        return None  # these explain any length mismatch validate_result found
    if inconsistent is not None:
        problems.append(inconsistent)
        return None
    position = {item: k for k, item in enumerate(test.ids)}
    order_in_file = np.array([position[item] for item in ids])  # registry index of each file row
    y_true = test.labels[order_in_file]  # registry labels in the file's order: the only labels scored
    check_y_true(pred, y_true, card.type, len(test), ctx, problems)
    if not check_per_seed(pred, task, ids, ctx, problems):
        return None  # other findings above still let the scores be checked: report those too

    primary = check_test_scores(res, card, y_true, ctx, problems)
    check_seed_scores(res, card.type, y_true, ctx, problems)
    if len(problems) > before or primary is None:
        return None
    inverse = np.empty_like(order_in_file)
    inverse[order_in_file] = np.arange(len(order_in_file))  # file row of each registry item
    return Result(_canonical(res, inverse, task)), primary


def _check_one_encoder(results: list[dict], problems: list[str]) -> None:
    """Every result must come from one encoder configuration (name and config hash)."""
    encoders = sorted({(r["encoder"].get("name"), config_hash(r["encoder"].get("config", {})))
                       for r in results if isinstance(r.get("encoder"), dict)}, key=str)
    if len(encoders) > 1:
        problems.append(f"results come from {len(encoders)} encoder configurations "
                        f"({', '.join(f'{n!r} {h[:19]}' for n, h in encoders)}); a submission holds one")


def _check_suite_complete(results: list[dict], cards: dict, suite: Any, problems: list[str]) -> None:
    """Per probe: every task of the suite, each exactly once."""
    counts: dict[str, Counter] = {}
    for r in results:
        counts.setdefault(str(_name_of(r, "probe")), Counter())[str(_name_of(r, "task"))] += 1
    for probe in sorted(counts):
        c = counts[probe]
        missing = sorted(set(cards) - set(c))
        if missing:
            problems.append(f"probe {probe!r}: suite {suite!r} is incomplete, no result for "
                            f"{', '.join(missing)}")
        for task, n in sorted(c.items()):
            if n > 1:
                problems.append(f"probe {probe!r}: task {task!r} appears {n} times (once per probe)")


def _check_results(obj: dict, broken: set, cards: dict, loader: TaskLoader, problems: list[str]):
    """Canonical entries and recomputed scores, by probe and task, of the results that pass their checks."""
    entries: dict[str, dict[str, dict]] = {}
    scores: dict[str, dict[str, float]] = {}
    for i, res in enumerate(obj["results"]):
        if i in broken:
            continue
        checked = _check_result(i, res, obj, cards, loader, problems)
        if checked is not None:
            probe, task = res["probe"]["name"], res["task"]["name"]
            entries.setdefault(probe, {})[task] = checked[0]
            scores.setdefault(probe, {})[task] = checked[1]
    return entries, scores


def check_submission(obj_or_path: Any, *, source: str | None = None, loader: TaskLoader | None = None,
                     max_bytes: int = MAX_BYTES, follow_symlinks: bool = True) -> Report:
    """Every problem of a submission (a path, or an already parsed object) as a Report.

    Registry trouble (no data, no network) raises, since it says nothing about the file.
    """
    if isinstance(obj_or_path, (str, os.PathLike)):
        source = source or str(obj_or_path)
        try:
            obj = load_json_file(obj_or_path, max_bytes=max_bytes, follow_symlinks=follow_symlinks)
        except SubmissionError as exc:
            return Report(source, [str(exc).removeprefix(f"{source}: ")])
    else:
        obj, source = obj_or_path, source or "<submission>"
    loader = loader or TaskLoader()
    report = Report(source)
    problems = report.problems
    schema_errors = _schema_problems(obj)
    problems += [msg for msg, _ in schema_errors]
    if not isinstance(obj, dict) or not isinstance(obj.get("results"), list) \
            or not isinstance(obj.get("encoder"), dict) or obj.get("schema") != SCHEMA_ID:
        return report  # no frame to check results in (or another format version, whose fields may differ)
    # results with schema errors are not checked further; every other result still is
    broken = {path[1] for _, path in schema_errors if len(path) > 1 and path[0] == "results"}
    if obj.get("protocol") != PROTOCOL:
        problems.append(f"protocol {obj.get('protocol')!r} is not this lsdbench's {PROTOCOL!r}")
    slug = None
    try:
        slug = slugify(obj["encoder"].get("name", ""))
    except SubmissionError as exc:
        problems.append(str(exc))
    try:
        cards = loader.suite_cards(str(obj.get("suite")))
    except CardError as exc:
        problems.append(f"suite: {exc}")
        return report

    results = [r for r in obj["results"] if isinstance(r, dict)]
    _check_one_encoder(results, problems)
    _check_suite_complete(results, cards, obj["suite"], problems)
    entries, scores = _check_results(obj, broken, cards, loader, problems)
    if not problems:
        report.submission = ValidatedSubmission(source, obj, slug, entries, scores)
    return report


def validate_submission(obj_or_path: Any, **kwargs) -> ValidatedSubmission:
    """The validated submission, or SubmissionError listing every problem."""
    report = check_submission(obj_or_path, **kwargs)
    if not report.ok:
        raise SubmissionError(report.message(), report.problems)
    return report.submission
