"""Core data types shared by every stage: a task's splits and what an encoder must look like."""

from __future__ import annotations

import hashlib
import json
import os
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lsdbench.errors import UserError


def one_or_many(value: Any, single: tuple[type, ...], what: str, expected: str) -> list:
    """The API boundary's reading of ``value``: one item of a ``single`` type (a path, a task name: a single
    string is one item, never a sequence of characters) or a non-empty list/tuple of them; anything else
    is a one-line UserError naming the argument, what it got and what it takes."""
    if isinstance(value, single):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, single) for v in value):
        return list(value)
    if isinstance(value, (list, tuple)):
        wrong = [type(v).__name__ for v in value if not isinstance(v, single)]
        got = f"a {type(value).__name__} holding a {wrong[0]}" if wrong else f"an empty {type(value).__name__}"
    else:
        got = f"{type(value).__name__} {reprlib.repr(value)}"
    raise UserError(f"{what} takes {expected}, not {got}")


PATH_TYPES = (str, os.PathLike)

TASK_TYPES = ("regression", "binary", "multiclass", "pair_binary")
SPLIT_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class Split:
    """One split of a task: parallel lists of item ids, sequences and labels.

    ``sequences_b`` holds the second protein of each pair for ``pair_binary`` tasks, else None.
    Labels are float64 for regression and int64 class indices otherwise.
    """

    name: str
    ids: list[str]
    sequences: list[str]
    labels: np.ndarray
    sequences_b: list[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(self.sequences) != n or len(self.labels) != n:
            raise ValueError(f"split {self.name!r}: ids, sequences and labels differ in length")
        if self.sequences_b is not None and len(self.sequences_b) != n:
            raise ValueError(f"split {self.name!r}: sequences_b differs in length")
        if len(set(self.ids)) != n:
            raise ValueError(f"split {self.name!r}: item ids are not unique")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def is_pair(self) -> bool:
        return self.sequences_b is not None

    def all_sequences(self) -> list[str]:
        """Every sequence the split needs embedded (both members of pairs)."""
        return self.sequences + (self.sequences_b or [])

    def content_hash(self) -> str:
        """sha256 over a canonical serialization of the (id, sequence(s), label) rows, in order.

        Computed once per split: a loaded split is never changed (the dataclass is frozen and every
        loader builds new lists), and the main job asks for it once per result it validates."""
        cached = self.__dict__.get("_content_hash")
        if cached is None:
            cached = self._hash_rows()
            object.__setattr__(self, "_content_hash", cached)
        return cached

    def _hash_rows(self) -> str:
        h = hashlib.sha256()
        for i in range(len(self)):
            row: list[Any] = [self.ids[i], self.sequences[i]]
            if self.sequences_b is not None:
                row.append(self.sequences_b[i])
            label = self.labels[i]
            row.append(float(label) if self.labels.dtype.kind == "f" else int(label))
            h.update(json.dumps(row, separators=(",", ":")).encode())
            h.update(b"\n")
        return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Task:
    """A loaded task: its card plus the train/valid/test splits."""

    card: TaskCard  # noqa: F821  (defined in lsdbench.tasks.cards; avoid a cycle)
    splits: dict[str, Split] = field(default_factory=dict)
    # what loading found and did: per source, duplicated pairs and self-pairs; with a [partition],
    # items per split and the pairs it dropped (see lsdbench.tasks.registry.partition)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def type(self) -> str:
        return self.card.type

    def split_hashes(self) -> dict[str, str]:
        return {name: split.content_hash() for name, split in self.splits.items()}

    def sequences_and_ids(self) -> tuple[list[str], list[str]]:
        """Every sequence to embed, split by split (both members of pairs), with the id of its item."""
        seqs, ids = [], []
        for split in self.splits.values():
            seqs += split.all_sequences()
            ids += split.ids + (split.ids if split.is_pair else [])
        return seqs, ids


@runtime_checkable
class Encoder(Protocol):
    """What the harness needs from a model that maps protein sequences to vectors.

    - ``name``: stable identifier, used in cache keys and result files.
    - ``config``: everything that changes the output (weights hash, layer, pooling, noise level...);
      JSON-serialisable. Two encoders with equal name and config must give equal embeddings.
    - ``encode(sequences)``: either a float array of shape (n, d), or a list of n per-residue
      arrays of shape (L_i, d), which the harness mean-pools.

    Optional attributes the harness reads when present:
    - ``max_length`` (int or None): longest sequence ``encode`` accepts; longer ones are windowed.
    - ``batch_residues`` (int): token budget per ``encode`` call, default 16384.
    - ``cache_inputs`` (dict): further things the output depends on that results need not record
      (e.g. the sha256 of a side file read at encode time); they key the embedding cache only, so
      adding one leaves the recorded config and result file names as they were.
    - a ``precision`` constructor option (``--precision``): an encoder that takes one records any value
      but ``fp32`` in ``config``; encoders without it refuse lower precisions (lsdbench.encode.precision).
    - ``n_parameters`` (int), or a torch ``model``: the parameter count the main job puts on the leaderboard.
    - ``health`` (dict with ``passed`` and ``missed``): the model's own health record; the main job marks
      an entry that misses a target and reports the claims resting on it as not testable.
    An encoder with a noise level or other one-parameter family implements ``SweepableEncoder`` too.
    """

    name: str

    @property
    def config(self) -> dict[str, Any]: ...

    def encode(self, sequences: Sequence[str]) -> np.ndarray | list[np.ndarray]: ...


@runtime_checkable
class SweepableEncoder(Encoder, Protocol):
    """An encoder indexed by one parameter (e.g. the noise level ``t`` of a diffusion representation),
    which ``lsdbench sweep`` and the main job's sweeps evaluate over a grid of values.

    - ``sweep_param``: the option's name, as given on the command line (``--encoder-opt t=0.5``).
    - ``with_param(value)``: the same encoder at another value (its ``config`` records the value).
    - ``encode_sweep(sequences, values)`` (optional): one output per value from one call, so the part of
      the forward pass the values share (e.g. the clean latent) runs once; without it each value is a
      separate ``with_param(value).encode`` call.
    """

    sweep_param: str

    def with_param(self, value: Any) -> Encoder: ...
