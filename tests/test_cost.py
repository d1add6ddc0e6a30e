"""Encoding cost in result files: what a real evaluation records when it encodes, when it reads the cache,
when it does some of each, and after a sweep; and that results without a cost (all committed ones) still
validate while a malformed cost does not."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from lsdbench.encode import cost
from lsdbench.encode.embedding import embed, embed_sweep
from lsdbench.results.result import ResultError, read_result, validate_result
from lsdbench.run.evaluate import evaluate
from lsdbench.tasks import registry

REPO = Path(__file__).resolve().parents[1]
TASK = "human_ppi_example"


@pytest.fixture()
def unique_sequences(mirror) -> list[str]:
    task = registry.load_task(TASK, progress=False)
    return sorted({s for split in task.splits.values() for s in split.all_sequences()})


def run(encoder, cache: Path, out: Path) -> dict:
    [result] = evaluate(encoder, [TASK], cache_dir=cache, out_dir=out, progress=False)
    [path] = out.glob("*.json")
    assert read_result(path) == json.loads(json.dumps(dict(result)))  # written, and valid against the schema
    return read_result(path)["cost"]


def test_results_record_what_encoding_cost(composition, unique_sequences, tmp_path):
    cache = tmp_path / "cache"
    residues = sum(map(len, unique_sequences))  # each distinct sequence once, both sides of the pairs
    composition.calls = 0

    first = run(composition(), cache, tmp_path / "first")
    assert composition.calls > 0
    assert first["embeddings"] == "computed" and first["residues"] == residues and first["encode_s"] >= 0
    assert first["residues_per_s"] > 0
    assert first["peak_rss_bytes"] > 50 * 2**20  # a Python process with numpy and sklearn loaded
    assert first["machine"] == cost.machine() and first["machine"]["cores"] >= 1 and first["machine"]["cpu"]
    assert "cuda_peak_bytes" not in first and "gpu" not in first["machine"]  # a CPU encoder touches no GPU
    assert "variants" not in first

    # a cached re-evaluation encodes nothing; the throughput is the pass that computed the embeddings
    composition.calls = 0
    second = run(composition(), cache, tmp_path / "second")
    assert composition.calls == 0
    assert second["embeddings"] == "cached" and second["residues"] == 0 and second["encode_s"] == 0
    # the same numbers as the run that encoded (all taken at the end of the pass): a rebuild from cache is stable
    assert {k: second[k] for k in ("residues_per_s", "peak_rss_bytes", "machine")} == \
        {k: first[k] for k in ("residues_per_s", "peak_rss_bytes", "machine")}

    # a cache without the record (written before costs were recorded): known to be cached, cost unknown
    [record] = cache.rglob(cost.RECORD)
    record.unlink()
    third = run(composition(), cache, tmp_path / "third")
    assert third == {"embeddings": "cached", "residues": 0, "encode_s": 0.0, "residues_per_s": None,
                     "peak_rss_bytes": None, "machine": None}


def test_a_partly_cached_run_counts_only_what_it_encoded(composition, unique_sequences, tmp_path):
    cache = tmp_path / "cache"
    half = unique_sequences[::2]
    embed(composition(), half, cache_dir=cache, progress=False)
    partly = run(composition(), cache, tmp_path / "out")
    assert partly["embeddings"] == "partly_cached"
    assert partly["residues"] == sum(len(s) for s in unique_sequences[1::2]) and partly["residues_per_s"] > 0


def test_a_sweep_pass_is_recorded_with_its_variants(composition, unique_sequences, tmp_path):
    cache = tmp_path / "cache"
    variants = [composition(scale=1.0), composition(scale=2.0)]
    embed_sweep(composition(), variants, [1.0, 2.0], unique_sequences, task=TASK, cache_dir=cache, progress=False)
    swept = run(composition(scale=2.0), cache, tmp_path / "out")
    # one pass filled both configurations: its rate is of both together, and the result says so
    assert swept["embeddings"] == "cached" and swept["variants"] == 2 and swept["residues_per_s"] > 0


def test_results_without_cost_still_validate_and_a_bad_cost_does_not(composition, tmp_path):
    committed = sorted((REPO / "leaderboard" / "sweep" / "results").glob("*.json"))
    has_cost = {path: "cost" in read_result(path) for path in committed}  # every file validates
    assert not all(has_cost.values()) and any(has_cost.values())  # older files lack cost, newer record it
    for path in sorted((REPO / "leaderboard" / "submissions").glob("*.json")):
        for res in json.loads(path.read_text())["results"]:
            validate_result(res, str(path))
    [result] = evaluate(composition(), [TASK], cache_dir=tmp_path, progress=False)
    good = json.loads(json.dumps(dict(result)))
    validate_result({k: v for k, v in good.items() if k != "cost"})
    bad = {"residues_per_s": 0, "residues": -1, "machine": {"cpu": "x\n", "cores": 2},
           "embeddings": "guessed", "peak_rss_bytes": 1.5, "extra": 1}
    for key, value in bad.items():
        broken = copy.deepcopy(good)
        broken["cost"][key] = value
        with pytest.raises(ResultError, match="cost"):
            validate_result(broken)
    broken = copy.deepcopy(good)
    del broken["cost"]["machine"]
    with pytest.raises(ResultError, match="machine"):
        validate_result(broken)


def test_a_broken_record_is_ignored(tmp_path):
    (tmp_path / cost.RECORD).write_text("{not json")
    assert cost.result_cost(cost.Tally(), tmp_path, TASK)["residues_per_s"] is None
    (tmp_path / cost.RECORD).write_text(json.dumps({"machine": {"cpu": "c", "cores": 2},
                                                    "passes": {TASK: {"residues": "many", "seconds": 1}}}))
    assert cost.result_cost(cost.Tally(), tmp_path, TASK)["machine"] is None
    cost.record_pass(tmp_path, TASK, 1000, 2.0, 1, {"peak_rss_bytes": 7, "machine": {"cpu": "c", "cores": 2}})
    cost.record_pass(tmp_path, TASK, 3000, 2.0, 1, {"peak_rss_bytes": 5, "machine": {"cpu": "c", "cores": 2}})
    got = cost.result_cost(cost.Tally(), tmp_path, TASK)  # a resumed pass: one rate over both parts
    assert got["residues_per_s"] == 1000.0 and got["peak_rss_bytes"] == 7
    cost.record_pass(tmp_path, TASK, 500, 1.0, 1, {"peak_rss_bytes": 9, "machine": {"cpu": "d", "cores": 4}})
    got = cost.result_cost(cost.Tally(), tmp_path, TASK)  # another machine: its pass alone
    assert got["residues_per_s"] == 500.0 and got["machine"] == {"cpu": "d", "cores": 4}


def test_a_process_that_used_cuda_records_its_gpu_and_cuda_peak(monkeypatch, tmp_path):
    """The GPU branch without a GPU: a stand-in for torch.cuda as a process that ran CUDA would see it."""
    class FakeCuda:
        @staticmethod
        def is_available():
            return True

        @staticmethod
        def is_initialized():
            return True

        @staticmethod
        def current_device():
            return 0

        @staticmethod
        def device_count():
            return 2

        @staticmethod
        def get_device_name(device):
            return "NVIDIA H200\n"  # newline dropped: one line of text

        @staticmethod
        def max_memory_allocated(device):
            return [3 * 2**30, 2**30][device]

    monkeypatch.setitem(sys.modules, "torch", type("FakeTorch", (), {"cuda": FakeCuda}))
    measured = cost.measure()
    assert measured["machine"]["gpu"] == "NVIDIA H200" and measured["cuda_peak_bytes"] == 3 * 2**30
    tally = cost.Tally()
    tally.add(4000, 2.0, 10, 0, measured)
    result = cost.result_cost(tally, tmp_path, TASK)
    assert result["cuda_peak_bytes"] == 3 * 2**30 and result["residues_per_s"] == 2000.0
    cost.record_pass(tmp_path, TASK, 4000, 2.0, 1, measured)
    assert cost.result_cost(cost.Tally(), tmp_path, TASK)["machine"]["gpu"] == "NVIDIA H200"
    monkeypatch.setattr(FakeCuda, "is_initialized", staticmethod(lambda: False))  # torch loaded, CUDA never used
    assert "gpu" not in cost.machine() and "cuda_peak_bytes" not in cost.peak_memory()
