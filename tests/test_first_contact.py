"""What a new user meets first: eval saves (or says it did not), show, cache info, names and help.

The CLI runs in-process (``lsdbench.cli.main``) in a temporary working folder, on the small
``human_ppi_example`` task from the mirror and a test encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsdbench.cli import main

ENCODER = f"{Path(__file__).parent / 'data' / 'user_encoders.py'}:Composition"


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def workdir(tmp_path, monkeypatch, mirror):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_eval_saves_by_default_in_one_folder_per_configuration_and_show_prints_it(workdir, capsys):
    code, out, err = cli(capsys, "eval", "--encoder", ENCODER, "--task", "human_ppi_example", "--quiet")
    assert code == 0, err
    (folder,) = (workdir / "results").iterdir()
    assert folder.name.startswith("test_composition-")
    (file,) = folder.glob("*.json")
    assert file.name.startswith(folder.name + "__human_ppi_example__linear")
    assert f"saved 1 result file to results/{folder.name}/" in out  # singular, and where
    # another configuration goes to its own folder, so results of two encoders never mix
    code, out, err = cli(capsys, "eval", "--encoder", ENCODER, "--encoder-opt", "scale=2", "--task",
                         "human_ppi_example", "--quiet")
    assert code == 0, err
    assert len(list((workdir / "results").iterdir())) == 2
    code, out, err = cli(capsys, "show", "results")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("| encoder") and sum("human_ppi_example" in line for line in lines) == 2
    assert max(len(line) for line in lines) <= 120


def test_eval_no_save_says_nothing_was_saved(workdir, capsys):
    code, out, err = cli(capsys, "eval", "--encoder", ENCODER, "--task", "human_ppi_example", "--quiet", "--no-save")
    assert code == 0, err
    assert "nothing saved (--no-save)" in out and not (workdir / "results").exists()


def test_show_of_nothing_is_a_one_line_error(workdir, capsys):
    (workdir / "empty").mkdir()
    code, out, err = cli(capsys, "show", "empty")
    assert code == 1 and err.startswith("lsdbench: error: no result or submission files") and "Traceback" not in err


def test_result_file_names_carry_the_noise_level():
    from lsdbench.results import result_filename

    assert result_filename("lsd_tn_diffusion", {"t": 0.5, "layer": -1}, "metal_ion_binding", "linear").startswith(
        "lsd_tn_diffusion-t0.5-")
    assert result_filename("aac", {"version": 1}, "metal_ion_binding", "linear").count("-") == 1


def test_cache_info_shows_the_keys_that_tell_configurations_apart(tmp_path, capsys):
    from lsdbench import embed_cache

    for t in (0.1, 0.5, 0.9):
        cache = embed_cache.EmbeddingCache("lsd", {"t": t, "checkpoint_sha256": "a" * 64, "layer": -1},
                                           cache_dir=tmp_path)
        cache.put(["ACDE"], __import__("numpy").ones((1, 4), dtype="float32"))
    code, out, err = cli(capsys, "cache", "info", "--cache-dir", tmp_path)
    assert code == 0, err
    assert all(f"t={t}" in out for t in (0.1, 0.5, 0.9)) and "checkpoint_sha256" not in out
    assert "3 encoder configurations" in out

