"""The training loop of every stage, read top to bottom: set up, step, log, checkpoint, finish; and ``main``.

The pieces live next door: ``stage.py`` (what differs between stages; each model owns its draws and
loss), ``optim.py`` (AdamW and the schedule), ``step.py`` (one optimizer step), ``train_data.py`` (data
directory and batch stream), ``resume.py`` (checkpoints a run resumes from), ``train_log.py`` (log.csv),
``finalize.py`` (what a finished run writes) and ``cli.py`` (the ``lsd-train`` parser and commands).

Multi-GPU / multi-machine: ``torchrun --nproc_per_node N -m reference_models.training.train STAGE ...``.
Re-running the same command resumes from the last checkpoint in RUN.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm import tqdm

from reference_models import config as cfgmod
from reference_models.cli import COMMANDS, build_parser, prepare_data
from reference_models.corpus import corpus as K
from reference_models.networks.ema import EMA
from reference_models.training import resume as R
from reference_models.training import train_log as L
from reference_models.training.batching import EpochPlan
from reference_models.training.distributed import all_sum, setup_distributed
from reference_models.training.finalize import checkpoint_health, encoder_health, finalize, write_health
from reference_models.training.flops import StepFlops, peak_flops
from reference_models.training.optim import learning_rate, make_optimizer
from reference_models.training.stage import Stage, make_stage
from reference_models.training.step import (
    EagerFallback,
    LossModule,
    accumulated_step,
    optimizer_step,
    step_generator,
    wrap,
)
from reference_models.training.train_data import next_batches, read_data_dir
from reference_models.training.train_log import LOG_FIELDS

# names other code imports from here, from before the loop's pieces had modules of their own
__all__ = ["EagerFallback", "HaltForTest", "LOG_FIELDS", "LossModule", "Stage", "accumulated_step", "all_sum",
           "build_parser", "checkpoint_health", "encoder_health", "finalize", "learning_rate", "main",
           "make_optimizer", "optimizer_step", "prepare_data", "read_data_dir", "setup_distributed",
           "step_generator", "train", "write_health"]


class HaltForTest(RuntimeError):
    """Raised by ``halt_after_step``: simulates a run killed right after a step (used by the tests)."""


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
    position: R.Position
    plan: EpochPlan
    log_path: Path
    autocast: object
    step_flops: StepFlops
    peak: float | None


def _setup(stage_name: str, raw_config: dict, data_dir, out, *, latent, device: str) -> _Run:
    """Processes, configs, data, model, optimizer and EMA (restored from the last checkpoint in ``out``), the
    epoch plan and the log (cut back to the resumed step)."""
    if stage_name not in cfgmod.STAGES:
        raise ValueError(f"unknown stage {stage_name!r}; stages: {', '.join(cfgmod.STAGES)}")
    rank, world, device = setup_distributed(device)
    tc = cfgmod.train_config(raw_config, stage_name)
    if tc.num_threads:
        torch.set_num_threads(tc.num_threads)
    stage = make_stage(stage_name, raw_config, latent, device)
    train_seqs, heldout, data_info = read_data_dir(data_dir)
    out = Path(out)
    run_key = R.run_key(stage, tc, data_info, world)

    torch.manual_seed(tc.seed)  # identical initial weights on every process
    model = stage.build().to(device)
    opt = make_optimizer(model, tc)
    ema = EMA(model, stage.cfg.ema_decay) if stage_name == "diffusion" else None
    position = R.resume(out, run_key, model, opt, ema)
    wrapped = wrap(model, stage, tc, world)

    plan = EpochPlan(train_seqs, max_len=tc.max_len, budget=tc.tokens_per_batch, seed=tc.seed, min_rows=world)
    log_path = out / "log.csv"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        L.truncate_log(log_path, position.step)
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


def _checkpoint(run: _Run, pos: R.Position, started: float) -> None:
    """Rank 0 saves what resuming needs; every process waits for it."""
    if run.rank == 0:
        R.save_checkpoint(run.out, pos, run.run_key, run.model, run.opt, run.ema, started)
    if run.world > 1:
        dist.barrier()


def _finish(run: _Run, pos: R.Position, wall: float, *, export, config_name: str) -> None:
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
    window = L.Window(time.time(), step_flops=run.step_flops, device=run.device, world=run.world, peak=run.peak,
                      accuracy=run.stage.kind != "diffusion")
    while pos.step < tc.steps:
        parts = next_batches(run.plan, pos, tc.micro_batches)
        lr = learning_rate(pos.step, tc)
        loss_sum, global_count, extra = _update(run, parts, pos.step, lr)
        pos.step += 1
        pos.tokens_seen += window.add(parts, loss_sum, global_count, extra)
        if run.rank == 0 and (pos.step % tc.log_every == 0 or pos.step == tc.steps):
            L.log(run.log_path, window, pos, lr, started, bar)
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


def _run(args) -> int:
    if args.stage in COMMANDS:
        return COMMANDS[args.stage](args)
    raw = cfgmod.apply_overrides(cfgmod.load_config(args.config), args.set)
    out = train(args.stage, raw, args.data, args.out, latent=getattr(args, "latent", None), export=args.export,
                device=args.device, config_name=args.config, progress=not args.no_progress)
    print(f"model written to {out}" + (f" and {args.export}" if args.export else ""))
    return 0


def error_line(exc: BaseException) -> str | None:
    """The one-line message of an error the user can fix (bad config, missing file or extra), else None."""
    from lsdbench.errors import user_message

    message = user_message(exc)
    if message is not None:
        return message
    if isinstance(exc, ModuleNotFoundError):
        return (f"{exc} (the training commands need the pretrain extra: pip install -e '.[pretrain]')"
                if "pip install" not in str(exc) else str(exc))
    if isinstance(exc, (ValueError, KeyError, FileNotFoundError)):
        return " ".join(str(exc).split())
    return None


def main(argv=None) -> int:
    """``lsd-train``: the data and health commands (cli.py), or train a stage. Errors the user can fix
    are one ``lsd-train: error:`` line (LSD_TRAIN_TRACEBACK=1 shows the traceback)."""
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    except Exception as exc:
        message = error_line(exc)
        if message is None or os.environ.get("LSD_TRAIN_TRACEBACK"):
            raise
        print(f"lsd-train: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
