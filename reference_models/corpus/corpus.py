"""The pretraining corpus as memory-mapped token files, prepared from a FASTA of any size as a stream.

``prepare_corpus`` reads the source once and never holds it in memory:

1. stream: each record is normalized (the rules of ``alphabet.normalize``) and tokenized with two
   ``bytes.translate`` calls, its tokens appended to a temporary flat file, and its key, the first 16
   bytes of sha256(``"0:" + sequence``), appended with its record number to one of 256 shard files
   chosen by the key's first byte;
2. per shard (in key order): exact duplicates are dropped (the first occurrence stays), every sequence
   of a task's valid/test split is dropped (decontamination, matched by key), and the survivors are kept
   sorted by key. Held out are the ``round(fraction * kept)`` smallest keys over all shards: the rule of
   ``data.split_heldout`` (the sha256 ranking of ``"0:" + sequence``), so the split never changes;
3. the verdicts are regrouped by record number into buckets of 131,072 records (more past 1e9 records), and each bucket
   streams its part of the temporary token file into ``train.bin`` / ``heldout.bin`` in input order.

Memory is that of one shard or one bucket and a 16 MiB read buffer, whatever the size of the input:
a record longer than the ``corpus_record_bytes`` limit (lsdbench.settings) is refused, whatever its
line structure, and a URL that stalls or trickles below ``url_min_bytes_per_s`` ends with one line.

Each split is ``SPLIT.bin`` (uint8 token ids, residues only, concatenated, as nanoGPT's ``train.bin``),
``SPLIT.idx`` (uint64 offsets, one more than sequences) and ``SPLIT.keys`` (the 16-byte key of each
sequence: the manifest of hashes, e.g. to check new tasks for overlap without reading the sequences);
``manifest.json`` records every file's size and sha256. ``TokenCorpus`` (token_files.py, with the
byte-level token tables) reads a split through ``numpy.memmap``. The sequences, their order and
``train_hash`` are those the in-memory path (``data.load_sequences`` + ``data.split_heldout``) gives for
the same source.

This module imports neither torch nor the harness.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lsdbench.atomic import atomic_write_text

# reading sources (sources.py) and the token files' format, re-exported: callers read the corpus as ``corpus.X``
from reference_models.corpus.sources import fasta_records, open_source, swissprot_records  # noqa: F401
from reference_models.corpus.token_files import (  # noqa: F401
    FORMAT,
    INVALID,
    KEY_BYTES,
    KEY_DOC,
    SPLITS,
    TO_ID,
    TO_LETTER,
    WHITESPACE,
    CorpusError,
    TokenCorpus,
    sequence_key,
    tokenize,
)

N_SHARDS = 256  # by the key's first byte; ~100 MiB per shard at 1e9 input sequences
BUCKET_RECORDS = 1 << 17  # records per verdict bucket (3 MiB), unless that needs more than MAX_BUCKETS files
MAX_BUCKETS = 4096
READ_BYTES = 1 << 24  # tokens per block of the write pass (sources.READ_BYTES: bytes per block of the source)

_RECORD = np.dtype([("hi", ">u8"), ("lo", ">u8"), ("idx", "<u8")])  # key (big-endian: sorts as bytes), record no.
_VERDICT = np.dtype([("hi", ">u8"), ("lo", ">u8"), ("code", "<u8")])  # code = record no. * 4 + split (1 train, 2 held)


def _keys_to_records(keys: bytes, first_idx: int) -> np.ndarray:
    rec = np.empty(len(keys) // KEY_BYTES, _RECORD)
    pairs = np.frombuffer(keys, ">u8").reshape(-1, 2)
    rec["hi"], rec["lo"] = pairs[:, 0], pairs[:, 1]
    rec["idx"] = np.arange(first_idx, first_idx + len(rec), dtype=np.uint64)
    return rec


# ---- the three passes -----------------------------------------------------------------------------

def prepare_corpus(records: Iterable[bytes], out, *, heldout_fraction: float = 0.02,
                   banned: dict[bytes, list[str]] | None = None, source: str = "") -> dict:
    """Write train/heldout token files of ``records`` (raw sequences) into ``out``; returns the summary.

    ``banned`` maps keys (``sequence_key``) of task valid/test sequences to the tasks that hold them.
    The summary has the counts, hashes and per-task removals; ``data.json`` is written by the caller.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".prepare.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        n_records = _stream_pass(records, tmp)
        kept_per_shard, duplicates, removed, removed_per_task = _shard_pass(tmp, banned or {})
        n_kept = sum(kept_per_shard)
        n_held = int(round(heldout_fraction * n_kept))
        n_buckets = _verdict_pass(tmp, n_held, n_records)
        summary = _write_pass(tmp, out, n_records, n_buckets)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary.update({"format": FORMAT, "source": source, "input_records": n_records, "duplicates": duplicates,
                    "deduplicated": n_records - duplicates, "removed": removed, "removed_per_task": removed_per_task,
                    "heldout_fraction": heldout_fraction})
    return summary


def _stream_pass(records: Iterable[bytes], tmp: Path) -> int:
    """Tokens of every non-empty record to all.bin / all.idx, (key, record no.) to the shard files."""
    shards = [open(tmp / f"shard-{s:03d}", "wb") for s in range(N_SHARDS)]
    n, offset = 0, 0
    keys, offsets = bytearray(), [0]
    try:
        with open(tmp / "all.bin", "wb") as tokens, open(tmp / "all.idx", "wb") as idx:
            idx.write(np.zeros(1, np.uint64).tobytes())

            def flush():
                nonlocal keys, offsets
                if keys:
                    rec = _keys_to_records(bytes(keys), n - len(keys) // KEY_BYTES)
                    shard = (rec["hi"] >> np.uint64(56)).astype(np.intp)
                    order = np.argsort(shard, kind="stable")
                    rec, shard = rec[order], shard[order]
                    bounds = np.searchsorted(shard, np.arange(N_SHARDS + 1))
                    for s in np.flatnonzero(np.diff(bounds)):
                        shards[s].write(rec[bounds[s]:bounds[s + 1]].tobytes())
                    idx.write(np.asarray(offsets[1:], np.uint64).tobytes())
                keys, offsets = bytearray(), [offsets[-1]]

            for number, raw in enumerate(records):
                ids = tokenize(raw, f" of record {number + 1}")
                if not ids:
                    continue  # an empty record is no sequence (as in data.load_sequences)
                tokens.write(ids)
                keys += sequence_key(ids.translate(TO_LETTER))
                offset += len(ids)
                offsets.append(offset)
                n += 1
                if len(offsets) > 65536:
                    flush()
            flush()
    finally:
        for f in shards:
            f.close()
    return n


def _shard_pass(tmp: Path, banned: dict[bytes, list[str]]) -> tuple[list[int], int, int, dict[str, int]]:
    """Per shard: drop later duplicates and banned keys; keep the survivors sorted by key."""
    banned_hi = np.array(sorted({int.from_bytes(k[:8], "big") for k in banned}), np.uint64)
    kept, duplicates, removed, per_task = [], 0, 0, {}
    for s in range(N_SHARDS):
        path = tmp / f"shard-{s:03d}"
        rec = np.fromfile(path, _RECORD)
        rec = rec[np.lexsort((rec["idx"], rec["lo"], rec["hi"]))]
        first = np.ones(len(rec), bool)
        first[1:] = (rec["hi"][1:] != rec["hi"][:-1]) | (rec["lo"][1:] != rec["lo"][:-1])
        duplicates += int((~first).sum())
        rec = rec[first]
        if len(banned_hi) and len(rec):
            candidates = np.flatnonzero(np.isin(rec["hi"].astype(np.uint64), banned_hi))
            drop = []
            for i in candidates:
                key = int(rec["hi"][i]).to_bytes(8, "big") + int(rec["lo"][i]).to_bytes(8, "big")
                for task in banned.get(key, ()):
                    per_task[task] = per_task.get(task, 0) + 1
                if key in banned:
                    drop.append(i)
            rec = np.delete(rec, drop)
            removed += len(drop)
        rec.tofile(path)
        kept.append(len(rec))
    return kept, duplicates, removed, per_task


def _verdict_pass(tmp: Path, n_held: int, n_records: int) -> int:
    """Regroup (key, record no. * 4 + split) by record number into buckets; returns their number."""
    span = max(BUCKET_RECORDS, -(-n_records // MAX_BUCKETS))
    n_buckets = max(1, -(-n_records // span))
    for b in range(n_buckets):
        (tmp / f"bucket-{b:04d}").touch()
    held_left = n_held
    for s in range(N_SHARDS):
        path = tmp / f"shard-{s:03d}"
        rec = np.fromfile(path, _RECORD)  # sorted by key: the smallest keys are held out
        path.unlink()
        split = np.full(len(rec), 1, np.uint64)
        split[:min(held_left, len(rec))] = 2
        held_left -= min(held_left, len(rec))
        verdict = np.empty(len(rec), _VERDICT)
        verdict["hi"], verdict["lo"] = rec["hi"], rec["lo"]
        verdict["code"] = rec["idx"] * np.uint64(4) + split
        bucket = (rec["idx"] // np.uint64(span)).astype(np.intp)
        order = np.argsort(bucket, kind="stable")
        verdict, bucket = verdict[order], bucket[order]
        bounds = np.searchsorted(bucket, np.arange(n_buckets + 1))
        for b in np.flatnonzero(np.diff(bounds)):
            with open(tmp / f"bucket-{b:04d}", "ab") as f:  # opened per write: up to MAX_BUCKETS files
                f.write(verdict[bounds[b]:bounds[b + 1]].tobytes())
    return n_buckets


class _SplitWriter:
    def __init__(self, out: Path, name: str):
        self.name, self.out = name, out
        self.bin = open(out / f".{name}.bin.tmp", "wb")
        self.idx = open(out / f".{name}.idx.tmp", "wb")
        self.keys = open(out / f".{name}.keys.tmp", "wb")
        self.idx.write(np.zeros(1, np.uint64).tobytes())
        self.offset, self.count, self.residues = 0, 0, 0
        self.hash = hashlib.sha256()  # data.sequences_hash: every sequence + "\n"

    def add(self, tokens: np.ndarray, lengths: np.ndarray, keys: np.ndarray) -> None:
        if not len(lengths):
            return
        self.bin.write(tokens.tobytes())
        ends = self.offset + np.cumsum(lengths, dtype=np.uint64)
        self.idx.write(ends.tobytes())
        self.keys.write(keys.tobytes())
        text = np.full(len(tokens) + len(lengths), ord("\n"), np.uint8)
        body = np.ones(len(text), bool)
        body[np.cumsum(lengths + 1) - 1] = False
        text[body] = np.frombuffer(tokens.tobytes().translate(TO_LETTER), np.uint8)
        self.hash.update(text.tobytes())
        self.offset = int(ends[-1])
        self.count += len(lengths)
        self.residues += len(tokens)

    def close(self) -> dict:
        for f in (self.bin, self.idx, self.keys):
            f.close()
        files = {}
        for ext in ("bin", "idx", "keys"):
            final = self.out / f"{self.name}.{ext}"
            os.replace(self.out / f".{self.name}.{ext}.tmp", final)
            files[final.name] = {"bytes": final.stat().st_size, "sha256": _sha256_file(final)}
        return {"sequences": self.count, "residues": self.residues, "hash": "sha256:" + self.hash.hexdigest(),
                "files": files}


def _write_pass(tmp: Path, out: Path, n_records: int, n_buckets: int) -> dict:
    writers = {1: _SplitWriter(out, "train"), 2: _SplitWriter(out, "heldout")}
    span = max(BUCKET_RECORDS, -(-n_records // MAX_BUCKETS))
    with open(tmp / "all.bin", "rb") as tokens:
        for b in range(n_buckets):
            verdict = np.fromfile(tmp / f"bucket-{b:04d}", _VERDICT)
            verdict = verdict[np.argsort(verdict["code"])]
            idx = (verdict["code"] >> np.uint64(2)).astype(np.int64)
            split = (verdict["code"] & np.uint64(3)).astype(np.int8)
            lo, hi = b * span, min((b + 1) * span, n_records)
            # the bucket's offsets (read, not mapped: mapped pages would count as resident memory)
            offsets = np.fromfile(tmp / "all.idx", np.uint64, count=hi - lo + 1, offset=8 * lo).astype(np.int64)
            # its records in blocks of about READ_BYTES tokens, in order
            start = lo
            while start < hi:
                base = int(offsets[start - lo])
                stop = lo + int(np.searchsorted(offsets, base + READ_BYTES, side="right")) - 1
                stop = min(hi, max(stop, start + 1))
                block = np.frombuffer(_read_at(tokens, base, int(offsets[stop - lo]) - base), np.uint8)
                ends = offsets[start - lo:stop - lo + 1] - base
                sel = slice(*np.searchsorted(idx, [start, stop]))
                rows, kinds = idx[sel] - start, split[sel]
                keys = np.stack([verdict["hi"][sel], verdict["lo"][sel]], 1).astype(">u8")
                for code, writer in writers.items():
                    mine = rows[kinds == code]
                    chosen = np.zeros(stop - start, bool)
                    chosen[mine] = True
                    writer.add(block[np.repeat(chosen, np.diff(ends))], ends[mine + 1] - ends[mine],
                               keys[kinds == code])
                start = stop
    return {name: w.close() for name, w in (("train", writers[1]), ("heldout", writers[2]))}


def _read_at(f, offset: int, size: int) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise CorpusError("the temporary token file is shorter than its offsets")
    return data


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
