"""Pretraining sequences: Swiss-Prot from the p-scldata package, or any FASTA file or URL.

Sequences are normalized (alphabet.normalize), exact duplicates dropped, and a held-out set chosen by
hash order (no RNG stream), so the split never changes across library versions.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import urllib.request
from importlib import resources
from pathlib import Path

from .alphabet import normalize

SWISSPROT = "swissprot"


def read_fasta_text(text: str) -> list[str]:
    seqs, current = [], []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(">"):
            if current:
                seqs.append("".join(current))
            current = []
        elif line:
            current.append(line)
    if current:
        seqs.append("".join(current))
    return seqs


def _read_bytes(source: str) -> bytes:
    if source.startswith(("http://", "https://", "ftp://")):
        with urllib.request.urlopen(source) as response:  # noqa: S310 (the user asked for this URL)
            data = response.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"pretraining data {source!r} is neither 'swissprot', a file nor a URL")
        data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def swissprot_sequences() -> list[str]:
    """The Swiss-Prot sequences of SCL2205 (package p-scldata==2025.6.0, file scldata/data/scl2205.csv)."""
    try:
        entry = resources.files("scldata") / "data" / "scl2205.csv"
    except ModuleNotFoundError:
        raise ModuleNotFoundError("Swiss-Prot pretraining data needs `pip install p-scldata==2025.6.0` "
                                  "(or pass a FASTA file or URL)") from None
    with entry.open("r") as f:
        return [row["seq"] for row in csv.DictReader(f)]


def load_sequences(source: str) -> list[str]:
    """Normalized, de-duplicated sequences (first occurrence order) of ``swissprot``, a FASTA path or URL."""
    raw = swissprot_sequences() if source == SWISSPROT else read_fasta_text(_read_bytes(source).decode())
    seen, out = set(), []
    for s in raw:
        s = normalize(s)
        if s and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def split_heldout(sequences: list[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """(train, heldout): the ``fraction`` of sequences whose sha256(seed:sequence) is smallest is held out."""
    key = {s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest() for s in sequences}
    ranked = sorted(sequences, key=key.__getitem__)
    held = set(ranked[:int(round(fraction * len(sequences)))])
    return [s for s in sequences if s not in held], [s for s in sequences if s in held]


def sequences_hash(sequences: list[str]) -> str:
    h = hashlib.sha256()
    for s in sequences:
        h.update(s.encode())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


def write_fasta(path: Path, sequences: list[str], prefix: str) -> None:
    buf = io.StringIO()
    for i, s in enumerate(sequences):
        buf.write(f">{prefix}-{i}\n{s}\n")
    tmp = Path(f"{path}.tmp")
    tmp.write_text(buf.getvalue())
    tmp.replace(path)
