"""The task registry on the real files: sizes, labels, carving, hashes, user cards, bad input."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lsdbench.tasks import registry
from lsdbench.tasks.cards import CardError, load_card
from lsdbench.tasks.sequences import SequenceError
from lsdbench.types import Split

SIZES = {
    "metal_ion_binding": (5400, 600, 1332),
    "thermostability_flip2021": (2646, 294, 1504),
    "subcellular_localization_small": (1510, 168, 2768),
    "binary_localization_small": (918, 103, 1746),
    "ppi_yeast": (3977, 254, 707),  # protein-disjoint pairs: tests/test_ppi.py
}


def test_open_suite_sizes_match_the_issue(open_tasks):
    assert set(open_tasks) == set(SIZES)
    for name, (tr, va, te) in SIZES.items():
        splits = open_tasks[name].splits
        assert (len(splits["train"]), len(splits["valid"]), len(splits["test"])) == (tr, va, te)
    # train + carved valid give back the original files' sizes
    assert sum(SIZES["metal_ion_binding"][:2]) == 6000
    assert sum(SIZES["thermostability_flip2021"][:2]) == 2940
    assert sum(SIZES["subcellular_localization_small"][:2]) == 1678


def test_smoke_pair_task(mirror):
    task = registry.load_task("human_ppi_example", progress=False)
    assert [len(task.splits[s]) for s in ("train", "valid", "test")] == [60, 24, 36]
    for split in task.splits.values():
        assert split.is_pair and len(split.sequences_b) == len(split)
        assert set(np.unique(split.labels)) <= {0, 1}


def test_carved_valid_is_stratified_disjoint_and_deterministic(open_tasks, mirror, session_cache):
    task = open_tasks["metal_ion_binding"]
    train, valid = task.splits["train"], task.splits["valid"]
    assert not set(train.ids) & set(valid.ids)
    assert Counter(valid.labels.tolist()) == {0: 300, 1: 300}
    again = registry.load_task("metal_ion_binding", cache_dir=session_cache, mirror=mirror, progress=False)
    assert again.split_hashes() == task.split_hashes()
    # the multiclass carve keeps every class's share within one item of 10 %
    loc = open_tasks["subcellular_localization_small"]
    full = Counter(loc.splits["train"].labels.tolist()) + Counter(loc.splits["valid"].labels.tolist())
    for cls, n_valid in Counter(loc.splits["valid"].labels.tolist()).items():
        assert abs(n_valid - 0.1 * full[cls]) <= 0.5


def test_split_hash_is_canonical_and_content_sensitive():
    a = Split("test", ["x", "y"], ["AC", "DE"], np.array([0, 1]))
    same = Split("test", ["x", "y"], ["AC", "DE"], np.array([0, 1], dtype=np.int32))
    flipped = Split("test", ["x", "y"], ["AC", "DE"], np.array([1, 1]))
    assert a.content_hash() == same.content_hash()
    assert a.content_hash() != flipped.content_hash()
    assert a.content_hash().startswith("sha256:") and len(a.content_hash()) == 7 + 64


def test_deeploc_labels_split_on_last_dash(open_tasks, mirror):
    # Count the test file's headers independently of the card's regex.
    path = Path(mirror) / "raw.githubusercontent.com/HannesStark/protein-localization/" \
        "7b0be1e64a91db8ad1a8feae994a4d09aa9d7b1b/data_files/deeploc_test_set.fasta"
    locs = [line.split()[1].rsplit("-", 1) for line in path.read_text().splitlines() if line.startswith(">")]
    task = open_tasks["subcellular_localization_small"]
    names = task.card.label_names
    got = Counter(names[i] for i in task.splits["test"].labels)
    expected = Counter("Nucleus" if loc == "Cytoplasm-Nucleus" else loc for loc, _ in locs)
    assert got == expected and len(got) == 10
    binary = open_tasks["binary_localization_small"]
    assert len(binary.splits["test"]) == sum(1 for _, m in locs if m != "U")
    assert Counter(binary.card.label_names[i] for i in binary.splits["test"].labels) == \
        Counter({"M": "membrane", "S": "soluble"}[m] for _, m in locs if m != "U")


def test_thermostability_labels_are_temperatures(open_tasks):
    labels = open_tasks["thermostability_flip2021"].splits["test"].labels
    assert labels.dtype == np.float64 and 25 < labels.min() and labels.max() < 100


def tsv_card_text(name: str, ttype: str, sources: dict[str, str], columns: list[str], fields: dict[str, str], *,
                  extra: str = "") -> str:
    """A small card's TOML over local TSV files, up to the field names of its [format] table (callers add the
    rest); ``extra`` is a line after the top-level keys."""
    lines = ["", f'name = "{name}"', 'version = "0"', 'suites = ["mine"]', f'type = "{ttype}"', 'licence = "CC0"',
             'primary_metric = "accuracy"', 'label_names = ["no", "yes"]', extra]
    for source, path in sources.items():
        lines += [f"[sources.{source}]", f'path = "{path}"']
    lines += ["[format]", 'kind = "tsv"', f"columns = {json.dumps(columns)}"]
    return "\n".join(lines + [f'{key} = "{value}"' for key, value in fields.items()]) + "\n"


def assert_rejected(card: Path, message: str) -> None:
    """Reading ``card`` fails with ``message``, and the error names the file."""
    with pytest.raises(CardError, match=message) as info:
        load_card(card)
    assert str(card) in str(info.value)


def write_user_card(folder: Path, rows: str, *, ttype="binary", extra="") -> Path:
    (folder / "data.tsv").write_text(rows)
    card = folder / "my_task.toml"
    fields = {"id": "id", "sequence": "sequence", "label": "label"}
    card.write_text(tsv_card_text("my_task", ttype, {"all": "data.tsv"}, ["id", "sequence", "label", "split"], fields,
                                  extra=extra) + textwrap.dedent("""
        [splits]
        train = { source = "all", where = { split = "train" } }
        valid = { carve_from = "train", fraction = 0.25, seed = 1 }
        test = { source = "all", where = { split = "test" } }
        """).lstrip("\n"))
    return card


ROWS = "".join(f"p{i}\t{'ACDEFGHIK'[: 3 + i % 5]}\t{'yes' if i % 2 else 'no'}\t{'test' if i >= 8 else 'train'}\n"
               for i in range(12))


def test_user_card_with_local_files(tmp_path):
    card_path = write_user_card(tmp_path, ROWS)
    task = registry.load_task(str(card_path), progress=False)
    assert [len(task.splits[s]) for s in ("train", "valid", "test")] == [6, 2, 4]
    assert task.splits["test"].ids == ["p8", "p9", "p10", "p11"]
    assert task.splits["test"].labels.tolist() == [0, 1, 0, 1]
    registry.register_card(card_path)
    assert registry.get_card("my_task").name == "my_task"
    assert "mine" in registry.suites()


def test_bad_sequence_names_file_and_record(tmp_path):
    card_path = write_user_card(tmp_path, ROWS.replace("p3\tACDEFG", "p3\tAC1EFG"))
    with pytest.raises(SequenceError, match=r"data.tsv.*'p3'.*'1'"):
        registry.load_task(str(card_path), progress=False)
    card_path = write_user_card(tmp_path, ROWS.replace("p5\tACD\t", "p5\t  \t"))
    with pytest.raises(SequenceError, match=r"'p5'.*empty"):
        registry.load_task(str(card_path), progress=False)


def test_bad_label_names_record(tmp_path):
    card_path = write_user_card(tmp_path, ROWS.replace("p4\tACDEFGH\tno", "p4\tACDEFGH\tmaybe"))
    with pytest.raises(registry.TaskError, match=r"'p4'.*'maybe'"):
        registry.load_task(str(card_path), progress=False)


def test_expected_size_mismatch_is_reported(tmp_path):
    card_path = write_user_card(tmp_path, ROWS, extra="")
    text = card_path.read_text() + "\n[expected_sizes]\ntest = 5\n"
    card_path.write_text(text)
    with pytest.raises(registry.TaskError, match="expects 5"):
        registry.load_task(str(card_path), progress=False)


@pytest.mark.parametrize("change, message", [
    (("primary_metric = \"accuracy\"", "primary_metric = \"spearman\""), "does not apply"),
    (("type = \"binary\"", "type = \"ranking\""), "not one of"),
    (("path = \"data.tsv\"", "url = \"https://example.org/x.tsv\""), "no hash"),
    (("name = \"my_task\"", ""), "missing required field 'name'"),
])
def test_invalid_cards_are_rejected_with_the_file_name(tmp_path, change, message):
    card_path = write_user_card(tmp_path, ROWS)
    card_path.write_text(card_path.read_text().replace(*change))
    assert_rejected(card_path, message)


def test_packaged_cards_are_complete():
    cards = {c.name: c for c in registry.list_cards()}
    assert {c.name for c in registry.list_cards("open")} == set(SIZES)
    assert {c.name for c in registry.list_cards("paper")} == {
        "thermostability", "human_ppi", "metal_ion_binding", "subcellular_localization", "binary_localization"}
    for card in cards.values():
        assert card.description and card.citation and card.licence
        for src in card.sources.values():
            assert src.url and src.hash and ("/raw/" in src.url or "raw.githubusercontent" in src.url
                                             or "amazonaws" in src.url)


def test_sources_are_pinned_by_sha256_wherever_the_file_can_be_hashed(mirror):
    """A file the offline mirror holds is pinned by its sha256; md5 is kept only for a file no one here
    could hash, with the reason in a comment right above its hash line (tasks/README.md, Hashes)."""
    from lsdbench.tasks import fetch

    if mirror.startswith(("http://", "https://")):
        pytest.skip("needs the mirror as a directory")
    cards = [load_card(p) for p in sorted((Path(__file__).parents[1] / "tasks").glob("*.toml"))]  # this checkout's
    md5_cards = set()
    for card in cards:
        lines = card.path.read_text().splitlines()
        for src in card.sources.values():
            local = Path(mirror) / fetch.url_relpath(src.url)
            if local.is_file():
                assert src.hash == fetch.file_hash(local), f"{card.name}.{src.name}: pin the mirror file's sha256"
                continue
            if src.hash.startswith("md5:"):
                md5_cards.add(card.name)
                at = [i for i, line in enumerate(lines) if line.strip() == f'hash = "{src.hash}"']
                for i in at:
                    above = [line for line in lines[max(0, i - 3):i] if line.startswith("#")]
                    assert any("md5, not sha256:" in line for line in above), \
                        f"{card.path}:{i + 1}: an md5 pin needs the reason in a comment above it"
    assert md5_cards <= {c.name for c in cards if "paper" in c.suites}


def test_a_user_card_replaces_a_packaged_task_only_when_it_says_so(tmp_path, monkeypatch):
    from lsdbench.tasks.cards import CardError

    card_path = write_user_card(tmp_path, ROWS)
    card_path.write_text(card_path.read_text().replace('name = "my_task"', 'name = "metal_ion_binding"'))
    packaged = registry.get_card("metal_ion_binding")
    monkeypatch.setenv("LSDBENCH_TASKS", str(card_path))
    with pytest.raises(CardError, match="replaces_packaged = true"):
        registry.get_card("metal_ion_binding")  # silently answering with the user's card was the bug
    card_path.write_text("replaces_packaged = true\n" + card_path.read_text())
    mine = registry.get_card("metal_ion_binding")
    assert mine.path == card_path and mine.replaces_packaged and mine != packaged
    monkeypatch.delenv("LSDBENCH_TASKS")
    assert registry.get_card("metal_ion_binding") == packaged
