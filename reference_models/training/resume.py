"""Resuming a run: where it stands (``Position``), what it may resume with (the run key), and the checkpoint
that carries both (weights, optimizer moments, EMA) through ``checkpoint.py``'s resume folders."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch.nn as nn

from reference_models import checkpoint as C
from reference_models import config as cfgmod
from reference_models.networks.ema import EMA
from reference_models.training.stage import Stage

# settings that do not change what is trained (so a run may resume with other values), and settings
# added after runs had been saved (left out of the run key at their default, so those runs still resume)
NOT_IN_RUN_KEY = {"peak_flops"}
LATER_DEFAULTS = {"tokens_per_step": 0}


@dataclasses.dataclass
class Position:
    """Where a run stands: restored on resume, saved with every checkpoint."""

    step: int = 0
    epoch: int = 0
    index: int = 0  # the next batch of the epoch's plan
    elapsed: float = 0.0
    tokens_seen: int = 0


def run_key(stage: Stage, tc: cfgmod.TrainConfig, data_info: dict, world: int) -> dict:
    """What a run resumes only with: the stage, its configs, the data, the frozen encoder, the world size."""
    key_tc = {k: v for k, v in cfgmod.to_dict(tc).items()
              if k not in NOT_IN_RUN_KEY and not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}
    source = stage.source
    return {"stage": stage.kind, "model_config": cfgmod.to_dict(stage.cfg), "train_config": key_tc,
            "data_hash": data_info["train_hash"], "latent_sha256": source.sha256 if source else None,
            "world": world}


def resume(out: Path, key: dict, model: nn.Module, opt, ema: EMA | None) -> Position:
    """Load the last checkpoint in ``out`` (weights, optimizer, EMA); its position, or step 0 without one."""
    resumed = C.load_resume(out)
    if resumed is None:
        return Position()
    tensors, state = resumed
    if state["run_key"] != json.loads(json.dumps(key)):
        raise RuntimeError(f"{out} holds a run with another config, data or world size; use a new --out")
    C.load_weights(model, tensors, f"{out}/resume", prefix="model.")
    C.load_optimizer_state(opt, tensors, state)
    if ema is not None:
        C.load_weights(ema.model, tensors, f"{out}/resume", prefix="ema.")
    return Position(state["step"], state["epoch"], state["index"], state["elapsed_s"], state["tokens_seen"])


def save_checkpoint(out: Path, pos: Position, key: dict, model: nn.Module, opt, ema: EMA | None,
                    started: float) -> None:
    """Save what resuming needs: weights, EMA, optimizer moments, the position (and the wall time since
    ``started``) and the run key."""
    tensors = C.prefixed(model, "model.")
    if ema is not None:
        tensors.update(C.prefixed(ema.model, "ema."))
    opt_tensors, opt_state = C.optimizer_state(opt)
    tensors.update(opt_tensors)
    C.save_resume(out, pos.step, tensors,
                  {**opt_state, "run_key": key, "epoch": pos.epoch, "index": pos.index,
                   "elapsed_s": time.time() - started, "tokens_seen": pos.tokens_seen})
