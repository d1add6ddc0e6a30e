"""The end of a run: latent statistics, held-out metrics and health, then weights, meta.json and the model
card; and ``lsd-train health``, which recomputes the health of any checkpoint directory."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from lsdbench.atomic import atomic_copy
from reference_models import checkpoint as C
from reference_models import config as cfgmod
from reference_models.corpus import alphabet as A
from reference_models.evaluation import function_health as FH
from reference_models.evaluation import health as H
from reference_models.evaluation.evaluation import (
    eval_batches,
    loss_by_t,
    reconstruction_metrics,
    sample_sequences,
)
from reference_models.evaluation.model_card import write_model_card
from reference_models.networks.ema import effective_decay
from reference_models.networks.latents import LatentSource, latent_statistics, standardized_latents
from reference_models.training.batching import sequence_lengths
from reference_models.training.stage import Stage
from reference_models.training.train_data import read_data_dir
from reference_models.training.train_log import final_losses


@torch.no_grad()
def finalize(stage: Stage, model: nn.Module, tc, out: Path, *, export, data_info, train_seqs, heldout, step, wall,
             tokens_seen, config_name, world) -> None:
    """Latent statistics, held-out metrics, then weights + meta.json + model card (and the export copy)."""
    model = model.cpu().eval()
    kind = stage.kind
    heldout_eval = heldout[:tc.eval_sequences]
    if kind == "diffusion":
        tensors = C.prefixed(model, "model.")
        metrics, health_metrics, extra_meta = _denoiser_results(stage, model, tc, train_seqs, heldout_eval, step)
    else:
        tensors, metrics, health_metrics = _encoder_results(kind, model, tc, train_seqs, heldout_eval)
        extra_meta = {}
    function = measure_function(kind, model if kind != "diffusion" else stage.source.model, tensors, train_seqs, tc,
                                denoiser=model if kind == "diffusion" else None,
                                source=stage.source if kind == "diffusion" else None)
    health = FH.summarize(kind, {**health_metrics, **function}, homogeneous=_homogeneous(model, kind))
    H.warn_if_unhealthy(str(out), health)
    extra_meta["health"] = health
    metrics.update(final_losses(out / "log.csv"))
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


def _denoiser_results(stage: Stage, model: nn.Module, tc, train_seqs, heldout_eval, step: int):
    """(metrics, health metrics, extra meta) of a denoiser: held-out loss by t, samples, the EMA decay reached."""
    metrics: dict = {}
    source = stage.source
    source.model.cpu()
    source.mean, source.std = source.mean.cpu(), source.std.cpu()
    if source.pca is not None:
        source.pca = tuple(x.cpu() for x in source.pca)
    by_t = loss_by_t(model, source, eval_batches(heldout_eval, tc.max_len, tc.tokens_per_batch))
    metrics["heldout_loss_by_t"] = by_t
    health_metrics = {f"loss_t{r['t']:g}": r["loss"] for r in by_t}
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
    extra_meta = {"latent_source": {"kind": source.kind, "sha256": source.sha256,
                                    "directory_name": Path(source.directory).name}}
    return metrics, health_metrics, extra_meta


def _encoder_results(kind: str, model: nn.Module, tc, train_seqs, heldout_eval):
    """(weights with the latent statistics, metrics, health metrics) of an encoder; the statistics come from
    a fixed prefix of the training data."""
    stats_seqs, total = [], 0
    for s in train_seqs:
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
    metrics: dict = {}
    health_metrics: dict = {}
    if kind == "mlm":
        health_metrics.update(H.mlm_health(model, batches, train_seqs, seed=tc.seed))
        metrics.update({k: health_metrics[k] for k in ("heldout_masked_accuracy", "heldout_perplexity",
                                                        "unigram_perplexity", "heldout_masked_tokens")})
    else:
        metrics.update(reconstruction_metrics(model, batches))
        if model.cfg.posterior == "gaussian":
            metrics["rate_nats_per_residue"] = posterior_rate(model, batches)
        if model.cfg.noise_masking:
            health_metrics.update(H.identity_loss(model, batches, seed=tc.seed))
    health_metrics.update(encoder_health(model, kind, tensors, train_seqs, heldout_eval, tc))
    return tensors, metrics, health_metrics


@torch.no_grad()
def posterior_rate(model, batches) -> float:
    """Mean KL(q(z|x) || N(0, I)) per residue on held-out batches: the information rate of the latent."""
    total = count = 0.0
    for tokens in batches:
        mean, logvar, mask = model.posterior(tokens)
        total += float(model.kl(mean[mask], logvar[mask]).sum())
        count += int(mask.sum())
    return total / max(count, 1)


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


def _homogeneous(model, kind: str) -> bool:
    return kind in ("lsd_tn", "lsd_nm") and bool(getattr(model.cfg, "homogeneous", False))


def _task_sequences(tc, max_sequences: int) -> tuple[list[str], str]:
    """Task test sequences (cropped to max_len) and where they came from; without the task files (no
    mirror, no network) the health is measured on nothing and says so."""
    try:
        seqs = FH.task_sequences(max_sequences)
    except Exception as exc:  # noqa: BLE001  (any fetch failure: report, do not fail the training run)
        print(f"warning: function health skipped, task sequences unavailable ({exc})", flush=True)
        return [], "unavailable"
    return [s[:tc.max_len] for s in seqs], f"open-suite test sequences ({len(seqs)})"


@torch.no_grad()
def measure_function(kind: str, encoder, tensors, train_seqs, tc, *, denoiser=None, source=None,
                     max_sequences: int = 400) -> dict:
    """T3-T6 of function_health (T1/T2 need submissions: ``lsd-train health --submissions``)."""
    sequences, origin = _task_sequences(tc, max_sequences)
    if not sequences:
        return {"function_sequences": origin}
    metrics: dict = {"function_sequences": origin}
    if kind == "diffusion":
        metrics.update(FH.context_margins(denoiser.eval(), source, sequences[:200]))
        return metrics

    def batches(seqs):
        return eval_batches(seqs, tc.max_len, tc.tokens_per_batch)

    if kind == "mlm":  # the `mlm` entry's representation: the final hidden states
        def rep_fn(tokens):
            return encoder.hidden(tokens)[:, 1:-1], A.is_residue(tokens[:, 1:-1])
        metrics.update(FH.perplexity_ratio(encoder, list(batches(sequences)), H.unigram_log_probs(train_seqs)))
    else:
        pca = (tensors["latent.pca_mean"], tensors["latent.pca_components"]) if "latent.pca_components" in tensors else None

        def rep_fn(tokens):
            return standardized_latents(encoder, kind, tokens, tensors["latent.mean"], tensors["latent.std"], pca)
    fit = FH._rows(rep_fn, batches(train_seqs[-3 * tc.eval_sequences:]))
    ev = FH._rows(rep_fn, batches(sequences))
    metrics.update(FH.next_type_gain(fit, ev))
    metrics.update(FH.within_type_share(ev))
    return metrics


@torch.no_grad()
def function_health(directory, data_dir, *, submissions=None, max_sequences: int = 400) -> dict:
    """The health record of a checkpoint directory by function (T1-T6 where they apply), plus the older
    diagnostics as descriptive numbers."""
    directory = Path(directory)
    tensors, meta = C.load_model(directory)
    kind = meta.get("kind")
    legacy = checkpoint_health(directory, data_dir)["metrics"]
    known = {f.name for f in dataclasses.fields(cfgmod.TrainConfig)}
    tc = cfgmod.TrainConfig(**{k: v for k, v in meta["train_config"].items() if k in known})
    train_seqs, _, _ = read_data_dir(data_dir)
    if kind == "diffusion":
        src = meta["latent_source"]
        source = LatentSource(directory.parent / src["directory_name"])
        model = cfgmod.build_model("diffusion", cfgmod.from_dict("diffusion", meta["model_config"]))
        C.load_weights(model, tensors, f"{directory}/model.safetensors", prefix="model.")
        metrics = measure_function(kind, None, tensors, train_seqs, tc, denoiser=model, source=source,
                                   max_sequences=max_sequences)
        homogeneous = False
    else:
        source = LatentSource(directory)
        metrics = measure_function(kind, source.model, tensors, train_seqs, tc, max_sequences=max_sequences)
        homogeneous = _homogeneous(source.model, kind)
    if submissions is not None and Path(submissions).is_dir():
        metrics.update(FH.control_targets(FH.entry_name(directory), submissions,
                                          checkpoint_sha256=C.sha256_file(directory / C.WEIGHTS)))
    # the earlier diagnostics stay as descriptive numbers; the task-sequence ones above take precedence
    return FH.summarize(kind, {**{k: v for k, v in legacy.items() if k not in metrics}, **metrics}, homogeneous)


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
