"""Reading a pretraining source as a stream of raw FASTA records, bounded in memory and time.

A local path or URL, transparently gunzipped; a record over the ``corpus_record_bytes`` limit
(lsdbench.settings) is refused whatever its line structure, a URL that stalls or trickles below
``url_min_bytes_per_s`` ends with one CorpusError, and so does a truncated gzip.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
import urllib.request
import zlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from lsdbench.settings import CORPUS_RECORD_BYTES, URL_MIN_RATE, URL_TIMEOUT_S
from reference_models.corpus.token_files import CorpusError

READ_BYTES = 1 << 24


def open_source(source: str) -> io.BufferedReader:
    """A binary stream of a local path or URL, transparently gunzipped (detected by its magic bytes)."""
    if source.startswith(("http://", "https://", "ftp://", "file://")):
        try:
            raw = _RateGuard(urllib.request.urlopen(source, timeout=URL_TIMEOUT_S.value()), source)  # noqa: S310
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, bad URLs
            raise CorpusError(f"pretraining data {source}: cannot be fetched ({_reason(exc)}); check the URL, "
                              f"or download it and pass the file") from None
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"pretraining data {source!r} is neither 'swissprot', a file nor a URL")
        raw = open(path, "rb")
    stream = io.BufferedReader(raw, buffer_size=1 << 20) if not isinstance(raw, io.BufferedReader) else raw
    if stream.peek(2)[:2] == b"\x1f\x8b":
        return io.BufferedReader(_GzipStream(stream), buffer_size=1 << 20)
    return stream


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc or type(exc).__name__)


class _RateGuard(io.RawIOBase):
    """A URL's response that fails, as one CorpusError, when it stalls past url_timeout_s (the socket
    timeout) or its average rate after that long is under url_min_bytes_per_s (a trickling server)."""

    def __init__(self, response, source: str):
        self.response, self.source = response, source
        self.start, self.received = time.monotonic(), 0
        self.grace, self.min_rate = URL_TIMEOUT_S.value(), URL_MIN_RATE.value()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:  # read1: one socket read, so a trickle returns here (readinto would wait to fill the buffer)
            data = self.response.read1(len(buffer))
            n = len(data)
            buffer[:n] = data
        except OSError as exc:  # socket.timeout is an OSError
            raise CorpusError(f"pretraining data {self.source}: the transfer stopped ({_reason(exc)}; "
                              f"{URL_TIMEOUT_S.hint()})") from None
        self.received += n
        elapsed = time.monotonic() - self.start
        if n and elapsed > self.grace and self.received < self.min_rate * elapsed:
            raise CorpusError(f"pretraining data {self.source}: {self.received:,} bytes in {elapsed:.0f} s is under "
                              f"the minimum rate ({URL_MIN_RATE.hint()})")
        return n

    def close(self):
        try:
            self.response.close()
        finally:
            super().close()


class _GzipStream(gzip.GzipFile):
    """A gunzipped stream that also closes the stream it reads (GzipFile leaves a given fileobj open)."""

    def __init__(self, stream):
        super().__init__(fileobj=stream)
        self._source = stream

    def close(self):
        try:
            super().close()
        finally:
            self._source.close()


def fasta_records(stream, source: str = "the input") -> Iterator[bytes]:
    """Raw sequence bytes (line breaks included) of each FASTA record, read in blocks of READ_BYTES.

    Lines before the first header form a record of their own, as ``data.read_fasta_text`` reads them. A
    record over the ``corpus_record_bytes`` limit is a CorpusError, so memory stays bounded whatever the
    line structure; a truncated or corrupt gzip is one too.
    """
    limit = CORPUS_RECORD_BYTES.value()
    buf, first, number = b"", True, 0
    while True:
        block = _read_block(stream, source)
        if not block:
            break
        buf += block
        parts = buf.split(b"\n>")
        buf = parts.pop()
        for part in parts:
            number += 1
            yield _body(_bounded(part, number, limit, source), first)
            first = False
        _bounded(buf, number + 1, limit, source)
    if buf:
        yield _body(buf, first)


def _read_block(stream, source: str) -> bytes:
    try:
        return stream.read(READ_BYTES)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CorpusError(f"pretraining data {source}: truncated or corrupt gzip ({exc}); download it again") from None


def _bounded(part: bytes, number: int, limit: int, source: str) -> bytes:
    if len(part) > limit:
        raise CorpusError(f"pretraining data {source}: record {number:,} is longer than {limit:,} bytes (no protein "
                          f"is; is it FASTA?) ({CORPUS_RECORD_BYTES.hint()})")
    return part


def _body(part: bytes, first: bool) -> bytes:
    if first and not part.startswith(b">"):
        return part  # no header before these lines
    newline = part.find(b"\n")
    return b"" if newline < 0 else part[newline + 1:]


def swissprot_records() -> Iterator[bytes]:
    """The Swiss-Prot sequences of SCL2205 (package p-scldata==2025.6.0, file scldata/data/scl2205.csv)."""
    try:
        entry = resources.files("scldata") / "data" / "scl2205.csv"
    except ModuleNotFoundError:
        raise ModuleNotFoundError("Swiss-Prot pretraining data needs `pip install p-scldata==2025.6.0` "
                                  "(or pass a FASTA file or URL)") from None
    with entry.open("r") as f:
        for row in csv.DictReader(f):
            yield row["seq"].encode()
