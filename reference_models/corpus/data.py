"""Pretraining sequences: Swiss-Prot from the p-scldata package, two Debian data packages
(``debian:metaphlan2+metastudent``, debian_source.py), or any FASTA file or URL.

Sequences are normalized (alphabet.normalize), exact duplicates dropped, and a held-out set chosen by
hash order (no RNG stream), so the split never changes across library versions.

``lsd-train data`` prepares the corpus as a stream (``corpus.py``); the in-memory functions here are
the specification it is tested against, and read data directories written before it (train.fasta).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from reference_models.corpus import corpus as K
from reference_models.corpus.alphabet import normalize
from reference_models.corpus.corpus import open_source, swissprot_records
from reference_models.corpus.debian_source import DebianSource, is_debian_source

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


def swissprot_sequences() -> list[str]:
    """The Swiss-Prot sequences of SCL2205 (package p-scldata==2025.6.0, file scldata/data/scl2205.csv)."""
    return [r.decode() for r in swissprot_records()]


def load_sequences(source: str) -> list[str]:
    """Normalized, de-duplicated sequences (first occurrence order) of ``swissprot``, a FASTA path or URL."""
    if source == SWISSPROT:
        raw = swissprot_sequences()
    else:
        with open_source(source) as stream:
            raw = read_fasta_text(stream.read().decode())
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


def prepare(source: str, out, *, heldout_fraction: float = 0.02, decontaminate: bool = True,
            registry: dict | None = None, cache=None, min_identity: float | None = None,
            min_coverage: float = 0.8) -> dict:
    """``lsd-train data``: stream ``source`` into a decontaminated token corpus (corpus.py) in ``out``.

    Writes train/heldout ``.bin``/``.idx``/``.keys``, ``manifest.json`` and, last, ``data.json`` (the
    summary that training reads; a directory without it is incomplete). Returns ``data.json``'s content.
    ``min_identity`` adds decontamination by identity with MMseqs2 (identity.py) after the exact one.
    """
    from reference_models.corpus.decontaminate import evaluation_sequences, summarize

    out = Path(out)
    (out / "data.json").unlink(missing_ok=True)  # an interrupted preparation is never taken for a complete one
    per_task, report = evaluation_sequences(**(registry or {})) if decontaminate else ({}, [])
    banned: dict[bytes, list[str]] = {}
    for task, seqs in sorted(per_task.items()):
        for s in seqs:
            banned.setdefault(K.sequence_key(s.encode()), []).append(task)
    extra = {}
    if source == SWISSPROT:
        summary = K.prepare_corpus(swissprot_records(), out, heldout_fraction=heldout_fraction, banned=banned,
                                   source=source)
    elif is_debian_source(source):
        debian = DebianSource(source, cache=cache)
        summary = K.prepare_corpus(debian.records(), out, heldout_fraction=heldout_fraction, banned=banned,
                                   source=source)
        extra["sources"] = debian.report()  # only these sources add the key: older data.json files stay as they were
    else:
        with open_source(source) as stream:
            summary = K.prepare_corpus(K.fasta_records(stream, source), out, heldout_fraction=heldout_fraction,
                                       banned=banned, source=source)
    if decontaminate:
        dec = summarize(report, summary["deduplicated"], summary["removed"], summary["removed_per_task"])
    else:
        n = summary["deduplicated"]
        dec = {"input": n, "removed": 0, "kept": n, "tasks": [], "disabled": True}
    splits = {name: summary[name] for name in K.SPLITS}
    if min_identity is not None and decontaminate:
        from reference_models.corpus.identity import decontaminate_by_identity

        splits, extra["identity_decontamination"] = decontaminate_by_identity(
            out, per_task, splits, min_identity=min_identity, min_coverage=min_coverage)
    K.write_json(out / "manifest.json", {"format": K.FORMAT, "key": K.KEY_DOC, "splits": splits, **extra})
    info = {"format": K.FORMAT, "source": source, "train_hash": splits["train"]["hash"],
            "heldout_hash": splits["heldout"]["hash"], "n_train": splits["train"]["sequences"],
            "n_heldout": splits["heldout"]["sequences"], "heldout_fraction": heldout_fraction,
            "input_records": summary["input_records"], "duplicates": summary["duplicates"],
            "residues": {name: splits[name]["residues"] for name in K.SPLITS}, "decontamination": dec, **extra}
    K.write_json(out / "data.json", info)
    return info
