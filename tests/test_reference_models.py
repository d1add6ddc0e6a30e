"""Reference models (reference_models/): building blocks, tiny end-to-end training of every stage,
resume-after-kill exactness, DDP == single process, the encoders and decontamination.

Everything trains the ``tiny`` config on a small synthetic FASTA, so the file runs in well under a minute.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from lsdbench.encode.batching import token_budget_batches
from reference_models import checkpoint as C
from reference_models import config as cfgmod
from reference_models.checkpoint import CheckpointError
from reference_models.corpus import alphabet as A
from reference_models.evaluation.evaluation import sample_sequences
from reference_models.networks import schedule as S
from reference_models.networks.autoencoder import (
    Autoencoder,
    AutoencoderConfig,
    apply_noise_mask,
    noise_mask_plan,
)
from reference_models.networks.denoiser import Denoiser, DenoiserConfig, ddim_sample, diffusion_loss
from reference_models.networks.latents import LatentSource
from reference_models.networks.mlm import MLM, MLMConfig, mask_tokens
from reference_models.networks.token_norm import AnchoredTokenNorm, TokenNorm
from reference_models.networks.transformer import Transformer, TransformerConfig
from reference_models.training.batching import EpochPlan, random_crop
from reference_models.training.train import HaltForTest, learning_rate, main, prepare_data, train

REPO = Path(__file__).resolve().parents[1]
SMALL_T = TransformerConfig(d_model=16, n_layer=2, n_head=2)


def random_sequences(n: int, seed: int, lo: int = 10, hi: int = 70) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list(A.CANONICAL), size=int(rng.integers(lo, hi)))) for _ in range(n)]


class FakeFetchError(RuntimeError):
    pass


def fake_registry(eval_seqs: list[str], train_only: list[str]) -> dict:
    """A registry with one usable task (eval_seqs in its test split) and one that cannot be fetched."""
    def split(seqs):
        return SimpleNamespace(all_sequences=lambda: list(seqs))

    cards = [SimpleNamespace(name="toy", suites=("open",)), SimpleNamespace(name="offline", suites=("paper",))]

    def load_task(name):
        if name == "offline":
            raise FakeFetchError("could not fetch https://example.invalid/x.zip")
        return SimpleNamespace(splits={"train": split(train_only), "valid": split(eval_seqs[:2]),
                                       "test": split(eval_seqs[2:])})

    return {"list_cards": lambda: cards, "load_task": load_task, "fetch_error": FakeFetchError}


# ---- alphabet, batching ---------------------------------------------------------------------------

def test_alphabet_roundtrip_and_aliases():
    assert A.VOCAB_SIZE == 25 and A.N_TYPES == 21
    assert A.decode(A.encode("ACDEFGHIKLMNPQRSTVWY")) == "ACDEFGHIKLMNPQRSTVWY"
    assert A.decode(A.encode("bzuoX j")) == "XXXXXJ".replace("J", "X")
    tokens = A.batch_tokens(["AC", "MKV"])
    assert tokens.tolist()[0][:4] == [A.BOS, A.encode("A")[0], A.encode("C")[0], A.EOS]
    assert tokens[0, -1] == A.PAD and tokens[1, -1] == A.EOS
    with pytest.raises(ValueError, match="not an amino-acid letter"):
        A.encode("AC*")


def test_token_budget_batches_and_crop():
    lengths = [5, 50, 7, 30, 30, 2, 90]
    batches = token_budget_batches(lengths, budget=100, extra=2)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) == 1 or len(b) * (max(lengths[i] for i in b) + 2) <= 100
    rng = np.random.default_rng(0)
    crop = random_crop("ACDEFGHIKLMNPQRSTVWY", 5, rng)
    assert len(crop) == 5 and crop in "ACDEFGHIKLMNPQRSTVWY"
    plan = EpochPlan(random_sequences(40, 0), max_len=30, budget=200, seed=1)
    again = EpochPlan(random_sequences(40, 0), max_len=30, budget=200, seed=1)
    assert plan.epoch(0) == again.epoch(0) and plan.epoch(0) != plan.epoch(1)
    assert max(len(s) for b in plan.epoch(0) for s in b) <= 30


# ---- models ---------------------------------------------------------------------------------------

def test_transformer_padding_does_not_change_real_positions():
    torch.manual_seed(0)
    for positions in ("rotary", "learned"):
        net = Transformer(TransformerConfig(d_model=16, n_layer=2, n_head=2, positions=positions, max_positions=20)).eval()
        x = torch.randn(1, 6, 16)
        padded = torch.cat([x, torch.randn(1, 3, 16)], dim=1)
        mask = torch.tensor([[True] * 6 + [False] * 3])
        a = net(x, torch.ones(1, 6, dtype=torch.bool))
        b = net(padded, mask)[:, :6]
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_rotary_is_the_pairwise_rotation_bit_for_bit_and_relative():
    """The fused form equals rotating each pair (x1, x2) by its angle, to the last bit; q.k depends on offsets only."""
    from reference_models.networks.transformer import apply_rotary, rotary_tables

    L, H, Dh = 9, 2, 8
    x = torch.randn(3, L, 2, H, Dh, generator=torch.Generator().manual_seed(0))
    cos_full, sin_signed = rotary_tables(L, Dh, "cpu")
    inv_freq = 1.0 / 10000.0 ** (torch.arange(0, Dh, 2, dtype=torch.float32) / Dh)
    angles = torch.outer(torch.arange(L, dtype=torch.float32), inv_freq)[:, None, None, :]
    x1, x2 = x[..., 0::2], x[..., 1::2]
    expected = torch.stack((x1 * angles.cos() - x2 * angles.sin(), x1 * angles.sin() + x2 * angles.cos()), -1)
    assert torch.equal(apply_rotary(x, cos_full, sin_signed), expected.flatten(-2))
    # the same vector at positions (i, j) and (i + 2, j + 2): equal dot products
    v = torch.randn(Dh, generator=torch.Generator().manual_seed(1)).expand(1, L, 2, 1, Dh)
    r = apply_rotary(v, cos_full, sin_signed)[0, :, 0, 0]
    torch.testing.assert_close(r[1] @ r[4], r[3] @ r[6])


def test_mlm_masking_and_loss():
    cfg = MLMConfig(backbone=SMALL_T)
    tokens = A.batch_tokens(random_sequences(64, 1, 200, 300))
    inputs, selected = mask_tokens(tokens, cfg, torch.Generator().manual_seed(0))
    residue = A.is_residue(tokens)
    assert not (selected & ~residue).any()
    assert abs(selected.sum() / residue.sum() - 0.15) < 0.01
    sel_in, sel_orig = inputs[selected], tokens[selected]
    assert abs((sel_in == A.MASK).float().mean() - 0.8) < 0.03
    assert abs((sel_in == sel_orig).float().mean() - (0.1 + 0.1 / 20)) < 0.03
    assert (inputs[~selected] == tokens[~selected]).all()
    model = MLM(cfg)
    small = A.batch_tokens(["ACDEFG", "MKV"])
    assert model(small).shape == (2, 8, A.VOCAB_SIZE)
    inp, sel = mask_tokens(small, cfg, torch.Generator().manual_seed(1))
    sel[0, 1] = True
    ce, n, extra = model.loss(small, {"inputs": inp, "selected": sel})
    assert n == sel.sum() and torch.isfinite(ce) and abs(ce.item() / n.item() - math.log(A.VOCAB_SIZE)) < 0.5


@pytest.mark.parametrize("bottleneck,nm", [("token_norm", False), ("token_norm_affine", False), ("anchored", False),
                                            ("none", True), ("channel_norm", True)])
def test_autoencoder_shapes_and_loss(bottleneck, nm):
    cfg = AutoencoderConfig(backbone=SMALL_T, d_latent=4, bottleneck=bottleneck, noise_masking=nm, decoder_layers=1)
    model = Autoencoder(cfg)
    tokens = A.batch_tokens(["ACDEFGHIK", "MKV"])
    draws = noise_mask_plan(tokens, 16, cfg, torch.Generator().manual_seed(0)) if nm else {}
    z, mask = model.encode(tokens)
    assert z.shape == (2, 9, 4) and mask.sum() == 12 and (z[~mask] == 0).all()
    assert model.decode(z, mask).shape == (2, 9, A.VOCAB_SIZE)
    loss, n, extra = model.loss(tokens, draws)
    assert n == 12 and abs(loss.item() / 12 - math.log(A.VOCAB_SIZE)) < 1.5
    loss.backward()
    assert model.embed.weight.grad is not None


def test_token_norm_gives_per_type_zero_mean_unit_variance():
    torch.manual_seed(0)
    tn = TokenNorm(n_types=5, dim=3, momentum=1.0).train()
    types = torch.arange(5).repeat_interleave(200)
    z = torch.randn(1000, 3) * torch.arange(1, 6).repeat_interleave(200)[:, None] + 10 * types[:, None]
    out = tn.normalize(z, types)
    for k in range(5):
        rows = out[types == k]
        torch.testing.assert_close(rows.mean(0), torch.zeros(3), atol=1e-4, rtol=0)
        torch.testing.assert_close(rows.var(0, unbiased=False), torch.ones(3), atol=1e-3, rtol=0)
    # momentum 1: running stats are this batch's (unbiased variance: 200/199), so eval normalizes the same way
    tn.eval()
    torch.testing.assert_close(tn.normalize(z, types), out, atol=1e-3, rtol=5e-3)
    # the default has no per-type affine: the type cannot be read off an offset
    assert not any(True for _ in tn.parameters())
    torch.testing.assert_close(tn(z, types), tn.normalize(z, types))
    # the affine control ("token_norm_affine") is per type
    tna = TokenNorm(n_types=5, dim=3, momentum=1.0, affine=True).train()
    with torch.no_grad():
        tna.gamma.fill_(2.0)
        tna.beta.copy_(torch.arange(5.0)[:, None].expand(5, 3))
    torch.testing.assert_close(tna(z, types)[types == 3].mean(0), torch.full((3,), 3.0), atol=1e-2, rtol=0)


def test_precise_token_norm_statistics_are_the_exact_per_type_moments():
    torch.manual_seed(0)
    cfg = AutoencoderConfig(backbone=SMALL_T, d_latent=4, bottleneck="token_norm", decoder_layers=1)
    model = Autoencoder(cfg).eval()
    batches = [A.batch_tokens(random_sequences(6, seed)) for seed in (1, 2)]
    model.precise_token_norm_statistics(batches)
    rows, types = [], []
    with torch.no_grad():
        for tokens in batches:
            z, mask = model.pre_bottleneck(tokens)
            rows.append(z[mask].double())
            types.append(A.residue_types(tokens[:, 1:-1][mask]))
    z, t = torch.cat(rows), torch.cat(types)
    for k in t.unique():
        torch.testing.assert_close(model.bottleneck.running_mean[k], z[t == k].mean(0).float())
        torch.testing.assert_close(model.bottleneck.running_var[k], z[t == k].var(0).float(), rtol=1e-4, atol=1e-6)
    # so in eval the latent of every type has mean 0 and variance ~1 on that data: no per-type offset
    with torch.no_grad():
        out = torch.cat([model.encode(tok)[0][model.encode(tok)[1]] for tok in batches]).double()
    for k in t.unique():
        if (t == k).sum() > 20:
            assert out[t == k].mean(0).abs().max() < 1e-4


def test_channel_norm_standardizes_all_residues_together_and_latent_noise_is_drawn_per_step():
    from reference_models.networks.autoencoder import latent_noise_plan
    from reference_models.training.train import Stage

    torch.manual_seed(0)
    cfg = AutoencoderConfig(backbone=SMALL_T, d_latent=4, bottleneck="channel_norm", noise_masking=True,
                            decoder_layers=1, latent_noise_std=0.5)
    model = Autoencoder(cfg).train()
    batches = [A.batch_tokens(random_sequences(6, seed)) for seed in (1, 2)]
    z, mask = model.encode(batches[0])
    rows = z[mask].double()  # one group: every channel has mean 0 and variance 1 over all residues
    torch.testing.assert_close(rows.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(rows.var(0, unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-3, rtol=0)
    model.eval()
    model.precise_token_norm_statistics(batches)  # exact moments of the clean data, as for Token Norm
    with torch.no_grad():
        out = torch.cat([model.encode(t)[0][model.encode(t)[1]] for t in batches]).double()
    assert out.mean(0).abs().max() < 1e-4 and (out.var(0) - 1).abs().max() < 1e-2
    # the noise is part of the step's draws (reproducible, same on every DDP rank) and changes the loss
    stage = Stage("lsd_nm", cfg)
    d1, d2 = (stage.draws(batches[0], torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(d1["ln_noise"], d2["ln_noise"]) and d1["ln_noise"].shape == (*mask.shape, 4)
    assert "ln_noise" in latent_noise_plan(batches[0], 4, torch.Generator().manual_seed(0))
    model.train()
    loss_noisy = model.loss(batches[0], d1)[0]
    quiet = {**d1, "ln_noise": torch.zeros_like(d1["ln_noise"])}
    assert not torch.isclose(loss_noisy, model.loss(batches[0], quiet)[0])
    with pytest.raises(ValueError, match="latent_noise_std"):
        AutoencoderConfig(latent_noise_std=-1.0)


def test_latent_mask_token_mode_hides_exactly_the_selected_latents():
    from reference_models.networks.autoencoder import latent_mask_plan

    torch.manual_seed(0)
    cfg = AutoencoderConfig(backbone=SMALL_T, d_latent=4, bottleneck="token_norm", decoder="linear",
                            latent_mask_mode="token", latent_mask_rate=0.5)
    model = Autoencoder(cfg).train()
    tokens = A.batch_tokens(random_sequences(4, 7))
    draws = latent_mask_plan(tokens, 4, 0.5, torch.Generator().manual_seed(0))
    sel = draws["lm_selected"]
    z, mask = model.encode(tokens)
    logits = model.decode(z, mask, sel)
    with torch.no_grad():
        model.latent_mask_token.normal_()  # a different mask vector changes exactly the masked slots
    changed = (model.decode(z, mask, sel) - logits).abs().amax(-1) > 0
    assert sel.any() and torch.equal(changed, sel)
    # the latent of a masked slot does not reach the decoder at all
    z2 = torch.where(sel[..., None], torch.randn_like(z), z)
    torch.testing.assert_close(model.decode(z2, mask, sel), model.decode(z, mask, sel))
    with pytest.raises(ValueError, match="latent_mask_mode"):
        AutoencoderConfig(latent_mask_mode="zeros")


def test_anchored_token_norm_stays_within_radius_of_its_anchor():
    tn = AnchoredTokenNorm(n_types=21, dim=8, radius=2.0)
    types = torch.randint(0, 21, (500,))
    out = tn(torch.randn(500, 8) * 50, types)
    assert ((out - tn.anchors[types]).norm(dim=-1) <= 2.0 + 1e-5).all()
    assert torch.pdist(tn.anchors).min() >= 4.0  # balls of radius 2 do not overlap


def test_noise_masking_corrupts_only_selected_positions_at_the_drawn_level():
    cfg = AutoencoderConfig(backbone=SMALL_T, bottleneck="none", noise_masking=True)
    tokens = A.batch_tokens(random_sequences(8, 3, 20, 40))
    plan = noise_mask_plan(tokens, 16, cfg, torch.Generator().manual_seed(0))
    sel, level = plan["nm_selected"], plan["nm_level"]
    assert not (sel & ~A.is_residue(tokens)).any()  # bos/eos/pad are never corrupted
    assert ((level >= 0) & (level <= 1)).all() and level.std() > 0  # one level per sequence
    emb = torch.randn(*tokens.shape, 16)
    out = apply_noise_mask(emb, sel, level, plan["nm_noise"])
    assert torch.equal(out[~sel], emb[~sel])
    s = level[:, None, None].expand(-1, tokens.shape[1], 1)[sel]
    expected = torch.sqrt(1 - s * s) * emb[sel] + s * plan["nm_noise"][sel]
    torch.testing.assert_close(out[sel], expected)
    # the corrupted fraction is drawn per sequence as well
    frac = sel.sum(1) / A.is_residue(tokens).sum(1)
    assert frac.max() - frac.min() > 0.2


def test_schedule_endpoints_and_parameterizations():
    zero, one = torch.tensor(0.0), torch.tensor(1.0)
    assert S.alpha(zero) == 1 and S.sigma(zero) == 0
    assert abs(S.alpha(one)) < 1e-7 and abs(S.sigma(one) - 1) < 1e-7
    t = torch.linspace(0.01, 0.99, 50)
    torch.testing.assert_close(S.alpha(t) ** 2 + S.sigma(t) ** 2, torch.ones(50))
    assert (S.snr(t).diff() < 0).all() and S.snr(torch.tensor(0.5)).item() == pytest.approx(1.0)
    torch.testing.assert_close(S.log_snr(t), torch.log(S.snr(t)))
    z0, eps = torch.randn(50, 4), torch.randn(50, 4)
    zt = S.diffuse(z0, eps, t[:, None])
    for p in S.PARAMETERIZATIONS:
        pred = S.target(z0, eps, t[:, None], p)
        torch.testing.assert_close(S.x0_from_prediction(zt, pred, t[:, None], p), z0, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(S.eps_from_prediction(zt, pred, t[:, None], p), eps, atol=1e-3, rtol=1e-3)


def test_denoiser_shapes_loss_and_ddim():
    cfg = DenoiserConfig(backbone=TransformerConfig(d_model=16, n_layer=2, n_head=2, cond_dim=16), d_latent=4)
    model = Denoiser(cfg)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    z0 = torch.randn(2, 5, 4) * mask[..., None]
    pred, blocks = model(z0, torch.tensor([0.2, 0.9]), mask, return_blocks=True)
    assert pred.shape == (2, 5, 4) and len(blocks) == 2 and blocks[-1].shape == (2, 5, 16)
    total, err = diffusion_loss(model, z0, mask, torch.tensor([0.2, 0.9]), torch.randn(2, 5, 4))
    # zero-initialized output: v-prediction loss = E|v|^2 = 1 per channel in expectation
    assert err.shape == (2, 5) and torch.isfinite(total)
    for p in S.PARAMETERIZATIONS:
        m = Denoiser(DenoiserConfig(backbone=cfg.backbone, d_latent=4, parameterization=p))
        z = ddim_sample(m, mask, steps=5, generator=torch.Generator().manual_seed(0))
        assert z.shape == (2, 5, 4) and torch.isfinite(z).all() and (z[~mask] == 0).all()


def test_learning_rate_warmup_and_cosine():
    tc = cfgmod.TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert learning_rate(0, tc) == pytest.approx(0.1)
    assert learning_rate(9, tc) == pytest.approx(1.0)
    assert learning_rate(10, tc) == pytest.approx(1.0)
    assert learning_rate(100, tc) == pytest.approx(0.1)
    lrs = [learning_rate(s, tc) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_configs_build_every_stage():
    for name in ("tiny", "small", "base", "gpu_campaign"):
        raw = cfgmod.load_config(name)
        for stage in ("mlm", "lsd_tn", "lsd_nm"):
            cfgmod.build_model(stage, cfgmod.model_config(raw, stage)) if name in ("tiny", "small") else cfgmod.model_config(raw, stage)
        cfgmod.model_config(raw, "diffusion", d_latent=32)
        cfgmod.train_config(raw, "diffusion")
    raw = cfgmod.apply_overrides(cfgmod.load_config("tiny"), ["train.steps=3", "lsd_tn.bottleneck=anchored"])
    assert cfgmod.train_config(raw, "mlm").steps == 3
    assert cfgmod.model_config(raw, "lsd_tn").bottleneck == "anchored"
    with pytest.raises(ValueError, match="unknown AutoencoderConfig keys"):
        cfgmod.model_config(cfgmod.apply_overrides(raw, ["lsd_nm.typo=1"]), "lsd_nm")
    with pytest.raises(FileNotFoundError, match="packaged configs"):
        cfgmod.load_config("nonexistent")


# ---- data ----------------------------------------------------------------------------------------

TRAIN_SEQS = random_sequences(160, 7)
EVAL_SEQS = TRAIN_SEQS[:5]  # present in the pretraining FASTA: must be removed


def write_fasta(path: Path, seqs: list[str]) -> Path:
    path.write_text("".join(f">s{i} some description\n{s[:30]}\n{s[30:]}\n" for i, s in enumerate(seqs)))
    return path


def test_decontamination_removes_task_sequences(tmp_path):
    fasta = write_fasta(tmp_path / "pre.fasta", TRAIN_SEQS + [TRAIN_SEQS[10]] + ["acdefbz"])
    info = prepare_data(str(fasta), tmp_path / "data", registry=fake_registry(EVAL_SEQS, TRAIN_SEQS[5:8]))
    dec = info["decontamination"]
    assert dec["input"] == 161 and dec["removed"] == 5 and dec["kept"] == 156
    rows = {r["task"]: r for r in dec["tasks"]}
    assert rows["toy"]["status"] == "used" and rows["toy"]["removed"] == 5
    assert rows["offline"]["status"] == "skipped" and "could not fetch" in rows["offline"]["reason"]
    from reference_models.corpus.corpus import TokenCorpus
    kept = list(TokenCorpus(tmp_path / "data", "train")) + list(TokenCorpus(tmp_path / "data", "heldout"))
    assert not set(EVAL_SEQS) & set(kept)
    assert set(TRAIN_SEQS[5:8]) <= set(kept)  # train-split sequences of tasks may stay
    assert "ACDEFXX" in kept and len(kept) == 156 and info["n_heldout"] == round(0.02 * 156)


def _greedy_batches(lengths, budget, min_rows=1):
    """The token-budget batching as first written (a loop over length-sorted sequences): the specification."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches, current, longest = [], [], 0
    for i in order:
        size = lengths[i] + 2
        if current and (len(current) + 1) * max(longest, size) > budget and len(current) >= min_rows:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size)
    if current:
        if len(current) < min_rows and batches:
            batches[-1].extend(current)
        else:
            batches.append(current)
    return batches


def test_vectorized_batching_and_crops_equal_the_loop_they_replace():
    rng = np.random.default_rng(1)
    for _ in range(200):
        lengths = rng.integers(0, int(rng.choice([5, 50, 500])), int(rng.integers(0, 200))).tolist()
        budget, min_rows = int(rng.integers(3, 600)), int(rng.integers(1, 4))
        assert token_budget_batches(lengths, budget, extra=2, min_rows=min_rows) == _greedy_batches(lengths, budget, min_rows)
    seqs = random_sequences(300, 3, 1, 120)
    plan = EpochPlan(seqs, max_len=40, budget=300, seed=5, min_rows=2)
    for epoch in range(2):  # one integers() draw per long sequence in order, then the batch permutation
        g = np.random.default_rng([5, epoch])
        crops = [random_crop(s, 40, g) for s in seqs]
        batches = _greedy_batches([len(c) for c in crops], 300, 2)
        assert list(plan.epoch(epoch)) == [[crops[i] for i in batches[k]] for k in g.permutation(len(batches))]


def test_streaming_corpus_equals_the_in_memory_path(tmp_path, monkeypatch):
    """Blocks, shards and buckets made tiny so that every boundary is crossed: the token files hold exactly
    the sequences, order, held-out split, hashes and decontamination counts of the in-memory path."""
    from reference_models.corpus import corpus as K
    from reference_models.corpus import data as D
    from reference_models.corpus import sources
    from reference_models.corpus.decontaminate import remove_overlap
    monkeypatch.setattr(K, "READ_BYTES", 97)
    monkeypatch.setattr(sources, "READ_BYTES", 97)  # the records' blocks (sources.py), as the tokens' (corpus.py)
    monkeypatch.setattr(K, "BUCKET_RECORDS", 50)
    seqs = random_sequences(400, 11, 1, 150)
    seqs += seqs[3:40] + ["acdbzuoxj", "MK V\tL"]
    text = "MKV\n" + "".join(f">r{i} x\r\n{s[:60]}\r\n{s[60:]}\n" for i, s in enumerate(seqs)) + ">empty\n"
    (tmp_path / "a.fa").write_text(text)
    import gzip
    (tmp_path / "a.fa.gz").write_bytes(gzip.compress(text.encode()))
    reference = D.load_sequences(str(tmp_path / "a.fa"))
    registry = fake_registry(reference[7:12] + ["NOTINTHECORPUS"], [])
    per_task = {"toy": {A.normalize(s) for s in reference[7:12] + ["NOTINTHECORPUS"]}}
    report = [{"task": "offline", "suites": ["paper"], "status": "skipped", "reason": "could not fetch https://example.invalid/x.zip"},
              {"task": "toy", "suites": ["open"], "status": "used", "eval_sequences": 6}]
    kept, summary = remove_overlap(reference, per_task, report)
    train_ref, held_ref = D.split_heldout(kept, 0.1)
    for i, source in enumerate([str(tmp_path / "a.fa"), str(tmp_path / "a.fa.gz"), (tmp_path / "a.fa.gz").as_uri()]):
        out = tmp_path / f"out{i}"
        info = prepare_data(source, out, heldout_fraction=0.1, registry=registry)
        train_c, held_c = K.TokenCorpus(out, "train"), K.TokenCorpus(out, "heldout")
        assert list(train_c) == train_ref and list(held_c) == held_ref
        assert info["train_hash"] == D.sequences_hash(train_ref) and info["heldout_hash"] == D.sequences_hash(held_ref)
        assert info["decontamination"] == summary and summary["removed"] == 5
        assert info["duplicates"] == len(seqs) + 1 - len(reference) and info["input_records"] == len(seqs) + 1
        keys = (out / "train.keys").read_bytes()
        assert [keys[16 * j:16 * j + 16] for j in range(3)] == [
            hashlib.sha256(f"0:{s}".encode()).digest()[:16] for s in train_ref[:3]]
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["splits"]["train"]["files"]["train.bin"]["sha256"] == C.sha256_file(out / "train.bin")
        assert np.array_equal(train_c.lengths, [len(s) for s in train_ref]) and train_c[-1] == train_ref[-1]
        assert train_c.residue_counts(A.N_TYPES).sum() == sum(map(len, train_ref))
        assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporary files left
    (tmp_path / "bad.fa").write_text(">a\nMKV\n>b\nMK*V\n")
    with pytest.raises(ValueError, match=r"'\*' at position 3 of record 2"):
        prepare_data(str(tmp_path / "bad.fa"), tmp_path / "bad", decontaminate=False)


def test_swissprot_source_is_available():
    pytest.importorskip("scldata")
    from reference_models.corpus.data import swissprot_sequences
    seqs = swissprot_sequences()
    assert len(seqs) > 10000 and all(isinstance(s, str) and s for s in seqs[:100])


# ---- tiny end-to-end training ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Data + every stage trained with the tiny config (seconds); model directories as lsd-train writes."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    fasta = write_fasta(root / "pre.fasta", TRAIN_SEQS)
    prepare_data(str(fasta), root / "data", registry=fake_registry(EVAL_SEQS, []), heldout_fraction=0.05)
    raw = cfgmod.load_config("tiny")
    for stage in ("mlm", "lsd_tn", "lsd_nm"):
        train(stage, raw, root / "data", root / "runs" / stage, export=root / "ck" / stage, config_name="tiny",
              progress=False)
    for latent in ("mlm", "lsd_tn", "lsd_nm"):
        train("diffusion", raw, root / "data", root / "runs" / f"{latent}_diffusion", latent=root / "ck" / latent,
              export=root / "ck" / f"{latent}_diffusion", config_name="tiny", progress=False)
    return SimpleNamespace(root=root, data=root / "data", ck=root / "ck", raw=raw)


@pytest.mark.parametrize("name", ["mlm", "lsd_tn", "lsd_nm", "mlm_diffusion", "lsd_tn_diffusion", "lsd_nm_diffusion"])
def test_tiny_training_writes_checkpoint_and_card(tiny, name):
    d = tiny.ck / name
    assert sorted(p.name for p in d.iterdir()) == ["README.md", "meta.json", "model.safetensors"]
    meta = json.loads((d / "meta.json").read_text())
    assert meta["format"] == C.FORMAT and meta["training"]["steps"] == 6
    assert meta["data"]["decontamination"]["removed"] == 5
    m = meta["metrics"]
    assert math.isfinite(m["train_loss_final"])
    health = meta["health"]
    if name == "mlm":
        assert 0 <= m["heldout_masked_accuracy"] <= 1 and m["heldout_perplexity"] > 1
        assert health["metrics"]["unigram_perplexity"] > 1
        # health by function at the end of training: T3 and T5 (T1/T2 need submissions); composition R^2
        # is a descriptive number now, not a target
        assert {r["metric"] for r in health["targets"]} == {"perplexity_ratio", "next_type_gain"}
        assert "composition_r2" in health["metrics"] and health["metrics"]["function_sequences"].startswith("open-suite")
    elif name.startswith("lsd"):
        if not name.endswith("diffusion"):
            assert 0 <= m["heldout_reconstruction_accuracy"] <= 1
            assert 0 <= health["metrics"]["within_type_variance_share"] <= 1
    if name == "lsd_nm":
        assert 0 <= health["metrics"]["identity_loss_fraction"] <= 1
    if name.endswith("diffusion"):
        assert [r["t"] for r in m["heldout_loss_by_t"]][:3] == [0.01, 0.02, 0.05]
        assert 0 <= m["samples_composition_l1"] <= 2 and m["ema_decay_reached"] <= 0.9
        assert meta["latent_source"]["directory_name"] == name[:-len("_diffusion")]
        assert [r["id"] for r in health["targets"]] == ["T6"] and "loss_t0.01" in health["metrics"]
        assert "context_margin_t0.5" in health["metrics"]
    else:
        tensors = load_file(str(d / "model.safetensors"))
        assert "latent.mean" in tensors and "latent.std" in tensors
    card = (d / "README.md").read_text()
    assert "wall time" in card and meta["data"]["train_hash"] in card and "## Health" in card
    assert meta["training"]["epochs"] > 0
    log = (tiny.root / "runs" / name / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,") and len(log) == 7


def test_fasta_data_dirs_of_the_earlier_format_train_exactly_like_token_files(tmp_path, tiny):
    """The committed checkpoints were trained from train.fasta / heldout.fasta: such a directory still trains,
    with the same batches, weights and metrics as the token files of the same sequences."""
    from reference_models.corpus import data as D
    from reference_models.training.train import read_data_dir
    train_c, held_c, info = read_data_dir(tiny.data)
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    D.write_fasta(legacy / "train.fasta", list(train_c), "train")
    D.write_fasta(legacy / "heldout.fasta", list(held_c), "heldout")
    C.write_json(legacy / "data.json", {k: info[k] for k in ("source", "train_hash", "heldout_hash", "n_train",
                                                              "n_heldout", "heldout_fraction", "decontamination")})
    assert isinstance(read_data_dir(legacy)[0], list)
    for stage in ("mlm", "lsd_tn"):
        a = train(stage, tiny.raw, legacy, tmp_path / f"legacy_{stage}", progress=False)
        b = train(stage, tiny.raw, tiny.data, tmp_path / f"tokens_{stage}", progress=False)
        _tensors_equal(a / "model.safetensors", b / "model.safetensors")
        meta_a, meta_b = (json.loads((d / "meta.json").read_text()) for d in (a, b))
        assert meta_a["data"] == meta_b["data"] and meta_a["health"] == meta_b["health"]
        assert meta_a["training"]["epochs"] == meta_b["training"]["epochs"]


def test_training_loss_decreases_over_a_few_more_steps(tmp_path, tiny):
    raw = cfgmod.apply_overrides(tiny.raw, ["train.steps=40", "train.warmup_steps=4", "train.log_every=20",
                                            "train.ckpt_every=100"])
    out = train("lsd_tn", raw, tiny.data, tmp_path / "run", progress=False)
    rows = (out / "log.csv").read_text().splitlines()[1:]
    first, last = (float(r.split(",")[3]) for r in (rows[0], rows[-1]))
    assert last < first


def test_standardized_latents_have_unit_scale(tiny):
    from reference_models.evaluation.evaluation import eval_batches
    from reference_models.training.train import read_data_dir
    seqs, total = [], 0
    for s in read_data_dir(tiny.data)[0]:  # the prefix the statistics came from
        seqs.append(s)
        total += min(len(s), 48)
        if total >= 2000:
            break
    for name in ("mlm", "lsd_tn", "lsd_nm"):
        src = LatentSource(tiny.ck / name)
        rows = torch.cat([z[m] for z, m in (src.latents(t) for t in eval_batches(seqs, 48, 400))])
        torch.testing.assert_close(rows.mean(0), torch.zeros(src.dim), atol=1e-3, rtol=0)
        torch.testing.assert_close(rows.std(0), torch.ones(src.dim), atol=2e-2, rtol=0)


def test_ddim_samples_decode_to_valid_sequences(tiny):
    for name in ("mlm", "lsd_tn", "lsd_nm"):
        src = LatentSource(tiny.ck / name)
        tensors, meta = C.load_model(tiny.ck / f"{name}_diffusion", kind="diffusion")
        model = cfgmod.build_model("diffusion", cfgmod.from_dict("diffusion", meta["model_config"]))
        C.load_weights(model, tensors, "x", prefix="model.")
        samples = sample_sequences(model.eval(), src, n=3, length=20, steps=10, seed=1)
        assert len(samples) == 3
        assert all(len(s) == 20 and set(s) <= set(A.RESIDUES) for s in samples)


def _tensors_equal(a: Path, b: Path) -> None:
    ta, tb = load_file(str(a)), load_file(str(b))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


@pytest.mark.parametrize("stage", ["lsd_nm", "diffusion"])
def test_resume_after_kill_is_exact(tmp_path, tiny, stage):
    latent = tiny.ck / "lsd_tn" if stage == "diffusion" else None
    full = train(stage, tiny.raw, tiny.data, tmp_path / "full", latent=latent, progress=False)
    with pytest.raises(HaltForTest):  # killed after step 4; the last checkpoint is step 3
        train(stage, tiny.raw, tiny.data, tmp_path / "killed", latent=latent, halt_after_step=4, progress=False)
    assert (tmp_path / "killed" / "resume" / "latest").read_text() == "step-00000003"
    (tmp_path / "killed" / "resume" / ".step-00000006.tmp").mkdir()  # debris of a write cut short
    resumed = train(stage, tiny.raw, tiny.data, tmp_path / "killed", latent=latent, progress=False)
    _tensors_equal(full / "model.safetensors", resumed / "model.safetensors")
    def rows(run):  # step, epoch, lr, loss, accuracy, tokens (timings aside)
        return [r.split(",")[:6] for r in (run / "log.csv").read_text().splitlines()]
    assert rows(full) == rows(resumed) and len(rows(full)) == 7


def test_resume_after_sigkill_is_exact(tmp_path, tiny):
    """A real ``kill -9`` of ``lsd-train`` at an arbitrary moment; rerunning the command finishes the run
    with exactly the weights of an uninterrupted one."""
    args = ["lsd_nm", "--config", "tiny", "--data", str(tiny.data), "--no-progress", "--device", "cpu",
            "--set", "train.steps=60", "--set", "train.ckpt_every=5", "--set", "train.log_every=5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "reference_models.training.train"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + args + ["--out", str(killed)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not (killed / "resume" / "latest").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert (killed / "resume" / "latest").exists() and not (killed / "meta.json").exists()
    subprocess.run(cmd + args + ["--out", str(killed)], cwd=REPO, env=env, check=True, capture_output=True)
    raw = cfgmod.apply_overrides(tiny.raw, ["train.steps=60", "train.ckpt_every=5", "train.log_every=5"])
    full = train("lsd_nm", raw, tiny.data, tmp_path / "full", progress=False)
    _tensors_equal(full / "model.safetensors", killed / "model.safetensors")


def test_resume_refuses_another_config(tmp_path, tiny):
    with pytest.raises(HaltForTest):
        train("mlm", tiny.raw, tiny.data, tmp_path / "run", halt_after_step=3, progress=False)
    other = cfgmod.apply_overrides(tiny.raw, ["train.lr=0.5"])
    with pytest.raises(RuntimeError, match="another config"):
        train("mlm", other, tiny.data, tmp_path / "run", progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(stage: str, data: Path, out: Path, *extra: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", "-m", "reference_models.training.train", stage,
           "--config", "tiny", "--data", str(data), "--out", str(out), "--device", "cpu", "--no-progress", *extra]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "meta.json").read_text())["training"]["processes"] == 2


def _log(run: Path) -> list[list[float]]:  # step, epoch, lr, loss, accuracy, tokens
    return [[float(x) for x in r.split(",")[:6]] for r in (run / "log.csv").read_text().splitlines()[1:]]


def test_ddp_two_processes_match_one_process(tmp_path, tiny):
    """torchrun with 2 CPU processes (gloo) reproduces the single-process run on the same global batches.

    lsd_nm: the per-sequence Noise Masking draws are made on the global batch and sharded, so weights match
    to float precision. lsd_tn: Token Norm's per-type statistics are all-reduced (forward and backward), so
    the losses match step by step; its weights are compared loosely because AdamW turns reduction-order
    noise in directions the normalization makes (almost) flat, such as ``to_latent.bias``, into lr-sized steps.
    """
    single = train("lsd_nm", tiny.raw, tiny.data, tmp_path / "single", progress=False)
    _torchrun("lsd_nm", tiny.data, tmp_path / "ddp")
    a, b = load_file(str(single / "model.safetensors")), load_file(str(tmp_path / "ddp" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4, msg=k)
    np.testing.assert_allclose(_log(single), _log(tmp_path / "ddp"), rtol=1e-5)

    single = train("lsd_tn", tiny.raw, tiny.data, tmp_path / "single_tn", progress=False)
    _torchrun("lsd_tn", tiny.data, tmp_path / "ddp_tn")
    one, two = np.array(_log(single)), np.array(_log(tmp_path / "ddp_tn"))
    np.testing.assert_array_equal(one[:, [0, 1, 5]], two[:, [0, 1, 5]])  # same steps, epochs, tokens
    np.testing.assert_allclose(one[:, 3], two[:, 3], rtol=5e-5)  # same losses
    a, b = load_file(str(single / "model.safetensors")), load_file(str(tmp_path / "ddp_tn" / "model.safetensors"))
    for k in a:
        # 6 AdamW steps of lr <= 1e-3 bound any divergence of the weights; Token Norm's eval statistics are
        # exact per-type moments of the pre-norm latent, so they inherit the flat-direction drift of
        # to_latent.bias unbounded by lr and are left out (the normalized latent does not see that drift)
        if k.startswith("model.") and "bottleneck.running_" not in k:
            torch.testing.assert_close(a[k], b[k], atol=1e-2, rtol=0, msg=k)


def test_ddp_with_gradient_accumulation_matches_one_process(tmp_path, tiny):
    """Under DDP the accumulated gradients are all-reduced once, with the last micro-batch (no_sync before)."""
    raw = cfgmod.apply_overrides(tiny.raw, ["train.tokens_per_step=1000"])
    single = train("lsd_nm", raw, tiny.data, tmp_path / "single", progress=False)
    _torchrun("lsd_nm", tiny.data, tmp_path / "ddp", "--set", "train.tokens_per_step=1000")
    a, b = load_file(str(single / "model.safetensors")), load_file(str(tmp_path / "ddp" / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4, msg=k)
    np.testing.assert_allclose(_log(single), _log(tmp_path / "ddp"), rtol=1e-5)


def test_cli_runs_a_stage(tmp_path, tiny, capsys):
    assert main(["mlm", "--config", "tiny", "--data", str(tiny.data), "--out", str(tmp_path / "run"),
                 "--set", "train.steps=2", "--no-progress", "--export", str(tmp_path / "export")]) == 0
    assert (tmp_path / "export" / "model.safetensors").is_file()
    assert "model written" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["mlm", "lsd_tn", "lsd_nm", "lsd_tn_diffusion"])
def test_cli_health_recomputes_what_training_stored(tiny, name, capsys):
    stored = json.loads((tiny.ck / name / "meta.json").read_text())["health"]
    code = main(["health", str(tiny.ck / name), "--data", str(tiny.data), "--json"])
    health = json.loads(capsys.readouterr().out)
    assert code == (0 if health["passed"] else 1)
    assert health["metrics"].keys() == stored["metrics"].keys()
    for key, value in stored["metrics"].items():  # the same model on the same data: the same diagnostics
        assert health["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-8), key
    assert main(["health", str(tiny.ck / name), "--data", str(tiny.data)]) in (0, 1)
    assert "| target | diagnostic | value | 95 % CI | target | |" in capsys.readouterr().out


def test_cli_health_write_updates_meta_and_card_but_not_weights(tmp_path, tiny, capsys):
    import shutil

    for name in ("lsd_nm",):
        shutil.copytree(tiny.ck / name, tmp_path / name)
    meta_path, weights = tmp_path / "lsd_nm" / "meta.json", tmp_path / "lsd_nm" / "model.safetensors"
    before = weights.read_bytes()
    meta = json.loads(meta_path.read_text())
    meta["health"] = {"metrics": {}, "targets": [], "passed": True, "missed": []}  # a stale record
    meta_path.write_text(json.dumps(meta))
    main(["health", str(tmp_path / "lsd_nm"), "--data", str(tiny.data), "--write"])
    capsys.readouterr()
    fresh = json.loads(meta_path.read_text())["health"]
    assert "identity_loss_fraction" in fresh["metrics"] and weights.read_bytes() == before
    assert "identity_loss_fraction" in (tmp_path / "lsd_nm" / "README.md").read_text()


def test_cli_health_names_a_missing_checkpoint(tmp_path, tiny, capsys):
    assert main(["health", str(tmp_path / "nowhere"), "--data", str(tiny.data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsd-train: error:") and "nowhere" in err and "Traceback" not in err


# ---- encoders -------------------------------------------------------------------------------------

ENC_SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "ACDEFGHIKLMNPQRSTVWY", "GG", "MXBZUO", "W" * 60]


@pytest.mark.parametrize("name", ["mlm", "mlm_latent", "lsd_tn_latent", "lsd_nm_latent"])
def test_latent_encoders_load_and_are_deterministic(tiny, name):
    from lsdbench.encode.encoders import resolve
    directory = tiny.ck / ("mlm" if name.startswith("mlm") else name[:-len("_latent")])
    enc = resolve(name, checkpoint=str(directory))
    x = enc.encode(ENC_SEQS)
    expected_dim = 32 if name.startswith("mlm") else 8
    assert x.shape == (5, expected_dim) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_array_equal(x, resolve(name, checkpoint=str(directory)).encode(ENC_SEQS))
    # batch composition does not matter beyond float noise
    np.testing.assert_allclose(enc.encode(ENC_SEQS[::-1])[::-1], x, atol=1e-5)
    np.testing.assert_allclose(enc.encode(ENC_SEQS[1:2])[0], x[1], atol=1e-5)
    json.dumps(enc.config)
    assert enc.config["checkpoint_sha256"].startswith("sha256:") and enc.max_length == 48


@pytest.mark.parametrize("name", ["mlm_diffusion", "lsd_tn_diffusion", "lsd_nm_diffusion"])
def test_diffusion_encoders_options_and_sweep(tiny, name):
    from lsdbench.encode.encoders import parse_options, resolve
    d = str(tiny.ck / name)
    enc = resolve(name, checkpoint=d, **parse_options(["t=0.3"]))
    x = enc.encode(ENC_SEQS)
    assert x.shape == (5, 32) and np.isfinite(x).all()
    np.testing.assert_array_equal(x, resolve(name, checkpoint=d, t=0.3).encode(ENC_SEQS))  # seeded noise
    assert not np.allclose(x, resolve(name, checkpoint=d, t=0.3, draws=2).encode(ENC_SEQS))
    assert enc.config["t"] == 0.3 and enc.config["layer"] == 1
    assert enc.config != resolve(name, checkpoint=d, t=0.5).config
    layer0 = resolve(name, checkpoint=d, t=0.3, layer=0)
    assert layer0.config["layer"] == 0 and not np.allclose(layer0.encode(ENC_SEQS), x)
    multi = resolve(name, checkpoint=d, **parse_options(["multi_t=0.1,0.3"]))
    assert multi.encode(ENC_SEQS).shape == (5, 64)
    np.testing.assert_allclose(multi.encode(ENC_SEQS)[:, 32:], x, atol=1e-5)
    # the sweep contract of lsdbench.run.sweep / lsdbench.encode.embedding.embed_sweep
    assert enc.sweep_param == "t"
    values = [0.0, 0.3, 0.9]
    variants = [enc.with_param(v) for v in values]
    assert [v.config["t"] for v in variants] == values and all(v.name == enc.name for v in variants)
    for out, v in zip(enc.encode_sweep(ENC_SEQS, values), variants, strict=True):
        np.testing.assert_allclose(out, v.encode(ENC_SEQS), atol=1e-5)
    np.testing.assert_allclose(variants[1].encode(ENC_SEQS), x, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        resolve(name, checkpoint=d, t=1.5)
    with pytest.raises(ValueError, match="layer"):
        resolve(name, checkpoint=d, layer=7)


def test_embed_sweep_through_the_harness(tiny, tmp_path):
    from lsdbench.encode.embedding import embed, embed_sweep
    from lsdbench.encode.encoders import resolve
    base = resolve("lsd_tn_diffusion", checkpoint=str(tiny.ck / "lsd_tn_diffusion"))
    values = [0.1, 0.6]
    variants = [base.with_param(v) for v in values]
    seqs = ENC_SEQS[:4]  # within max_length (48): the harness windows longer ones
    embed_sweep(base, variants, values, seqs, cache_dir=tmp_path, progress=False)
    for v in variants:
        np.testing.assert_allclose(embed(v, seqs, cache_dir=tmp_path, progress=False), v.encode(seqs), atol=1e-5)


def test_edited_meta_json_changes_the_cache_key_not_the_recorded_config(tiny, tmp_path):
    """meta.json is read at encode time (model config, max_len): an edit must not reuse the old embeddings."""
    from lsdbench.encode.embedding import cache_for
    from lsdbench.encode.encoders import policy_for, resolve

    for name in ("lsd_tn", "lsd_tn_diffusion"):
        shutil.copytree(tiny.ck / name, tmp_path / name)

    def entry(spec, directory):
        enc = resolve(spec, checkpoint=str(directory))
        return enc.config, cache_for(enc, policy_for(enc), tmp_path).dir

    latent_before = entry("lsd_tn_latent", tmp_path / "lsd_tn")
    diffusion_before = entry("lsd_tn_diffusion", tmp_path / "lsd_tn_diffusion")
    meta_path = tmp_path / "lsd_tn" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["health"]["metrics"]["within_type_variance_share"] = 0.5  # `lsd-train health --write`: no new key
    meta_path.write_text(json.dumps(meta))
    assert entry("lsd_tn_latent", tmp_path / "lsd_tn") == latent_before
    meta["model_config"]["tn_momentum"] = 0.5  # the config the model is rebuilt from: a new key
    meta_path.write_text(json.dumps(meta))
    latent_after = entry("lsd_tn_latent", tmp_path / "lsd_tn")
    diffusion_after = entry("lsd_tn_diffusion", tmp_path / "lsd_tn_diffusion")
    # the recorded config (and so the committed result file names) stays; the cache entry does not
    assert latent_after[0] == latent_before[0] and latent_after[1] != latent_before[1]
    assert diffusion_after[0] == diffusion_before[0] and diffusion_after[1] != diffusion_before[1]
    # the denoiser's own meta.json keys its cache too
    dmeta = tmp_path / "lsd_tn_diffusion" / "meta.json"
    dmeta.write_text(dmeta.read_text().replace('"format"', '"note": "edited",\n  "format"', 1))
    assert entry("lsd_tn_diffusion", tmp_path / "lsd_tn_diffusion")[1] != diffusion_after[1]


def test_encoders_reject_missing_and_mismatched_checkpoints(tiny, tmp_path):
    from reference_models.evaluation import encoders as E
    with pytest.raises(CheckpointError, match="no reference checkpoint at .*lsd-train"):
        E.lsd_tn_latent(checkpoint=str(tmp_path / "nowhere"))
    with pytest.raises(CheckpointError, match="needs a 'lsd_tn' checkpoint, found 'lsd_nm'"):
        E.lsd_tn_latent(checkpoint=str(tiny.ck / "lsd_nm"))
    with pytest.raises(CheckpointError, match="holds a 'lsd_tn' model, expected 'diffusion'"):
        E.lsd_tn_diffusion(checkpoint=str(tiny.ck / "lsd_tn"))
    # weights that do not fit the stored config
    bad = tmp_path / "bad"
    shutil.copytree(tiny.ck / "lsd_tn", bad)
    tensors = load_file(str(bad / "model.safetensors"))
    tensors["model.to_latent.weight"] = torch.zeros(3, 3)
    del tensors["model.head.bias"]
    save_file(tensors, str(bad / "model.safetensors"))
    with pytest.raises(CheckpointError, match="missing .*model.head.bias|head.bias.*shape mismatch|shape mismatch"):
        E.lsd_tn_latent(checkpoint=str(bad))
    # not a safetensors file (e.g. a pickle): refused, never unpickled
    (bad / "model.safetensors").write_bytes(b"\x80\x04\x95 pickle")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        E.lsd_tn_latent(checkpoint=str(bad))
    # a denoiser whose latent encoder is not the one it was trained on
    mixed = tmp_path / "mixed"
    shutil.copytree(tiny.ck / "lsd_tn_diffusion", mixed / "lsd_tn_diffusion")
    shutil.copytree(tiny.ck / "lsd_tn", mixed / "lsd_tn")
    tensors = load_file(str(mixed / "lsd_tn" / "model.safetensors"))
    tensors["model.head.bias"] += 1e-3  # same architecture, other weights
    save_file(tensors, str(mixed / "lsd_tn" / "model.safetensors"))
    with pytest.raises(CheckpointError, match="is not the encoder the denoiser"):
        E.lsd_tn_diffusion(checkpoint=str(mixed / "lsd_tn_diffusion"))


def test_registered_entry_points_point_here():
    from lsdbench.encode.encoders import registered
    names = {"mlm", "mlm_latent", "lsd_tn_latent", "lsd_nm_latent", "mlm_diffusion", "lsd_tn_diffusion",
             "lsd_nm_diffusion"}
    eps = registered()
    assert names <= set(eps)
    assert all(eps[n].value == f"reference_models.evaluation.encoders:{n}" for n in names)


# ---- the committed small checkpoints (skipped until they are in the tree) ---------------------------

@pytest.mark.parametrize("name", ["mlm", "mlm_latent", "lsd_tn_latent", "lsd_nm_latent", "mlm_diffusion",
                                  "lsd_tn_diffusion", "lsd_nm_diffusion"])
def test_committed_small_checkpoints_load_as_encoders(name):
    from lsdbench.encode.encoders import resolve
    from reference_models.evaluation.encoders import CHECKPOINTS
    directory = CHECKPOINTS / ("mlm" if name.startswith("mlm") and not name.endswith("diffusion")
                               else name.replace("_latent", ""))
    if not (directory / "meta.json").is_file():
        pytest.skip(f"no committed checkpoint at {directory}")
    assert (directory / "README.md").is_file() and (directory / "model.safetensors").stat().st_size < 10 * 2**20
    options = {"t": 0.3} if name.endswith("diffusion") else {}
    enc = resolve(name, **options)
    x = enc.encode(ENC_SEQS[:3])
    assert x.shape[0] == 3 and np.isfinite(x).all()
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["config_name"] == "small"
    # every committed model carries its health; the encoders report their latent space's
    assert {"metrics", "targets", "passed", "missed"} <= set(meta["health"])
    # a diffusion entry is judged by its denoiser's own health by function, a latent by its encoder's
    judged = meta["health"] if name.endswith("diffusion") else \
        json.loads((Path(enc.source.directory) / "meta.json").read_text())["health"]
    assert enc.health == {"passed": judged["passed"], "missed": judged["missed"],
                          "kind": meta["kind"] if name.endswith("diffusion") else enc.source.kind,
                          "testable": judged["testable"]}
    # the leaderboard's parameter count: the encoder, plus the denoiser for diffusion representations
    from lsdbench.run.benchmark import parameter_count
    expected = sum(p.numel() for p in enc.source.model.parameters())
    if name.endswith("diffusion"):
        expected += sum(p.numel() for p in enc.model.parameters())
    assert parameter_count(enc) == expected > 500_000


@pytest.mark.parametrize("name", ["mlm", "mlm_latent", "lsd_tn_latent", "lsd_nm_latent", "mlm_diffusion",
                                  "lsd_tn_diffusion", "lsd_nm_diffusion"])
def test_committed_checkpoints_embed_as_they_did_before_the_gpu_path(name):
    """The training path's autocast, attention and batching changes leave CPU inference alone: the committed
    checkpoints give the embeddings stored in tests/data/reference_checkpoint_outputs.json (written on
    the CPU by scripts/pin_reference_outputs.py, re-pinned only when checkpoints or the bucketed batching
    change on purpose), so the committed leaderboard keeps reproducing."""
    from lsdbench.encode.encoders import resolve
    from reference_models.evaluation.encoders import CHECKPOINTS
    if not (CHECKPOINTS / "lsd_tn" / "meta.json").is_file():
        pytest.skip("no committed checkpoints")
    stored = json.loads((REPO / "tests" / "data" / "reference_checkpoint_outputs.json").read_text())
    entry = stored["encoders"][name]
    torch.set_num_threads(1)
    x = resolve(name, **entry["options"]).encode(stored["sequences"])
    expected = np.asarray(entry["embeddings"], dtype=np.float32)
    # identical on the machine that wrote them; other CPUs round matmuls differently (up to ~5e-6 measured
    # on a later CI machine for LSD-TN, whose Token Norm divides by small within-type deviations); a code
    # change moves embeddings by orders of magnitude more
    np.testing.assert_allclose(x, expected, rtol=1e-4, atol=2e-5)


# ---- the GPU training path (the same code on CPU) -------------------------------------------------

def test_sdpa_attention_equals_explicit_masked_softmax_attention():
    """The attention the models run (torch's scaled_dot_product_attention, whose flash / memory-efficient
    kernels the GPU uses) equals textbook masked softmax attention within float tolerance on CPU."""
    from reference_models.networks.transformer import SelfAttention, rotary_tables
    torch.manual_seed(0)
    attn = SelfAttention(TransformerConfig(d_model=32, n_layer=1, n_head=4)).eval()
    x = torch.randn(3, 11, 32)
    pad = torch.ones(3, 11, dtype=torch.bool)
    pad[1, 7:] = pad[2, 3:] = False
    rotary = rotary_tables(11, 8, "cpu")
    got = attn(x, pad[:, None, None, :], rotary)
    from reference_models.networks.transformer import apply_rotary
    qkv = attn.qkv(x).view(3, 11, 3, 4, 8)
    q, k = apply_rotary(qkv[:, :, :2], *rotary).permute(2, 0, 3, 1, 4)
    v = qkv[:, :, 2].transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(8)
    weights = scores.masked_fill(~pad[:, None, None, :], float("-inf")).softmax(-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(3, 11, 32))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_gradient_accumulation_equals_one_step_on_the_joined_batch():
    from reference_models.training.train import LossModule, Stage, accumulated_step, optimizer_step
    cfg = MLMConfig(backbone=SMALL_T)
    stage = Stage("mlm", cfg)
    parts = [A.batch_tokens(random_sequences(5, i, 20, 40)) for i in range(3)]
    draws = [stage.draws(t, torch.Generator().manual_seed(i)) for i, t in enumerate(parts)]
    L = max(t.shape[1] for t in parts)

    def pad(x, value):
        return torch.nn.functional.pad(x, (0, L - x.shape[1]), value=value)
    joined = torch.cat([pad(t, A.PAD) for t in parts])
    joined_draws = {"inputs": torch.cat([pad(d["inputs"], A.PAD) for d in draws]),
                    "selected": torch.cat([pad(d["selected"], False) for d in draws])}
    deltas, summaries = [], []
    for accumulate in (False, True):
        torch.manual_seed(0)
        model = MLM(cfg)
        before = [p.detach().clone() for p in model.parameters()]
        opt = torch.optim.SGD(model.parameters(), lr=1.0)  # the update is minus the gradient
        if accumulate:
            loss, count, extra = accumulated_step(LossModule(model, stage), model, opt,
                                                  list(zip(parts, draws, strict=True)), grad_clip=1e9)
        else:
            loss, count, extra = optimizer_step(LossModule(model, stage), model, opt, joined, joined_draws, grad_clip=1e9)
        deltas.append([p.detach() - b for p, b in zip(model.parameters(), before, strict=True)])
        summaries.append((float(loss), float(count), int(extra["correct"])))
    assert summaries[0][1:] == summaries[1][1:] and math.isclose(summaries[0][0], summaries[1][0], rel_tol=1e-5)
    for a, b in zip(*deltas, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_accumulated_training_logs_mfu_and_resumes_exactly(tmp_path, tiny):
    raw = cfgmod.apply_overrides(tiny.raw, ["train.tokens_per_step=1000"])  # 3 batches of 400 per step
    assert cfgmod.train_config(raw, "mlm").micro_batches == 3
    full = train("lsd_tn", raw, tiny.data, tmp_path / "full", progress=False)
    with pytest.raises(HaltForTest):
        train("lsd_tn", raw, tiny.data, tmp_path / "killed", halt_after_step=4, progress=False)
    resumed = train("lsd_tn", raw, tiny.data, tmp_path / "killed", progress=False)
    _tensors_equal(full / "model.safetensors", resumed / "model.safetensors")
    rows = [r.split(",") for r in (full / "log.csv").read_text().splitlines()]
    assert rows[0][-1] == "mfu" and all(0 < float(r[-1]) < 1 for r in rows[1:])
    single = (tiny.root / "runs" / "lsd_tn" / "log.csv").read_text().splitlines()
    assert int(rows[1][5]) > 2 * int(single[1].split(",")[5])  # tokens of the first step: three batches
    meta = json.loads((full / "meta.json").read_text())
    assert 0 < meta["metrics"]["mfu_mean"] < 1 and meta["train_config"]["tokens_per_step"] == 1000


def test_step_flops_agree_with_torch_flop_counter():
    """The analytic count of the MFU numerator against torch's FlopCounterMode on a real training step:
    the PaLM formula counts attention backward in full, torch's counter less, so they differ by a few %
    at the campaign's width and by ~15 % at small's, where attention is a larger share."""
    from torch.utils.flop_counter import FlopCounterMode

    from reference_models.training.flops import StepFlops
    from reference_models.training.train import LossModule, Stage
    raw = cfgmod.load_config("small")
    tokens = A.batch_tokens(random_sequences(4, 0, 100, 101))
    for kind in ("mlm", "lsd_tn"):
        stage = Stage(kind, cfgmod.model_config(raw, kind))
        torch.manual_seed(0)
        model = stage.build()
        with FlopCounterMode(display=False) as counter:
            loss, _, _ = LossModule(model, stage)(tokens, stage.draws(tokens, torch.Generator().manual_seed(0)))
            loss.backward()
        assert 1.0 <= StepFlops(model)(tokens.shape) / counter.get_total_flops() <= 1.25


def test_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    from reference_models.training.train import EagerFallback

    def broken_compile(module, **kwargs):
        def run(*args, **kw):
            raise RuntimeError("no C++ compiler")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    layer = torch.nn.Linear(3, 2)
    wrapped = EagerFallback(layer)
    x = torch.randn(4, 3)
    with pytest.warns(RuntimeWarning, match="torch.compile failed .*no C\\+\\+ compiler"):
        out = wrapped(x)
    assert not wrapped.active
    torch.testing.assert_close(out, layer(x))
    torch.testing.assert_close(wrapped(x), layer(x))  # stays eager, no second warning needed


def test_lsd_train_errors_are_one_line_with_what_to_do(capsys, tmp_path):
    from reference_models.training.train import main

    assert main(["lsd_tn", "--config", "no_such_config", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lsd-train: error: unknown config 'no_such_config'; packaged configs: " + err[0].split(": ")[-1]]
    assert "tiny" in err[0] and "Traceback" not in err[0]
    assert main(["lsd_tn", "--config", "tiny", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
