"""The probe-outcome cache: a re-evaluation fits nothing and returns the same result; bad entries are refitted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lsdbench import evaluate as evaluate_module
from lsdbench.probe import cache as probe_cache
from lsdbench.run.evaluate import evaluate

DATA = Path(__file__).parent / "data"
TASKS = ["human_ppi_example", "binary_localization_small"]


def comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("timings", "cost")}  # both differ between runs


def count_fits(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = evaluate_module.fit_and_score

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "fit_and_score", counted)
    return calls


def test_second_evaluation_fits_no_probe_and_returns_identical_results(tmp_path, monkeypatch, composition):
    fits = count_fits(monkeypatch)
    first = evaluate(composition(), TASKS, cache_dir=tmp_path, progress=False)
    assert len(fits) == len(TASKS)
    assert not any(r["timings"]["probe_reused"] for r in first)
    assert probe_cache.count(tmp_path)[0] == len(TASKS)

    composition.calls = 0
    second = evaluate(composition(), TASKS, cache_dir=tmp_path, progress=False)
    assert len(fits) == len(TASKS), "a cached re-evaluation fitted a probe"
    assert composition.calls == 0, "a cached re-evaluation ran a forward pass"
    assert all(r["timings"]["probe_reused"] for r in second)
    assert [comparable(r) for r in first] == [comparable(r) for r in second]

    refit = evaluate(composition(), TASKS, cache_dir=tmp_path, progress=False, reuse_probe=False)
    assert len(fits) == 2 * len(TASKS)
    assert [comparable(r) for r in refit] == [comparable(r) for r in first]  # the fit is deterministic


def test_anything_the_probe_sees_changes_the_key(tmp_path, monkeypatch, composition):
    fits = count_fits(monkeypatch)
    evaluate(composition(), TASKS[:1], cache_dir=tmp_path, progress=False)
    evaluate(composition(scale=2.0), TASKS[:1], cache_dir=tmp_path, progress=False)  # other features
    evaluate(composition(), TASKS[:1], cache_dir=tmp_path, progress=False, probe_params={"grid": [0.1, 1.0]})
    evaluate(composition(), TASKS[:1], cache_dir=tmp_path, progress=False, probe="mlp", seeds=[0])
    assert len(fits) == 4
    assert probe_cache.count(tmp_path)[0] == 4


def test_key_covers_features_labels_and_probe():
    import numpy as np

    X = {"train": np.ones((4, 3), np.float32), "test": np.zeros((2, 3), np.float32)}
    y = {"train": np.array([0, 1, 0, 1]), "test": np.array([0, 1])}
    base = dict(probe="linear", probe_params=None, seeds=None, n_classes=2)
    key = probe_cache.outcome_key("binary", "accuracy", X, y, ["a", "b"], **base)
    assert key == probe_cache.outcome_key("binary", "accuracy", X, y, ["a", "b"], **base)
    X2 = {**X, "train": X["train"].copy()}
    X2["train"][0, 0] = np.nextafter(np.float32(1), np.float32(2))  # one ulp in one feature
    y2 = {**y, "test": np.array([1, 0])}
    others = [probe_cache.outcome_key("binary", "accuracy", X2, y, ["a", "b"], **base),
              probe_cache.outcome_key("binary", "accuracy", X, y2, ["a", "b"], **base),
              probe_cache.outcome_key("binary", "accuracy", X, y, ["b", "a"], **base),
              probe_cache.outcome_key("binary", "auroc", X, y, ["a", "b"], **base),
              probe_cache.outcome_key("binary", "accuracy", X, y, ["a", "b"], **{**base, "seeds": [1]})]
    assert len({key, *others}) == 6


def _edit(data: dict, damage: str) -> None:
    """Edits that keep the entry valid JSON of the right shape but make it lie (issue 14)."""
    out = data["outcome"]
    metric = out["primary_metric"]
    if damage == "inflated":
        out["test"][metric] = 0.999
        out["per_seed"][0]["test"][metric] = 0.999
    elif damage == "foreign_ids":
        out["test_ids"] = [f"other-{i}" for i in range(len(out["test_ids"]))]
    elif damage == "foreign_labels":
        out["y_true"] = [1 - y for y in out["y_true"]]
    elif damage == "nan":
        out["valid"][metric] = float("nan")
    elif damage == "inf_score":  # deep in a list of thousands of numbers, which are checked as arrays
        out["predictions"][0]["y_score"][-1] = float("inf")
    elif damage == "ci":
        out["ci"] = [0.98, 0.999]


@pytest.mark.parametrize("damage", ["truncate", "foreign_key", "not_json", "missing_field", "inflated",
                                    "foreign_ids", "foreign_labels", "nan", "inf_score", "ci"])
def test_a_damaged_entry_is_reported_deleted_and_refitted(tmp_path, monkeypatch, composition, caplog, damage):
    [first] = evaluate(composition(), TASKS[:1], cache_dir=tmp_path, progress=False)
    [entry] = (tmp_path / "probes").glob("*/*.json")
    text = entry.read_text()
    if damage == "truncate":
        entry.write_text(text[: len(text) // 2])
    elif damage == "foreign_key":
        data = json.loads(text)
        data["key"] = "0" * 64
        entry.write_text(json.dumps(data))
    elif damage == "missing_field":
        data = json.loads(text)
        data["outcome"]["per_seed"] = []
        entry.write_text(json.dumps(data))
    elif damage == "not_json":
        entry.write_bytes(b"\x80\x04\x95 not json")  # e.g. a pickle dropped in: never loaded as one
    else:
        data = json.loads(text)
        _edit(data, damage)
        entry.write_text(json.dumps(data))  # NaN is written as JSON's non-standard NaN token
    fits = count_fits(monkeypatch)
    with caplog.at_level("WARNING"):
        [again] = evaluate(composition(), TASKS[:1], cache_dir=tmp_path, progress=False)
    assert len(fits) == 1
    assert str(entry) in caplog.text and "fitted again" in caplog.text
    assert comparable(again) == comparable(first)
    assert json.loads(entry.read_text())["key"] == entry.stem  # rewritten whole


def test_an_unwritable_probe_cache_costs_a_refit_not_the_result(tmp_path, composition, caplog):
    (tmp_path / "probes").write_text("a file where the cache folder should be")
    with caplog.at_level("WARNING"):
        [result] = evaluate(composition(), TASKS[:1], cache_dir=tmp_path, progress=False)
    assert result["timings"]["probe_reused"] is False
    assert "could not write the probe cache entry" in caplog.text and "probes" in caplog.text


def test_cli_refit_and_cache_clear(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "LSDBENCH_CACHE_DIR": str(tmp_path)}
    enc = f"{DATA / 'user_encoders.py'}:Composition"

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "lsdbench", *args], capture_output=True, text=True, env=env,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    cli("eval", "--encoder", enc, "--task", TASKS[1], "--out", str(tmp_path / "a"), "--quiet")
    cli("eval", "--encoder", enc, "--task", TASKS[1], "--out", str(tmp_path / "b"), "--quiet", "--refit")
    [a], [b] = (list((tmp_path / d).glob("*.json")) for d in "ab")
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert rb["timings"]["probe_reused"] is False and comparable(ra) == comparable(rb)
    assert "1 probe outcome (" in cli("cache", "info")
    assert "removed 1 cached probe outcome" in cli("cache", "clear")
    assert probe_cache.count(tmp_path) == (0, 0)
