"""Pair tasks joined through a sequence dictionary, and the protein-disjoint ppi_yeast split on the real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from test_registry import assert_rejected, tsv_card_text

from lsdbench.cli import main
from lsdbench.results.result import read_result
from lsdbench.tasks import registry
from lsdbench.tasks.info import describe

SEQ_PPI = "raw.githubusercontent.com/muhaochen/seq_ppi/9172fbdc9a9bd9c0c1234bde3314ae0b6bff8dd0/yeast/preprocessed"


def raw_pairs(mirror: str) -> tuple[list[tuple[str, str, int]], dict[str, str]]:
    """The mirrored PIPR files read here without lsdbench: (id A, id B, label) rows and id -> sequence."""
    folder = Path(mirror) / SEQ_PPI
    rows = [line.split("\t") for line in (folder / "protein.actions.tsv").read_text().splitlines()]
    seqs = dict(line.split("\t") for line in (folder / "protein.dictionary.tsv").read_text().splitlines())
    return [(a, b, int(y)) for a, b, y in rows], seqs


@pytest.fixture(scope="module")
def yeast(mirror, session_cache):
    return registry.load_task("ppi_yeast", cache_dir=session_cache, mirror=mirror, progress=False)


def test_ppi_yeast_split_is_protein_disjoint_on_the_real_files(yeast, mirror):
    rows, seqs = raw_pairs(mirror)
    assert len(rows) == 11188 and len(seqs) == 2497
    assert "ppi_yeast" in {c.name for c in registry.list_cards("open")}
    assert [len(yeast.splits[s]) for s in ("train", "valid", "test")] == [3977, 254, 707]
    # every item is a pair of the file (either order) with the file's label
    by_seqs, ids = {}, {}
    for a, b, y in rows:
        by_seqs.setdefault(frozenset((seqs[a], seqs[b])), set()).add(y)
        ids.setdefault(frozenset((seqs[a], seqs[b])), set()).update((a, b))
    proteins = {}
    for name, split in yeast.splits.items():
        proteins[name] = set()
        for sa, sb, y in zip(split.sequences, split.sequences_b, split.labels.tolist(), strict=True):
            assert by_seqs[frozenset((sa, sb))] == {y}
            proteins[name] |= ids[frozenset((sa, sb))]
        assert len(set(map(frozenset, zip(split.sequences, split.sequences_b, strict=True)))) == len(split)
    # no protein (by id, and by sequence) of a test pair is in a train or valid pair; valid vs train likewise
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not proteins[a] & proteins[b]
        assert not set(yeast.splits[a].all_sequences()) & set(yeast.splits[b].all_sequences())
    # label balance per split stays near the file's 50 %
    for split in yeast.splits.values():
        assert 0.45 < split.labels.mean() < 0.55
    # what was dropped: 24 repeated pairs, then every pair straddling two splits
    report = yeast.report
    assert report["sources"]["pairs"] == {
        "rows": 11188, "pairs": 11164, "duplicate_pairs": 24, "duplicate_pairs_policy": "drop",
        "conflicting_duplicates": 0, "self_pairs": 0, "self_pairs_policy": "keep"}
    part = report["partition"]
    assert part["dropped_straddling"] == 11164 - 3977 - 254 - 707 == 6226 and part["dropped_unassigned"] == 0
    assert sum(part["proteins_assigned"].values()) == len(set(seqs.values())) == 2492


def test_ppi_yeast_info_shows_proteins_per_split_and_no_sharing(yeast, mirror, capsys):
    info = describe(yeast)
    assert [info["splits"][s]["proteins"] for s in ("train", "valid", "test")] == [1491, 274, 551]
    assert info["shared_sequences"] == {"train/valid": 0, "train/test": 0, "valid/test": 0}
    assert all(v["one"] == v["both"] == 0 for v in info["pairs_touching"].values())
    assert main(["info", "ppi_yeast"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # prose is wrapped to 120 columns
    assert "proteins shared between splits: train/valid 0, train/test 0, valid/test 0" in out
    assert "24 duplicated pairs (dropped)" in out and "6226 dropped as straddling two splits" in out


def test_random_pair_control_is_size_matched_and_leaky(yeast, mirror, session_cache):
    leaky = registry.load_task("ppi_yeast_random_pairs", cache_dir=session_cache, mirror=mirror, progress=False)
    assert "open" not in leaky.card.suites
    assert {n: len(s) for n, s in leaky.splits.items()} == {n: len(s) for n, s in yeast.splits.items()}
    touching = describe(leaky)["pairs_touching"]["test/train"]
    assert touching["one"] + touching["both"] > 650  # nearly every test pair shares a protein with training


def write_pair_card(folder: Path, pairs: str, dictionary: str, *, fmt_extra: str = "", dict_extra: str = "",
                    partition: str | None = None) -> Path:
    (folder / "pairs.tsv").write_text(pairs)
    (folder / "dict.tsv").write_text(dictionary)
    splits = partition or textwrap.dedent("""
        [splits]
        train = { source = "pairs", where = { split = "train" } }
        valid = { source = "pairs", where = { split = "valid" } }
        test = { source = "pairs", where = { split = "test" } }
        """)
    card = folder / "pairs.toml"
    head = tsv_card_text("my_pairs", "pair_binary", {"pairs": "pairs.tsv", "dictionary": "dict.tsv"},
                         ["a", "b", "label", "split"], {"id_a": "a", "id_b": "b", "label": "label"})
    card.write_text(head + fmt_extra + textwrap.dedent("""
        [format.dictionary]
        source = "dictionary"
        columns = ["id", "sequence"]
        id = "id"
        sequence = "sequence"
        """) + dict_extra + splits)
    return card


DICT = "".join(f"P{i}\t{'ACDEFGHIKLMNPQRSTVWY'[i:i + 6]}\n" for i in range(10))
PAIRS = ("P0\tP1\t1\ttrain\nP2\tP3\t0\ttrain\nP1\tP0\t1\ttrain\nP4\tP4\t1\ttrain\n"
         "P5\tP6\t0\tvalid\nP6\tP7\t1\tvalid\nP7\tP8\t1\ttest\nP8\tP9\t0\ttest\n")


def test_join_fills_sequences_and_reports_duplicates_and_self_pairs(tmp_path):
    card = write_pair_card(tmp_path, PAIRS, DICT)
    task = registry.load_task(str(card), progress=False)
    train = task.splits["train"]
    assert train.sequences[:2] == ["ACDEFG", "DEFGHI"] and train.sequences_b[0] == "CDEFGH"
    assert len(train) == 4  # default: duplicates and self-pairs kept, but counted
    assert task.report["sources"]["pairs"] == {
        "rows": 8, "pairs": 8, "duplicate_pairs": 1, "duplicate_pairs_policy": "keep",
        "conflicting_duplicates": 0, "self_pairs": 1, "self_pairs_policy": "keep"}

    card = write_pair_card(tmp_path, PAIRS, DICT, fmt_extra='duplicate_pairs = "drop"\nself_pairs = "drop"\n')
    task = registry.load_task(str(card), progress=False)
    assert task.splits["train"].ids == ["pairs-0", "pairs-1"]  # the first of B-A / A-B is kept
    assert task.report["sources"]["pairs"]["pairs"] == 6


def test_conflicting_duplicates_cannot_be_dropped_silently(tmp_path):
    card = write_pair_card(tmp_path, PAIRS.replace("P1\tP0\t1", "P1\tP0\t0"), DICT,
                           fmt_extra='duplicate_pairs = "drop"\n')
    with pytest.raises(registry.TaskError, match=r"1 duplicated pair.*'pairs-0' and 'pairs-2'"):
        registry.load_task(str(card), progress=False)


def test_missing_ids_are_named(tmp_path, capsys):
    card = write_pair_card(tmp_path, PAIRS + "P3\tQ99\t1\ttest\nZ1\tP2\t0\ttest\n", DICT)
    with pytest.raises(registry.TaskError, match=r"2 protein id\(s\) named in .*pairs.tsv are not in the "
                                                 r"dictionary .*dict.tsv: 'Q99', 'Z1'"):
        registry.load_task(str(card), progress=False)
    assert main(["info", str(card)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lsdbench: error: ") and "'Q99', 'Z1'" in err and "\n" not in err
    card = write_pair_card(tmp_path, PAIRS, DICT + "P1\tWWWW\n")
    with pytest.raises(registry.TaskError, match=r"'P1' appears twice with different sequences"):
        registry.load_task(str(card), progress=False)


PROTEIN_PARTITION = """
[partition]
source = "pairs"
by = "protein"
seed = 3
fractions = { train = 0.5, valid = 0.2, test = 0.3 }
"""


def test_protein_partition_is_disjoint_and_deterministic(tmp_path):
    dictionary = "".join(f"P{i}\tM{'ACDEFGHIKLMNPQRSTVWY'[i % 20]}{'K' * (i // 20 + 1)}\n" for i in range(60))
    pairs = "".join(f"P{i}\tP{(i + 7) % 60}\t{i % 2}\tx\n" for i in range(60))
    card = write_pair_card(tmp_path, pairs, dictionary, partition=PROTEIN_PARTITION,
                           fmt_extra='duplicate_pairs = "drop"\n')
    task = registry.load_task(str(card), progress=False)
    part = task.report["partition"]
    assert part["proteins_assigned"] == {"train": 30, "valid": 12, "test": 18}
    assert sum(part["kept"].values()) + part["dropped_straddling"] == part["pairs"]
    seen = [set(s.all_sequences()) for s in task.splits.values()]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert registry.load_task(str(card), progress=False).split_hashes() == task.split_hashes()
    # a pinned hash that no longer matches is an error
    card.write_text(card.read_text() + f'\n[expected_hashes]\ntest = "sha256:{"0" * 64}"\n')
    with pytest.raises(registry.TaskError, match="split 'test' has content hash"):
        registry.load_task(str(card), progress=False)


@pytest.mark.parametrize("change, message", [
    (('id_b = "b"\n', ""), r"needs format.id_a, format.id_b and \[format.dictionary\] \(missing 'id_b'\)"),
    (('id_b = "b"\n', 'id_b = "c"\n'), r"format.id_b = 'c' is not one of format.columns"),
    (('id_b = "b"\n', 'id_b = "b"\nsequence_b = "b"\n'), "both directly"),
    (('source = "dictionary"', 'source = "nowhere"'), r"\[format.dictionary\] reads unknown source 'nowhere'"),
    (('id = "id"\n', ""), r"\[format.dictionary\] needs 'id'"),
    (('sequence = "sequence"\n', 'sequence = "seq"\n'), r"sequence = 'seq' is not one of its columns"),
    (('id = "id"\n', 'id = "id"\nsep = ";"\n'), r"unknown key 'sep' in \[format.dictionary\]"),
    (('label = "label"\n', 'label = "label"\nself_pairs = "merge"\n'), r"self_pairs must be one of"),
    (('type = "pair_binary"', 'type = "binary"'), "pair_binary tasks only"),
])
def test_bad_join_specs_are_rejected(tmp_path, change, message):
    card = write_pair_card(tmp_path, PAIRS, DICT)
    card.write_text(card.read_text().replace(*change, 1))
    assert_rejected(card, message)


@pytest.mark.parametrize("partition, message", [
    (PROTEIN_PARTITION.replace("0.5", "0.6"), "sum to at most 1"),
    (PROTEIN_PARTITION.replace('"protein"', '"sequence"'), "by must be one of"),
    (PROTEIN_PARTITION.replace(", test = 0.3", ""), "must name exactly"),
    (PROTEIN_PARTITION.replace("seed = 3", 'seed = "x"'), "seed must be an integer"),
    (PROTEIN_PARTITION + '[splits]\ntrain = { source = "pairs" }\n', "either"),
])
def test_bad_partitions_are_rejected(tmp_path, partition, message):
    assert_rejected(write_pair_card(tmp_path, PAIRS, DICT, partition=partition), message)


def test_aac_evaluates_ppi_yeast_from_the_cli(mirror, tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "lsdbench", "eval", "--encoder", "aac", "--task", "ppi_yeast",
                           "--out", str(out), "--quiet", "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, env={**os.environ, "LSDBENCH_MIRROR": mirror}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [path] = out.glob("*.json")
    result = read_result(path)
    assert result["task"]["name"] == "ppi_yeast" and result["task"]["sizes"] == {"train": 3977, "valid": 254,
                                                                               "test": 707}
    card = registry.get_card("ppi_yeast")
    assert result["task"]["split_hashes"] == card.expected_hashes
    assert 0.5 < result["scores"]["test"]["accuracy"] < 0.75
    assert Counter(result["predictions"]["y_true"]) == {0: 366, 1: 341}
    assert json.loads(path.read_text())["encoder"]["name"] == "aac"
