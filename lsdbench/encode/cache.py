"""A content-addressed cache of pooled embeddings, shared by every task.

Layout: ``CACHE/embeddings/<encoder name>/<config hash>/`` holding ``encoder.json`` (name and full
config) and shards ``shard-<sha256>.npz``, each with the sequence keys (sha256 of the sequence), the
float32 embeddings and a checksum over both and the entry's folder name (so a shard copied or renamed
into another entry fails it); ``cost.json`` records what the passes that filled it
cost (``lsdbench.encode.cost``), so a run that only reads the entry can still report it. Shards are written
to a temporary file and renamed, so a killed run leaves only whole shards; a shard that fails its
checksum or does not load is reported, deleted and its sequences are embedded again. Every file has a
name of its own (content-named shards, temporary names from mkstemp), so processes filling one entry at
once never write the same file. ``done/<task>.<I>-of-<N>.json`` are the completion markers of
``--shard`` runs (lsdbench.encode.shards).

Trust: the checksum detects damage and misplaced shards, not forgery. Whoever can write the cache
folder can change scores (a shard of other values with its checksum recomputed is used as it is), so
a cache shared between users must be writable only by those whose results are trusted (README,
"The embedding cache is a trust boundary"). Only regular files are read (a FIFO or device in the
cache is refused, never opened), and NaN or inf embeddings are refused on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import shutil
import stat
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lsdbench import settings
from lsdbench.atomic import atomic_open, atomic_write_text
from lsdbench.errors import UserError
from lsdbench.names import cache_folder

log = logging.getLogger(__name__)


class CacheError(UserError, ValueError):
    """A cache entry cannot be used as it is; the message names the entry and how to clear it."""


def sequence_key(sequence: str) -> str:
    return hashlib.sha256(sequence.encode()).hexdigest()


def config_digest(name: str, config: dict[str, Any]) -> str:
    canonical = json.dumps({"name": name, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _checksum(keys: np.ndarray, emb: np.ndarray, entry: str | None) -> str:
    """sha256 over the entry's folder name (binding the shard to its encoder config), keys and embeddings;
    ``entry=None``: the checksum of shards written before they were bound (still read: a cache of hours)."""
    h = hashlib.sha256(f"entry {entry}\n".encode() if entry is not None else b"")
    h.update(keys.tobytes())
    h.update(str(emb.shape).encode())
    h.update(np.ascontiguousarray(emb).tobytes())
    return h.hexdigest()


def _atomic_save(path: Path, **arrays: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


class EmbeddingCache:
    """Pooled embeddings of one encoder (name + config), keyed by sequence sha256."""

    def __init__(self, name: str, config: dict[str, Any], cache_dir=None):
        self.name, self.config = name, config
        digest = config_digest(name, config)
        self.root = settings.cache_dir(cache_dir)
        self.dir = self.root / "embeddings" / cache_folder(name) / digest[:24]
        self._index: dict[str, tuple[Path, int]] | None = None
        self._loaded: dict[Path, np.ndarray] = {}

    # -- reading ---------------------------------------------------------------------------
    def _load_shard(self, path: Path) -> tuple[list[str], np.ndarray] | None:
        try:
            return _read_shard_once(path)
        except Exception as exc:  # truncated zip, bad arrays, failed checksum: recompute
            log.warning("embedding cache shard %s is corrupted (%s); deleting it, its sequences will be "
                        "embedded again", path, exc)
            path.unlink(missing_ok=True)
            return None

    def _ensure_index(self) -> dict[str, tuple[Path, int]]:
        if self._index is None:
            paths = tuple(sorted(self.dir.glob("shard-*.npz")) if self.dir.exists() else [])
            known = _INDEX_MEMO.get(str(self.dir))
            if known is not None and known[0] == paths and all(
                    p in _SHARD_MEMO_KEYS and _SHARD_MEMO_KEYS[p] == _stat_key(p) for p in paths):
                self._index = dict(known[1])  # a copy: put() adds to it
                self._loaded = {p: _SHARD_MEMO[_SHARD_MEMO_KEYS[p]][1] for p in paths}
                return self._index
            self._index = {}
            for path in paths:
                loaded = self._load_shard(path)
                if loaded is None:
                    continue
                keys, emb = loaded
                self._loaded[path] = emb
                for row, key in enumerate(keys):
                    self._index[key] = (path, row)
            # the index only: its arrays stay in the shard memo, whose byte bound is the one that holds
            _INDEX_MEMO[str(self.dir)] = (paths, dict(self._index))
            _INDEX_MEMO.move_to_end(str(self.dir))
            if len(_INDEX_MEMO) > INDEX_MEMO_ENTRIES:
                _INDEX_MEMO.popitem(last=False)
        return self._index

    def missing(self, keys: Iterable[str]) -> list[str]:
        index = self._ensure_index()
        return [k for k in keys if k not in index]

    def get(self, keys: list[str]) -> np.ndarray:
        index = self._ensure_index()
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        rows = [self._loaded[index[k][0]][index[k][1]] for k in keys]
        dims = sorted({len(r) for r in rows})
        if len(dims) > 1:  # shards of both widths: written by another process, or before put checked
            raise self._changed(f"holds embeddings of dimensions {dims}")
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._ensure_index())

    def _changed(self, what: str) -> CacheError:
        """The encoder's output changed under the same name and config: say which folder and how to clear it."""
        command = f"lsdbench cache clear --encoder {shlex.quote(self.name)}"
        if self.root != settings.cache_dir():  # a --cache-dir of its own: the command must name it too
            command += f" --cache-dir {shlex.quote(str(self.root))}"
        return CacheError(f"embedding cache entry {self.dir} of encoder {self.name!r} {what}: its output changed "
                          f"without a change of name or config. Delete that folder, or every entry of the encoder "
                          f"with `{command}`, or rerun eval/sweep with --recompute (and put a version in its config)")

    # -- writing ---------------------------------------------------------------------------
    def put(self, keys: list[str], emb: np.ndarray) -> None:
        """Store one batch as a new shard (atomically)."""
        if len(keys) != len(emb):
            raise ValueError("keys and embeddings differ in length")
        if not keys:
            return
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        self._ensure_index()
        stored = sorted({shard.shape[1] for shard in self._loaded.values()})
        if stored and stored != [emb.shape[1]]:  # refused before writing: the entry stays of one width
            widths = ", ".join(map(str, stored))
            raise self._changed(f"holds embeddings of dimension {widths}, the encoder now gives {emb.shape[1]}")
        self._write_meta()
        key_arr = np.array(keys, dtype="S64")
        checksum = _checksum(key_arr, emb, self.dir.name)
        path = self.dir / f"shard-{checksum[:32]}.npz"
        _atomic_save(path, keys=key_arr, emb=emb, checksum=np.array(checksum))
        index = self._ensure_index()
        self._loaded[path] = emb
        for row, key in enumerate(keys):
            index[key] = (path, row)

    def _write_meta(self) -> None:
        meta = self.dir / "encoder.json"
        if not meta.exists():  # processes writing it at once write the same bytes, each through its own file
            atomic_write_text(meta, json.dumps({"name": self.name, "config": self.config}, sort_keys=True, indent=1))

    # -- completion markers of --shard runs --------------------------------------------------
    def marker_path(self, task: str, index: int, count: int) -> Path:
        return self.dir / MARKERS / f"{cache_folder(task)}.{index}-of-{count}.json"

    def write_marker(self, task: str, index: int, count: int, record: dict[str, Any]) -> Path:
        """Say (atomically) that shard ``index`` of ``count`` of ``task`` is in this entry; an entry holding
        only markers is still an entry (``encoder.json`` is written), so ``cache verify`` finds it."""
        self._write_meta()
        return atomic_write_text(self.marker_path(task, index, count), json.dumps(record, sort_keys=True, indent=1))


MARKERS = "done"


# Shards already read and checked by this process, by (path, inode, size, mtime): a shard file is
# content-named and replaced only by rename, so an unchanged stat means unchanged bytes. The main job
# indexes one entry once per task and level; without this each index re-reads and re-hashes every shard.
_SHARD_MEMO: OrderedDict[tuple, tuple[list[str], np.ndarray]] = OrderedDict()
_SHARD_MEMO_KEYS: dict[Path, tuple] = {}  # shard path -> the stat its memo entry was read under
# an entry's index, by folder: (the shard files it was built from, index); reused only while the folder
# lists the same shards and each is still in the shard memo as the file that was read
_INDEX_MEMO: OrderedDict[str, tuple] = OrderedDict()
INDEX_MEMO_ENTRIES = 64  # a sweep reads ~10 encoder configurations at a time
SHARD_MEMO_BYTES = 1 << 30  # least recently read shards are dropped beyond this
_memo_bytes = 0


def _stat_key(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


def _read_shard_once(path: Path) -> tuple[list[str], np.ndarray]:
    """Keys (as str) and embeddings of a whole shard, read and checked once while the file is unchanged."""
    global _memo_bytes
    key = _stat_key(path)
    if key is None:
        raise FileNotFoundError(path)
    hit = _SHARD_MEMO.get(key)
    if hit is not None:
        _SHARD_MEMO.move_to_end(key)
        return hit
    keys, emb, _ = read_shard(path)
    emb.flags.writeable = False  # shared by every cache object that reads this shard
    entry = (keys.astype(str).tolist(), emb)
    _SHARD_MEMO[key] = entry
    _SHARD_MEMO_KEYS[path] = key
    _memo_bytes += emb.nbytes
    while _memo_bytes > SHARD_MEMO_BYTES and len(_SHARD_MEMO) > 1:
        (dropped, *_), (_, old) = _SHARD_MEMO.popitem(last=False)
        _SHARD_MEMO_KEYS.pop(Path(dropped), None)
        _memo_bytes -= old.nbytes
    return entry


def regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (not a FIFO, device or symlink): opening anything else in
    the cache could hang or read what the cache does not hold."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def read_shard(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """keys, embeddings and checksum of one shard file; ValueError (or an I/O error) when it is not whole,
    not a regular file, not of its entry, or holds NaN or inf."""
    if not regular_file(path):
        raise ValueError("not a regular file (a FIFO, device or link is never read)")
    with np.load(path, allow_pickle=False) as data:
        keys, emb, checksum = data["keys"], data["emb"], str(data["checksum"])
    if emb.dtype != np.float32 or emb.ndim != 2 or len(keys) != len(emb):
        raise ValueError("unexpected array layout")
    if checksum not in (_checksum(keys, emb, path.parent.name), _checksum(keys, emb, None)):
        raise ValueError("checksum mismatch (damaged, or moved from another entry)")
    if not np.isfinite(emb).all():
        raise ValueError("holds NaN or inf embeddings")
    return keys, emb, checksum


def scan_entry(entry: Path) -> tuple[dict[str, str], list[str]]:
    """Read every shard of an entry without changing anything: {sequence key: shard file name} of the whole
    shards, and one line per shard that is not whole or not named after its checksum."""
    keys: dict[str, str] = {}
    problems = []
    for path in sorted(entry.glob("shard-*.npz")):
        try:
            stored, _, checksum = read_shard(path)
        except Exception as exc:  # any unreadable file is a finding here, not a crash
            problems.append(f"shard file {path.name} does not load or fails its checksum ({exc})")
            continue
        if path.name != f"shard-{checksum[:32]}.npz":
            problems.append(f"shard file {path.name} is not named after its checksum {checksum[:32]}")
        keys.update(dict.fromkeys(stored.astype(str).tolist(), path.name))
    return keys, problems


def read_markers(entry: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """(file name, record) of each completion marker of an entry; the record is None when it does not parse."""
    found = []
    for path in sorted((entry / MARKERS).glob("*.json")):
        record = read_small_json(path)
        found.append((path.name, record if isinstance(record, dict) else None))
    return found


def read_small_json(path: Path) -> Any:
    """A cache metadata file (marker, encoder.json) as JSON, or None when it is not a regular file of at
    most CACHE_FILE_BYTES that parses: a FIFO would hang, a huge file would buy memory."""
    if not regular_file(path) or path.stat().st_size > settings.CACHE_FILE_BYTES.value():
        return None
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _entry_info(meta: Path) -> dict[str, Any]:
    """An entry's encoder.json; one that is not a record this code wrote stands as an entry named '?' with
    its problem, so that `cache info|verify|clear` report it instead of failing."""
    info = read_small_json(meta)
    if isinstance(info, dict) and isinstance(info.get("name"), str) and isinstance(info.get("config"), dict):
        return info
    return {"name": "?", "config": {}, "problem": f"{meta} is not a readable encoder record (not JSON with a "
                                                  f"name and a config, or over {settings.CACHE_FILE_BYTES.hint()}); "
                                                  f"`lsdbench cache clear` removes it"}


def entries(cache_dir=None) -> list[tuple[dict[str, Any], Path]]:
    """(``encoder.json`` record: name and config, folder) of every cached encoder configuration."""
    root = settings.cache_dir(cache_dir) / "embeddings"
    return [(_entry_info(meta), meta.parent)
            for meta in (sorted(root.glob("*/*/encoder.json")) if root.exists() else [])]


def cache_summary(cache_dir=None) -> list[dict[str, Any]]:
    """One entry per cached encoder configuration: name, config, sequences, bytes."""
    out = []
    for info, folder in entries(cache_dir):
        shards = list(folder.glob("shard-*.npz"))
        n = 0
        for shard in shards:
            if not regular_file(shard):
                continue
            try:
                with np.load(shard, allow_pickle=False) as data:
                    n += len(data["keys"])
            except Exception:
                continue
        out.append({"name": info["name"], "config": info["config"], "path": str(folder),
                    "sequences": n, "bytes": sum(s.stat().st_size for s in shards)})
    return out


# What lsdbench.encode.embedding adds to an encoder's config to key its entry (policy, side inputs): an encoder
# configuration is its name and config without these.
HARNESS_KEYS = frozenset({"_long_sequences", "_inputs"})


def entries_of(name: str, config: dict[str, Any], cache_dir=None) -> list[Path]:
    """The entry folders of one encoder configuration, under every long-sequence policy and side input."""
    root = settings.cache_dir(cache_dir) / "embeddings" / cache_folder(name)
    found = []
    for meta in sorted(root.glob("*/encoder.json")) if root.exists() else []:
        try:
            info = read_small_json(meta)
            stored = {k: v for k, v in info["config"].items() if k not in HARNESS_KEYS}
        except (KeyError, AttributeError, TypeError):
            continue  # not an entry this code wrote: left to `cache clear`
        if info.get("name") == name and stored == json.loads(json.dumps(config)):  # as JSON stored it
            found.append(meta.parent)
    return found


def clear_config(name: str, config: dict[str, Any], cache_dir=None) -> int:
    """Delete the cached embeddings of one encoder configuration (``--recompute``); returns entries removed."""
    entries = entries_of(name, config, cache_dir)
    for entry in entries:
        shutil.rmtree(entry)
    return len(entries)


def clear(cache_dir=None, name: str | None = None) -> int:
    """Delete cached embeddings (of one encoder name, or all); returns the number of configurations removed."""
    removed = 0
    for entry in cache_summary(cache_dir):
        if name is None or entry["name"] == name:
            shutil.rmtree(entry["path"])  # an error (read-only cache) is reported, never counted as removed
            removed += 1
    return removed
