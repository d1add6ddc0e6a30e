"""The paper-faithful pieces of the reference models (issue 26): a real variational bottleneck, the
homogeneous reading of Token Norm, NM's weighted reconstruction and the random-feature denoiser control."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reference_models.config import load_config, model_config
from reference_models.corpus import alphabet as A
from reference_models.evaluation.encoders import random_denoiser
from reference_models.networks.autoencoder import Autoencoder, AutoencoderConfig
from reference_models.training.finalize import posterior_rate

SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "ACDEFGHIKLMNPQRSTVWY", "KKKKAAAAGGGGLLLL"]


def _model(stage="lsd_tn", **changes) -> Autoencoder:
    cfg = model_config(load_config("tiny"), stage)
    torch.manual_seed(0)
    return Autoencoder(dataclasses.replace(cfg, **changes))


def _step_inputs(model):
    tokens = A.batch_tokens(SEQS)
    return tokens, model.draws(tokens, model.cfg, torch.Generator().manual_seed(0))


def test_kl_needs_a_posterior_the_l2_penalty_is_gone():
    with pytest.raises(ValueError, match="kl_weight"):
        AutoencoderConfig(kl_weight=0.1)  # deterministic latent: no posterior, no KL
    with pytest.raises(ValueError, match="gaussian"):
        AutoencoderConfig(bottleneck="token_norm_homogeneous")


def test_gaussian_posterior_samples_in_training_and_encodes_its_mean():
    model = _model(posterior="gaussian", kl_weight=0.5).train()
    tokens, draws = _step_inputs(model)
    assert "posterior_noise" in draws
    total, count, extra = model.loss(tokens, draws)
    assert extra["kl"] > 0 and torch.isclose(total, extra["ce"] + 0.5 * extra["kl"], rtol=1e-5)
    model.eval()
    with torch.no_grad():
        z1, mask = model.encode(tokens)
        z2, _ = model.encode(tokens)
        mean, logvar, _ = model.posterior(tokens)
    assert torch.equal(z1, z2) and torch.equal(z1, mean)  # no sampling when encoding
    kl = Autoencoder.kl(mean[mask], logvar[mask])
    manual = 0.5 * (mean[mask] ** 2 + logvar[mask].exp() - 1 - logvar[mask]).sum(-1)
    assert torch.allclose(kl, manual) and (kl >= 0).all()
    assert posterior_rate(model, [tokens]) == pytest.approx(float(kl.mean()), rel=1e-5)


def test_deterministic_configs_keep_their_random_draws():
    model = _model()
    _, draws = _step_inputs(model)
    assert "posterior_noise" not in draws  # old checkpoints' training draws are unchanged


def test_homogeneous_token_norm_latent_depends_on_the_residue_type_only():
    model = _model(bottleneck="token_norm_homogeneous", posterior="gaussian", kl_weight=0.01).eval()
    assert model.encoder is None  # no context reaches the latent
    tokens = A.batch_tokens(["AKA", "WAW", "AAAAAAAK"])
    with torch.no_grad():
        z, mask = model.encode(tokens)
    a = A.encode("A")[0]
    rows = z[mask][tokens[:, 1:-1][mask] == a]
    assert len(rows) == 10 and torch.equal(rows, rows[:1].expand_as(rows))  # every A alike, in any context
    assert torch.allclose(rows[0].pow(2).mean(), torch.tensor(1.0), atol=1e-4)  # Token Norm of the table
    model.train()
    total, _, extra = model.loss(*_step_inputs(model))
    total.backward()
    assert model.type_logvar.grad is not None and extra["kl"] > 0


def test_noise_masking_reconstruction_weights_follow_what_the_noise_erased():
    model = _model("lsd_nm", posterior="deterministic", nm_weight_clean=0.0, nm_weight_lost=1.0).train()
    tokens, draws = _step_inputs(model)
    lost = model.identity_lost(tokens, draws)
    selected = draws["nm_selected"][:, 1:-1]
    assert (lost <= selected).all() and lost.any()
    weights = model._weights(tokens, draws, A.is_residue(tokens[:, 1:-1]))
    residues = A.is_residue(tokens[:, 1:-1])
    assert (weights[residues & ~selected] == 0).all()  # left clean: weight nm_weight_clean
    assert (weights[lost] == 1).all() and (weights[selected & residues & ~lost] == 1).all()
    uniform = _model("lsd_nm", posterior="deterministic").train()
    assert uniform._weights(tokens, draws, A.is_residue(tokens[:, 1:-1])) is None


def test_random_denoiser_control_is_seeded_contextual_and_never_the_identity():
    cfg = model_config(load_config("tiny"), "diffusion", d_latent=8)
    a, b = random_denoiser(cfg, seed=0), random_denoiser(cfg, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    gates = a.backbone.blocks[0].ada.bias.view(6, -1)
    assert (gates[2] == 1).all() and (gates[5] == 1).all()
    zt = torch.randn(1, 6, 8)
    mask = torch.ones(1, 6, dtype=torch.bool)
    t = torch.tensor([0.5])
    _, blocks = a(zt, t, mask, return_blocks=True)
    zt2 = zt.clone()
    zt2[0, 5] += 3.0  # change one residue: the others' features move (attention mixes context)
    _, blocks2 = a(zt2, t, mask, return_blocks=True)
    assert not torch.allclose(blocks[-1][0, 0], blocks2[-1][0, 0])
