"""A training stage: its model config (and the denoiser's frozen encoder); its model owns the draws and loss."""

from __future__ import annotations

import torch
import torch.nn as nn

from reference_models import config as cfgmod
from reference_models.networks.latents import LatentSource


class Stage:
    """Random draws (made on the global batch, so every process sees the same ones) and the loss, both the
    model's own (``draws`` and ``loss`` of MLM, Autoencoder, Denoiser)."""

    def __init__(self, kind: str, model_cfg, source: LatentSource | None = None):
        self.kind, self.cfg, self.source = kind, model_cfg, source

    def build(self) -> nn.Module:
        return cfgmod.build_model(self.kind, self.cfg)

    def draws(self, tokens: torch.Tensor, g: torch.Generator) -> dict:
        return cfgmod.MODELS[self.kind].draws(tokens, self.cfg, g)

    def loss(self, model, tokens, draws):
        if self.kind != "diffusion":
            return model.loss(tokens, draws)
        z0, mask = self.source.latents(tokens)  # the denoiser learns the frozen encoder's latents
        return model.loss(z0, mask, draws)


def make_stage(stage_name: str, raw_config: dict, latent, device: str) -> Stage:
    """The stage and its model config; the diffusion stage also loads the frozen encoder whose latents it
    learns."""
    if stage_name != "diffusion":
        return Stage(stage_name, cfgmod.model_config(raw_config, stage_name))
    if latent is None:
        raise ValueError("the diffusion stage needs --latent: the checkpoint of the frozen encoder")
    source = LatentSource(latent, device=device)
    return Stage(stage_name, cfgmod.model_config(raw_config, "diffusion", d_latent=source.dim), source)
