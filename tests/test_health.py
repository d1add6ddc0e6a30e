"""Health diagnostics of the reference models (reference_models/evaluation/health.py): a residue-type lookup table is
flagged, a contextual latent is not; the MLM is compared with unigram perplexity; Noise Masking's identity
loss is measured."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reference_models.corpus import alphabet as A
from reference_models.evaluation import health as H
from reference_models.networks.autoencoder import Autoencoder, AutoencoderConfig
from reference_models.networks.transformer import TransformerConfig


def random_sequences(n: int, seed: int, lo: int = 20, hi: int = 80) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(A.CANONICAL), size=int(rng.integers(lo, hi)))) for _ in range(n)]


def batches(seqs: list[str], size: int = 16):
    for i in range(0, len(seqs), size):
        yield A.batch_tokens(seqs[i:i + size])


TABLE = torch.from_numpy(np.random.default_rng(0).normal(size=(A.N_TYPES, 8)))
BIGRAM = torch.from_numpy(np.random.default_rng(1).normal(size=(A.N_TYPES, A.N_TYPES, 8)))


def lookup_latents(tokens):
    """The collapse: every residue of a type at one point (plus rounding-level jitter)."""
    inner = tokens[:, 1:-1]
    mask = A.is_residue(inner)
    z = TABLE[A.residue_types(inner)] + 1e-6 * torch.randn(*inner.shape, 8, generator=torch.Generator().manual_seed(0))
    return z * mask[..., None], mask


def contextual_latents(tokens):
    """Each latent depends on its residue AND the next one (a bigram code): more than residue identity."""
    inner = tokens[:, 1:-1]
    mask = A.is_residue(inner)
    types = A.residue_types(inner)
    nxt = torch.roll(types, -1, dims=1)
    z = BIGRAM[types, nxt]
    return z * mask[..., None], mask


def _health(latents_fn, kind="lsd_tn"):
    from reference_models.evaluation.evaluation import eval_batches

    fit, ev = random_sequences(300, 0), random_sequences(150, 1)
    # token-budget batches reorder sequences by length: the diagnostics must not depend on the order
    return H.summarize(kind, H.latent_health(latents_fn, eval_batches(fit, 256, 2000), eval_batches(ev, 256, 2000)))


def test_a_per_type_lookup_latent_is_flagged():
    health = _health(lookup_latents)
    m = health["metrics"]
    assert m["within_type_variance_share"] < 1e-6
    assert m["nearest_centroid_accuracy"] == 1.0
    assert m["composition_r2"] > 0.999  # the pooled lookup is exactly linear in composition
    assert not health["passed"]
    assert set(health["missed"]) == {"within_type_variance_share", "composition_r2"}
    assert abs(m["next_type_gain"]) < 0.005  # own type only: the prior decides, the bigram guess


def test_a_contextual_latent_is_not_flagged():
    health = _health(contextual_latents)
    m = health["metrics"]
    assert m["within_type_variance_share"] > 0.5
    assert m["composition_r2"] < 0.9
    assert health["passed"] and health["missed"] == []
    # the bigram code carries the next residue: even a linear probe reads some of it off (uniform random
    # sequences: the bigram guess is chance, ~1/20)
    assert m["next_type_accuracy_bigram"] < 0.08 and m["next_type_gain"] > 0.08


def test_array_diagnostics_on_known_cases():
    types = np.repeat(np.arange(3), 50)
    z = np.eye(3)[types] * 5.0
    assert H.within_type_variance_share(z, types) == 0.0
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(150, 3))
    assert H.within_type_variance_share(noise, types) > 0.9
    assert H.nearest_centroid_accuracy(z, types, z, types) == 1.0
    comp = rng.dirichlet(np.ones(21), size=200)
    y = comp @ rng.normal(size=(21, 4))
    assert H.composition_r2(comp[:100], y[:100], comp[100:], y[100:]) == pytest.approx(1.0, abs=1e-6)
    assert H.composition_r2(comp[:100], rng.normal(size=(100, 4)), comp[100:], rng.normal(size=(100, 4))) < 0.2


def test_targets_pick_the_kind_and_report_misses():
    rows = H.check_targets("mlm", {"perplexity_ratio": 0.8, "composition_r2": 0.5, "within_type_variance_share": 0.0})
    assert {r["metric"]: r["passed"] for r in rows} == {"perplexity_ratio": False, "composition_r2": True}
    nm = H.summarize("lsd_nm", {"identity_loss_fraction": 0.2, "within_type_variance_share": 0.3, "composition_r2": 0.4})
    assert nm["passed"]
    assert not H.summarize("lsd_nm", {"identity_loss_fraction": 0.03})["passed"]
    assert H.summarize("diffusion", {"loss_t0.01": 0.1})["targets"] == []


def test_unigram_log_probs_are_the_residue_frequencies():
    logp = H.unigram_log_probs(["AAAC", "AC"])
    p = logp.exp()
    assert p[:A.FIRST_RESIDUE].sum() == 0
    assert float(p.sum()) == pytest.approx(1.0)
    a, c = A.encode("A")[0], A.encode("C")[0]
    assert float(p[a] / p[c]) == pytest.approx((4 + 1) / (2 + 1))  # add-one counts


@pytest.mark.parametrize("level,expected", [(0.0, (0.0, 0.0)), (1.0, (0.85, 1.0))])
def test_identity_loss_follows_the_noise_level(level, expected):
    torch.manual_seed(0)
    cfg = AutoencoderConfig(backbone=TransformerConfig(d_model=64, n_layer=1, n_head=2), d_latent=4, bottleneck="none",
                            noise_masking=True, nm_level_min=level, nm_level_max=level, nm_fraction_min=0.5,
                            nm_fraction_max=0.5)
    out = H.identity_loss(Autoencoder(cfg).eval(), list(batches(random_sequences(40, 2))))
    lo, hi = expected
    assert lo <= out["identity_loss_fraction"] <= hi
    assert out["corrupted_share_of_residues"] == pytest.approx(0.5, abs=0.05)
    assert math.isclose(out["identity_loss_share_of_residues"],
                        out["identity_loss_fraction"] * out["corrupted_share_of_residues"], rel_tol=1e-9, abs_tol=1e-12)


def test_small_config_noise_masking_erases_identity_like_the_mlm_masks():
    """The committed NM corruption: ~20 % of corrupted and ~15 % of all residues lose their identity (the
    MLM's 15 %); the first NM (s ~ U(0, 1) on U(0, 1) of residues) erased ~3 % of corrupted residues."""
    from reference_models import config as cfgmod

    torch.manual_seed(0)
    cfg = cfgmod.model_config(cfgmod.load_config("small"), "lsd_nm")
    out = H.identity_loss(Autoencoder(cfg).eval(), list(batches(random_sequences(60, 3, 100, 200))))
    assert 0.10 <= out["identity_loss_fraction"] <= 0.30
    assert 0.10 <= out["identity_loss_share_of_residues"] <= 0.20
    old = AutoencoderConfig(backbone=cfg.backbone, d_latent=32, bottleneck="none", noise_masking=True,
                            nm_level_min=0.0, nm_level_max=1.0, nm_fraction_min=0.0, nm_fraction_max=1.0)
    torch.manual_seed(0)
    assert H.identity_loss(Autoencoder(old).eval(), list(batches(random_sequences(60, 3, 100, 200))))[
        "identity_loss_fraction"] < 0.06


def test_small_config_ema_reaches_its_decay_and_denoisers_are_fair():
    from reference_models import config as cfgmod
    from reference_models.networks.ema import effective_decay

    raw = cfgmod.load_config("small")
    den, tc = cfgmod.model_config(raw, "diffusion", d_latent=32), cfgmod.train_config(raw, "diffusion")
    assert effective_decay(den.ema_decay, tc.steps - 1) == den.ema_decay  # the warm-up ends inside the run
    assert effective_decay(0.999, 599) < 0.99  # what the first denoisers were configured with
    mlm = cfgmod.model_config(raw, "mlm")
    ae = cfgmod.model_config(raw, "lsd_tn")
    assert mlm.latent == "pca" and mlm.pca_dim == ae.d_latent  # the MLM denoiser sees a latent as wide as TN/NM
    assert den.backbone.d_model >= ae.d_latent  # every denoiser at least as wide as its input
    assert ae.bottleneck == "token_norm" and ae.latent_mask_rate > 0
