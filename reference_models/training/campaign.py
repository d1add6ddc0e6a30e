"""A time-boxed training campaign: every stage on one device within a wall-time budget, then the health
diagnostics, the evaluation of the trained encoders, and a timing table, all in one output folder.

    python -m reference_models.training.campaign --out runs/gpu_campaign          # one GPU, 9 minutes (the default)
    bash scripts/gpu_campaign.sh runs/gpu_campaign                       # the same
    python -m reference_models.training.campaign --out /tmp/c --config tiny --budget-minutes 0.75 \\
        --device cpu --suite smoke --t 0.3 --data DIR                   # what CI runs (seconds)

Stages, in order: the data (``lsd-train data``: Swiss-Prot, decontaminated; skipped with ``--data``),
MLM, LSD-TN, LSD-NM, then one denoiser per encoder latent. Each stage trains with ``train.max_minutes``
set to its share of the budget (``SHARES``), so the time box holds on any device: a slow one trains
fewer steps and the model card says so (steps against planned steps, epochs). The health diagnostics of
reference_models/evaluation/health.py run at the end of each stage (they are in every model card); the campaign
collects them in ``health.md``. Then the ``open`` suite (``--suite``) is evaluated with the trained
encoders: ``mlm``, ``mlm_latent``, ``lsd_tn_latent``, ``lsd_nm_latent`` with ``lsdbench.run.evaluate``, and
each ``*_diffusion`` encoder as a sweep over ``--t`` with the level selected on validation, as on the
leaderboard. The output folder holds:

    checkpoints/NAME/   model.safetensors, meta.json, README.md (the model card with its health)
    runs/NAME/          log.csv of each stage (tokens/s and MFU per logged interval)
    results/NAME/       one result file per task (sweeps: also CSV and PNG per task)
    data/               the prepared corpus (unless --data was given)
    timing.md, health.md, results.md, campaign.json, README.md
"""

from __future__ import annotations

import argparse
import csv
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

from reference_models import checkpoint as C
from reference_models import config as cfgmod
from reference_models.corpus import data as D

# (checkpoint name, lsd-train stage, latent the denoiser is trained on)
STAGES = (("mlm", "mlm", None), ("lsd_tn", "lsd_tn", None), ("lsd_nm", "lsd_nm", None),
          ("mlm_diffusion", "diffusion", "mlm"), ("lsd_tn_diffusion", "diffusion", "lsd_tn"),
          ("lsd_nm_diffusion", "diffusion", "lsd_nm"))
# shares of the budget given to each stage's training loop (max_minutes); the rest (0.26) is for the
# data step, the stages' statistics and health, and the evaluation
SHARES = {"mlm": 0.15, "lsd_tn": 0.14, "lsd_nm": 0.14, "mlm_diffusion": 0.1, "lsd_tn_diffusion": 0.1,
          "lsd_nm_diffusion": 0.1}
# encoders evaluated as they are, and the checkpoint each reads
LATENT_ENCODERS = (("mlm", "mlm"), ("mlm_latent", "mlm"), ("lsd_tn_latent", "lsd_tn"), ("lsd_nm_latent", "lsd_nm"))
DIFFUSION_ENCODERS = ("mlm_diffusion", "lsd_tn_diffusion", "lsd_nm_diffusion")
DEFAULT_LEVELS = (0.1, 0.3, 0.5)


def _log_summary(log: Path) -> dict:
    """Mean tokens/s and MFU over the logged intervals of a stage (the first one, with warm-up, left out
    when there are more)."""
    with open(log, newline="") as f:
        rows = list(csv.DictReader(f))
    rows = rows[1:] if len(rows) > 1 else rows
    out = {}
    for key in ("tokens_per_s", "mfu"):
        values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
        if values:
            out[key] = sum(values) / len(values)
    return out


def train_stages(raw: dict, data: Path, out: Path, *, budget_s: float, device: str, config_name: str,
                 progress: bool) -> list[dict]:
    from reference_models.training.train import train

    rows = []
    for name, stage, latent in STAGES:
        minutes = SHARES[name] * budget_s / 60
        stage_raw = cfgmod.apply_overrides(raw, [f"train.{stage}.max_minutes={minutes:.6g}"])
        start = time.perf_counter()
        train(stage, stage_raw, data, out / "runs" / name, export=out / "checkpoints" / name, device=device,
              latent=out / "checkpoints" / latent if latent else None, config_name=config_name, progress=progress)
        seconds = time.perf_counter() - start
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        meta = C.read_json(out / "checkpoints" / name / C.META)
        tr = meta["training"]
        rows.append({"name": name, "stage": stage, "budget_s": round(60 * minutes, 1), "seconds": round(seconds, 1),
                     "train_loop_s": tr["wall_time_s"], "steps": tr["steps"], "planned_steps": tr["planned_steps"],
                     "tokens": tr["tokens_seen"], "epochs": tr["epochs"], "parameters": tr["parameters"],
                     **{k: round(v, 4 if k == "mfu" else 0) for k, v in _log_summary(out / "runs" / name / "log.csv").items()},
                     "health_passed": meta["health"]["passed"], "health_missed": meta["health"]["missed"]})
        print(f"campaign: {name} done in {seconds:.1f} s ({tr['steps']}/{tr['planned_steps']} steps, "
              f"{tr['epochs']} epochs)", flush=True)
    return rows


def evaluate_encoders(out: Path, *, device: str, suite: str, levels, cache_dir, progress: bool) -> list[dict]:
    from lsdbench.encode.encoders import resolve
    from lsdbench.run.evaluate import evaluate
    from lsdbench.run.sweep import run_sweep

    rows = []
    for name, checkpoint in LATENT_ENCODERS:
        start = time.perf_counter()
        encoder = resolve(name, checkpoint=str(out / "checkpoints" / checkpoint), device=device)
        results = evaluate(encoder, suite=suite, out_dir=out / "results" / name, spec=name, cache_dir=cache_dir,
                           progress=progress)
        rows.append({"encoder": name, "tasks": len(results), "seconds": round(time.perf_counter() - start, 1)})
    for name in DIFFUSION_ENCODERS:
        start = time.perf_counter()
        table = run_sweep([name], list(levels), suite=suite, out_dir=out / "results" / name, cache_dir=cache_dir,
                          options={"checkpoint": str(out / "checkpoints" / name), "device": device}, progress=progress)
        rows.append({"encoder": name, "tasks": len(table), "levels": list(levels),
                     "seconds": round(time.perf_counter() - start, 1)})
    return rows


def _table(rows: list[dict], keys: list[str]) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def run_campaign(out, *, config: str = "gpu_campaign", budget_minutes: float = 9.0, device: str | None = None,
                 data=None, source: str = D.SWISSPROT, decontaminate: bool = True, suite: str = "open",
                 levels=DEFAULT_LEVELS, overrides=(), cache_dir=None, progress: bool = False,
                 keep_resume: bool = False) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    budget_s = 60 * budget_minutes
    started = time.perf_counter()
    timing = []
    if data is None:
        data = out / "data"
        t0 = time.perf_counter()
        info = D.prepare(source, data, decontaminate=decontaminate)
        timing.append({"name": "data", "stage": "data", "seconds": round(time.perf_counter() - t0, 1),
                       "tokens": sum(info["residues"].values())})
    raw = cfgmod.apply_overrides(cfgmod.load_config(config), list(overrides))
    timing += train_stages(raw, Path(data), out, budget_s=budget_s, device=device, config_name=config,
                           progress=progress)
    t0 = time.perf_counter()
    evals = evaluate_encoders(out, device=device, suite=suite, levels=levels, cache_dir=cache_dir, progress=progress)
    timing.append({"name": "evaluation", "stage": f"lsdbench, suite {suite}", "seconds": round(time.perf_counter() - t0, 1)})
    if not keep_resume:  # the exported checkpoints are what the campaign delivers; resume states are large
        for name, _, _ in STAGES:
            shutil.rmtree(out / "runs" / name / "resume", ignore_errors=True)
    total = time.perf_counter() - started
    summary = {"device": device, "device_name": device_name(device), "config": config, "overrides": list(overrides),
               "budget_s": budget_s, "total_s": round(total, 1), "within_budget": total <= budget_s,
               "data": str(data), "suite": suite, "levels": list(levels), "torch": torch.__version__,
               "timing": timing, "evaluation": evals}
    write_reports(out, summary)
    return summary


def write_reports(out: Path, summary: dict) -> None:
    from lsdbench.results.result_set import read_results

    keys = ["name", "stage", "budget_s", "seconds", "train_loop_s", "steps", "planned_steps", "tokens", "tokens_per_s",
            "mfu", "epochs", "parameters"]
    timing_md = (f"Device: {summary['device_name']}; config `{summary['config']}`; budget {summary['budget_s']:.0f} s; "
                 f"total {summary['total_s']:.1f} s ({'within' if summary['within_budget'] else 'OVER'} budget).\n\n"
                 + _table(summary["timing"], keys) + "\nEvaluation per encoder:\n\n"
                 + _table(summary["evaluation"], ["encoder", "tasks", "levels", "seconds"]))
    health_rows = [r for r in summary["timing"] if "health_passed" in r]
    health_md = _table(health_rows, ["name", "health_passed", "health_missed"])
    results = read_results(out / "results")
    results_md = results.summary() + "\n" if results else "no results\n"
    (out / "timing.md").write_text(timing_md)
    (out / "health.md").write_text(health_md)
    (out / "results.md").write_text(results_md)
    C.write_json(out / "campaign.json", summary)
    (out / "README.md").write_text(
        "# LSD training campaign\n\n"
        f"`python -m reference_models.training.campaign` with config `{summary['config']}` on {summary['device_name']} "
        f"(torch {summary['torch']}), data `{summary['data']}`.\n\n## Timing\n\n" + timing_md
        + "\n## Health (reference_models/evaluation/health.py; details in each checkpoints/NAME/README.md)\n\n" + health_md
        + f"\n## Results (suite `{summary['suite']}`; diffusion encoders at the validation-selected t of "
        f"{', '.join(map(str, summary['levels']))})\n\n```\n" + results_md + "```\n")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m reference_models.training.campaign", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--config", default="gpu_campaign", help="packaged config or .toml path (default: %(default)s)")
    p.add_argument("--budget-minutes", type=float, default=9.0,
                   help="wall-time budget; each stage trains for its share of it (default: %(default)s)")
    p.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--data", metavar="DIR", help="a directory written by `lsd-train data` (default: prepare one)")
    p.add_argument("--source", default=D.SWISSPROT, help="corpus when --data is not given (default: %(default)s)")
    p.add_argument("--no-decontaminate", action="store_true", help="skip removing task valid/test sequences")
    p.add_argument("--suite", default="open", help="lsdbench suite to evaluate (default: %(default)s)")
    p.add_argument("--t", default=",".join(map(str, DEFAULT_LEVELS)),
                   help="noise levels of the diffusion encoders' sweeps (default: %(default)s)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override; repeatable")
    p.add_argument("--cache-dir", help="lsdbench cache root (default: $LSDBENCH_CACHE_DIR or the user cache)")
    p.add_argument("--keep-resume", action="store_true", help="keep the stages' resume checkpoints")
    p.add_argument("--progress", action="store_true", help="progress bars")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    summary = run_campaign(args.out, config=args.config, budget_minutes=args.budget_minutes, device=args.device,
                           data=args.data, source=args.source, decontaminate=not args.no_decontaminate,
                           suite=args.suite, levels=[float(v) for v in args.t.split(",") if v.strip()],
                           overrides=args.set, cache_dir=args.cache_dir, progress=args.progress,
                           keep_resume=args.keep_resume)
    print((Path(args.out) / "timing.md").read_text())
    print(f"campaign written to {args.out} ({summary['total_s']:.1f} s of a {summary['budget_s']:.0f} s budget)")
    return 0 if summary["within_budget"] else 3


if __name__ == "__main__":
    sys.exit(main())
