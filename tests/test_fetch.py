"""Fetching through pooch: mirror first, verified hashes, the failure modes and recovery."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from lsdbench.cli import main
from lsdbench.tasks import fetch, registry

CARD = "metal_ion_binding"


def _test_url() -> tuple[str, str]:
    src = registry.get_card(CARD).sources["test"]
    return src.url, src.hash


@pytest.fixture
def private_mirror(tmp_path, mirror) -> Path:
    """A writable copy of the metal-ion-binding part of the real mirror."""
    url, _ = _test_url()
    rel = Path(fetch.url_relpath(url)).parent
    shutil.copytree(Path(mirror) / rel, tmp_path / "mirror" / rel)
    return tmp_path / "mirror"


def test_mirror_layout_keeps_url_path_verbatim():
    url, _ = _test_url()
    assert fetch.url_relpath(url).endswith("data/Metal%20Ion%20Binding/test.txt")
    assert fetch.url_relpath(url).startswith("raw.githubusercontent.com/elttaes/")


def test_no_network_and_no_mirror_gives_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LSDBENCH_MIRROR")
    url, known = "https://lsdbench-test.invalid/data/x.tsv", "sha256:" + "0" * 64
    with pytest.raises(fetch.FetchError) as info:
        fetch.fetch_url(url, known, cache_dir=tmp_path)
    message = str(info.value)
    assert url in message and "LSDBENCH_MIRROR" in message
    assert not fetch.cached_path(url, tmp_path).exists()


def test_real_task_without_mirror_names_url_and_mirror_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("LSDBENCH_MIRROR")
    with pytest.raises(fetch.FetchError, match=r"raw\.githubusercontent\.com.*\n(.|\n)*LSDBENCH_MIRROR"):
        registry.load_task(CARD, cache_dir=tmp_path, progress=False)


def test_truncated_mirror_file_is_rejected_then_recovered(tmp_path, private_mirror):
    url, known = _test_url()
    bad = private_mirror / fetch.url_relpath(url)
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[: len(good_bytes) // 2])
    cache = tmp_path / "cache"
    with pytest.raises(fetch.HashMismatchError) as info:
        registry.load_task(CARD, cache_dir=cache, mirror=str(private_mirror), progress=False)
    err = info.value
    assert err.file == str(bad) and err.expected == known and err.actual != known
    assert str(bad) in str(err) and known in str(err) and err.actual in str(err)
    assert not fetch.cached_path(url, cache).exists()  # never kept, never parsed
    bad.write_bytes(good_bytes)  # a good source later: the same call now succeeds
    task = registry.load_task(CARD, cache_dir=cache, mirror=str(private_mirror), progress=False)
    assert len(task.splits["test"]) == 1332


def test_altered_cache_file_is_detected_and_fetched_again(tmp_path, mirror, caplog):
    url, known = _test_url()
    path = fetch.fetch_url(url, known, cache_dir=tmp_path, mirror=mirror)
    path.write_bytes(path.read_bytes().replace(b"\t1", b"\t0", 1))
    again = fetch.fetch_url(url, known, cache_dir=tmp_path, mirror=mirror)
    assert fetch.file_hash(again) == known
    assert any("expected " + known in r.getMessage() for r in caplog.records)


def test_altered_cache_file_without_good_source_is_an_error(tmp_path, mirror, monkeypatch):
    url, known = _test_url()
    path = fetch.fetch_url(url, known, cache_dir=tmp_path, mirror=mirror)
    path.write_bytes(b"garbage")
    monkeypatch.delenv("LSDBENCH_MIRROR")
    with pytest.raises(fetch.FetchError):
        fetch.fetch_url(url, known, cache_dir=tmp_path, mirror=None)
    assert not path.exists()  # the corrupted copy is gone, so it can never be parsed


@pytest.fixture
def http_mirror(private_mirror):
    """The mirror served over HTTP on loopback, to exercise a base-URL mirror."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(private_mirror))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_base_url_mirror(tmp_path, http_mirror):
    task = registry.load_task(CARD, cache_dir=tmp_path, mirror=http_mirror, progress=False)
    assert len(task.splits["train"]) == 5400


def test_mirror_export_round_trip(tmp_path, mirror, capsys):
    out = tmp_path / "exported"
    assert main(["mirror", "export", str(out), CARD, "--cache-dir", str(tmp_path / "c1")]) == 0
    url, known = _test_url()
    assert fetch.file_hash(out / fetch.url_relpath(url)) == known
    task = registry.load_task(CARD, cache_dir=tmp_path / "c2", mirror=str(out), progress=False)
    assert len(task.splits["test"]) == 1332


def test_cli_tasks_and_info(capsys):
    assert main(["tasks"]) == 0
    table = capsys.readouterr().out
    for line in ("metal_ion_binding", "5400/600/1332", "2646/294/1504", "1510/168/2768", "60/24/36"):
        assert line in table
    assert max(len(line) for line in table.splitlines()) <= 120  # URLs only with --wide
    assert main(["tasks", "--wide"]) == 0
    assert "https://" in capsys.readouterr().out
    assert main(["info", "human_ppi_example"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 120
    assert main(["info", "human_ppi_example", "--wide"]) == 0  # full hashes
    out = capsys.readouterr().out
    task = registry.load_task("human_ppi_example", progress=False)
    assert task.splits["test"].content_hash() in out
    # a pair task counts proteins (distinct sequences) shared between splits, and pairs touching them
    assert "proteins shared between splits: train/valid 4, train/test 6, valid/test 0" in out
    assert "test/train 0 / 36 of 36" in out
    assert main(["info", "metal_ion_binding"]) == 0
    out = capsys.readouterr().out
    assert "sequences shared between splits" in out
    assert "the seed below" in out and "split valid: 10% of train carved by seed 20250323, stratified" in out


def test_fetch_says_where_the_files_went_and_where_they_came_from(capsys, mirror, session_cache):
    assert main(["fetch", "human_ppi_example"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"kept under {session_cache / 'data'}, copied from the mirror {mirror}" in out


def test_cli_error_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("LSDBENCH_MIRROR")
    assert main(["fetch", CARD, "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsdbench: error: could not fetch https://raw.githubusercontent.com/")


def _archives(tmp_path: Path) -> dict[str, Path]:
    """A zip with two file members and a tar.gz with a folder member (as PEER's LMDB folders are)."""
    import io
    import tarfile
    import zipfile

    zpath = tmp_path / "data.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("d/a.csv", "sequence,target\nMKV,1.0\n")
        zf.writestr("d/b.csv", "sequence,target\nGGW,2.0\n")
    tpath = tmp_path / "data.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        for name, body in (("db/data.mdb", b"records"), ("db/lock.mdb", b"lock")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return {"zip": zpath, "tar": tpath}


def test_edited_extracted_member_is_detected_and_extracted_again(tmp_path, caplog):
    archives = _archives(tmp_path)
    cache = tmp_path / "cache"
    a = fetch.extract_member(archives["zip"], "d/a.csv", cache_dir=cache)
    b = fetch.extract_member(archives["zip"], "d/b.csv", cache_dir=cache)
    assert a.exists() and b.exists()  # members of one archive no longer evict each other
    assert fetch.extract_member(archives["zip"], "d/a.csv", cache_dir=cache) == a and not caplog.records
    a.write_text("sequence,target\nMKV,9.0\n")  # an edit after extraction, same length or not
    assert fetch.extract_member(archives["zip"], "d/a.csv", cache_dir=cache).read_text() == \
        "sequence,target\nMKV,1.0\n"
    [warning] = caplog.records
    assert "altered d/a.csv" in warning.getMessage() and "extracting it again" in warning.getMessage()
    db = fetch.extract_member(archives["tar"], "db", cache_dir=cache)
    (db / "data.mdb").unlink()
    (db / "extra.mdb").write_bytes(b"x")
    assert sorted(p.name for p in fetch.extract_member(archives["tar"], "db", cache_dir=cache).iterdir()) == \
        ["data.mdb", "lock.mdb"]
    assert "lost db/data.mdb" in caplog.records[-1].getMessage()
    (db / "extra.mdb").write_bytes(b"x")
    fetch.extract_member(archives["tar"], "db/", cache_dir=cache)
    assert "gained db/extra.mdb" in caplog.records[-1].getMessage() and not (db / "extra.mdb").exists()


def test_a_member_extracted_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    """Shards loading one task at once both extract it; the later one must not move the first's folder away
    (that process may be reading it) nor fail."""
    archives = _archives(tmp_path)
    cache = tmp_path / "cache"
    real = fetch._extract_into
    winner = {}

    def racing(*args):
        if not winner:  # another process finishes its extraction while this one extracts (the nested call)
            winner["racing"] = True
            winner["path"] = fetch.extract_member(archives["zip"], "d/a.csv", cache_dir=cache)
            winner["inode"] = winner["path"].stat().st_ino
        return real(*args)

    monkeypatch.setattr(fetch, "_extract_into", racing)
    got = fetch.extract_member(archives["zip"], "d/a.csv", cache_dir=cache)
    assert got == winner["path"] and got.stat().st_ino == winner["inode"]
    assert got.read_text() == "sequence,target\nMKV,1.0\n"
    assert not [p for p in got.parents[2].iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_edited_extracted_task_file_is_restored_on_load(tmp_path, mirror, caplog):
    """End to end on a real card whose CSV lives in a zip: an edited extraction never reaches the splits."""
    card = "thermostability_flip2021"
    first = registry.load_task(card, cache_dir=tmp_path, mirror=mirror, progress=False).split_hashes()
    [source] = registry.get_card(card).sources
    csv = registry.source_path(registry.get_card(card), source, cache_dir=tmp_path, mirror=mirror, progress=False)
    text = csv.read_text()
    assert ",47.7215496889894,train" in text
    csv.write_text(text.replace(",47.7215496889894,train", ",99.0,train", 1))  # a label edited: sizes still fit
    again = registry.load_task(card, cache_dir=tmp_path, mirror=mirror, progress=False).split_hashes()
    assert again == first and any("altered" in r.getMessage() for r in caplog.records)


def test_a_relative_mirror_is_taken_from_where_the_process_started(monkeypatch, tmp_path):
    """`LSDBENCH_MIRROR=../shared/mirror make test` as typed: code that changes directory later still
    finds the mirror the user named."""
    from pathlib import Path

    import lsdbench
    from lsdbench import settings

    monkeypatch.setenv("LSDBENCH_MIRROR", "../shared/mirror")
    monkeypatch.chdir(tmp_path)
    assert settings.mirror() == str((Path(lsdbench.LAUNCH_DIR) / "../shared/mirror").resolve())
    monkeypatch.setenv("LSDBENCH_MIRROR", "https://example.org/mirror/")
    assert settings.mirror() == "https://example.org/mirror/"  # a base URL is kept as it is
