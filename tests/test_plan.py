"""Plans printed before long commands: residues to encode, what the cache holds, a measured rate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lsdbench.cli import main
from lsdbench.encode import threads, throughput
from lsdbench.encode.embedding import cache_for
from lsdbench.encode.encoders import policy_for
from lsdbench.run.plan import make_plan, total_estimate

sys.path.insert(0, str(Path(__file__).parent / "data"))
from user_encoders import Composition  # noqa: E402

ENCODER = f"{Path(__file__).parent / 'data' / 'user_encoders.py'}:Composition"


@pytest.fixture
def task(mirror, session_cache):
    from lsdbench.tasks.registry import load_task

    return load_task("human_ppi_example", cache_dir=session_cache, mirror=mirror, progress=False)


def test_plan_counts_what_the_cache_lacks_and_learns_the_rate_from_the_run(task, tmp_path):
    from lsdbench.run.evaluate import evaluate_task

    enc = Composition(scale=5.0)
    plan = make_plan(enc, [task], cache_dir=tmp_path)
    unique = {s for split in task.splits.values() for s in split.all_sequences()}
    assert plan.tasks[0].sequences == len(unique)
    assert plan.residues == plan.to_encode == sum(map(len, unique))
    assert plan.rate and plan.rate_source.startswith("timed now on")
    text = plan.summary()
    assert text.startswith("plan: test_composition on 1 task:") and "human_ppi_example" in text
    assert "estimate: ~" in text and "residues/s" in text
    evaluate_task(enc, task, cache_dir=tmp_path, progress=False)
    after = make_plan(enc, [task], cache_dir=tmp_path)
    assert after.to_encode == 0 and after.residues == plan.residues
    assert "nothing to encode" in after.summary() and "nothing to encode" in after.brief()
    # the same configuration with its cache emptied (its cost record kept): the real pass's rate, no forward pass
    entry = cache_for(enc, policy_for(enc, "window"), tmp_path).dir
    for shard in entry.glob("shard-*.npz"):
        shard.unlink()
    calls = Composition.calls
    again = make_plan(Composition(scale=5.0), [task], cache_dir=tmp_path)
    assert again.to_encode == plan.residues and Composition.calls == calls  # nothing encoded to plan it
    assert again.rate == throughput.rate(entry, 1) and again.rate_source == "measured on this machine for this " \
        "configuration"
    # another configuration of the same name is not planned at this one's rate (it may cost 50x less): timed
    other = make_plan(Composition(scale=6.0), [task], cache_dir=tmp_path)
    assert other.to_encode == plan.residues and other.rate_source.startswith("timed now on")
    assert Composition.calls == calls + 1  # one small batch
    assert "~" in total_estimate([after, other])
    assert total_estimate([after]).startswith("nothing to encode")


def test_damaged_or_foreign_cost_records_are_ignored_not_believed(tmp_path):
    from lsdbench.encode import cost

    entry = tmp_path / "embeddings" / "enc" / "abc"
    entry.mkdir(parents=True)
    here = cost.machine()

    def write(machine, passes):
        (entry / cost.RECORD).write_text(json.dumps({"machine": machine, "passes": passes}))

    good = {"residues": 10_000, "seconds": 2.0, "variants": 1}
    write(here, {"t": good})
    assert throughput.rate(entry, 1) == 5000.0
    assert throughput.rate(entry, 3) is None  # a sweep pass has another rate per pass
    write(here, {"t": {**good, "threads": 4}})  # torch ran with 4 threads then
    assert throughput.rate(entry, 1, threads=4) == 5000.0 and throughput.rate(entry, 1, threads=1) is None
    write({**here, "cores": here["cores"] + 7}, {"t": good})  # measured on another machine
    assert throughput.rate(entry, 1) is None
    for bad in ({"residues": "many", "seconds": 2.0, "variants": 1}, {"residues": 10_000, "seconds": -1, "variants": 1},
                {"residues": 10, "seconds": 1.0, "variants": 1}, {"residues": True, "seconds": 1.0, "variants": 1}):
        write(here, {"t": bad})  # text, negative time, a pass too short to mean anything, a boolean
        assert throughput.rate(entry, 1) is None, bad
    (entry / cost.RECORD).write_text("[not json")
    assert throughput.rate(entry, 1) is None


def test_eval_prints_its_plan_before_the_results(tmp_path, monkeypatch, capsys, mirror):
    monkeypatch.chdir(tmp_path)
    code = main(["eval", "--encoder", ENCODER, "--encoder-opt", "scale=7", "--task", "human_ppi_example", "--quiet",
                 "--no-save"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("plan: test_composition on 1 task:") and "estimate:" in out
    assert out.index("estimate:") < out.index("| encoder") and err == ""


def test_thread_count_comes_from_the_option_the_environment_or_the_cpus_available(tmp_path, monkeypatch):
    quota = tmp_path / "cgroup"
    quota.mkdir()
    (quota / "cpu.max").write_text("max 100000\n")
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert threads.available_cpus(quota) == 4  # no quota: the affinity mask
    (quota / "cpu.max").write_text("150000 100000\n")  # a container allowed 1.5 CPUs
    assert threads.available_cpus(quota) == 2
    monkeypatch.setattr(threads, "CGROUP", quota)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.chosen() == (2, "the CPUs available to this process")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.chosen() == (1, "OMP_NUM_THREADS")
    threads.set_threads(3)
    try:
        assert threads.chosen() == (3, "--threads")
    finally:
        threads.set_threads(None)


def test_plan_only_prints_the_threads_it_assumes_and_threads_must_be_a_count(tmp_path, monkeypatch, capsys, mirror):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--encoder", ENCODER, "--encoder-opt", "scale=9", "--task", "human_ppi_example", "--quiet",
                 "--plan-only", "--threads", "1"]) == 0
    assert "1 torch thread (--threads)" in capsys.readouterr().out
    assert threads.chosen()[1] != "--threads"  # the option held for that command only
    with pytest.raises(SystemExit):
        main(["eval", "--encoder", ENCODER, "--plan-only", "--threads", "0"])
    assert "'0' is not a whole number of at least 1" in capsys.readouterr().err
