"""Parsers of the `paper` suite's formats (PEER LMDB in zip/tar.gz, FLIP split CSV in zip), on fixtures
that reproduce the real layouts, since those archives are not in the offline mirror."""

from __future__ import annotations

import io
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import lmdb
import pytest

from lsdbench.tasks import fetch, registry, safe_pickle
from lsdbench.tasks.cards import parse_card

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def write_lmdb(folder: Path, records: list) -> Path:
    folder.mkdir(parents=True)
    env = lmdb.open(str(folder), map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"num_examples", pickle.dumps(len(records)))
        for i, rec in enumerate(records):
            txn.put(str(i).encode(), rec if isinstance(rec, bytes) else pickle.dumps(rec))
    env.close()
    return folder


def localised(card_name: str, tmp_path: Path, archive: Path) -> Path:
    """The packaged card with its URL sources replaced by a local fixture archive (same members)."""
    card = registry.get_card(card_name)
    data = tomllib.loads(card.path.read_text())
    for src in data["sources"].values():
        src.pop("url")
        src["path"] = archive.name  # local paths are confined to the card's folder
        src["hash"] = fetch.file_hash(archive)
    data.pop("expected_sizes")
    return parse_card(data, where=f"fixture for {card_name}", path=archive.parent / f"{card_name}.toml")


def test_human_ppi_lmdb_in_zip(tmp_path):
    root = tmp_path / "build"
    for split, n in (("train", 4), ("valid", 2), ("test", 3), ("cross_species_test", 1)):
        write_lmdb(root / "human_ppi" / f"human_ppi_{split}.lmdb",
                   [{"primary_1": "MKV" + "A" * i, "primary_2": "GGS" + "L" * i, "interaction": i % 2,
                     "protein_length_1": 3 + i} for i in range(n)])
    archive = tmp_path / "human_ppi.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(root.rglob("*")):
            zf.write(file, file.relative_to(root).as_posix())
    task = registry.load_task(localised("human_ppi", tmp_path, archive), progress=False)
    assert [len(task.splits[s]) for s in ("train", "valid", "test")] == [4, 2, 3]
    test = task.splits["test"]
    assert test.sequences == ["MKV", "MKVA", "MKVAA"] and test.sequences_b[2] == "GGSLL"
    assert test.labels.tolist() == [0, 1, 0]


def test_peer_localization_lmdb_in_tar_gz(tmp_path):
    import numpy as np

    root = tmp_path / "build"
    for split, n in (("train", 5), ("valid", 2), ("test", 3)):
        write_lmdb(root / "subcellular_localization" / f"subcellular_localization_{split}.lmdb",
                   [{"primary": "MSTNP" * (i + 1), "localization": np.int64(i % 10), "id": f"{split}{i}"}
                    for i in range(n)])
    archive = tmp_path / "subcellular_localization.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root / "subcellular_localization", arcname="subcellular_localization")
    task = registry.load_task(localised("subcellular_localization", tmp_path, archive), progress=False)
    assert task.splits["train"].labels.tolist() == [0, 1, 2, 3, 4]
    assert task.splits["test"].sequences[1] == "MSTNP" * 2
    assert task.card.n_classes == 10


def test_flip_human_cell_csv_in_zip(tmp_path):
    rows = ["sequence,target,set,validation",
            "MKLV,45.1,train,", "MKLA,50.2,train,True", "MKLC,39.0,train,", "MKLD,61.5,test,", "MKLE,42.0,test,"]
    archive = tmp_path / "splits.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("splits/human_cell.csv", "\n".join(rows) + "\n")
        zf.writestr("splits/mixed_split.csv", "sequence,target,set,validation\n")
    task = registry.load_task(localised("thermostability", tmp_path, archive), progress=False)
    assert task.splits["train"].sequences == ["MKLV", "MKLC"]
    assert task.splits["valid"].sequences == ["MKLA"]
    assert task.splits["test"].labels.tolist() == [61.5, 42.0]


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/lsdbench-pwned",))


def test_malicious_pickle_is_refused_and_never_run(tmp_path):
    marker = Path("/tmp/lsdbench-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(safe_pickle.UnsafePickleError, match="posix.system|os.system"):
        safe_pickle.loads(pickle.dumps(_Exploit()))
    folder = write_lmdb(tmp_path / "bad.lmdb", [{"primary": "MK", "localization": 0}, pickle.dumps(_Exploit())])
    from lsdbench.tasks.formats import FormatError, read_rows

    with pytest.raises(FormatError, match="record 1"):
        read_rows(folder, {"kind": "lmdb", "sequence": "primary", "label": "localization"},
                  prefix="x", display=str(folder))
    assert not marker.exists()


def test_plain_data_and_numpy_are_admitted():
    import numpy as np

    record = {"primary": "MK", "localization": np.int64(3), "mask": np.arange(3), "set": {1, 2}}
    out = safe_pickle.loads(pickle.dumps(record))
    assert out["localization"] == 3 and out["mask"].tolist() == [0, 1, 2] and out["set"] == {1, 2}


def test_archive_member_escaping_the_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tf:
        data = b"x"
        info = tarfile.TarInfo("../escape.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(fetch.FetchError, match="escapes"):
        fetch.extract_member(archive, "../escape.txt", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "escape.txt").exists()


def _forged(payload: bytes) -> bytes:
    return b"\x80\x02" + payload + b"."


@pytest.mark.parametrize("record", [
    # numpy.ndarray((1,), 'O', b'AAAAAAAA'): an object array of forged pointers (SIGSEGV on use)
    _forged(b"cnumpy\nndarray\n(K\x01\x85U\x01OC\x08AAAAAAAAtR"),
    # numpy.ndarray((2**28,), 'f8'): 2 GiB from a 40-byte record
    _forged(b"cnumpy\nndarray\n(J\x00\x00\x00\x10\x85U\x02f8tR"),
    # numpy.dtype('O') itself and an object array through _reconstruct
    pickle.dumps(__import__("numpy").dtype("O")),
    pickle.dumps(__import__("numpy").array([1, "a"], dtype=object)),
    pickle.dumps(__import__("numpy").array([(1, 2.0)], dtype="i4,f8")),
    # bytes that do not fill the claimed shape
    pickle.dumps(__import__("numpy").arange(4)).replace(b"K\x04\x85", b"K\x09\x85"),
])
def test_forged_numpy_records_are_refused(record):
    with pytest.raises(safe_pickle.UnsafePickleError):
        safe_pickle.loads(record)


def test_numeric_arrays_are_rebuilt_without_numpy_callables():
    import numpy as np

    for protocol in (2, 4, 5):
        rec = {"a": np.arange(6, dtype=">i4").reshape(2, 3), "f": np.asfortranarray(np.eye(2)),
               "s": np.float32(2.5), "b": np.array([True, False]), "t": (1, b"x", None)}
        out = safe_pickle.loads(pickle.dumps(rec, protocol=protocol))
        assert out["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and out["a"].flags.writeable
        assert out["f"].tolist() == [[1, 0], [0, 1]] and out["s"] == 2.5 and type(out["s"]) is float
        assert out["b"].dtype == bool and out["t"] == (1, b"x", None)


def test_oversized_and_deep_records_are_refused():
    with pytest.raises(safe_pickle.UnsafePickleError, match="limit"):
        safe_pickle.loads(pickle.dumps(b"x" * 100), max_bytes=50)
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(safe_pickle.UnsafePickleError, match="nested"):
        safe_pickle.loads(pickle.dumps(deep))
    with pytest.raises(safe_pickle.UnsafePickleError, match="not a valid pickle"):
        safe_pickle.loads(b"\x80\x04garbage")
