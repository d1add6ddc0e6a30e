"""A carry-sized random subset of a prepared corpus (``lsd-train subset DATA --out DIR --max-residues 60M``).

Each split keeps at most its share of ``max_residues`` (in proportion to its residues), taking sequences in
the order of their key (``SPLIT.keys``, a sha256 of the sequence): a uniform random sample that depends on
the sequences only, so the same corpus and size always give the same subset, and a smaller subset is a
prefix of a larger one. The chosen sequences keep their order in the source. The output is a prepared
corpus like any other (train/heldout ``.bin``/``.idx``/``.keys``, ``manifest.json``, ``data.json`` with a
``subset`` entry naming the source's hashes), about ``max_residues`` bytes of tokens plus 24 bytes a
sequence, that training reads as it reads the full corpus.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reference_models.corpus import corpus as K
from reference_models.corpus.token_files import CorpusError, TokenCorpus

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$")


def parse_size(text: str) -> int:
    """``60M`` -> 60_000_000 (k, M, G are powers of 1000: residues, not bytes of a file system)."""
    match = _SIZE.match(str(text))
    if not match:
        raise CorpusError(f"--max-residues {text!r}: give a number of residues, e.g. 60M or 2500000")
    value = float(match.group(1)) * 1000 ** " kmg".index(match.group(2).lower() or " ")
    if value < 1:
        raise CorpusError(f"--max-residues {text!r}: must be at least 1")
    return int(value)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise CorpusError(f"{path} is missing: prepare the corpus with `lsd-train data` first")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path} is not valid JSON ({exc}): prepare the corpus again") from None


def choose(keys: np.ndarray, lengths: np.ndarray, budget: int) -> np.ndarray:
    """Sorted indices of the sequences taken in key order while their residues fit in ``budget``."""
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    fits = int(np.searchsorted(np.cumsum(lengths[order], dtype=np.int64), budget, side="right"))
    return np.sort(order[:fits])


def read_keys(directory: Path, split: str, n: int) -> np.ndarray:
    """(n, 2) big-endian uint64 halves of the split's 16-byte sequence keys."""
    keys = np.fromfile(directory / f"{split}.keys", ">u8").reshape(-1, 2)
    if len(keys) != n:
        raise CorpusError(f"{directory / f'{split}.keys'} does not match {split}.idx: prepare the data again")
    return keys


def read_selection(directory: Path, split: str, chosen: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]]:
    """(tokens, lengths, indices) of the sequences ``chosen`` (sorted indices), in blocks of about
    ``corpus.READ_BYTES`` of the file, read with plain reads: a memory map's touched pages would count
    as resident memory, up to the whole split."""
    offsets = np.fromfile(directory / f"{split}.idx", np.int64)
    ends = offsets[chosen + 1]
    with open(directory / f"{split}.bin", "rb") as f:
        start = 0
        while start < len(chosen):
            base = int(offsets[chosen[start]])
            stop = max(start + 1, int(np.searchsorted(ends, base + K.READ_BYTES, side="right")))
            block = chosen[start:stop]
            f.seek(base)
            data = np.frombuffer(f.read(int(ends[stop - 1]) - base), np.uint8)
            starts, lengths = offsets[block] - base, ends[start:stop] - offsets[block]
            within = np.arange(int(lengths.sum())) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
            yield data[within], lengths, block
            start = stop


def write_selection(directory: Path, split: str, keys: np.ndarray, chosen: np.ndarray, out: Path) -> dict:
    """Write the sequences ``chosen`` (sorted indices) of split ``split`` of the corpus in ``directory``
    as that split of ``out`` (which may be ``directory``: the new files replace the old ones when complete)."""
    writer = K._SplitWriter(out, split)
    for tokens, lengths, block in read_selection(directory, split, chosen):
        writer.add(tokens, lengths.astype(np.uint64), keys[block])
    return writer.close()


def subset_corpus(source, out, max_residues: int) -> dict:
    """Write the subset of the prepared corpus in ``source`` into ``out``; returns its ``data.json``."""
    source, out = Path(source), Path(out)
    info = _read_json(source / "data.json")
    if info.get("format") != K.FORMAT:
        raise CorpusError(f"{source} is no corpus of format {K.FORMAT} (prepare it with `lsd-train data`)")
    if source.resolve() == out.resolve():
        raise CorpusError("--out must differ from the corpus it samples")
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.json").unlink(missing_ok=True)
    total = sum(info["residues"].values())
    splits = {}
    for split in K.SPLITS:
        corpus = TokenCorpus(source, split)
        keys = read_keys(source, split, len(corpus))
        budget = int(max_residues * info["residues"][split] / total) if total else 0
        splits[split] = write_selection(source, split, keys, choose(keys, corpus.lengths, budget), out)
    subset = {"of": str(source), "of_train_hash": info["train_hash"], "of_heldout_hash": info["heldout_hash"],
              "of_residues": info["residues"], "max_residues": int(max_residues),
              "rule": "per split, its share of max_residues, sequences taken in key order (SPLIT.keys)"}
    manifest = _read_json(source / "manifest.json") if (source / "manifest.json").is_file() else {}
    K.write_json(out / "manifest.json", {**manifest, "format": K.FORMAT, "key": K.KEY_DOC, "splits": splits,
                                         "subset": subset})
    new = {**info, "train_hash": splits["train"]["hash"], "heldout_hash": splits["heldout"]["hash"],
           "n_train": splits["train"]["sequences"], "n_heldout": splits["heldout"]["sequences"],
           "residues": {name: splits[name]["residues"] for name in K.SPLITS}, "subset": subset}
    K.write_json(out / "data.json", new)
    return new
