"""Issue 14: every user error is one line ``lsdbench: error: ...`` with exit status 2, never a traceback.

The walk below feeds the command line bad cards, options, encoder outputs and file-system states.
"""

from __future__ import annotations

import errno
import json
import sys
import textwrap
from pathlib import Path

import pytest
from test_registry import ROWS, write_user_card

from lsdbench.cli import main

ENCODERS = textwrap.dedent('''
    import sys
    import numpy as np

    class Base:
        dim = 3
        def __init__(self, t: float = 0.0):
            if not 0 <= t <= 1:
                raise ValueError(f"noise level t must lie in [0, 1], got {t}")
            self.config = {"t": t}
        def rows(self, sequences):
            return np.array([[len(s), s.count("A"), s.count("K")] for s in sequences], dtype=np.float32)
        def encode(self, sequences):
            return self.rows(sequences)

    class Good(Base):
        name = "walk_good"

    class Raises(Base):
        name = "walk_raises"
        def encode(self, sequences):
            raise RuntimeError("CUDA out of memory\\nTried to allocate 2 GiB")

    class Exits(Base):
        name = "walk_exits"
        def encode(self, sequences):
            sys.exit(0)

    class NoDims(Base):
        name = "walk_nodims"
        def encode(self, sequences):
            return np.zeros((len(sequences), 0), dtype=np.float32)

    class NaNs(Base):
        name = "walk_nans"
        def encode(self, sequences):
            return np.full((len(sequences), 3), np.nan, dtype=np.float32)

    class CheckpointError(RuntimeError):
        pass

    class NoCheckpoint(Base):
        name = "walk_nockpt"
        def __init__(self, **kw):
            raise CheckpointError("no reference checkpoint at /nowhere (needs meta.json and model.safetensors)")
''')


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A small valid task card, an encoder file, and a file that is not a folder; run from tmp_path, so the
    default results/ folder of `eval` lands there, not in the repository."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "enc.py").write_text(ENCODERS)
    (tmp_path / "card").mkdir()
    card = write_user_card(tmp_path / "card", ROWS)
    (tmp_path / "a_file").write_text("x")
    return tmp_path, card


def _card(world, old: str, new: str, rows: str = ROWS) -> str:
    root, _ = world
    folder = root / f"card{abs(hash((old, new, rows)))}"
    folder.mkdir()
    card = write_user_card(folder, rows)
    card.write_text(card.read_text().replace(old, new))
    return str(card)


def _latin1_card(world) -> str:
    card = Path(_card(world, "", "", ROWS + "# latin-1\n"))
    (card.parent / "data.tsv").write_bytes(ROWS.replace("p3", "p\xe93").encode("latin-1"))
    return str(card)


TSV_FORMAT = 'kind = "tsv"\ncolumns = ["id", "sequence", "label", "split"]'
JSONL = "".join(json.dumps(dict(zip(("id", "sequence", "label", "split"), line.split("\t"), strict=True))) + "\n"
                for line in ROWS.splitlines())


def _eval(world, encoder: str, *extra: str) -> list[str]:
    root, card = world
    return ["eval", "--encoder", f"{root}/enc.py:{encoder}", "--task", str(card), "--quiet", *extra]


# (label, argv built from the world, what the line must contain)
CASES = [
    ("card: seed is text", lambda w: ["info", _card(w, "seed = 1", 'seed = "abc"')], "must be an integer"),
    ("card: unknown split field", lambda w: ["info", _card(w, "fraction = 0.25", "fractoin = 0.25")],
     "did you mean 'fraction'"),
    ("card: duplicate ids", lambda w: ["info", _card(w, "", "", ROWS.replace("p9\t", "p8\t"))], "'p8'"),
    ("card: one class in train", lambda w: ["info", _card(w, "", "", ROWS.replace("\tyes\ttrain", "\tno\ttrain"))],
     "one class"),
    ("card: empty carved split", lambda w: ["info", _card(w, "fraction = 0.25", "fraction = 0.01")], "is empty"),
    ("card: a packaged task's name", lambda w: ["info", _card(w, 'name = "my_task"', 'name = "metal_ion_binding"')],
     "add `replaces_packaged = true`"),
    ("card: a packaged task's name via --card",
     lambda w: ["tasks", "--card", _card(w, 'name = "my_task"', 'name = "ppi_yeast"')], "is a packaged task's"),
    ("card: path outside its folder", lambda w: ["info", _card(w, 'path = "data.tsv"', 'path = "/etc/passwd"')],
     "outside the card's folder"),
    ("card: not UTF-8", lambda w: ["info", _latin1_card(w)], "UTF-8"),
    ("card: missing", lambda w: ["info", str(w[0] / "absent.toml")], "does not exist"),
    ("card: unknown top-level key", lambda w: ["info", _card(w, "licence =", "license =")], "did you mean 'licence'"),
    ("card: unknown [format] key", lambda w: ["info", _card(w, 'label = "label"', 'lable = "label"')],
     "did you mean 'label'"),
    ("card: unknown source key", lambda w: ["info", _card(w, 'path = "data.tsv"', 'pth = "data.tsv"')],
     "did you mean 'path'"),
    ("card: header is text", lambda w: ["info", _card(w, 'kind = "tsv"', 'kind = "tsv"\nheader = "yes"')],
     "header must be true or false"),
    ("card: bad header_regex", lambda w: ["info", _card(w, TSV_FORMAT, 'kind = "fasta"\nheader_regex = "(?P<id"')],
     "not a valid regular expression"),
    ("card: option of another kind", lambda w: ["info", _card(w, 'kind = "tsv"', 'kind = "tsv"\nheader_regex = "x"')],
     "does not apply to kind = 'tsv'"),
    ("card: source without a kind", lambda w: ["info", _card(w, 'kind = "tsv"', "")], "kind = 'tsv'?"),
    ("card: per-source kind unknown", lambda w: ["info", _card(w, 'path = "data.tsv"',
                                                              'path = "data.tsv"\nformat = { kind = "jsonlines" }')],
     "did you mean 'jsonl'"),
    ("card: expected size is text", lambda w: ["info", _card(w, "[splits]", '[expected_sizes]\ntest = "4"\n[splits]')],
     "must be an integer"),
    ("card: label_map not a table", lambda w: ["info", _card(w, "licence =", "label_map = 3\nlicence =")],
     "label_map must be a table"),
    ("card: one label twice", lambda w: ["info", _card(w, '["no", "yes"]', '["1", "1.0"]')], "one label"),
    ("data: TSV header row", lambda w: ["info", _card(w, "", "", "id\tsequence\tlabel\tsplit\n" + ROWS)],
     "set header = true"),
    ("data: CSV line 1 is data", lambda w: ["info", _card(w, TSV_FORMAT, 'kind = "csv"', ROWS.replace("\t", ","))],
     "set header = false"),
    ("data: bad JSON line", lambda w: ["info", _card(w, TSV_FORMAT, 'kind = "jsonl"',
                                                     JSONL.replace('"p2"', "'p2'"))], "line 3"),
    ("data: JSON is not an array", lambda w: ["info", _card(w, TSV_FORMAT, 'kind = "json"', '{"rows": []}')],
     "array of records"),
    ("data: no label column", lambda w: ["info", _card(w, f'{TSV_FORMAT}\nid = "id"\nsequence = "sequence"\n'
                                                          f'label = "label"', 'kind = "jsonl"',
                                                       JSONL.replace('"label"', '"class"'))], "has no label"),
    ("option: --seeds a,b", lambda w: _eval(w, "Good", "--seeds", "a,b"), "--seeds"),
    ("option: sweep --t 0,abc", lambda w: ["sweep", "--encoder", f"{w[0]}/enc.py:Good", "--t", "0,abc",
                                           "--out", str(w[0] / "sw")], "--t"),
    ("option: unknown flag", lambda w: _eval(w, "Good", "--bogus"), "--bogus"),
    ("option: encoder option out of range", lambda w: _eval(w, "Good", "--encoder-opt", "t=2"), "t must lie"),
    ("option: unknown task", lambda w: ["info", "no_such_task"], "unknown task"),
    ("encoder: checkpoint missing", lambda w: _eval(w, "NoCheckpoint"), "CheckpointError"),
    ("encoder: raises in encode", lambda w: _eval(w, "Raises"), "CUDA out of memory"),
    ("encoder: SystemExit(0)", lambda w: _eval(w, "Exits"), "SystemExit"),
    ("encoder: (n, 0) output", lambda w: _eval(w, "NoDims"), "at least one dimension"),
    ("encoder: NaN output", lambda w: _eval(w, "NaNs"), "NaN"),
    ("encoder: file missing", lambda w: ["eval", "--encoder", "nowhere.py:X", "--task", str(w[1])], "does not exist"),
    ("fs: --out is a file", lambda w: _eval(w, "Good", "--out", str(w[0] / "a_file")), "a_file"),
    ("fs: cache under a file", lambda w: _eval(w, "Good", "--cache-dir", str(w[0] / "a_file" / "cache")), "a_file"),
]


@pytest.mark.parametrize("label, argv, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(world, capsys, label, argv, needle):
    try:
        code = main(argv(world))
    except SystemExit as exc:  # argparse's own exit, through our one-line error()
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("lsdbench: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err


def test_parquet_without_pyarrow_is_one_line(world, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed: import raises ImportError
    card = _card(world, TSV_FORMAT, 'kind = "parquet"')
    assert main(["info", card]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsdbench: error: ") and "pip install pyarrow" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("code, needle", [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk is full")])
def test_unwritable_cache_is_one_line(world, capsys, monkeypatch, code, needle):
    from lsdbench.encode import cache as embed_cache

    def refuse(path, **arrays):
        raise OSError(code, "cannot write", str(path))

    monkeypatch.setattr(embed_cache, "_atomic_save", refuse)
    assert main(_eval(world, "Good", "--cache-dir", str(world[0] / "fresh"))) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsdbench: error: cannot write: ") and needle in err and err.count("\n") == 1


def test_verbose_shows_the_traceback(world):
    with pytest.raises(Exception, match="t must lie"):
        main(["-v", *_eval(world, "Good", "--encoder-opt", "t=2")])


def test_reference_checkpoint_error_is_one_line(world, capsys):
    pytest.importorskip("reference_models.evaluation.encoders")
    root, card = world
    code = main(["eval", "--encoder", "lsd_tn_diffusion", "--encoder-opt", f"checkpoint={root / 'none'}",
                 "--task", str(card), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "CheckpointError" in err and err.count("\n") == 1, err


def test_utf16_and_bfloat16_are_read(world, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    root, card = world
    data = Path(card).parent / "data.tsv"
    data.write_bytes(ROWS.encode("utf-16"))
    (root / "bf16.py").write_text(textwrap.dedent('''
        import torch
        class BF16:
            name = "walk_bf16"
            config = {}
            def encode(self, sequences):
                return torch.tensor([[len(s), s.count("A")] for s in sequences], dtype=torch.bfloat16)
    '''))
    assert main(["eval", "--encoder", f"{root}/bf16.py:BF16", "--task", str(card), "--quiet"]) == 0
    assert "walk_bf16" in capsys.readouterr().out and torch


def test_every_public_error_of_lsdbench_derives_from_one_user_error_base():
    """One base class (lsdbench.errors.UserError) marks bad input: the CLI and the pytest plugin catch it,
    so a new module's error cannot slip past them as CheckpointError once slipped past `lsdbench run`."""
    import importlib
    import inspect
    import pkgutil

    import lsdbench
    from lsdbench.errors import UserError
    from reference_models.checkpoint import CheckpointError

    found = {}
    for info in pkgutil.walk_packages(lsdbench.__path__, "lsdbench."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Exception) and obj.__module__ == module.__name__ \
                    and not name.startswith("_"):
                found[f"{info.name}.{name}"] = obj
    assert len(found) >= 15
    assert [name for name, cls in found.items() if not issubclass(cls, UserError)] == []
    assert issubclass(CheckpointError, UserError)
