"""``lsd-train``: one CLI for every stage.

    lsd-train data --out DATA                      # Swiss-Prot (or --source FASTA/URL), decontaminated
    lsd-train mlm|lsd_tn|lsd_nm --config small --data DATA --out RUN [--export DIR]
    lsd-train diffusion --config small --latent RUN_OF_AN_ENCODER --data DATA --out RUN [--export DIR]

Multi-GPU / multi-machine: ``torchrun --nproc_per_node N -m reference_models.train STAGE ...``.
Re-running the same command resumes from the last checkpoint in RUN.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm import tqdm

from lsdbench.atomic import atomic_copy

from . import alphabet as A
from . import checkpoint as C
from . import config as cfgmod
from . import corpus as K
from . import data as D
from . import health as H
from .autoencoder import latent_mask_plan, latent_noise_plan, noise_mask_plan
from .batching import EpochPlan, sequence_lengths
from .denoiser import diffusion_loss, diffusion_plan
from .ema import EMA, effective_decay
from .evaluation import eval_batches, loss_by_t, reconstruction_metrics, sample_sequences
from .flops import StepFlops, peak_flops
from .latents import LatentSource, latent_statistics, standardized_latents
from .mlm import mask_tokens
from .model_card import write_model_card

LOG_FIELDS = ["step", "epoch", "lr", "loss", "accuracy", "tokens", "tokens_per_s", "elapsed_s", "mfu"]
# settings that do not change what is trained (so a run may resume with other values), and settings
# added after runs had been saved (left out of the run key at their default, so those runs still resume)
NOT_IN_RUN_KEY = {"peak_flops"}
LATER_DEFAULTS = {"tokens_per_step": 0}


class HaltForTest(RuntimeError):
    """Raised by ``halt_after_step``: simulates a run killed right after a step (used by the tests)."""


# ---- what differs between stages ------------------------------------------------------------------

class Stage:
    """Random draws (made on the global batch, so every process sees the same ones) and the loss."""

    def __init__(self, kind: str, model_cfg, source: LatentSource | None = None):
        self.kind, self.cfg, self.source = kind, model_cfg, source

    def build(self) -> nn.Module:
        return cfgmod.build_model(self.kind, self.cfg)

    def draws(self, tokens: torch.Tensor, g: torch.Generator) -> dict:
        if self.kind == "mlm":
            inputs, selected = mask_tokens(tokens, self.cfg, g)
            return {"inputs": inputs, "selected": selected}
        if self.kind in ("lsd_tn", "lsd_nm"):
            draws = noise_mask_plan(tokens, self.cfg.backbone.d_model, self.cfg, g) if self.cfg.noise_masking else {}
            if self.cfg.latent_mask_rate > 0:
                draws.update(latent_mask_plan(tokens, self.cfg.d_latent, self.cfg.latent_mask_rate, g))
            if self.cfg.latent_noise_std > 0:
                draws.update(latent_noise_plan(tokens, self.cfg.d_latent, g))
            return draws
        return diffusion_plan(A.is_residue(tokens[:, 1:-1]), self.cfg.d_latent, self.cfg, g)

    def loss(self, model, tokens, draws):
        if self.kind != "diffusion":
            return model.loss(tokens, draws)
        z0, mask = self.source.latents(tokens)
        total, _ = diffusion_loss(model, z0, mask, draws["t"], draws["eps"])
        return total, mask.sum(), {}


class EagerFallback(nn.Module):
    """A ``torch.compile``d module that falls back to eager mode, with a warning, when compiling fails.

    Compilation needs a working C++ toolchain on CPU and can fail on new torch/platform pairs; a
    training run should then go on, only slower.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.compiled = torch.compile(module, dynamic=True)
        self.active = True

    def forward(self, *args, **kwargs):
        if self.active:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:  # any backend failure: keep training in eager mode
                warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); continuing in eager mode",
                              RuntimeWarning, stacklevel=2)
                self.active = False
        return self.module(*args, **kwargs)


class LossModule(nn.Module):
    """Routes the loss through ``forward`` so DistributedDataParallel sees (and syncs) it."""

    def __init__(self, model: nn.Module, stage: Stage):
        super().__init__()
        self.model, self.stage = model, stage

    def forward(self, tokens, draws):
        return self.stage.loss(self.model, tokens, draws)


def learning_rate(step: int, tc: cfgmod.TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``lr * min_lr_ratio`` at the last step."""
    if step < tc.warmup_steps:
        return tc.lr * (step + 1) / tc.warmup_steps
    progress = min(1.0, (step - tc.warmup_steps) / max(1, tc.steps - tc.warmup_steps))
    return tc.lr * (tc.min_lr_ratio + (1 - tc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: nn.Module, tc: cfgmod.TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on linear weights only (not on embeddings, norms, biases, Token Norm affines)."""
    decay = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if id(p) in decay], "weight_decay": tc.weight_decay},
              {"params": [p for p in params if id(p) not in decay], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(tc.beta1, tc.beta2))


def step_generator(seed: int, step: int, micro: int = 0) -> torch.Generator:
    """All randomness of a step comes from (seed, step): resuming and DDP need no other RNG state.
    With gradient accumulation, micro-batch ``micro`` > 0 of a step draws from (seed, step, micro)."""
    key = f"{seed}:{step}" if micro == 0 else f"{seed}:{step}:{micro}"
    return torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little"))


# ---- distributed ----------------------------------------------------------------------------------

def setup_distributed(device: str) -> tuple[int, int, str]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend)
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return dist.get_rank(), dist.get_world_size(), device


def all_sum(x: torch.Tensor) -> torch.Tensor:
    if dist.is_initialized():
        x = x.clone()
        dist.all_reduce(x)
    return x


# ---- training -------------------------------------------------------------------------------------

def optimizer_step(step_fn: nn.Module, model: nn.Module, opt, tokens, draws, *, grad_clip: float, world: int = 1,
                   autocast=None):
    """One step: loss, backward (mean over every rank's counted positions), clip, update.

    Returns the local loss sum, the global count and the stage's extra outputs, for logging.
    """
    model.train()
    with autocast if autocast is not None else contextlib.nullcontext():
        loss_sum, count, extra = step_fn(tokens, draws)
    global_count = all_sum(count.detach().float())
    (loss_sum * world / global_count.clamp(min=1)).backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss_sum, global_count, extra


def accumulated_step(step_fn: nn.Module, model: nn.Module, opt, micro_batches, *, grad_clip: float, world: int = 1,
                     autocast=None):
    """One optimizer step over several micro-batches (gradient accumulation): the update of the step
    on all of them at once, up to float rounding. Each backward adds unnormalised loss sums; the summed
    gradients are divided by the global count of every micro-batch once they are all in. Under DDP the
    gradients are all-reduced once, with the last micro-batch."""
    model.train()
    loss_total = count_total = correct_total = 0
    for j, (tokens, draws) in enumerate(micro_batches):
        last = j == len(micro_batches) - 1
        sync = step_fn.no_sync() if hasattr(step_fn, "no_sync") and not last else contextlib.nullcontext()
        with sync:
            with autocast if autocast is not None else contextlib.nullcontext():
                loss_sum, count, extra = step_fn(tokens, draws)
            (loss_sum * world).backward()
        loss_total = loss_total + loss_sum.detach()
        count_total = count_total + count.detach().float()
        correct_total = correct_total + extra.get("correct", torch.tensor(0)).detach()
    global_count = all_sum(count_total).clamp(min=1)
    for p in model.parameters():
        if p.grad is not None:
            p.grad.div_(global_count)
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss_total, global_count, {"correct": correct_total}


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


@dataclasses.dataclass
class _Position:
    """Where a run stands: restored on resume, saved with every checkpoint."""

    step: int = 0
    epoch: int = 0
    index: int = 0  # the next batch of the epoch's plan
    elapsed: float = 0.0
    tokens_seen: int = 0


@dataclasses.dataclass
class _Run:
    """What ``train`` sets up before its first step (``_setup``)."""

    stage: Stage
    tc: cfgmod.TrainConfig
    rank: int
    world: int
    device: str
    out: Path
    train_seqs: list | K.TokenCorpus
    heldout: list | K.TokenCorpus
    data_info: dict
    run_key: dict
    model: nn.Module
    opt: torch.optim.Optimizer
    ema: EMA | None
    wrapped: nn.Module  # what a step calls: the loss module, compiled and/or under DDP
    position: _Position
    plan: EpochPlan
    log_path: Path
    autocast: object
    step_flops: StepFlops
    peak: float | None


def _make_stage(stage_name: str, raw_config: dict, latent, device: str) -> Stage:
    """The stage and its model config; the diffusion stage also loads the frozen encoder whose latents it
    learns."""
    if stage_name != "diffusion":
        return Stage(stage_name, cfgmod.model_config(raw_config, stage_name))
    if latent is None:
        raise ValueError("the diffusion stage needs --latent: the checkpoint of the frozen encoder")
    source = LatentSource(latent, device=device)
    return Stage(stage_name, cfgmod.model_config(raw_config, "diffusion", d_latent=source.dim), source)


def _run_key(stage: Stage, tc: cfgmod.TrainConfig, data_info: dict, world: int) -> dict:
    """What a run resumes only with: the stage, its configs, the data, the frozen encoder, the world size."""
    key_tc = {k: v for k, v in cfgmod.to_dict(tc).items()
              if k not in NOT_IN_RUN_KEY and not (k in LATER_DEFAULTS and v == LATER_DEFAULTS[k])}
    source = stage.source
    return {"stage": stage.kind, "model_config": cfgmod.to_dict(stage.cfg), "train_config": key_tc,
            "data_hash": data_info["train_hash"], "latent_sha256": source.sha256 if source else None,
            "world": world}


def _resume(out: Path, run_key: dict, model: nn.Module, opt, ema: EMA | None) -> _Position:
    """Load the last checkpoint in ``out`` (weights, optimizer, EMA); its position, or step 0 without one."""
    resumed = C.load_resume(out)
    if resumed is None:
        return _Position()
    tensors, state = resumed
    if state["run_key"] != json.loads(json.dumps(run_key)):
        raise RuntimeError(f"{out} holds a run with another config, data or world size; use a new --out")
    C.load_weights(model, tensors, f"{out}/resume", prefix="model.")
    C.load_optimizer_state(opt, tensors, state)
    if ema is not None:
        C.load_weights(ema.model, tensors, f"{out}/resume", prefix="ema.")
    return _Position(state["step"], state["epoch"], state["index"], state["elapsed_s"], state["tokens_seen"])


def _wrap(model: nn.Module, stage: Stage, tc: cfgmod.TrainConfig, world: int) -> nn.Module:
    """The loss module a step calls: compiled when the config says so, under DDP with several processes."""
    wrapped: nn.Module = LossModule(model, stage)
    if tc.compile:
        wrapped = EagerFallback(wrapped)
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(wrapped, broadcast_buffers=False)
    return wrapped


def _setup(stage_name: str, raw_config: dict, data_dir, out, *, latent, device: str) -> _Run:
    """Processes, configs, data, model, optimizer and EMA (restored from the last checkpoint in ``out``), the
    epoch plan and the log (cut back to the resumed step)."""
    if stage_name not in cfgmod.STAGES:
        raise ValueError(f"unknown stage {stage_name!r}; stages: {', '.join(cfgmod.STAGES)}")
    rank, world, device = setup_distributed(device)
    tc = cfgmod.train_config(raw_config, stage_name)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    stage = _make_stage(stage_name, raw_config, latent, device)
    train_seqs, heldout, data_info = read_data_dir(data_dir)
    out = Path(out)
    run_key = _run_key(stage, tc, data_info, world)

    torch.manual_seed(tc.seed)  # identical initial weights on every process
    model = stage.build().to(device)
    opt = make_optimizer(model, tc)
    ema = EMA(model, stage.cfg.ema_decay) if stage_name == "diffusion" else None
    position = _resume(out, run_key, model, opt, ema)
    wrapped = _wrap(model, stage, tc, world)

    plan = EpochPlan(train_seqs, max_len=tc.max_len, budget=tc.tokens_per_batch, seed=tc.seed, min_rows=world)
    log_path = out / "log.csv"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        _truncate_log(log_path, position.step)
    # the same code on every device: bf16 autocast on CUDA (weights, optimizer and loss sums stay float32),
    # float32 on CPU, where the committed checkpoints were trained
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.startswith("cuda")
                else contextlib.nullcontext())
    step_flops = StepFlops(model, stage.source.model if stage.source is not None else None)
    peak = peak_flops(device, tc.peak_flops)
    return _Run(stage=stage, tc=tc, rank=rank, world=world, device=device, out=out, train_seqs=train_seqs,
                heldout=heldout, data_info=data_info, run_key=run_key, model=model, opt=opt, ema=ema,
                wrapped=wrapped, position=position, plan=plan, log_path=log_path, autocast=autocast,
                step_flops=step_flops, peak=peak)


def _next_batches(plan: EpochPlan, pos: _Position, micro: int) -> list[torch.Tensor]:
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


def _update(run: _Run, parts: list[torch.Tensor], step: int, lr: float):
    """Step ``step`` on ``parts``: the draws (on the global batch), this process's share of them, one
    optimizer step at learning rate ``lr``, the EMA; returns the loss sum, global count and extra outputs."""
    tc, rank, world, device = run.tc, run.rank, run.world, run.device
    local = []
    for j, tokens in enumerate(parts):
        draws = run.stage.draws(tokens, step_generator(tc.seed, step, j))
        local.append((tokens[rank::world].to(device),
                      {k: v[rank::world].to(device) for k, v in draws.items()}))
    for group in run.opt.param_groups:
        group["lr"] = lr
    if tc.micro_batches == 1:  # exactly the step the committed checkpoints were trained with
        result = optimizer_step(run.wrapped, run.model, run.opt, *local[0], grad_clip=tc.grad_clip,
                                world=world, autocast=run.autocast)
    else:
        result = accumulated_step(run.wrapped, run.model, run.opt, local, grad_clip=tc.grad_clip, world=world,
                                  autocast=run.autocast)
    if run.ema is not None:
        run.ema.update(run.model, step)
    return result


class _Window:
    """What a log row reports on: the steps since the previous row (tokens, model FLOPs, loss, accuracy)."""

    def __init__(self, now: float):
        self.start(now)

    def start(self, now: float) -> None:
        self.tokens, self.flops, self.since = 0, 0.0, now
        self.loss = [0.0, 0.0, 0.0]  # loss sum, count, correct

    def add(self, run: _Run, parts: list[torch.Tensor], loss_sum, global_count, extra) -> int:
        """Count one step in (an all-reduce under DDP, so on every process); returns its real tokens."""
        real = sum(int((tokens != A.PAD).sum()) for tokens in parts)
        self.tokens += real
        self.flops += sum(run.step_flops(tokens.shape) for tokens in parts)
        stats = all_sum(torch.stack([loss_sum.detach().float(),
                                     extra.get("correct", torch.tensor(0)).float().to(run.device)]))
        self.loss[0] += float(stats[0])
        self.loss[1] += float(global_count)
        self.loss[2] += float(stats[1])
        return real

    def row(self, run: _Run, pos: _Position, lr: float, started: float, now: float) -> dict:
        seconds = max(now - self.since, 1e-9)
        return {"step": pos.step, "epoch": pos.epoch, "lr": f"{lr:.3e}",
                "loss": self.loss[0] / max(self.loss[1], 1),
                "accuracy": self.loss[2] / max(self.loss[1], 1) if run.stage.kind != "diffusion" else "",
                "tokens": pos.tokens_seen, "tokens_per_s": self.tokens / seconds, "elapsed_s": now - started,
                # model FLOPs per second of each device against its peak (the global batch is split
                # over world)
                "mfu": f"{self.flops / run.world / seconds / run.peak:.4f}" if run.peak else ""}


def _log(run: _Run, window: _Window, pos: _Position, lr: float, started: float, bar) -> None:
    """Append the window's row to the log, show its loss and rate on the bar, open the next window."""
    now = time.time()
    row = window.row(run, pos, lr, started, now)
    _append_log(run.log_path, row)
    bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
    window.start(now)


def _checkpoint(run: _Run, pos: _Position, started: float) -> None:
    """Save what resuming needs (rank 0: weights, EMA, optimizer, position); every process waits for it."""
    if run.rank == 0:
        tensors = C.prefixed(run.model, "model.")
        if run.ema is not None:
            tensors.update(C.prefixed(run.ema.model, "ema."))
        opt_tensors, opt_state = C.optimizer_state(run.opt)
        tensors.update(opt_tensors)
        C.save_resume(run.out, pos.step, tensors,
                      {**opt_state, "run_key": run.run_key, "epoch": pos.epoch, "index": pos.index,
                       "elapsed_s": time.time() - started, "tokens_seen": pos.tokens_seen})
    if run.world > 1:
        dist.barrier()


def _finish(run: _Run, pos: _Position, wall: float, *, export, config_name: str) -> None:
    """Rank 0 writes the model (``finalize``: statistics, metrics, health, model card, export); then the
    processes part."""
    if run.rank == 0:
        final = run.ema.model if run.ema is not None else run.model
        finalize(run.stage, final, run.tc, run.out, export=export, data_info=run.data_info,
                 train_seqs=run.train_seqs, heldout=run.heldout, step=pos.step, wall=wall,
                 tokens_seen=pos.tokens_seen, config_name=config_name, world=run.world)
    if run.world > 1:
        dist.barrier()
        dist.destroy_process_group()


def train(stage_name: str, raw_config: dict, data_dir, out, *, latent=None, export=None, device: str = "cpu",
          config_name: str = "", halt_after_step: int | None = None, progress: bool = True) -> Path:
    run = _setup(stage_name, raw_config, data_dir, out, latent=latent, device=device)
    tc, pos = run.tc, run.position
    bar = tqdm(total=tc.steps, initial=pos.step, disable=run.rank != 0 or not progress, mininterval=5,
               desc=stage_name, dynamic_ncols=True)
    started = time.time() - pos.elapsed
    window = _Window(time.time())
    while pos.step < tc.steps:
        parts = _next_batches(run.plan, pos, tc.micro_batches)
        lr = learning_rate(pos.step, tc)
        loss_sum, global_count, extra = _update(run, parts, pos.step, lr)
        pos.step += 1
        pos.tokens_seen += window.add(run, parts, loss_sum, global_count, extra)
        if run.rank == 0 and (pos.step % tc.log_every == 0 or pos.step == tc.steps):
            _log(run, window, pos, lr, started, bar)
        bar.update(1)
        out_of_time = tc.max_minutes > 0 and time.time() - started > 60 * tc.max_minutes
        if pos.step % tc.ckpt_every == 0 or pos.step == tc.steps or out_of_time:
            _checkpoint(run, pos, started)
        if halt_after_step is not None and pos.step >= halt_after_step:
            bar.close()
            raise HaltForTest(f"halted after step {pos.step}")
        if out_of_time:
            break
    bar.close()
    _finish(run, pos, time.time() - started, export=export, config_name=config_name)
    return run.out


def encoder_health(model, kind: str, tensors: dict, train_seqs, heldout_eval, tc) -> dict:
    """Latent diagnostics of an encoder's standardized latent (and, for the MLM, of its final hidden states)."""
    pca = (tensors["latent.pca_mean"], tensors["latent.pca_components"]) if "latent.pca_components" in tensors else None
    fit_seqs = train_seqs[-3 * tc.eval_sequences:]  # the end of the training data; statistics used its start

    def batches(seqs):
        return eval_batches(seqs, tc.max_len, tc.tokens_per_batch)

    def latents(tokens):
        return standardized_latents(model, kind, tokens, tensors["latent.mean"], tensors["latent.std"], pca)

    out = H.latent_health(latents, batches(fit_seqs), batches(heldout_eval))
    if kind == "mlm":  # the `mlm` encoder's representation: the final hidden states as they are
        def hidden(tokens):
            return model.hidden(tokens)[:, 1:-1], A.is_residue(tokens[:, 1:-1])
        full = H.latent_health(hidden, batches(fit_seqs), batches(heldout_eval))
        out.update({f"final_hidden_{k}": v for k, v in full.items() if isinstance(v, float)})
    return out


def _truncate_log(path: Path, step: int) -> None:
    """Keep log rows up to the resumed step, so a resumed run's log equals an uninterrupted one's."""
    if not path.exists():
        with open(path, "w", newline="") as f:
            csv.DictWriter(f, LOG_FIELDS).writeheader()
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)


def _append_log(path: Path, row: dict) -> None:
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, LOG_FIELDS).writerow(row)


def _final_losses(path: Path) -> dict:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    tail = rows[-max(1, len(rows) // 10):]  # last tenth of the logged intervals
    out = {"train_loss_final": sum(float(r["loss"]) for r in tail) / len(tail)}
    if tail and tail[-1]["accuracy"]:
        out["train_accuracy_final"] = sum(float(r["accuracy"]) for r in tail) / len(tail)
    out["tokens_per_s_mean"] = sum(float(r["tokens_per_s"]) for r in rows) / len(rows)
    mfu = [float(r["mfu"]) for r in rows if r.get("mfu")]
    if mfu:
        out["mfu_mean"] = sum(mfu) / len(mfu)
    return out


@torch.no_grad()
def finalize(stage: Stage, model: nn.Module, tc, out: Path, *, export, data_info, train_seqs, heldout, step, wall,
             tokens_seen, config_name, world) -> None:
    """Latent statistics, held-out metrics, then weights + meta.json + model card (and the export copy)."""
    model = model.cpu().eval()
    kind = stage.kind
    tensors = C.prefixed(model, "model.")
    heldout_eval = heldout[:tc.eval_sequences]
    metrics: dict = {}
    extra_meta: dict = {}
    health_metrics: dict = {}
    if kind == "diffusion":
        source = stage.source
        source.model.cpu()
        source.mean, source.std = source.mean.cpu(), source.std.cpu()
        if source.pca is not None:
            source.pca = tuple(x.cpu() for x in source.pca)
        by_t = loss_by_t(model, source, eval_batches(heldout_eval, tc.max_len, tc.tokens_per_batch))
        metrics["heldout_loss_by_t"] = by_t
        health_metrics.update({f"loss_t{r['t']:g}": r["loss"] for r in by_t})
        samples = sample_sequences(model, source, n=4, length=min(64, tc.max_len), steps=50, seed=tc.seed)
        metrics["samples"] = samples
        # Samples always decode to valid residues (argmax over residue logits), so validity says nothing;
        # how far their composition is from the training data's does.
        metrics["samples_composition_l1"] = float(abs(H.composition(["".join(samples)])[0]
                                                      - H.composition(["".join(train_seqs[:2000])])[0]).sum())
        metrics["samples_max_residue_share"] = float(H.composition(["".join(samples)])[0].max())
        decay = effective_decay(stage.cfg.ema_decay, step - 1)
        metrics["ema_decay_reached"] = decay
        if decay < stage.cfg.ema_decay:
            print(f"warning: EMA decay reached only {decay:.4f} of the configured {stage.cfg.ema_decay} in {step} steps",
                  flush=True)
        extra_meta["latent_source"] = {"kind": source.kind, "sha256": source.sha256,
                                       "directory_name": Path(source.directory).name}
    else:
        stats_seqs, total = [], 0
        for s in train_seqs:  # a fixed prefix of the training data
            stats_seqs.append(s)
            total += min(len(s), tc.max_len)
            if total >= tc.stats_residues:
                break
        pca_dim = model.cfg.pca_dim if kind == "mlm" and model.cfg.latent == "pca" else None
        if kind != "mlm":
            model.precise_token_norm_statistics(eval_batches(stats_seqs, tc.max_len, tc.tokens_per_batch))
            tensors = C.prefixed(model, "model.")
        tensors.update(latent_statistics(model, kind, eval_batches(stats_seqs, tc.max_len, tc.tokens_per_batch), pca_dim))
        batches = list(eval_batches(heldout_eval, tc.max_len, tc.tokens_per_batch))
        if kind == "mlm":
            health_metrics.update(H.mlm_health(model, batches, train_seqs, seed=tc.seed))
            metrics.update({k: health_metrics[k] for k in ("heldout_masked_accuracy", "heldout_perplexity",
                                                            "unigram_perplexity", "heldout_masked_tokens")})
        else:
            metrics.update(reconstruction_metrics(model, batches))
            if model.cfg.noise_masking:
                health_metrics.update(H.identity_loss(model, batches, seed=tc.seed))
        health_metrics.update(encoder_health(model, kind, tensors, train_seqs, heldout_eval, tc))
    health = H.summarize(kind, health_metrics)
    H.warn_if_unhealthy(str(out), health)
    extra_meta["health"] = health
    metrics.update(_final_losses(out / "log.csv"))
    n_params = sum(p.numel() for p in model.parameters())
    meta = {
        "kind": kind, "config_name": config_name,
        "model_config": cfgmod.to_dict(stage.cfg), "train_config": cfgmod.to_dict(tc),
        "data": {k: data_info[k] for k in ("source", "train_hash", "heldout_hash", "n_train", "n_heldout", "decontamination")
                 if k in data_info},
        "training": {"steps": step, "planned_steps": tc.steps, "wall_time_s": round(wall, 1), "tokens_seen": tokens_seen,
                     # passes over the (cropped) training data: crops are random, so this counts tokens, not sequences
                     "epochs": round(tokens_seen / max(1, int(np.minimum(sequence_lengths(train_seqs), tc.max_len).sum())
                                                       + 2 * len(train_seqs)), 2),
                     "processes": world, "parameters": n_params, "torch": torch.__version__, "python": platform.python_version()},
        "metrics": metrics, **extra_meta,
    }
    C.save_model(out, tensors, meta)
    write_model_card(out, meta)
    if export:
        for name in (C.WEIGHTS, C.META, "README.md"):
            atomic_copy(out / name, Path(export) / name)


# ---- data stage -----------------------------------------------------------------------------------

def prepare_data(source: str, out, *, heldout_fraction: float = 0.02, decontaminate: bool = True,
                 registry=None) -> dict:
    """Stream, de-duplicate, decontaminate against task valid/test splits, split off a held-out set and
    write memory-mapped token files (data.prepare, corpus.py)."""
    return D.prepare(source, out, heldout_fraction=heldout_fraction, decontaminate=decontaminate, registry=registry)


# ---- health of any checkpoint ---------------------------------------------------------------------

@torch.no_grad()
def checkpoint_health(directory, data_dir, *, eval_sequences: int | None = None) -> dict:
    """Recompute the health diagnostics of a checkpoint directory (encoder or denoiser) on a data dir."""
    directory = Path(directory)
    tensors, meta = C.load_model(directory)
    kind = meta.get("kind")
    known = {f.name for f in dataclasses.fields(cfgmod.TrainConfig)}
    tc = cfgmod.TrainConfig(**{k: v for k, v in meta["train_config"].items() if k in known})
    if eval_sequences:
        tc.eval_sequences = int(eval_sequences)
    train_seqs, heldout, _ = read_data_dir(data_dir)
    heldout_eval = heldout[:tc.eval_sequences]
    if kind == "diffusion":
        src = meta["latent_source"]
        source = LatentSource(directory.parent / src["directory_name"])
        if source.sha256 != src["sha256"]:
            raise C.CheckpointError(f"{directory.parent / src['directory_name']} is not the encoder the denoiser "
                                    f"{directory} was trained on")
        model = cfgmod.build_model("diffusion", cfgmod.from_dict("diffusion", meta["model_config"]))
        C.load_weights(model, tensors, f"{directory}/model.safetensors", prefix="model.")
        by_t = loss_by_t(model.eval(), source, eval_batches(heldout_eval, tc.max_len, tc.tokens_per_batch))
        return H.summarize(kind, {f"loss_t{r['t']:g}": r["loss"] for r in by_t})
    source = LatentSource(directory)
    model = source.model
    batches = list(eval_batches(heldout_eval, tc.max_len, tc.tokens_per_batch))
    metrics: dict = {}
    if kind == "mlm":
        metrics.update(H.mlm_health(model, batches, train_seqs, seed=tc.seed))
    elif model.cfg.noise_masking:
        metrics.update(H.identity_loss(model, batches, seed=tc.seed))
    metrics.update(encoder_health(model, kind, tensors, train_seqs, heldout_eval, tc))
    return H.summarize(kind, metrics)


def write_health(directory, health: dict) -> None:
    """Replace a checkpoint's stored health (meta.json, then the model card); the weights are untouched,
    so every sha256 that names this checkpoint stays valid."""
    directory = Path(directory)
    meta = C.read_json(directory / C.META)
    meta["health"] = health
    C.write_json(directory / C.META, meta)
    write_model_card(directory, meta)


# ---- CLI ------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lsd-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  lsd-train data --out runs/small/data\n"
               "  lsd-train lsd_tn --config small --data runs/small/data --out runs/small/lsd_tn\n"
               "  lsd-train diffusion --data runs/small/data --latent reference_models/checkpoints/lsd_tn "
               "--out runs/small/lsd_tn_diffusion\n  lsd-train health reference_models/checkpoints/mlm --data "
               "runs/small/data\n  bash reference_models/train_small.sh      # every committed checkpoint, in order")
    sub = p.add_subparsers(dest="stage", required=True, metavar="STAGE")
    d = sub.add_parser("data", help="prepare decontaminated pretraining data",
                       description="Stream the pretraining corpus (any size, plain or gzip, file or URL) into "
                                   "memory-mapped token files train.bin/.idx and heldout.bin/.idx with a manifest "
                                   "of sequence hashes, de-duplicated and with every sequence of a task's valid or "
                                   "test split removed.")
    d.add_argument("--source", default=D.SWISSPROT,
                   help=f"'{D.SWISSPROT}' (the p-scldata wheel), a FASTA file or a URL (.gz ok) (default: %(default)s)")
    d.add_argument("--out", required=True, metavar="DIR", help="output folder")
    d.add_argument("--heldout-fraction", type=float, default=0.02,
                   help="share of sequences held out for evaluation (default: %(default)s)")
    d.add_argument("--no-decontaminate", action="store_true", help="skip removing task valid/test sequences")
    h = sub.add_parser("health", help="health diagnostics of a checkpoint directory (encoder or denoiser)",
                       description="Recompute the health diagnostics of reference_models/health.py on held-out "
                                   "data; exit 1 when a target is missed.")
    h.add_argument("checkpoint", help="directory with model.safetensors and meta.json")
    h.add_argument("--data", required=True, help="directory written by `lsd-train data` (held-out sequences)")
    h.add_argument("--eval-sequences", type=int, help="held-out sequences to use (default: the training config's)")
    h.add_argument("--json", action="store_true", help="print the diagnostics as JSON")
    h.add_argument("--write", action="store_true",
                   help="also store the result in the checkpoint's meta.json and model card (atomically)")
    for name in cfgmod.STAGES:
        what = "the denoiser on a frozen encoder's latents" if name == "diffusion" else f"the {name} encoder"
        s = sub.add_parser(name, help=f"train {what}",
                           description=f"Train {what}; resumes from the last checkpoint in --out, and writes "
                                       "model.safetensors, meta.json (with health) and a model card.")
        s.add_argument("--config", default="small",
                       help="packaged config name (tiny, small, base) or a .toml path (default: %(default)s)")
        s.add_argument("--data", required=True, metavar="DIR", help="directory written by `lsd-train data`")
        s.add_argument("--out", required=True, metavar="DIR", help="run directory (resumed when it holds a checkpoint)")
        s.add_argument("--export", metavar="DIR", help="also copy the final model files to this directory")
        s.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                       help="torch device (default here: %(default)s); under torchrun each rank takes its own GPU")
        s.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value, e.g. train.steps=200 (TOML value); repeatable")
        s.add_argument("--no-progress", action="store_true", help="no progress bar (the log CSV is still written)")
        if name == "diffusion":
            s.add_argument("--latent", required=True, metavar="DIR",
                           help="model directory of the frozen encoder (mlm, lsd_tn, lsd_nm)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.stage == "data":
        info = prepare_data(args.source, args.out, heldout_fraction=args.heldout_fraction,
                            decontaminate=not args.no_decontaminate)
        dec = info["decontamination"]
        print(f"{info['n_train']} training and {info['n_heldout']} held-out sequences; removed {dec['removed']} "
              f"of {dec['input']} found in task valid/test splits")
        for row in dec["tasks"]:
            print(f"  {row['task']}: {row['status']}" + (f", removed {row['removed']}" if row["status"] == "used"
                                                         else f" ({row.get('reason', '')[:120]})"))
        return 0
    if args.stage == "health":
        try:
            health = checkpoint_health(args.checkpoint, args.data, eval_sequences=args.eval_sequences)
        except (C.CheckpointError, OSError, KeyError, RuntimeError) as exc:
            print(f"lsd-train: error: {exc}", file=sys.stderr)
            return 2
        if args.write:
            write_health(args.checkpoint, health)
        if args.json:
            print(json.dumps(health, indent=1, sort_keys=True))
        else:
            verdict = "passes every target" if health["passed"] else f"MISSES {', '.join(health['missed'])}"
            print(f"{args.checkpoint}: {verdict}")
            print("\n".join(H.render_rows(health)))
        return 0 if health["passed"] else 1
    raw = cfgmod.apply_overrides(cfgmod.load_config(args.config), args.set)
    out = train(args.stage, raw, args.data, args.out, latent=getattr(args, "latent", None), export=args.export,
                device=args.device, config_name=args.config, progress=not args.no_progress)
    print(f"model written to {out}" + (f" and {args.export}" if args.export else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
