"""Issue 14, own data: task files in the formats people have, a format per source, labels that are one
class however a file spelled them, and the worked example of tasks/README.md run from its card alone."""

from __future__ import annotations

import json
import random
import re
import textwrap
from pathlib import Path

import pytest
from test_registry import ROWS, write_user_card

from lsdbench.cli import main
from lsdbench.results.result import read_result
from lsdbench.tasks import registry
from lsdbench.tasks.cards import load_card
from lsdbench.tasks.formats import read_rows
from lsdbench.tasks.record_formats import cell

README = Path(__file__).resolve().parents[1] / "tasks" / "README.md"

# Membrane proteins are rich in hydrophobic residues, soluble ones in charged ones: a composition
# probe separates them, so the example task has a real signal to find.
POOLS = {"membrane": "LLLIIVVFFAAGMWY" + "ACDEFGHIKLMNPQRSTVWY", "soluble": "KKEEDDRRQQNNSTG" + "ACDEFGHIKLMNPQRSTVWY"}


def proteins(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (sequence, label) pairs that look like proteins: Met start, 60-140 residues, two classes."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = ("soluble", "membrane")[i % 2]
        out.append(("M" + "".join(rng.choice(POOLS[label]) for _ in range(rng.randint(60, 140))), label))
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def readme_card() -> str:
    """The card of the worked example in tasks/README.md: the test runs what the docs show."""
    match = re.search(r"```toml\n(name = \"my_jsonl_task\".*?)```", README.read_text(), re.S)
    assert match, "tasks/README.md lost its JSON-lines worked example"
    return match.group(1)


def test_readme_worked_example_from_jsonl_runs_through_the_cli(tmp_path, capsys):
    folder = tmp_path / "my_task"
    folder.mkdir()
    for split, n, seed in (("train", 48, 1), ("valid", 16, 2), ("test", 20, 3)):
        write_jsonl(folder / f"{split}.jsonl", [{"sequence": s, "label": y} for s, y in proteins(n, seed)])
    card = folder / "card.toml"
    card.write_text(readme_card())
    out = tmp_path / "results"
    assert main(["eval", "--encoder", "aac", "--task", str(card), "--out", str(out), "--quiet"]) == 0
    (path,) = out.glob("*.json")
    result = read_result(path)
    assert result["task"]["name"] == "my_jsonl_task" and result["encoder"]["name"] == "aac"
    assert result["scores"]["test"]["accuracy"] >= 0.9  # the classes differ in composition
    assert "my_jsonl_task" in capsys.readouterr().out


MIXED_CARD = textwrap.dedent('''
    name = "mixed"
    version = "1"
    type = "binary"
    licence = "CC0"
    primary_metric = "accuracy"
    label_names = ["soluble", "membrane"]

    [format]                 # the default for every source
    kind = "jsonl"
    sequence = "seq"
    label = "y"

    [sources.train]
    path = "train.jsonl"

    [sources.test]
    path = "test.fasta"
    format = { kind = "fasta" }   # '>ID y=membrane': the label is a header field

    [splits]
    train = { source = "train" }
    valid = { carve_from = "train", fraction = 0.25, seed = 0 }
    test = { source = "test" }
''')


def test_one_task_reads_jsonl_train_and_fasta_test(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"id": f"tr{i}", "seq": s, "y": y}
                                           for i, (s, y) in enumerate(proteins(16, 1))])
    (tmp_path / "test.fasta").write_text("".join(f">te{i} some protein y={y} OS=Homo sapiens\n{s[:50]}\n{s[50:]}\n"
                                                 for i, (s, y) in enumerate(proteins(6, 2))))
    (tmp_path / "card.toml").write_text(MIXED_CARD)
    card = load_card(tmp_path / "card.toml")
    assert card.sources["train"].format == {"kind": "jsonl", "sequence": "seq", "label": "y"}
    assert card.sources["test"].format["kind"] == "fasta"
    task = registry.load_task(card, progress=False)
    assert [len(task.splits[s]) for s in ("train", "valid", "test")] == [12, 4, 6]
    test = task.splits["test"]
    assert test.ids[:2] == ["te0", "te1"] and test.labels.tolist() == [0, 1, 0, 1, 0, 1]
    assert test.sequences[0] == proteins(6, 2)[0][0]


def test_existing_cards_read_every_source_with_their_one_format():
    for card in registry.list_cards():
        for src in card.sources.values():
            assert src.format["kind"] == card.format["kind"]
            assert {k: v for k, v in card.format.items() if k in src.format} == {
                k: v for k, v in src.format.items() if k in card.format}


def test_integer_valued_float_labels_are_one_class(tmp_path):
    """Class ids written 1 by one file and 1.0 by another (pandas, with a gap in the column) agree."""
    rows = ROWS.replace("\tyes\t", "\t1\t").replace("\tno\t", "\t0\t")
    rows = "".join(line.replace("\t1\ttest", "\t1.0\ttest").replace("\t0\ttest", "\t0.0\ttest")
                   for line in rows.splitlines(keepends=True))
    assert "1.0\ttest" in rows and "\t1\ttrain" in rows
    task = registry.load_task(str(write_user_card(tmp_path, rows)), progress=False)
    assert task.splits["test"].labels.tolist() == [0, 1, 0, 1]


def test_label_names_and_maps_compare_in_one_spelling(tmp_path):
    rows = ROWS.replace("\tyes\t", "\t2.0\t").replace("\tno\t", "\t7\t")
    card = write_user_card(tmp_path, rows)
    card.write_text(card.read_text().replace('label_names = ["no", "yes"]',
                                             'label_names = ["no", "yes"]\nlabel_map = { "7.0" = "no", "2" = "yes" }'))
    assert registry.load_task(str(card), progress=False).splits["test"].labels.tolist() == [0, 1, 0, 1]


def test_json_records_keep_types_as_text(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([{"id": "007", "sequence": "MKV", "label": 1.0, "score": 0.5, "tag": None,
                                 "ok": True, "pos": [1, 2]}]))
    (row,) = read_rows(path, {"kind": "json", "id": "id"}, prefix="all", display="data.json")
    # "007" stays a string (pandas.read_json would make it 7); 1.0 is the integer 1
    assert row == {"id": "007", "sequence": "MKV", "label": "1", "score": "0.5", "tag": "", "ok": "true",
                   "pos": "[1,2]"}


def test_cells_of_numpy_and_pandas_values():
    np = pytest.importorskip("numpy")
    assert [cell(np.int64(3)), cell(np.float64(2.0)), cell(np.float64("nan")), cell(np.bool_(False)),
            cell(np.array([1, 2])), cell(2.5), cell(1e300)] == ["3", "2", "", "false", "[1,2]", "2.5", "1e+300"]


def test_fasta_header_fields(tmp_path):
    path = tmp_path / "x.fasta"
    path.write_text(">sp|P69905|HBA_HUMAN Hemoglobin alpha OS=Homo sapiens OX=9606 GN=HBA1\nMVLSPADKTN\n"
                    ">p2 label=membrane\nMKV\n")
    first, second = read_rows(path, {"kind": "fasta"}, prefix="x", display="x.fasta")
    assert first["id"] == "sp|P69905|HBA_HUMAN" and first["OS"] == "Homo sapiens" and first["GN"] == "HBA1"
    assert second["label"] == "membrane" and second["sequence"] == "MKV"


def test_parquet_source(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    records = [{"sequence": s, "label": y} for s, y in proteins(12, 4)]
    frame = pd.DataFrame(records)
    frame.loc[0, "note"] = "first"  # a column with gaps: floats and missing values must read cleanly
    frame.to_parquet(tmp_path / "all.parquet")
    rows = read_rows(tmp_path / "all.parquet", {"kind": "parquet"}, prefix="all", display="all.parquet")
    assert [r["label"] for r in rows] == [y for _, y in proteins(12, 4)]
    assert rows[0]["note"] == "first" and rows[1]["note"] == "" and rows[3]["id"] == "all-3"
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    from lsdbench.tasks.formats import FormatError

    with pytest.raises(FormatError, match="bad.parquet: not a readable Parquet file"):
        read_rows(tmp_path / "bad.parquet", {"kind": "parquet"}, prefix="bad", display="bad.parquet")


def test_tsv_with_a_declared_header_row(tmp_path):
    card = write_user_card(tmp_path, "id\tsequence\tlabel\tsplit\n" + ROWS)
    card.write_text(card.read_text().replace('kind = "tsv"', 'kind = "tsv"\nheader = true'))
    assert len(registry.load_task(str(card), progress=False).splits["test"]) == 4


def test_hostile_values_parse_in_linear_time_and_fail_in_one_line(tmp_path):
    import time

    from lsdbench.tasks.formats import FormatError
    from lsdbench.tasks.labels import canonical

    start = time.perf_counter()
    assert canonical("1" * 100_000 + "x").endswith("x")  # a backtracking pattern takes minutes here
    (tmp_path / "h.fasta").write_text(">p1 k=" + " " * 100_000 + "x\nMKV\n>p2 " + "a " * 50_000 + "\nMKV\n")
    rows = read_rows(tmp_path / "h.fasta", {"kind": "fasta"}, prefix="h", display="h.fasta")
    assert rows[0]["k"] == "x" and time.perf_counter() - start < 2
    for text, needle in (("[" * 100_000 + "]" * 100_000, "cannot be read"), ('{"n": ' + "9" * 5000 + "}", "cannot be read"),
                         ("[1, 2]", "a JSON array where an object")):
        (tmp_path / "h.jsonl").write_text(text + "\n")
        with pytest.raises(FormatError, match=needle):
            read_rows(tmp_path / "h.jsonl", {"kind": "jsonl"}, prefix="h", display="h.jsonl")


def test_sources_of_any_kind_stay_in_the_card_folder(tmp_path):
    from lsdbench.tasks.fetch import FetchError

    (tmp_path / "outside.jsonl").write_text('{"sequence": "MKV", "label": "membrane"}\n')
    folder = tmp_path / "card"
    folder.mkdir()
    (folder / "card.toml").write_text(MIXED_CARD.replace('path = "train.jsonl"', 'path = "../outside.jsonl"'))
    with pytest.raises(FetchError, match="outside the card's folder"):
        registry.load_task(str(folder / "card.toml"), progress=False)
