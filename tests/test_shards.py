"""Shards without a launcher (``--shard I/N``, Slurm arrays), completion markers and ``lsdbench cache verify``."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lsdbench import cli
from lsdbench.encode import shards
from lsdbench.encode.cache import EmbeddingCache, scan_entry, sequence_key
from lsdbench.encode.cache_verify import verify
from lsdbench.encode.embedding import cache_for
from lsdbench.encode.encoders import policy_for, resolve
from lsdbench.encode.shards import Shard, ShardError
from lsdbench.results.result import read_result
from lsdbench.tasks.registry import load_task

DATA = Path(__file__).parent / "data"
ENC = f"{DATA / 'user_encoders.py'}:Composition"
TASKS = ["--task", "human_ppi_example", "--task", "binary_localization_small"]
KEYS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]
LAUNCHER_VARS = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP",
                 "RANK", "WORLD_SIZE", "MASTER_ADDR")


def comparable(result: dict) -> dict:
    """What must not depend on how the cache was filled: all but the run's timings and cost records."""
    return {k: v for k, v in result.items() if k not in ("timings", "cost")}


@pytest.fixture
def no_launcher(monkeypatch):
    """An environment without Slurm array or torchrun variables (a test may set its own)."""
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_shard_values_and_their_errors():
    assert shards.parse("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3"
    assert shards.parse("none") == shards.NONE
    for bad, message in (("3/3", "does not exist"), ("-1/2", "does not exist"), ("1", "not of the form"),
                         ("a/b", "not of the form"), ("0/0", "does not exist")):
        with pytest.raises(ShardError, match=message):
            shards.parse(bad)


def test_defaults_come_from_a_slurm_array_or_rank_outside_torchrun(no_launcher):
    assert shards.chosen(None) is None
    no_launcher.setenv("SLURM_ARRAY_TASK_ID", "5")
    no_launcher.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    no_launcher.setenv("SLURM_ARRAY_TASK_MIN", "4")  # --array=4-6
    assert shards.chosen(None) == Shard(1, 3)
    assert shards.chosen(Shard(0, 2)) == Shard(0, 2) and shards.chosen("none") is None  # the flag wins
    no_launcher.setenv("SLURM_ARRAY_TASK_STEP", "2")  # --array=4-8:2, task 6 is the second
    no_launcher.setenv("SLURM_ARRAY_TASK_ID", "6")
    assert shards.chosen(None) == Shard(1, 3)
    no_launcher.setenv("SLURM_ARRAY_TASK_ID", "5")  # not on the step: a list such as --array=1,5,7
    with pytest.raises(ShardError, match="--shard I/N"):
        shards.chosen(None)
    no_launcher.setenv("SLURM_ARRAY_TASK_COUNT", "1")
    no_launcher.setenv("SLURM_ARRAY_TASK_ID", "4")
    assert shards.chosen(None) is None  # one shard of one is the whole run: it probes
    for name in LAUNCHER_VARS[:4]:
        no_launcher.delenv(name)
    no_launcher.setenv("RANK", "2")
    no_launcher.setenv("WORLD_SIZE", "4")
    assert shards.chosen(None) == Shard(2, 4)
    no_launcher.setenv("MASTER_ADDR", "127.0.0.1")  # torchrun: its ranks share one process group instead
    assert shards.chosen(None) is None


def test_ownership_is_torchruns_rule_and_ranks_split_a_shard_exactly():
    from lsdbench.encode import distributed

    for shard in (Shard(0, 3), Shard(2, 3)):
        owned = {k for k in KEYS if shard.owns(k)}
        assert owned == {k for k in KEYS if distributed.owns(k, shard.index, shard.count)}
        parts = [{k for k in KEYS if shard.part(rank, 2).owns(k)} for rank in range(2)]
        assert parts[0] | parts[1] == owned and not parts[0] & parts[1] and all(parts)
    assert sum(len({k for k in KEYS if Shard(i, 3).owns(k)}) for i in range(3)) == len(KEYS)


def _put_batches(cache_dir: str, worker: int) -> None:
    """One of several processes storing overlapping batches into one entry at once."""
    cache = EmbeddingCache("race", {"v": 1}, cache_dir=cache_dir)
    rng = np.random.default_rng(worker)
    for start in range(0, 2000, 100):
        keys = KEYS[start:start + 150]  # overlaps the next batch and every other worker's
        cache.put(keys, np.stack([np.full(8, int(k[:6], 16), np.float32) for k in keys]))
        if rng.random() < 0.5:
            EmbeddingCache("race", {"v": 1}, cache_dir=cache_dir).get(keys)  # reading while others write


def test_processes_writing_one_entry_at_once_leave_only_whole_shards(tmp_path):
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_put_batches, args=(str(tmp_path), w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * 4
    cache = EmbeddingCache("race", {"v": 1}, cache_dir=tmp_path)
    keys, problems = scan_entry(cache.dir)
    assert problems == [] and set(keys) == set(KEYS[:2050])
    np.testing.assert_array_equal(cache.get(KEYS[:2050])[:, 0], [float(np.float32(int(k[:6], 16))) for k in KEYS[:2050]])
    assert not list(cache.dir.glob(".*"))  # no temporary file left behind


def _start(*args, **env):
    """``lsdbench ARGS`` in a process of its own, in an environment without launcher variables plus ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    return subprocess.Popen([sys.executable, "-m", "lsdbench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**base, "OMP_NUM_THREADS": "1", **env})


def _finish(proc) -> tuple[int, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out + err


def test_three_shard_processes_at_once_then_a_final_eval_equal_one_process(tmp_path):
    one, three, cache = tmp_path / "one", tmp_path / "three", str(tmp_path / "c3")
    args = ["eval", "--encoder", ENC, *TASKS, "--quiet"]
    single = _start(*args, "--out", str(one), LSDBENCH_CACHE_DIR=str(tmp_path / "c1"))
    sharded = [  # the three ways to name a shard, started at once into one fresh cache
        _start(*args, "--out", str(three), "--shard", "0/3", LSDBENCH_CACHE_DIR=cache),
        _start(*args, "--out", str(three), LSDBENCH_CACHE_DIR=cache, SLURM_ARRAY_TASK_ID="1",
               SLURM_ARRAY_TASK_COUNT="3"),
        _start(*args, "--out", str(three), LSDBENCH_CACHE_DIR=cache, RANK="2", WORLD_SIZE="3")]
    outputs = [_finish(p) for p in sharded]
    assert [code for code, _ in outputs] == [0, 0, 0], outputs
    assert _finish(single)[0] == 0
    assert not three.exists()  # a shard run fits no probe and writes no result
    for i, (_, out) in enumerate(outputs):
        assert f"shard {i}/3: filled the embedding cache" in out and "remain uncached" in out
    code, out = _finish(_start("cache", "verify", LSDBENCH_CACHE_DIR=cache))
    assert code == 0 and out.count("3 of 3") == 2 and "INCOMPLETE" not in out, out
    files = sorted(p.name for p in Path(cache).rglob("shard-*.npz"))
    code, out = _finish(_start(*args, "--out", str(three), LSDBENCH_CACHE_DIR=cache))
    assert code == 0, out
    assert "0 to encode" in out and sorted(p.name for p in Path(cache).rglob("shard-*.npz")) == files
    a = {f.name: comparable(read_result(f)) for f in one.glob("*.json")}
    b = {f.name: comparable(read_result(f)) for f in three.glob("*.json")}
    assert len(a) == 2 and a == b


def _fill(cache_dir, task, indices, count=3):
    encoder = resolve(ENC)
    for i in indices:
        shards.fill_eval(encoder, [task], Shard(i, count), cache_dir=cache_dir, progress=False)
    return cache_for(encoder, policy_for(encoder), cache_dir)


def test_verify_names_missing_shards_sequences_and_bad_files(tmp_path, no_launcher):
    task = load_task("human_ppi_example", progress=False)
    cache = _fill(tmp_path, "human_ppi_example", [0, 2])
    [entry] = verify(tasks=["human_ppi_example"], cache_dir=tmp_path)
    [check] = entry.tasks
    assert not entry.ok and check.count == 3 and check.marked == [0, 2]
    lacking = [k for k in {sequence_key(s) for s in task.sequences_and_ids()[0]} if Shard(1, 3).owns(k)]
    assert check.cached == check.expected - len(lacking) and lacking
    assert any("shard 1/3 has no completion marker" in p for p in check.problems)
    assert any(p.startswith(f"shard 1/3 lacks {len(lacking)} sequence") for p in check.problems)
    _fill(tmp_path, "human_ppi_example", [1])
    [entry] = verify(cache_dir=tmp_path)  # tasks from the markers
    assert entry.ok and entry.tasks[0].marked == [0, 1, 2]
    # a marker written for other data, and a damaged shard file: both named
    path = cache.marker_path("human_ppi_example", 1, 3)
    record = json.loads(path.read_text())
    record["split_hashes"]["test"] = "sha256:0"
    path.write_text(json.dumps(record))
    victim = sorted(cache.dir.glob("shard-*.npz"))[0]
    victim.write_bytes(victim.read_bytes()[:-40])
    [entry] = verify(cache_dir=tmp_path)
    assert any("other data of the task" in p for p in entry.tasks[0].problems)
    assert any(victim.name in p and "checksum" in p for p in entry.problems)
    assert victim.exists()  # verify only reads


def test_cache_verify_command_exit_status_and_one_line_errors(tmp_path, capsys, no_launcher):
    _fill(tmp_path, "human_ppi_example", [0, 1])
    assert cli.main(["cache", "verify", "--cache-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "INCOMPLETE" in out and "shard 2/3 has no completion marker" in out and "0 of 1" in out
    _fill(tmp_path, "human_ppi_example", [2])
    assert cli.main(["cache", "verify", "--cache-dir", str(tmp_path), "--encoder", "test_composition"]) == 0
    assert cli.main(["cache", "verify", "--cache-dir", str(tmp_path), "--encoder", "nobody"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsdbench: error: ") and "'nobody'" in err and err.count("\n") == 1


def run_main(args: list[str]) -> int:
    try:
        return cli.main(args)
    except SystemExit as exc:  # usage errors exit from argparse
        return exc.code


@pytest.mark.parametrize("args, message", [
    (["--shard", "0/2", "--recompute"], "--recompute cannot be sharded"),
    (["--shard", "2/2"], "shard 2 of 2 does not exist"),
    (["--shard", "x"], "not of the form I/N"),
])
def test_bad_shard_requests_are_one_line_errors(tmp_path, capsys, no_launcher, args, message):
    code = run_main(["eval", "--encoder", ENC, "--task", "human_ppi_example", "--cache-dir", str(tmp_path), "--quiet",
                     "--no-save", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lsdbench: error: ") and message in err and err.count("\n") == 1


def test_slurm_environment_with_an_invalid_id_is_one_line(tmp_path, capsys, no_launcher):
    no_launcher.setenv("SLURM_ARRAY_TASK_ID", "first")
    no_launcher.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert cli.main(["eval", "--encoder", ENC, "--task", "human_ppi_example", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "SLURM_ARRAY_TASK_ID='first'" in err and err.count("\n") == 1


def test_sweep_shards_fill_every_level_and_reference_so_the_sweep_encodes_nothing(tmp_path, no_launcher):
    from lsdbench.run.sweep import fill_shard, run_sweep

    family = resolve(f"{DATA / 'user_encoders.py'}:ScaledFamily")
    cls = type(family)
    values = [0.5, 2.0]
    for i in range(2):
        filled = fill_shard([f"{DATA / 'user_encoders.py'}:ScaledFamily"], values, ["human_ppi_example"],
                            Shard(i, 2), references=[ENC], cache_dir=tmp_path, progress=False)
        assert [f.what for f in filled] == ["test_composition", "test_family x 2 levels"]
    checks = verify(cache_dir=tmp_path)
    assert len(checks) == 3 and all(c.ok and c.tasks[0].marked == [0, 1] for c in checks)
    cls.shared_calls = cls.calls = 0
    run_sweep([f"{DATA / 'user_encoders.py'}:ScaledFamily"], values, tasks=["human_ppi_example"], references=[ENC],
              out_dir=tmp_path / "sweep", cache_dir=tmp_path, progress=False)
    assert cls.shared_calls == 0 and cls.calls == 0  # every level and the reference came from the cache



def test_the_slurm_example_fills_an_array_then_probes_once(tmp_path):
    """examples/slurm_eval.sh as Slurm runs it: two array tasks, then the probe job (refused until both are done)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lsdbench").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lsdbench "$@"\n')
    (bin_dir / "lsdbench").chmod(0o755)
    base = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    env = {**base, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "ENCODER": ENC,
           "ENCODER_NAME": "test_composition", "SUITE": "smoke", "OUT": str(tmp_path / "out"),
           "LSDBENCH_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    script = str(Path(__file__).parents[1] / "examples" / "slurm_eval.sh")

    def job(**extra):
        return subprocess.run(["bash", script], env={**env, **extra}, capture_output=True, text=True, timeout=600)

    first = job(SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="2")
    assert first.returncode == 0 and "shard 0/2: filled" in first.stdout, first.stderr
    early = job(STAGE="probe", SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="1")
    assert early.returncode == 1 and "shard 1/2 has no completion marker" in early.stdout
    assert not (tmp_path / "out").exists()
    assert job(SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2").returncode == 0
    probe = job(STAGE="probe", SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="1")
    assert probe.returncode == 0 and "0 to encode" in probe.stdout, probe.stderr
    assert len(list((tmp_path / "out").glob("*.json"))) == 1
