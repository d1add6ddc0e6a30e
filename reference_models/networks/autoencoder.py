"""The LSD autoencoder, in both variants of the paper.

encoder (transformer over bos + residues + eos) -> per-residue linear map to ``d_latent`` -> bottleneck
-> decoder (shallow transformer, or a per-position linear head) -> residue logits.

- LSD-TN (homogeneous): bottleneck = Token Norm, per-type standardization with no per-type affine (or the
  anchored variant, or the collapsible affine control); clean inputs.
- LSD-NM (inhomogeneous): no Token Norm; in training a random subset of input embeddings gets Gaussian
  noise, ``e <- sqrt(1 - s^2) e + s * eps``, with the level s and the corrupted fraction drawn per sequence.
  The default levels (s ~ U(0.9, 1) on a fraction ~ U(0.4, 1)) are where noise on 128-d unit-RMS
  embeddings actually erases identity: below s ~ 0.94 nearest-embedding decoding is still almost exact.
- LSD-TN, homogeneous reading (``bottleneck = "token_norm_homogeneous"``): a residue's latent distribution
  depends on its type only, q(z_i | x) = N(mu[type_i], diag sigma[type_i]^2), with each type's mean
  RMS-normalized (Token Norm of the type table, so its scale cannot outgrow the posterior noise). No
  context reaches the latent: all sequence modelling happens in the decoder and the denoiser.

Posterior (``posterior``): "deterministic" (the latent is the encoder's output) or "gaussian" (a mean
and a log-variance head; a reparameterised sample z = mu + sigma * eps in training, the mean at encoding
time), with ``kl_weight`` times KL(q(z | x) || N(0, I)) in nats per residue added to the loss. The rate
(nats per residue) is recorded at the end of training.

Project additions, off unless configured: latent masking (``latent_mask_rate``: a fraction of residue
latents replaced by noise of the latent's scale, or a learned token, before decoding, so that the
decoder must rebuild them from neighbours) and latent noise. NM's reconstruction can be weighted
(``nm_weight_clean`` for residues Noise Masking left clean, ``nm_weight_lost`` for corrupted residues
whose identity the noise erased, 1 for the other corrupted ones), so the loss is not mostly copying.
The representation is always the (mean) latent of the clean input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from reference_models.corpus import alphabet as A
from reference_models.networks.token_norm import AnchoredTokenNorm, TokenNorm, _all_reduce
from reference_models.networks.transformer import Transformer, TransformerConfig

BOTTLENECKS = ("token_norm", "token_norm_homogeneous", "token_norm_affine", "anchored", "channel_norm", "none")
POSTERIORS = ("deterministic", "gaussian")


@dataclass
class AutoencoderConfig:
    backbone: TransformerConfig = field(default_factory=TransformerConfig)
    d_latent: int = 32
    # "token_norm" | "token_norm_affine" (collapsible control) | "anchored" | "channel_norm" | "none"
    bottleneck: str = "token_norm"
    tn_momentum: float = 0.01
    anchor_radius: float = 2.0
    decoder: str = "transformer"  # "transformer" | "linear" (per-position head)
    decoder_layers: int = 2
    noise_masking: bool = False
    nm_level_min: float = 0.9  # s ~ U(nm_level_min, nm_level_max) per sequence
    nm_level_max: float = 1.0
    nm_fraction_min: float = 0.4  # corrupted fraction ~ U(nm_fraction_min, nm_fraction_max) per sequence
    nm_fraction_max: float = 1.0
    latent_mask_rate: float = 0.15  # residue latents replaced by noise before decoding (training only)
    latent_noise_std: float = 0.0  # Gaussian noise added to every residue latent before decoding (training only)
    # what a masked latent becomes: "noise" (of the latent's scale) or "token" (a learned decoder-input vector,
    # as MAE's mask token: the decoder knows which slots to rebuild from the neighbours)
    latent_mask_mode: str = "noise"
    posterior: str = "deterministic"  # "gaussian": mean + log-variance heads, sampled in training
    kl_weight: float = 0.0  # weight of KL(q(z|x) || N(0, I)), nats per residue; needs posterior = "gaussian"
    nm_weight_clean: float = 1.0  # reconstruction weight of residues Noise Masking left clean
    nm_weight_lost: float = 1.0  # ... of corrupted residues nearer another type's embedding than their own

    @property
    def homogeneous(self) -> bool:
        return self.bottleneck == "token_norm_homogeneous"

    def __post_init__(self):
        if self.bottleneck not in BOTTLENECKS:
            raise ValueError(f"bottleneck must be one of {', '.join(BOTTLENECKS)}, not {self.bottleneck!r}")
        if self.decoder not in ("transformer", "linear"):
            raise ValueError(f"decoder must be transformer or linear, not {self.decoder!r}")
        if not (0 <= self.nm_level_min <= self.nm_level_max <= 1):
            raise ValueError("noise-masking levels must satisfy 0 <= min <= max <= 1")
        if not (0 <= self.nm_fraction_min <= self.nm_fraction_max <= 1):
            raise ValueError("noise-masking fractions must satisfy 0 <= min <= max <= 1")
        if not 0 <= self.latent_mask_rate < 1:
            raise ValueError("latent_mask_rate must be in [0, 1)")
        if self.latent_noise_std < 0:
            raise ValueError("latent_noise_std must be >= 0")
        if self.posterior not in POSTERIORS:
            raise ValueError(f"posterior must be one of {', '.join(POSTERIORS)}, not {self.posterior!r}")
        if self.kl_weight < 0 or (self.kl_weight > 0 and self.posterior != "gaussian"):
            raise ValueError("kl_weight must be >= 0, and > 0 only with posterior = \"gaussian\" (a deterministic "
                             "latent has no posterior to take a KL of)")
        if self.homogeneous and self.posterior != "gaussian":
            raise ValueError("bottleneck token_norm_homogeneous needs posterior = \"gaussian\" (else the latent is a "
                             "lookup table and the decoder has nothing to model)")
        if min(self.nm_weight_clean, self.nm_weight_lost) < 0:
            raise ValueError("nm_weight_clean and nm_weight_lost must be >= 0")
        if self.latent_mask_mode not in ("noise", "token"):
            raise ValueError(f"latent_mask_mode must be noise or token, not {self.latent_mask_mode!r}")


def noise_mask_plan(tokens: torch.Tensor, d_model: int, cfg: AutoencoderConfig, generator: torch.Generator) -> dict:
    """Random draws of Noise Masking for a batch: which residues, at which level s, with which noise."""
    B, L = tokens.shape
    level = cfg.nm_level_min + (cfg.nm_level_max - cfg.nm_level_min) * torch.rand(B, generator=generator)
    fraction = cfg.nm_fraction_min + (cfg.nm_fraction_max - cfg.nm_fraction_min) * torch.rand(B, generator=generator)
    selected = (torch.rand(B, L, generator=generator) < fraction[:, None]) & A.is_residue(tokens)
    noise = torch.randn(B, L, d_model, generator=generator)
    return {"nm_selected": selected, "nm_level": level, "nm_noise": noise}


def latent_mask_plan(tokens: torch.Tensor, d_latent: int, rate: float, generator: torch.Generator) -> dict:
    """Which residue latents are replaced by noise before decoding (over residue slots), and the noise."""
    inner = tokens[:, 1:-1]
    selected = (torch.rand(inner.shape, generator=generator) < rate) & A.is_residue(inner)
    return {"lm_selected": selected, "lm_noise": torch.randn(*inner.shape, d_latent, generator=generator)}


def latent_noise_plan(tokens: torch.Tensor, d_latent: int, generator: torch.Generator) -> dict:
    """Unit Gaussian noise for every residue slot; scaled by ``latent_noise_std`` in the loss."""
    inner = tokens[:, 1:-1]
    return {"ln_noise": torch.randn(*inner.shape, d_latent, generator=generator)}


def apply_latent_mask(z: torch.Tensor, mask: torch.Tensor, selected: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Selected latents -> Gaussian noise with the per-channel scale of the (global) batch's latents.

    No gradient flows through the scale, so the encoder cannot shrink it to make masked slots
    recognisable; under DDP the moments are all-reduced, so every rank uses the global batch's scale
    and the update equals the single-process one.
    """
    with torch.no_grad():
        rows = z[mask].float()
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            # one process: exactly the computation the committed checkpoints were trained with
            scale = rows.std(0).clamp(min=1e-6) if len(rows) else torch.ones(z.shape[-1], device=z.device)
        else:
            count = torch.full((1, z.shape[-1]), float(len(rows)), dtype=torch.float32, device=z.device)
            sums = _all_reduce(torch.cat([rows.sum(0, keepdim=True), (rows * rows).sum(0, keepdim=True), count]))
            n = sums[2].clamp(min=2)
            mean = sums[0] / n
            scale = ((sums[1] - n * mean * mean) / (n - 1)).clamp(min=1e-12).sqrt().clamp(min=1e-6)
    return torch.where(selected[..., None], (noise * scale).to(z.dtype), z)


def apply_noise_mask(emb: torch.Tensor, selected: torch.Tensor, level: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """e <- sqrt(1 - s^2) e + s eps at selected positions; variance-preserving for unit-variance e."""
    s = level.to(emb.dtype)[:, None, None]
    noisy = torch.sqrt(1 - s * s) * emb + s * noise.to(emb.dtype)
    return torch.where(selected[..., None], noisy, emb)


class Autoencoder(nn.Module):
    """Encoder, bottleneck and decoder of LSD-TN / LSD-NM; owns its corruption (``draws``) and loss."""

    def __init__(self, cfg: AutoencoderConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.backbone.d_model
        self.embed = nn.Embedding(A.VOCAB_SIZE, d)
        nn.init.normal_(self.embed.weight, std=1.0)
        gaussian = cfg.posterior == "gaussian"
        if cfg.homogeneous:  # context-free: a mean and a log-variance per residue type, no encoder
            self.encoder = self.to_latent = None
            self.type_means = nn.Parameter(torch.randn(A.N_TYPES, cfg.d_latent))
            self.type_logvar = nn.Parameter(torch.zeros(A.N_TYPES, cfg.d_latent))
        else:
            self.encoder = Transformer(cfg.backbone)
            self.to_latent = nn.Linear(d, cfg.d_latent * (2 if gaussian else 1))
        if cfg.homogeneous:
            self.bottleneck = None
        elif cfg.bottleneck in ("token_norm", "token_norm_affine"):
            self.bottleneck = TokenNorm(A.N_TYPES, cfg.d_latent, momentum=cfg.tn_momentum,
                                        affine=cfg.bottleneck == "token_norm_affine")
        elif cfg.bottleneck == "channel_norm":
            # Token Norm with a single group: per-channel standardization over all residues (batch norm
            # without affine). It fixes the latent's scale, so noise of a fixed size means something.
            self.bottleneck = TokenNorm(1, cfg.d_latent, momentum=cfg.tn_momentum)
        elif cfg.bottleneck == "anchored":
            self.bottleneck = AnchoredTokenNorm(A.N_TYPES, cfg.d_latent, radius=cfg.anchor_radius)
        else:
            self.bottleneck = None
        self.from_latent = nn.Linear(cfg.d_latent, d)
        if cfg.latent_mask_mode == "token":
            self.latent_mask_token = nn.Parameter(torch.zeros(d))
        self.decoder = None
        if cfg.decoder == "transformer":
            dec = TransformerConfig(**{**cfg.backbone.__dict__, "n_layer": cfg.decoder_layers, "cond_dim": 0})
            self.decoder = Transformer(dec)
        self.head = nn.Linear(d, A.VOCAB_SIZE)

    def input_embeddings(self, tokens: torch.Tensor, corruption: dict | None = None) -> torch.Tensor:
        """Unit-RMS input embeddings (so the noise level s keeps its meaning however the table grows),
        Noise-Masked where ``corruption`` says."""
        emb = F.rms_norm(self.embed(tokens), (self.embed.embedding_dim,))
        if corruption is not None and "nm_selected" in corruption:
            emb = apply_noise_mask(emb, corruption["nm_selected"], corruption["nm_level"], corruption["nm_noise"])
        return emb

    def _heads(self, tokens: torch.Tensor, corruption: dict | None = None):
        """(mean before the bottleneck (B, L, d_latent), log-variance or None, residue mask (B, L))."""
        mask = A.is_residue(tokens[:, 1:-1])
        if self.cfg.homogeneous:
            types = A.residue_types(tokens[:, 1:-1])
            # Token Norm of the type table: each type's mean has unit RMS
            means = F.rms_norm(self.type_means, (self.cfg.d_latent,))
            return means[types], self.type_logvar[types], mask
        h = self.to_latent(self.encoder(self.input_embeddings(tokens, corruption), tokens != A.PAD)[:, 1:-1])
        if self.cfg.posterior == "gaussian":
            mean, logvar = h.chunk(2, dim=-1)
            return mean, logvar.clamp(-12.0, 6.0), mask  # bounded: exp() stays finite in any precision
        return h, None, mask

    def pre_bottleneck(self, tokens: torch.Tensor, corruption: dict | None = None):
        """(latent (mean) before the bottleneck (B, L, d_latent) over residue slots, residue mask (B, L))."""
        mean, _, mask = self._heads(tokens, corruption)
        return mean, mask

    def groups(self, residues: torch.Tensor) -> torch.Tensor:
        """The bottleneck's group of each residue token: its amino-acid type, or 0 for channel norm."""
        if self.cfg.bottleneck == "channel_norm":
            return torch.zeros_like(residues)
        return A.residue_types(residues)

    def posterior(self, tokens: torch.Tensor, corruption: dict | None = None):
        """(mean latent (B, L, d_latent) over residue slots, log-variance or None, residue mask (B, L))."""
        z, logvar, mask = self._heads(tokens, corruption)
        if self.bottleneck is not None:
            zb = torch.zeros_like(z)
            zb[mask] = self.bottleneck(z[mask], self.groups(tokens[:, 1:-1][mask])).to(z.dtype)
            z = zb
        else:
            z = z * mask[..., None].to(z.dtype)  # nothing at bos/eos/pad slots, as with Token Norm
        return z, logvar, mask

    def encode(self, tokens: torch.Tensor, corruption: dict | None = None):
        """(latent (B, L, d_latent) over residue slots: the posterior mean, residue mask (B, L)); bos/eos dropped."""
        z, _, mask = self.posterior(tokens, corruption)
        return z, mask

    @staticmethod
    def kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mean, exp(logvar)) || N(0, I)) in nats, summed over channels: (...,)."""
        return 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).sum(-1)

    @torch.no_grad()
    def identity_lost(self, tokens: torch.Tensor, corruption: dict) -> torch.Tensor:
        """(B, L) over residue slots: corrupted residues whose noisy input embedding is nearer another residue
        type's embedding than their own (as reference_models/evaluation/health.py measures it)."""
        d = self.embed.embedding_dim
        table = F.rms_norm(self.embed.weight[A.FIRST_RESIDUE:], (d,)).float()
        x = self.input_embeddings(tokens, corruption)[:, 1:-1].float()
        nearest = (x @ table.T - 0.5 * (table * table).sum(1)).argmax(-1)
        inner = tokens[:, 1:-1]
        return corruption["nm_selected"][:, 1:-1] & (nearest != A.residue_types(inner)) & A.is_residue(inner)

    def _weights(self, tokens: torch.Tensor, batch: dict, mask: torch.Tensor) -> torch.Tensor | None:
        """Per-residue reconstruction weights of Noise Masking (None: uniform)."""
        cfg = self.cfg
        if not cfg.noise_masking or (cfg.nm_weight_clean == 1.0 and cfg.nm_weight_lost == 1.0):
            return None
        w = torch.ones(mask.shape, dtype=torch.float32, device=tokens.device)
        w = torch.where(batch["nm_selected"][:, 1:-1], w, torch.full_like(w, cfg.nm_weight_clean))
        return torch.where(self.identity_lost(tokens, batch), torch.full_like(w, cfg.nm_weight_lost), w)

    @torch.no_grad()
    def precise_token_norm_statistics(self, batches) -> None:
        """Token (or channel) Norm's eval statistics computed exactly over ``batches`` of clean data.

        Running averages lag the weights (momentum 0.01 remembers the last ~100 steps, and a short run
        never forgets the initial zeros and ones); exact per-type moments of the final encoder do not.
        """
        if not isinstance(self.bottleneck, TokenNorm):
            return  # also the homogeneous reading: its means are a normalized table, no running statistics
        n_types, d = self.bottleneck.running_mean.shape
        sums = torch.zeros(n_types, 2 * d + 1, dtype=torch.float64)
        for tokens in batches:
            z, mask = self.pre_bottleneck(tokens)
            types = self.groups(tokens[:, 1:-1][mask])
            rows = z[mask].double()
            onehot = F.one_hot(types, n_types).double()
            sums += torch.cat([onehot.T @ rows, onehot.T @ rows.pow(2), onehot.sum(0)[:, None]], dim=1)
        count = sums[:, -1:]
        seen = count[:, 0] >= 2
        mean = sums[:, :d] / count.clamp(min=1)
        var = (sums[:, d:2 * d] - count * mean.pow(2)) / (count - 1).clamp(min=1)
        self.bottleneck.running_mean[seen] = mean[seen].float()
        self.bottleneck.running_var[seen] = var[seen].clamp(min=0).float()

    def decode(self, z: torch.Tensor, mask: torch.Tensor, masked: torch.Tensor | None = None) -> torch.Tensor:
        """Residue logits (B, L, vocab) from latents over residue slots; ``masked`` slots (latent masking in
        "token" mode) get the learned mask vector instead of their latent."""
        h = self.from_latent(z)
        if masked is not None:
            h = torch.where(masked[..., None], self.latent_mask_token.to(h.dtype), h)
        if self.decoder is not None:
            h = self.decoder(h, mask)
        return self.head(h)

    @staticmethod
    def draws(tokens: torch.Tensor, cfg: AutoencoderConfig, generator: torch.Generator) -> dict:
        """Random draws of a training step (made on the global batch): Noise Masking (LSD-NM), latent masking
        and latent noise, each drawn only when the config uses it, in that order."""
        draws = noise_mask_plan(tokens, cfg.backbone.d_model, cfg, generator) if cfg.noise_masking else {}
        if cfg.latent_mask_rate > 0:
            draws.update(latent_mask_plan(tokens, cfg.d_latent, cfg.latent_mask_rate, generator))
        if cfg.latent_noise_std > 0:
            draws.update(latent_noise_plan(tokens, cfg.d_latent, generator))
        if cfg.posterior == "gaussian":  # drawn last: deterministic configs keep their draws bit for bit
            draws["posterior_noise"] = latent_noise_plan(tokens, cfg.d_latent, generator)["ln_noise"]
        return draws

    def loss(self, tokens: torch.Tensor, batch: dict):
        """(sum over residues of (weighted) cross-entropy + kl_weight * KL, number of residues, extras)."""
        mean, logvar, mask = self.posterior(tokens, batch if self.cfg.noise_masking else None)
        z = mean
        if logvar is not None:  # the reparameterised sample
            eps = batch["posterior_noise"].to(mean.dtype)
            z = (mean + torch.exp(0.5 * logvar) * eps) * mask[..., None].to(mean.dtype)
        zd, masked = z, None
        if "lm_selected" in batch and self.cfg.latent_mask_mode == "noise":
            zd = apply_latent_mask(z, mask, batch["lm_selected"], batch["lm_noise"])
        elif "lm_selected" in batch:
            masked = batch["lm_selected"]
        if self.cfg.latent_noise_std > 0:
            zd = zd + self.cfg.latent_noise_std * batch["ln_noise"].to(zd.dtype) * mask[..., None].to(zd.dtype)
        logits = self.decode(zd, mask, masked)
        target = tokens[:, 1:-1][mask]
        per_residue = F.cross_entropy(logits[mask].float(), target, reduction="none")
        ce = per_residue.sum()
        weights = self._weights(tokens, batch, mask)
        total = ce if weights is None else (weights[mask] * per_residue).sum()
        extra = {"ce": ce.detach()}
        if logvar is not None:
            kl = self.kl(mean[mask], logvar[mask]).sum()
            total = total + self.cfg.kl_weight * kl
            extra["kl"] = kl.detach()
        extra["correct"] = (logits[mask].argmax(-1) == target).sum()
        return total, mask.sum(), extra
