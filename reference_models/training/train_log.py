"""The training log (``log.csv``): a row per ``log_every`` steps, cut back on resume, summed up at the end."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import torch

from reference_models.corpus import alphabet as A
from reference_models.training.distributed import all_sum
from reference_models.training.resume import Position

LOG_FIELDS = ["step", "epoch", "lr", "loss", "accuracy", "tokens", "tokens_per_s", "elapsed_s", "mfu"]


class Window:
    """What a log row reports on: the steps since the previous row (tokens, model FLOPs, loss, accuracy)."""

    def __init__(self, now: float, *, step_flops, device: str, world: int, peak: float | None, accuracy: bool):
        self.step_flops, self.device, self.world, self.peak, self.accuracy = step_flops, device, world, peak, accuracy
        self.start(now)

    def start(self, now: float) -> None:
        self.tokens, self.flops, self.since = 0, 0.0, now
        self.loss = [0.0, 0.0, 0.0]  # loss sum, count, correct

    def add(self, parts: list[torch.Tensor], loss_sum, global_count, extra) -> int:
        """Count one step in (an all-reduce under DDP, so on every process); returns its real tokens."""
        real = sum(int((tokens != A.PAD).sum()) for tokens in parts)
        self.tokens += real
        self.flops += sum(self.step_flops(tokens.shape) for tokens in parts)
        stats = all_sum(torch.stack([loss_sum.detach().float(),
                                     extra.get("correct", torch.tensor(0)).float().to(self.device)]))
        self.loss[0] += float(stats[0])
        self.loss[1] += float(global_count)
        self.loss[2] += float(stats[1])
        return real

    def row(self, pos: Position, lr: float, started: float, now: float) -> dict:
        seconds = max(now - self.since, 1e-9)
        return {"step": pos.step, "epoch": pos.epoch, "lr": f"{lr:.3e}",
                "loss": self.loss[0] / max(self.loss[1], 1),
                "accuracy": self.loss[2] / max(self.loss[1], 1) if self.accuracy else "",
                "tokens": pos.tokens_seen, "tokens_per_s": self.tokens / seconds, "elapsed_s": now - started,
                # model FLOPs per second of each device against its peak (the global batch is split
                # over world)
                "mfu": f"{self.flops / self.world / seconds / self.peak:.4f}" if self.peak else ""}


def log(path: Path, window: Window, pos: Position, lr: float, started: float, bar) -> None:
    """Append the window's row to the log, show its loss and rate on the bar, open the next window."""
    now = time.time()
    row = window.row(pos, lr, started, now)
    append_log(path, row)
    bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
    window.start(now)


def truncate_log(path: Path, step: int) -> None:
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


def append_log(path: Path, row: dict) -> None:
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, LOG_FIELDS).writerow(row)


def final_losses(path: Path) -> dict:
    """Mean loss (and accuracy) over the last tenth of the logged rows, mean throughput and MFU."""
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
