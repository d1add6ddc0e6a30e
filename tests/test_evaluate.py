"""End to end on real task data: a user's encoder file through the CLI, the cache, kill-and-resume, torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import StandardScaler

from lsdbench.results.result import read_result
from lsdbench.run.evaluate import evaluate

DATA = Path(__file__).parent / "data"
AMINO = "ACDEFGHIKLMNPQRSTVWY"


def run_cli(*args, env=None, check=True, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "lsdbench", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"lsdbench {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def comparable(result: dict) -> dict:
    """A result without what legitimately differs between runs (timings, and the cost of encoding)."""
    return {k: v for k, v in result.items() if k not in ("timings", "cost")}


def test_aac_linear_equals_an_independent_sklearn_pipeline(open_tasks, tmp_path):
    """The harness's number, to the last digit, from a pipeline written here without lsdbench."""
    task = open_tasks["metal_ion_binding"]
    [result] = evaluate("aac", ["metal_ion_binding"], cache_dir=tmp_path, progress=False)

    def aac(seq):
        counts = Counter(seq)
        return [counts[a] / len(seq) for a in AMINO]

    X = {s: np.array([aac(q) for q in task.splits[s].sequences], dtype=np.float32) for s in ("train", "valid", "test")}
    y = {s: task.splits[s].labels for s in X}
    scaler = StandardScaler().fit(X["train"].astype(np.float64))
    Xs = {s: scaler.transform(X[s].astype(np.float64)) for s in X}
    model = LogisticRegression(max_iter=2000, tol=1e-6, warm_start=True)
    best = (-1.0, None, None)
    for C in np.logspace(-4, 2, 7):  # strongest regularization first, each fit warm-started
        model.set_params(C=C).fit(Xs["train"], y["train"])
        acc = accuracy_score(y["valid"], model.predict(Xs["valid"]))
        if acc > best[0]:  # ties keep the stronger regularization
            best = (acc, C, model.predict(Xs["test"]))
    valid_acc, best_C, test_pred = best
    assert result["probe"]["selected"] == {"C": float(best_C)}
    assert result["scores"]["valid"]["accuracy"] == valid_acc
    assert result["scores"]["test"]["accuracy"] == accuracy_score(y["test"], test_pred)
    assert result["predictions"]["per_seed"][0]["y_pred"] == test_pred.tolist()
    assert result["predictions"]["ids"] == task.splits["test"].ids
    assert result["task"]["split_hashes"] == task.split_hashes()


def test_user_encoder_file_outside_the_package_runs_from_the_cli(tmp_path):
    enc = tmp_path / "elsewhere" / "my_encoder.py"
    enc.parent.mkdir()
    shutil.copy(DATA / "user_encoders.py", enc)
    out = tmp_path / "results"
    proc = run_cli("eval", "--encoder", f"{enc}:Composition", "--encoder-opt", "scale=2",
                   "--task", "human_ppi_example", "--task", "binary_localization_small", "--out", str(out), "--quiet")
    files = sorted(out.glob("*.json"))
    assert len(files) == 2
    results = [read_result(f) for f in files]  # validates against the schema
    assert {r["task"]["name"] for r in results} == {"human_ppi_example", "binary_localization_small"}
    assert all(r["encoder"]["config"] == {"scale": 2.0} for r in results)
    pair = next(r for r in results if r["task"]["name"] == "human_ppi_example")
    assert pair["encoder"]["dim"] == 21  # pair features are 3 x 21 wide, the encoder's dim is recorded
    assert "test_composition" in proc.stdout and "human_ppi_example" in proc.stdout


def test_bad_encoder_fails_the_cli_with_a_named_error(tmp_path):
    proc = run_cli("eval", "--encoder", f"{DATA / 'user_encoders.py'}:Broken", "--task", "human_ppi_example",
                   "--out", str(tmp_path / "out"), "--quiet", check=False)
    assert proc.returncode != 0
    assert "test_broken" in proc.stderr and "human_ppi_example" in proc.stderr and "NaN" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "out").glob("*.json")) if (tmp_path / "out").exists() else True


def test_second_evaluation_runs_no_forward_pass(tmp_path):
    sys.path.insert(0, str(DATA))
    try:
        import user_encoders
    finally:
        sys.path.remove(str(DATA))
    user_encoders.Composition.calls = 0
    first = evaluate(user_encoders.Composition(), ["human_ppi_example", "binary_localization_small"],
                     cache_dir=tmp_path, progress=False)
    assert user_encoders.Composition.calls > 0
    user_encoders.Composition.calls = 0
    second = evaluate(user_encoders.Composition(), ["human_ppi_example", "binary_localization_small"],
                      cache_dir=tmp_path, progress=False)
    assert user_encoders.Composition.calls == 0
    assert [comparable(r) for r in first] == [comparable(r) for r in second]


def test_killed_run_leaves_no_partial_results_and_resumes(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "out"
    enc = f"{DATA / 'user_encoders.py'}:Composition"
    env = {"LSDBENCH_CACHE_DIR": str(cache)}
    killed = run_cli("eval", "--encoder", enc, "--encoder-opt", "die_after=2500", "--task", "metal_ion_binding",
                     "--out", str(out), "--quiet", env=env, check=False)
    assert killed.returncode == 9
    assert not out.exists() or not any(out.iterdir())  # no result, not even a temporary file
    shards = list(cache.rglob("*.npz"))
    assert shards, "the cache should hold the batches embedded before the kill"
    run_cli("eval", "--encoder", enc, "--task", "metal_ion_binding", "--out", str(out), "--quiet", env=env)
    [resumed] = [read_result(f) for f in out.glob("*.json")]
    fresh_out = tmp_path / "fresh"
    run_cli("eval", "--encoder", enc, "--task", "metal_ion_binding", "--out", str(fresh_out), "--quiet",
            env={"LSDBENCH_CACHE_DIR": str(tmp_path / "cache2")})
    [fresh] = [read_result(f) for f in fresh_out.glob("*.json")]
    assert comparable(resumed) == comparable(fresh)


def test_torchrun_two_processes_give_the_single_process_result(tmp_path):
    enc = f"{DATA / 'user_encoders.py'}:Composition"
    one = tmp_path / "one"
    run_cli("eval", "--encoder", enc, "--task", "human_ppi_example", "--task", "binary_localization_small",
            "--out", str(one), "--quiet", env={"LSDBENCH_CACHE_DIR": str(tmp_path / "c1")})
    two = tmp_path / "two"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "lsdbench", "eval", "--encoder", enc, "--task", "human_ppi_example",
                           "--task", "binary_localization_small", "--out", str(two), "--quiet"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LSDBENCH_CACHE_DIR": str(tmp_path / "c2"), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = {f.name: comparable(read_result(f)) for f in one.glob("*.json")}
    b = {f.name: comparable(read_result(f)) for f in two.glob("*.json")}
    assert len(a) == 2 and a == b
    # both ranks wrote shards of the cache: rank 1 did real work
    assert len(list((tmp_path / "c2").rglob("*.npz"))) >= 2


def test_torchrun_shards_of_a_batched_reference_encoder_agree_to_float_rounding(tmp_path):
    """A batched neural encoder sees other batch compositions on each rank: its embeddings may differ in the
    last bits (matmul and attention summation order), never by more than float rounding."""
    from reference_models.evaluation.encoders import CHECKPOINTS

    if not (CHECKPOINTS / "mlm" / "model.safetensors").is_file():
        pytest.skip("no committed mlm checkpoint")
    from lsdbench.encode.cache import sequence_key
    from lsdbench.encode.embedding import cache_for
    from lsdbench.encode.encoders import policy_for, resolve
    from lsdbench.tasks import registry

    args = ["-m", "lsdbench", "eval", "--encoder", "mlm", "--task", "human_ppi_example", "--quiet"]
    run_cli(*args[2:], "--out", str(tmp_path / "one"), env={"LSDBENCH_CACHE_DIR": str(tmp_path / "c1")})
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args,
                           "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "LSDBENCH_CACHE_DIR": str(tmp_path / "c2"), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    encoder = resolve("mlm")
    seqs = sorted({s for split in registry.load_task("human_ppi_example", progress=False).splits.values()
                   for s in split.all_sequences()})
    keys = [sequence_key(s) for s in seqs]
    single, sharded = (cache_for(encoder, policy_for(encoder), tmp_path / c).get(keys) for c in ("c1", "c2"))
    assert single.shape == sharded.shape == (len(seqs), 128)
    np.testing.assert_allclose(sharded, single, rtol=1e-5, atol=1e-6)
    [one], [two] = (list((tmp_path / d).glob("*.json")) for d in ("one", "two"))
    assert read_result(one)["task"] == read_result(two)["task"]


def test_results_json_is_plain_and_complete(tmp_path):
    [result] = evaluate("aac", ["human_ppi_example"], cache_dir=tmp_path, progress=False, out_dir=tmp_path / "r")
    text = next((tmp_path / "r").glob("*.json")).read_text()
    obj = json.loads(text)
    assert obj["protocol"] == "lsdbench-probe-1" and obj["schema"] == "lsdbench-result-1"
    assert set(obj["environment"]) >= {"python", "numpy", "sklearn"}
    assert obj["probe"]["params"]["grid"] == pytest.approx(list(np.logspace(-4, 2, 7)))


def test_python_api_names_and_result_objects(tmp_path):
    """`from lsdbench import evaluate` and `lsdbench.run.evaluate.evaluate` both work; results print as a
    table, have a DataFrame view, and are still the plain result dicts."""
    import lsdbench
    from lsdbench import Result, Results, evaluate, read_results
    from lsdbench.results.result import validate_result

    assert callable(evaluate) and lsdbench.run.evaluate.evaluate is not None
    assert callable(lsdbench.comparison.compare) and callable(lsdbench.run.sweep)
    raw = json.loads(next(Path("leaderboard/submissions").glob("aac.open.json")).read_text())["results"]
    results = Results(raw)
    assert isinstance(results[0], Result) and validate_result(results[0]) is results[0].to_json()
    assert json.loads(json.dumps(results[0].to_json())) == raw[0] == dict(results[0])  # the file's JSON, unchanged
    assert results[0].task.primary_metric == raw[0]["task"]["primary_metric"] == results[0]["task"]["primary_metric"]
    assert results[0].predictions.per_seed[0].y_pred == raw[0]["predictions"]["per_seed"][0]["y_pred"]
    assert results[0].encoder.name == "aac" and repr(results[0]).startswith("Result(aac on ")
    text = str(results)
    assert text.splitlines()[0].startswith("| encoder") and "metal_ion_binding" in text
    frame = results.to_dataframe()
    assert list(frame.columns[:6]) == ["encoder", "task", "probe", "metric", "valid", "test"]
    assert len(frame) == len(raw) and frame["test"].iloc[0] == pytest.approx(results[0].score)
    assert len(read_results("leaderboard/submissions/aac.open.json")) == len(raw)


EDITABLE_ENCODER = """
import numpy as np

class Edited:
    name = "edited_file_encoder"
    config = {{}}

    def encode(self, sequences):
        return np.stack([np.full(4, {value} + len(s) % 7, dtype=np.float32) for s in sequences])
"""


def test_edited_encoder_file_is_warned_about_and_recompute_replaces_its_embeddings(tmp_path):
    """The cache key is name + config: an edit of the file alone reuses old embeddings, said out loud;
    --recompute deletes them and computes them again."""
    from lsdbench.encode.cache import entries_of

    source = tmp_path / "edited.py"
    env = {"LSDBENCH_CACHE_DIR": str(tmp_path / "cache")}
    args = ("eval", "--encoder", f"{source}:Edited", "--task", "human_ppi_example", "--quiet")

    def smallest_cached():
        [entry] = entries_of("edited_file_encoder", {}, tmp_path / "cache")
        return min(float(np.load(p)["emb"].min()) for p in entry.glob("shard-*.npz"))

    source.write_text(EDITABLE_ENCODER.format(value=1))
    first = run_cli(*args, env=env, cwd=tmp_path)
    assert smallest_cached() == 1.0 and "modified after" not in first.stderr
    source.write_text(EDITABLE_ENCODER.format(value=100))
    later = source.stat().st_mtime + 60  # coarse file-system clocks must not hide the edit
    os.utime(source, (later, later))
    stale = run_cli(*args, env=env, cwd=tmp_path)
    assert f"encoder file {source} was modified after the cached embeddings" in stale.stderr
    assert "--recompute" in stale.stderr and smallest_cached() == 1.0  # the documented rule: reused
    fresh = run_cli(*args, "--recompute", env=env, cwd=tmp_path)
    assert "modified after" not in fresh.stderr and smallest_cached() == 100.0
