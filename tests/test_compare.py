"""``lsdbench compare``: paired tests of result files (and folders) through the real CLI.

Result files are complete ``lsdbench-result-1`` objects (checked by ``results.validate_result``) with
synthetic predictions; every p-value, adjusted p and verdict printed is checked against
``lsdbench.stats`` and scipy.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as ss

from lsdbench import PROTOCOL, __version__, stats
from lsdbench.cli import main
from lsdbench.metrics.registry import score_predictions
from lsdbench.results.result import result_filename, validate_result, write_result

N = 200
RESAMPLES = "2000"  # batched resampling: fast, and enough for stable verdicts on these effect sizes


def hash_of(text: str) -> str:
    return "sha256:" + (text * 64)[:64]


def make_result(encoder: str, task: str, task_type: str, metric: str, y_true, y_pred, y_score=None, *,
                config=None, probe="linear", test_hash=None) -> dict:
    """A valid result with one seed of test predictions; claimed scores are what they give."""
    seed = {"seed": 0, "y_pred": [float(v) if task_type == "regression" else int(v) for v in y_pred]}
    if y_score is not None:
        seed["y_score"] = [float(v) for v in y_score]
    y_true = [float(v) if task_type == "regression" else int(v) for v in y_true]
    score = score_predictions(task_type, metric, y_true, [seed])
    result = {
        "schema": "lsdbench-result-1", "lsdbench_version": __version__, "protocol": PROTOCOL,
        "encoder": {"name": encoder, "spec": encoder, "config": dict(config or {}), "dim": 8,
                    "long_sequences": {"policy": "window", "max_length": None, "overlap": 0}},
        "task": {"name": task, "version": "1", "type": task_type, "primary_metric": metric,
                 "split_hashes": {"train": hash_of("1"), "valid": hash_of("2"), "test": test_hash or hash_of("3")},
                 "sizes": {"train": 10, "valid": 10, "test": len(y_true)}},
        "probe": {"name": probe, "params": {}, "selected": {"alpha": 1.0}, "seeds": [0]},
        "scores": {"valid": {metric: score}, "test": {metric: score}},
        "test_std": {metric: 0.0},
        "test_ci": {"metric": metric, "low": score - 0.05, "high": score + 0.05, "level": 0.95,
                    "n_resamples": 1000, "seed": 0},
        "per_seed": [{"seed": 0, "selected": {"alpha": 1.0}, "valid": {metric: score}, "test": {metric: score}}],
        "timings": {"embed_s": 0.1, "fit_s": 0.1},
        "environment": {"python": "3", "platform": "test"},
        "predictions": {"ids": [f"{task}-{i}" for i in range(len(y_true))], "y_true": y_true, "per_seed": [seed]},
    }
    return validate_result(result)


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    """Three encoders on a regression and a binary task, one folder each:
    'good' (strong), 'twin' (good with a few items changed: indistinguishable), 'weak'."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=N)
    yc = rng.integers(0, 2, N)
    good_reg = y + 0.3 * rng.normal(size=N)
    twin_reg = good_reg.copy()
    twin_reg[:3] += 1.0
    weak_reg = y + 2.0 * rng.normal(size=N)
    good_cls = np.where(rng.random(N) < 0.9, yc, 1 - yc)
    twin_cls = good_cls.copy()
    twin_cls[:3] = 1 - twin_cls[:3]
    weak_cls = np.where(rng.random(N) < 0.6, yc, 1 - yc)
    out = {}
    for name, reg, cls in (("good", good_reg, good_cls), ("twin", twin_reg, twin_cls), ("weak", weak_reg, weak_cls)):
        folder = tmp_path / name
        for res in (make_result(name, "stability", "regression", "spearman", y, reg),
                    make_result(name, "solubility", "binary", "accuracy", yc, cls)):
            write_result(folder / result_filename(name, {}, res["task"]["name"], "linear"), res)
        (folder / "summary.json").write_text(json.dumps({"not": "a result"}))  # skipped in folders
        out[name] = folder
    return out


def one(folder: Path, task: str) -> Path:
    (path,) = folder.glob(f"*__{task}__*.json")
    return path


def run_compare(capsys, *argv) -> tuple[int, str, str]:
    code = main(["compare", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_folders_give_one_table_per_task_with_holm_and_verdicts(folders, tmp_path, capsys):
    out_json = tmp_path / "cmp.json"
    code, out, err = run_compare(capsys, folders["good"], folders["twin"], folders["weak"],
                                 "--n-resamples", RESAMPLES, "--json", out_json)
    assert code == 0, err
    # one table per task, each with the columns the issue asks for
    assert out.count("## ") == 2 and "## solubility: accuracy (higher is better)" in out
    assert "## stability: spearman (higher is better), probe linear, 200 test items" in out
    for column in ("delta", "95% CI", "| p ", "adjusted p", "verdict"):
        assert column in out
    assert "Holm-Bonferroni over all 4 comparisons" in out and "alpha = 0.05" in out

    tables = json.loads(out_json.read_text())
    assert sorted(tables) == ["solubility", "stability"]
    rows = [r for task in tables for r in tables[task]]
    # the first folder given is the reference A; B in the order given
    assert [(r["task"], r["a"], r["b"]) for r in rows] == [
        ("solubility", "good", "twin"), ("solubility", "good", "weak"),
        ("stability", "good", "twin"), ("stability", "good", "weak")]
    # the family is all four comparisons, Holm-adjusted together
    np.testing.assert_allclose([r["p_adjusted"] for r in rows], stats.holm([r["p_value"] for r in rows]))
    verdicts = {(r["task"], r["b"]): r["verdict"] for r in rows}
    assert verdicts == {("stability", "twin"): "not distinguishable", ("stability", "weak"): "better",
                        ("solubility", "twin"): "not distinguishable", ("solubility", "weak"): "better"}
    for r in rows:
        assert r["ci_low"] <= r["delta"] <= r["ci_high"] and r["n_comparisons"] == 4
        assert r["source_a"].startswith(str(folders["good"]))
        # the printed row carries the same numbers
        assert f"| {r['a']} " in out and f"{r['delta']:+.4f}" in out
    # the delta is the difference of the recomputed primary metrics
    sol = {r["b"]: r for r in tables["solubility"]}
    good = json.loads(one(folders["good"], "solubility").read_text())
    weak = json.loads(one(folders["weak"], "solubility").read_text())
    assert sol["weak"]["delta"] == pytest.approx(good["scores"]["test"]["accuracy"] - weak["scores"]["test"]["accuracy"])


def test_worse_verdict_and_reference_by_name(folders, capsys, tmp_path):
    out_json = tmp_path / "cmp.json"
    files = [one(folders["weak"], "stability"), one(folders["good"], "stability")]
    code, out, err = run_compare(capsys, *files, "--n-resamples", RESAMPLES, "--json", out_json)
    assert code == 0, err
    (row,) = json.loads(out_json.read_text())["stability"]
    assert (row["a"], row["b"], row["verdict"]) == ("weak", "good", "worse") and row["delta"] < 0
    # the reference chosen by name turns the same pair around
    code, out, err = run_compare(capsys, *files, "--reference", "good", "--n-resamples", RESAMPLES,
                                 "--json", out_json)
    assert code == 0, err
    (row,) = json.loads(out_json.read_text())["stability"]
    assert (row["a"], row["b"], row["verdict"]) == ("good", "weak", "better")
    # a single comparison: the adjusted p is the p-value itself
    assert row["p_adjusted"] == pytest.approx(row["p_value"])
    code, _, err = run_compare(capsys, *files, "--reference", "esm2", "--n-resamples", "10")
    assert code == 2 and "reference 'esm2' matches none of the results" in err


def test_different_split_hashes_are_a_clear_error(tmp_path, capsys):
    rng = np.random.default_rng(1)
    y = rng.normal(size=50)
    a = make_result("esm2", "stability", "regression", "spearman", y, y + rng.normal(size=50))
    b = make_result("aac", "stability", "regression", "spearman", y, y + rng.normal(size=50),
                    test_hash=hash_of("9"))
    pa, pb = write_result(tmp_path / "a.json", a), write_result(tmp_path / "b.json", b)
    code, out, err = run_compare(capsys, pa, pb, "--n-resamples", "10")
    assert code == 2 and out == ""
    line = err.strip()
    assert line.startswith("lsdbench: error: cannot compare") and "\n" not in line  # one line, no traceback
    assert "different test splits" in line and "a.json" in line and "b.json" in line
    assert hash_of("3") in line and hash_of("9") in line


def test_mcnemar_permutation_and_bh_options(folders, tmp_path, capsys):
    out_json = tmp_path / "cmp.json"
    files = [one(folders[n], "solubility") for n in ("good", "twin", "weak")]
    code, out, err = run_compare(capsys, *files, "--method", "mcnemar", "--correction", "bh",
                                 "--n-resamples", RESAMPLES, "--json", out_json)
    assert code == 0, err
    assert "exact McNemar test" in out and "Benjamini-Hochberg" in out
    rows = json.loads(out_json.read_text())["solubility"]
    good = json.loads(files[0].read_text())["predictions"]
    y = np.array(good["y_true"])
    correct_a = np.array(good["per_seed"][0]["y_pred"]) == y
    for row, path in zip(rows, files[1:], strict=True):
        other = np.array(json.loads(path.read_text())["predictions"]["per_seed"][0]["y_pred"]) == y
        k, m = int(np.sum(correct_a & ~other)), int(np.sum(correct_a != other))
        assert row["p_value"] == pytest.approx(ss.binomtest(k, m, 0.5).pvalue, rel=1e-12)
    np.testing.assert_allclose([r["p_adjusted"] for r in rows],
                               ss.false_discovery_control([r["p_value"] for r in rows], method="bh"))
    assert [r["verdict"] for r in rows] == ["not distinguishable", "better"]

    code, out, err = run_compare(capsys, *files, "--method", "permutation", "--n-resamples", RESAMPLES,
                                 "--json", out_json)
    assert code == 0, err
    assert "paired permutation test" in out
    rows = json.loads(out_json.read_text())["solubility"]
    assert [r["method"] for r in rows] == ["permutation"] * 2
    assert [r["verdict"] for r in rows] == ["not distinguishable", "better"]

    # McNemar is for accuracy only: a clear error on a Spearman task
    reg = [one(folders[n], "stability") for n in ("good", "weak")]
    code, _, err = run_compare(capsys, *reg, "--method", "mcnemar", "--n-resamples", "10")
    assert code == 2 and "McNemar's test compares accuracies" in err


def test_bad_inputs_are_one_line_errors(folders, tmp_path, capsys):
    code, _, err = run_compare(capsys, one(folders["good"], "stability"), "--n-resamples", "10")
    assert code == 2 and "need at least two result files to compare, found 1" in err
    code, _, err = run_compare(capsys, tmp_path / "missing.json", one(folders["good"], "stability"))
    assert code == 2 and "no such file or folder" in err
    broken = json.loads(one(folders["good"], "stability").read_text())
    del broken["predictions"]["y_true"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken))
    code, _, err = run_compare(capsys, bad, one(folders["weak"], "stability"))
    assert code == 2 and str(bad) in err and "y_true" in err
    # results of different tasks only: nothing to compare
    code, _, err = run_compare(capsys, one(folders["good"], "stability"), one(folders["weak"], "solubility"))
    assert code == 2 and "no two results share a task and probe" in err


def submission_of(folder: Path, name: str, out: Path) -> Path:
    """A submission file holding the folder's results unchanged, as `lsdbench submit` writes them."""
    from lsdbench.leaderboard.submission import make_submission, write_submission

    results = [json.loads(p.read_text()) for p in sorted(folder.glob("*__*.json"))]
    sub = make_submission(results, suite="open", name=name, meta={"parameters": 0, "training_data": "none",
                                                                  "licence": "MIT", "link": "https://example.org"})
    return write_submission(sub, out)


def test_submission_files_and_folders_are_results_and_the_first_argument_is_a(folders, tmp_path, capsys):
    subs = tmp_path / "submissions"
    good = submission_of(folders["good"], "Good", subs / "good.open.json")
    submission_of(folders["weak"], "Weak", subs / "weak.open.json")
    out_json = tmp_path / "cmp.json"
    # a submission file against a folder of results: the submission is A, whatever the names sort as
    code, out, err = run_compare(capsys, folders["twin"], good, "--n-resamples", "200", "--json", out_json)
    assert code == 0, err
    assert out.startswith(f"reference (A): twin from {folders['twin']}")
    rows = [r for rows in json.loads(out_json.read_text()).values() for r in rows]
    assert {(r["a"], r["b"]) for r in rows} == {("twin", "good")}
    # --reference as a path moves it first; a folder of submissions is read like a folder of results
    code, out, err = run_compare(capsys, subs, "--reference", str(good), "--n-resamples", "200", "--json", out_json)
    assert code == 0, err
    assert f"reference (A): good from {good}" in out
    rows = [r for rows in json.loads(out_json.read_text()).values() for r in rows]
    assert {(r["a"], r["b"]) for r in rows} == {("good", "weak")} and len(rows) == 2
    assert rows[0]["source_a"].startswith(str(good))


def test_a_first_argument_with_several_encoders_is_refused_not_guessed(folders, tmp_path, capsys):
    both = tmp_path / "both"
    for name in ("good", "weak"):
        for p in folders[name].glob("*__*.json"):
            (both / name).mkdir(parents=True, exist_ok=True)
            (both / name / p.name).write_text(p.read_text())
    code, out, err = run_compare(capsys, both, "--n-resamples", "10")
    assert code != 0 and out == ""
    assert "holds 2 results on" in err and "the first argument is the reference (A)" in err and "--reference" in err
    code, out, err = run_compare(capsys, both, "--reference", "weak", "--n-resamples", "10")
    assert code == 0, err
    assert "reference (A): weak (named by --reference weak)" in out


def test_tasks_only_one_side_has_and_mcnemar_on_regression_are_noted_not_fatal(folders, capsys, tmp_path):
    out_json = tmp_path / "cmp.json"
    code, out, err = run_compare(capsys, folders["good"], one(folders["weak"], "solubility"), "--n-resamples", "10",
                                 "--json", out_json)
    assert code == 0, err
    assert "note: skipped stability (linear): only" in out
    code, out, err = run_compare(capsys, folders["good"], folders["weak"], "--method", "mcnemar",
                                 "--n-resamples", "10", "--json", out_json)
    assert code == 0, err
    assert list(json.loads(out_json.read_text())) == ["solubility"]
    assert "note: skipped stability (linear): McNemar's test compares accuracies" in out
    assert "over the one comparison" in out
    # the reference lacks a task the others have
    code, out, err = run_compare(capsys, one(folders["good"], "solubility"), folders["weak"], folders["twin"],
                                 "--n-resamples", "10")
    assert code == 0, err
    assert "note: skipped stability (linear): the reference" in out and "has no result on it" in out


def test_compare_from_python_gives_tables_with_a_dataframe(folders):
    from lsdbench import compare

    tables = compare([folders["good"], folders["weak"]], n_resamples=50)
    assert sorted(tables) == ["solubility", "stability"]  # still a dict of rows
    assert "## solubility" in str(tables) and tables.reference.startswith("good from")
    assert str(tables).startswith("reference (A): good from")  # printed as the command prints it
    partial = compare([one(folders["good"], "solubility"), folders["weak"]], n_resamples=50)
    assert "note: skipped stability (linear): the reference" in str(partial)
    frame = tables.to_dataframe()
    assert list(frame["b"]) == ["weak", "weak"] and {"delta", "p_adjusted", "verdict"} <= set(frame.columns)


def _rows(tables) -> dict[tuple[str, str], dict]:
    return {(r["task"], r["b"]): r for rows in tables.values() for r in rows}


def test_a_family_fixed_by_the_question_gives_a_pair_the_same_verdict_whatever_else_is_passed(folders, capsys,
                                                                                                  tmp_path):
    from lsdbench import compare

    alone = _rows(compare([folders["good"], folders["twin"]], n_resamples=500, family="pair"))
    crowd = compare([folders["good"], folders["twin"], folders["weak"]], n_resamples=500, family="pair")
    rows = _rows(crowd)
    for key, r in alone.items():  # good vs twin: its own family of its two tasks, whoever else came along
        assert (rows[key]["p_adjusted"], rows[key]["verdict"]) == (r["p_adjusted"], r["verdict"])
        assert rows[key]["n_comparisons"] == 2 and rows[key]["family"] == "pair"
    twin = [rows["solubility", "twin"], rows["stability", "twin"]]
    np.testing.assert_allclose([r["p_adjusted"] for r in twin], stats.holm([r["p_value"] for r in twin]))
    assert "each A-vs-B pair of encoders (its tasks), a family of 2 (--family pair)" \
        in " ".join(str(crowd).split())
    called = _rows(compare([folders["good"], folders["twin"], folders["weak"]], n_resamples=500))  # default: all
    assert all(r["n_comparisons"] == 4 and r["family"] == "all" for r in called.values())
    by_task = _rows(compare([folders["good"], folders["twin"], folders["weak"]], n_resamples=500, family="task"))
    for task in ("solubility", "stability"):
        pair = [by_task[task, "twin"], by_task[task, "weak"]]
        np.testing.assert_allclose([r["p_adjusted"] for r in pair], stats.holm([r["p_value"] for r in pair]))


def test_a_declared_family_size_corrects_as_if_the_family_were_complete(folders, capsys, tmp_path):
    out_json = tmp_path / "cmp.json"
    code, out, err = run_compare(capsys, folders["good"], folders["twin"], folders["weak"], "--n-resamples", "500",
                                 "--family-size", "10", "--json", out_json)
    assert code == 0, err
    rows = [r for rows in json.loads(out_json.read_text()).values() for r in rows]
    p = [r["p_value"] for r in rows]
    np.testing.assert_allclose([r["p_adjusted"] for r in rows], stats.holm(p + [1.0] * 6)[:4])
    assert all(r["family_size"] == 10 for r in rows)
    assert "declared as a family of 10 (--family-size 10;" in " ".join(out.split())
    code, out, err = run_compare(capsys, folders["good"], folders["twin"], folders["weak"], "--family-size", "3")
    assert code != 0 and err.strip().count("\n") == 0
    assert "lsdbench: error: family size (--family-size) 3 is smaller than the 4 comparisons" in err
    with pytest.raises(SystemExit):  # argparse refuses it, with a usage line
        run_compare(capsys, folders["good"], folders["twin"], "--family-size", "0")
    assert "'0' is not a whole number of at least 1" in capsys.readouterr().err
