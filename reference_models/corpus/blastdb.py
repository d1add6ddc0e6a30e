"""BLAST version-4 protein databases (``.pin`` index + ``.psq`` sequences) decoded without BLAST.

``.pin`` (integers big-endian except the 8-byte residue total, which is little-endian):
version (4), database type (1 = protein), title (int32 length + bytes), creation date (int32 length +
bytes, NUL-padded so the next field is 8-byte aligned), number of sequences N, total residues (uint64 LE),
longest sequence, then N + 1 header offsets (into ``.phr``) and N + 1 sequence offsets (into ``.psq``).

``.psq``: a NUL byte, then each sequence as one byte per residue in NCBIstdaa code followed by a NUL
sentinel; sequence i is ``psq[off[i]:off[i + 1] - 1]``. Headers (``.phr``, ASN.1) are not needed.

A sequence holding a stop (``*``) or a gap (``-``) is no clean protein: it is dropped and counted as
``stop_or_gap``; ``empty`` sequences likewise.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from reference_models.corpus.token_files import CorpusError

NCBISTDAA = b"-ABCDEFGHIKLMNPQRSTVWXYZU*OJ"  # code 0..27
DROP_REASONS = ("empty", "stop_or_gap")
_TO_LETTER = bytearray(b"?" * 256)
for _i, _c in enumerate(NCBISTDAA):
    _TO_LETTER[_i] = _c
TO_LETTER = bytes(_TO_LETTER)
READ_BYTES = 1 << 24


@dataclass(frozen=True)
class BlastIndex:
    """What a ``.pin`` says: title, date, number of sequences, total residues, longest, sequence offsets."""

    title: str
    date: str
    n_sequences: int
    total_residues: int
    max_length: int
    sequence_offsets: np.ndarray  # int64, N + 1 entries, into .psq


def read_pin(data: bytes, where: str) -> BlastIndex:
    """Parse a ``.pin`` file's bytes; ``where`` names it in errors."""
    def fail(what: str):
        raise CorpusError(f"{where}: {what} (not a BLAST version-4 protein index, or damaged)")

    if len(data) < 12:
        fail("too short")
    version, db_type = struct.unpack_from(">ii", data, 0)
    if version != 4:
        fail(f"format version {version}; only version 4 is read (version 5 uses LMDB)")
    if db_type != 1:
        fail("a nucleotide database")
    pos, texts = 8, []
    for _ in range(2):  # title, date
        if pos + 4 > len(data):
            fail("truncated header")
        (n,) = struct.unpack_from(">i", data, pos)
        if n < 0 or pos + 4 + n > len(data):
            fail("a string runs past the end")
        texts.append(data[pos + 4:pos + 4 + n].rstrip(b"\0").decode("utf-8", "replace"))
        pos += 4 + n
    if pos + 16 > len(data):
        fail("truncated header")
    (n_seq,) = struct.unpack_from(">i", data, pos)
    (total,) = struct.unpack_from("<Q", data, pos + 4)
    (longest,) = struct.unpack_from(">i", data, pos + 12)
    pos += 16
    if n_seq < 0 or pos + 8 * (n_seq + 1) != len(data):
        fail(f"{n_seq} sequences need {pos + 8 * (n_seq + 1)} bytes, the file has {len(data)}")
    offsets = np.frombuffer(data, ">u4", count=n_seq + 1, offset=pos + 4 * (n_seq + 1)).astype(np.int64)
    lengths = np.diff(offsets) - 1
    if n_seq and (offsets[0] != 1 or lengths.min() < 0):
        fail("sequence offsets are not increasing from 1")
    if int(lengths.sum()) != total:
        fail(f"sequence offsets hold {int(lengths.sum())} residues, the header says {total}")
    return BlastIndex(texts[0], texts[1], n_seq, int(total), int(longest), offsets)


def psq_sequences(stream, index: BlastIndex, where: str) -> Iterator[bytes]:
    """The raw NCBIstdaa bytes of each sequence of a ``.psq`` stream, in order, read in 16 MiB blocks."""
    offsets = index.sequence_offsets
    buf, buf_start, i = b"", 0, 0  # buf holds psq bytes from buf_start on
    if not index.n_sequences:
        return
    while i < index.n_sequences:
        block = stream.read(READ_BYTES)
        if not block:
            raise CorpusError(f"{where}: ends at byte {buf_start + len(buf)} before sequence {i + 1} of "
                              f"{index.n_sequences} (the .pin says {int(offsets[-1])} bytes)")
        buf += block
        if buf_start == 0 and buf[:1] != b"\0":
            raise CorpusError(f"{where}: does not start with a NUL byte: not a BLAST protein sequence file")
        end = buf_start + len(buf)
        stop = int(np.searchsorted(offsets, end, side="right")) - 1  # sequences i .. stop-1 are complete
        for j in range(i, stop):
            a, b = int(offsets[j]) - buf_start, int(offsets[j + 1]) - buf_start
            if buf[b - 1] != 0:
                raise CorpusError(f"{where}: sequence {j + 1} lacks its NUL sentinel: the .pin does not match")
            yield buf[a:b - 1]
        if stop > i:
            cut = int(offsets[stop]) - buf_start
            buf, buf_start, i = buf[cut:], int(offsets[stop]), stop
    if buf or stream.read(1):
        raise CorpusError(f"{where}: holds bytes after the last of {index.n_sequences} sequences: the .pin "
                          "does not match")


def decode_sequences(raw: Iterator[bytes], counts: Counter, where: str) -> Iterator[bytes]:
    """Letters of each clean NCBIstdaa sequence; ``counts`` gets ``input``, ``kept`` and drop reasons."""
    for seq in raw:
        counts["input"] += 1
        letters = seq.translate(TO_LETTER)
        if not letters:
            counts["empty"] += 1
        elif b"?" in letters:
            raise CorpusError(f"{where}: byte {seq[letters.index(b'?')]} of sequence {counts['input']} is no NCBIstdaa code")
        elif b"*" in letters or b"-" in letters:
            counts["stop_or_gap"] += 1
        else:
            counts["kept"] += 1
            yield letters
