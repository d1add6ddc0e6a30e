"""What a new user meets first: eval saves (or says it did not), show, cache info, names and help.

The CLI runs in-process (``lsdbench.cli.main``) in a temporary working folder, on the small
``human_ppi_example`` task from the mirror and a test encoder.
"""

from __future__ import annotations

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
    # the two configurations of one name are told apart by the config entry that differs, in show and compare
    assert sum("test_composition[scale=1.0]" in line for line in lines) == 1
    assert sum("test_composition[scale=2.0]" in line for line in lines) == 1
    first, second = sorted((workdir / "results").iterdir(), key=lambda p: p.stat().st_mtime)
    code, out, err = cli(capsys, "compare", str(first), str(second))
    assert code == 0, err
    assert "test_composition[scale=1.0]" in out and "test_composition[scale=2.0]" in out


def test_show_tells_apart_configurations_that_one_out_folder_collected(workdir, capsys):
    for scale in ("3", "4"):  # a user iterating with the docs' --out folder
        code, out, err = cli(capsys, "eval", "--encoder", ENCODER, "--encoder-opt", f"scale={scale}", "--task",
                             "human_ppi_example", "--quiet", "--out", "results/mine")
        assert code == 0, err
    code, out, err = cli(capsys, "show", "results/mine")
    assert code == 0, err
    assert "test_composition[scale=3.0]" in out and "test_composition[scale=4.0]" in out


def test_eval_no_save_says_nothing_was_saved(workdir, capsys):
    code, out, err = cli(capsys, "eval", "--encoder", ENCODER, "--task", "human_ppi_example", "--quiet", "--no-save")
    assert code == 0, err
    assert "nothing saved (--no-save)" in out and not (workdir / "results").exists()


def test_show_of_nothing_is_a_one_line_error(workdir, capsys):
    (workdir / "empty").mkdir()
    code, out, err = cli(capsys, "show", "empty")
    assert code != 0 and err.startswith("lsdbench: error: no result or submission files") and "Traceback" not in err


def test_result_file_names_carry_the_noise_level():
    from lsdbench.results.result import result_filename

    assert result_filename("lsd_tn_diffusion", {"t": 0.5, "layer": -1}, "metal_ion_binding", "linear").startswith(
        "lsd_tn_diffusion-t0.5-")
    assert result_filename("aac", {"version": 1}, "metal_ion_binding", "linear").count("-") == 1


def test_cache_info_shows_the_keys_that_tell_configurations_apart(tmp_path, capsys):
    from lsdbench.encode import cache as embed_cache

    for t in (0.1, 0.5, 0.9):
        cache = embed_cache.EmbeddingCache("lsd", {"t": t, "checkpoint_sha256": "a" * 64, "layer": -1},
                                           cache_dir=tmp_path)
        cache.put(["ACDE"], __import__("numpy").ones((1, 4), dtype="float32"))
    code, out, err = cli(capsys, "cache", "info", "--cache-dir", tmp_path)
    assert code == 0, err
    assert all(f"t={t}" in out for t in (0.1, 0.5, 0.9)) and "checkpoint_sha256" not in out
    assert "3 encoder configurations" in out



def test_encoders_lists_packages_dimensions_options_and_absent_checkpoints(capsys, monkeypatch, tmp_path):
    import reference_models.evaluation.encoders as ref

    monkeypatch.setattr(ref, "CHECKPOINTS", tmp_path)  # as on a clone without trained checkpoints
    code, out, err = cli(capsys, "encoders")
    assert code == 0, err
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| encoder")}
    assert rows["aac"][:3] == ["baselines (lsdbench)", "20", "ready"] and "ambiguous='ignore'" in rows["aac"][3]
    assert rows["lsd_tn_diffusion"][2] == "absent" and "t=0.0" in rows["lsd_tn_diffusion"][3]
    assert max(len(line) for line in out.splitlines()) <= 120
    code, out, err = cli(capsys, "encoders", "lsd_nm_latent")
    flat = " ".join(out.split())  # the message is wrapped to the terminal width wherever the path ends
    assert code == 0 and "absent with default options" in flat and "no reference checkpoint" in flat
    assert "| checkpoint" in out and "Traceback" not in out + err
    code, out, err = cli(capsys, "encoders", ENCODER)
    assert code == 0, err
    assert "output dimension: 21" in out and "| scale" in out
    code, out, err = cli(capsys, "encoders", "no_such_encoder")
    assert code != 0 and err.startswith("lsdbench: error: unknown encoder 'no_such_encoder'")


def walk_parsers(parser, path):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk_parsers(sub, f"{path} {name}")


def test_every_lsd_train_option_has_help():
    from reference_models.training.train import build_parser

    for path, parser in walk_parsers(build_parser(), "lsd-train"):
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{path} {action.option_strings[0]} has no help text"
    assert "examples:" in build_parser().epilog
    assert "``" not in build_parser().format_help()  # plain text, not the docstring's reST


def test_every_option_has_help_and_every_command_examples(capsys):
    import argparse

    from lsdbench.cli import build_parser

    for path, parser in walk_parsers(build_parser(), "lsdbench"):
        for action in parser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{path} {action.option_strings[0]} has no help text"
        is_group = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if path != "lsdbench" and not is_group:
            assert parser.epilog and parser.epilog.startswith("examples:"), f"{path} --help has no examples"
            assert len(parser.epilog.strip().splitlines()) >= 2, path
