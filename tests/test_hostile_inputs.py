"""Issue 14: hostile inputs (confined card paths, short escaped excerpts in errors)."""

from __future__ import annotations

import os

import pytest
from test_registry import ROWS, write_user_card

from lsdbench.tasks import fetch, registry
from lsdbench.text import excerpt


@pytest.mark.parametrize("path", ["../../../../../../proc/self/environ", "/etc/passwd", "../outside.tsv"])
def test_card_path_outside_its_folder_is_refused(tmp_path, path):
    folder = tmp_path / "card"
    folder.mkdir()
    (tmp_path / "outside.tsv").write_text(ROWS)
    card = write_user_card(folder, ROWS)
    card.write_text(card.read_text().replace('path = "data.tsv"', f'path = "{path}"'))
    with pytest.raises(fetch.FetchError, match="outside the card's folder") as info:
        registry.load_task(str(card), progress=False)
    assert "LSDBENCH_TRUST_CARD_PATHS" in str(info.value)


def test_symlink_out_of_the_folder_is_refused_unless_trusted(tmp_path, monkeypatch):
    folder = tmp_path / "card"
    folder.mkdir()
    (tmp_path / "outside.tsv").write_text(ROWS)
    card = write_user_card(folder, ROWS)
    (folder / "data.tsv").unlink()
    (folder / "data.tsv").symlink_to(tmp_path / "outside.tsv")
    with pytest.raises(fetch.FetchError, match="outside"):
        registry.load_task(str(card), progress=False)
    monkeypatch.setenv(registry.TRUST_PATHS_ENV, "1")
    assert len(registry.load_task(str(card), progress=False).splits["test"]) == 4


def test_card_path_must_be_a_regular_file(tmp_path):
    card = write_user_card(tmp_path, ROWS)
    (tmp_path / "sub").mkdir()
    card.write_text(card.read_text().replace('path = "data.tsv"', 'path = "sub"'))
    with pytest.raises(fetch.FetchError, match="not a regular file"):
        registry.load_task(str(card), progress=False)
    if os.path.exists("/dev/zero"):
        os.symlink("/dev/zero", tmp_path / "zero")
        card.write_text(card.read_text().replace('path = "sub"', 'path = "zero"'))
        with pytest.raises(fetch.FetchError):
            registry.load_task(str(card), progress=False)


def test_raw_values_in_errors_are_short_and_escaped(tmp_path):
    secret = "SECRET_TOKEN=" + "x" * 500 + "\x1b[31m"
    card = write_user_card(tmp_path, ROWS.replace("p3\tACDEFG", f"{secret}\tAC1EFG"))
    with pytest.raises(Exception) as info:
        registry.load_task(str(card), progress=False)
    message = str(info.value)
    assert "x" * 60 not in message and "\x1b" not in message and "(518 chars)" in message


def test_excerpt():
    assert excerpt("abc") == "'abc'"
    assert excerpt("a\nb\x00") == "'a\\nb\\x00'"
    assert excerpt("y" * 100, 10) == "'yyyyyyyyyy'... (100 chars)"
    assert excerpt(12) == "12" and excerpt(b"\xff") == "b'\\xff'"


def test_encoder_names_stay_under_embeddings_and_apart(tmp_path):
    import numpy as np

    from lsdbench.encode.cache import EmbeddingCache
    from lsdbench.names import cache_folder as folder_name
    from lsdbench.results.result import result_filename

    root = (tmp_path / "embeddings").resolve()
    for name in ("..", ".", "../../x", "a/b", "/etc", ".hidden"):
        cache = EmbeddingCache(name, {}, cache_dir=tmp_path)
        assert cache.dir.resolve().parent.parent == root, name
    assert folder_name("aac") == "aac" and folder_name("my enc") != folder_name("my/enc")
    assert result_filename("my enc", {}, "t", "linear") != result_filename("my/enc", {}, "t", "linear")
    assert result_filename("aac", {}, "t", "linear").startswith("aac-")

    # a width change is refused before its shard is written, naming the folder and the command to clear it
    cache = EmbeddingCache("changed", {}, cache_dir=tmp_path)
    cache.put(["k1"], np.ones((1, 3), np.float32))
    with pytest.raises(Exception, match="dimension 3, the encoder now gives 4") as info:
        cache.put(["k2"], np.ones((1, 4), np.float32))
    assert str(cache.dir) in str(info.value) and f"cache clear --encoder changed --cache-dir {tmp_path}" in str(info.value)
    assert len(list(cache.dir.glob("shard-*.npz"))) == 1
    # an entry already holding both widths (another process wrote the other) fails on read the same way
    other = EmbeddingCache("changed", {}, cache_dir=tmp_path / "c2")
    late = EmbeddingCache("changed", {}, cache_dir=tmp_path / "c2")
    late.missing(["k1"])  # its index was read while the entry was empty
    other.put(["k1"], np.ones((1, 3), np.float32))
    late.put(["k2"], np.ones((1, 4), np.float32))
    with pytest.raises(Exception, match=r"dimensions \[3, 4\]") as info:
        EmbeddingCache("changed", {}, cache_dir=tmp_path / "c2").get(["k1", "k2"])
    assert str(late.dir) in str(info.value)
    # a name that needs quoting gets it, so the command can be pasted
    odd = EmbeddingCache("my enc", {}, cache_dir=tmp_path)
    odd.put(["k1"], np.ones((1, 3), np.float32))
    with pytest.raises(Exception, match="cache clear --encoder 'my enc'"):
        odd.put(["k2"], np.ones((1, 2), np.float32))


def test_cache_clear_counts_only_what_it_removed(tmp_path, monkeypatch):
    import shutil

    import numpy as np

    from lsdbench.encode import cache as embed_cache

    embed_cache.EmbeddingCache("enc", {}, cache_dir=tmp_path).put(["k"], np.ones((1, 2), np.float32))

    def refuse(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", refuse)
    with pytest.raises(PermissionError):
        embed_cache.clear(tmp_path)
