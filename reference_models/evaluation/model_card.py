"""Model cards (README.md next to each checkpoint), written from meta.json at the end of training."""

from __future__ import annotations

import json
from pathlib import Path

from reference_models.evaluation.health import render_rows

TITLES = {"mlm": "MLM (ESM-style masked language model)", "lsd_tn": "LSD-TN autoencoder (Token Norm)",
          "lsd_nm": "LSD-NM autoencoder (Noise Masking)", "diffusion": "Latent diffusion denoiser"}


def render(meta: dict) -> str:
    kind, tr, m = meta["kind"], meta["training"], meta["metrics"]
    title = TITLES[kind]
    if kind == "diffusion":
        title += f" on the {meta['latent_source']['kind']} latent space"
    lines = [f"# {title}", "",
             "Reference model of lsdbench, trained in this repository with `lsd-train` "
             "(see `reference_models/README.md` for what each choice means and why).", "",
             "## Training", "", "| | |", "|---|---|",
             f"| config | `{meta.get('config_name', '')}` |",
             f"| parameters | {tr['parameters']:,} |",
             f"| steps | {tr['steps']} (planned {tr['planned_steps']}) |",
             f"| tokens seen | {tr['tokens_seen']:,} ({tr.get('epochs', '?')} epochs of the cropped training data) |",
             f"| wall time | {tr['wall_time_s'] / 60:.1f} min on {tr['processes']} process(es), torch {tr['torch']} |",
             f"| data | {meta['data'].get('source')}: {meta['data'].get('n_train')} training sequences, "
             f"hash `{meta['data'].get('train_hash')}` |"]
    dec = meta["data"].get("decontamination")
    if dec:
        lines.append(f"| decontamination | removed {dec['removed']} of {dec['input']} sequences found in task "
                     f"valid/test splits ({dec.get('tasks_used', 0)} tasks used, {dec.get('tasks_skipped', 0)} skipped) |")
    if kind == "diffusion":
        src = meta["latent_source"]
        lines.append(f"| latent source | `{src['directory_name']}` ({src['kind']}), `{src['sha256']}` |")
    lines += ["", "## Results", "", "| metric | value |", "|---|---|"]
    for key, value in m.items():
        if key in ("heldout_loss_by_t", "samples") or value is None:
            continue
        lines.append(f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |")
    health = meta.get("health")
    if health:
        verdict = "passes every target" if health["passed"] else f"MISSES {', '.join(health['missed'])}"
        lines += ["", f"## Health: {verdict}", "",
                  "Is the latent more than residue identity? Is the MLM well below unigram perplexity? "
                  "(`reference_models/evaluation/health.py`; `lsd-train health DIR` recomputes it.)", ""]
        lines += render_rows(health)
    if "heldout_loss_by_t" in m:
        lines += ["", "Held-out diffusion loss against the noise level t (per residue, model's parameterization):", "",
                  "| t | loss |", "|---|---|"] + [f"| {r['t']:.2f} | {r['loss']:.4f} |" for r in m["heldout_loss_by_t"]]
    if "samples" in m:
        lines += ["", "DDIM samples (50 steps, 64 residues) decoded through the encoder's decoder path:", "", "```"]
        lines += m["samples"] + ["```"]
    lines += ["", "## Config", "", "```json", json.dumps({"model": meta["model_config"], "train": meta["train_config"]},
                                                           indent=1, sort_keys=True), "```", ""]
    return "\n".join(lines)


def write_model_card(directory, meta: dict) -> Path:
    path = Path(directory) / "README.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render(meta))
    tmp.replace(path)
    return path
