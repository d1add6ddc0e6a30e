"""What a run reads: the splits of a data directory, and the stream of token batches it steps through."""

from __future__ import annotations

from pathlib import Path

import torch

from reference_models import checkpoint as C
from reference_models.corpus import alphabet as A
from reference_models.corpus import corpus as K
from reference_models.corpus import data as D
from reference_models.training.batching import EpochPlan
from reference_models.training.resume import Position


def read_data_dir(data_dir) -> tuple:
    """(train, heldout, data.json): memory-mapped ``TokenCorpus`` splits of a directory written by
    ``lsd-train data``, or lists of str for a directory of the earlier format (train.fasta, heldout.fasta),
    such as the one the committed ``small`` checkpoints were trained from. The two give the same batches
    for the same sequences (tests/test_reference_models.py)."""
    d = Path(data_dir)
    info = C.read_json(d / "data.json")
    if info.get("format") == K.FORMAT:
        train, heldout = K.TokenCorpus(d, "train"), K.TokenCorpus(d, "heldout")
        if (len(train), len(heldout)) != (info["n_train"], info["n_heldout"]):
            raise RuntimeError(f"{d} holds {len(train)} / {len(heldout)} sequences where {d / 'data.json'} records "
                               f"{info['n_train']} / {info['n_heldout']}: prepare the data again")
        return train, heldout, info
    train = D.read_fasta_text((d / "train.fasta").read_text())
    heldout = D.read_fasta_text((d / "heldout.fasta").read_text())
    if D.sequences_hash(train) != info["train_hash"]:
        raise RuntimeError(f"{d / 'train.fasta'} does not match the hash recorded in {d / 'data.json'}")
    return train, heldout, info


def next_batches(plan: EpochPlan, pos: Position, micro: int) -> list[torch.Tensor]:
    """The token tensors of the plan's next ``micro`` batches, across an epoch boundary if need be (moves
    ``pos.epoch`` and ``pos.index`` on)."""
    parts = []
    while len(parts) < micro:
        batches = plan.epoch(pos.epoch)
        if pos.index >= len(batches):
            pos.epoch, pos.index = pos.epoch + 1, 0
            continue
        parts.append(A.batch_tokens(batches[pos.index]))
        pos.index += 1
    return parts
