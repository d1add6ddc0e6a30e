"""Plans printed before long commands: residues to encode, what the cache holds, a measured rate."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lsdbench.cli import main
from lsdbench.encode import throughput
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
    # another configuration has its own cache; the rate of the real pass is remembered by name
    other = make_plan(Composition(scale=6.0), [task], cache_dir=tmp_path)
    assert other.to_encode == plan.residues
    assert other.rate == throughput.rate("test_composition", 1, tmp_path)  # from the first pass's cost record
    assert other.rate_source == "measured on this machine's last run"
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
    assert throughput.rate("enc", 1, tmp_path) == 5000.0
    assert throughput.rate("enc", 3, tmp_path) is None  # a sweep pass has another rate per pass
    write({**here, "cores": here["cores"] + 7}, {"t": good})  # measured on another machine
    assert throughput.rate("enc", 1, tmp_path) is None
    for bad in ({"residues": "many", "seconds": 2.0, "variants": 1}, {"residues": 10_000, "seconds": -1, "variants": 1},
                {"residues": 10, "seconds": 1.0, "variants": 1}, {"residues": True, "seconds": 1.0, "variants": 1}):
        write(here, {"t": bad})  # text, negative time, a pass too short to mean anything, a boolean
        assert throughput.rate("enc", 1, tmp_path) is None, bad
    (entry / cost.RECORD).write_text("[not json")
    assert throughput.rate("enc", 1, tmp_path) is None


def test_eval_prints_its_plan_before_the_results(tmp_path, monkeypatch, capsys, mirror):
    monkeypatch.chdir(tmp_path)
    code = main(["eval", "--encoder", ENCODER, "--encoder-opt", "scale=7", "--task", "human_ppi_example", "--quiet",
                 "--no-save"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("plan: test_composition on 1 task:") and "estimate:" in out
    assert out.index("estimate:") < out.index("| encoder") and err == ""
