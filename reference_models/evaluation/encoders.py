"""The reference models as lsdbench encoders (entry points ``mlm``, ``lsd_tn_latent``, ``lsd_tn_diffusion``...).

Each factory takes keyword options (CLI strings such as ``t="0.3"`` are converted) and returns an object
with ``name``, ``config``, ``max_length`` and ``encode(sequences) -> (n, d) float32``: the mean over real
residues (no bos/eos/pad) of a per-residue representation.

- ``mlm``: final hidden states of the MLM.  ``mlm_latent``: the same, standardized per channel (and
  PCA-projected when the checkpoint was trained with ``latent = "pca"``): the latent its diffusion model sees.
- ``lsd_tn_latent`` / ``lsd_nm_latent``: the autoencoder's latent of the clean input, standardized.
- ``*_random_denoiser``: the control of a ``*_diffusion`` entry: the same denoiser architecture and width
  over the same latent, never trained, its weights drawn from a fixed seed and its adaLN gates non-zero
  (an untrained adaLN-Zero denoiser is the identity plus a linear map). What a diffusion representation
  gains over it is what training the denoiser gave.
- ``lsd_tn_homogeneous_*``, ``lsd_tn_vae_*``, ``lsd_nm_weighted_*``: the paper-faithful readings of
  configs/faithful.toml (Gaussian posterior with a KL, no latent masking; Token Norm homogeneous or
  contextual; NM with weighted reconstruction), trained by train_faithful.sh.
- ``*_diffusion``: the clean latent z0 is noised to z_t = alpha(t) z0 + sigma(t) eps and passed through the
  denoiser; the output of block ``layer`` is pooled. ``draws`` noise draws are averaged, each seeded by the
  sequence's sha256, so results are deterministic; ``multi_t`` concatenates several noise levels.

Every factory takes ``precision`` (``lsdbench --precision``): fp32 (default) runs as always; bf16 or fp16
run the forward passes under torch autocast and are recorded in config (see lsdbench.encode.precision).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsdbench.encode.batching import token_budget_batches
from lsdbench.encode.buckets import batching_mode, bucket_batches, fill_rows
from lsdbench.encode.precision import autocast, record, require
from reference_models.checkpoint import (
    CheckpointError,
    load_model,
    load_weights,
    meta_digest,
    read_json,
    sha256_file,
)
from reference_models.config import build_model, from_dict
from reference_models.corpus import alphabet as A
from reference_models.networks import schedule as S
from reference_models.networks.latents import LatentSource

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def _checkpoint_dir(checkpoint, default: str) -> Path:
    d = Path(checkpoint) if checkpoint else CHECKPOINTS / default
    if not (d / "meta.json").is_file() or not (d / "model.safetensors").is_file():
        raise CheckpointError(f"no reference checkpoint at {d} (needs meta.json and model.safetensors); train it "
                              f"with `lsd-train` (see reference_models/README.md) or pass checkpoint=DIR")
    return d


def _floats(value) -> list[float]:
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",") if v.strip()]
    if isinstance(value, (int, float)):
        value = [value]
    return [float(v) for v in value]


def _check_t(t: float) -> float:
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"noise level t must lie in [0, 1], got {t}")
    return t


def _sequence_seed(sequence: str, draw: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{draw}:{sequence}".encode()).digest()[:8], "little")


def _mean_pool(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask[..., None].to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1)


def _health_summary(meta: dict) -> dict | None:
    health = meta.get("health")
    if not isinstance(health, dict) or "passed" not in health:
        return None  # trained before health diagnostics existed
    summary = {"passed": bool(health["passed"]), "missed": list(health.get("missed", [])), "kind": meta.get("kind")}
    if "testable" in health:  # health by function (issue 26): only an entry that learned nothing is gated
        summary["testable"] = bool(health["testable"])
    return summary


class _Batched:
    """Batching of the encoders; results come back in input order.

    ``batching="bucketed"`` (default): each call's shape follows from one sequence's own length
    (lsdbench.encode.buckets), so a sequence's embedding has the same bits in any batch. ``"fast"``: token-budget
    batches of length-sorted sequences (``batch_residues`` per call), whose bits depend on the batch-mates.
    """

    batch_residues = 16384
    batching = "bucketed"

    def _set_batching(self, batch_residues, batching) -> None:
        if batch_residues:
            self.batch_residues = int(batch_residues)
        self.batching = batching_mode(batching)

    def _record(self, config: dict) -> dict:
        config = record(config, self.precision)
        if self.batching == "fast":  # other bits: other results, never mixed with the default's
            config["batching"] = "fast"
        return config

    def _inputs(self, inputs: dict) -> dict:
        # keys the cache only, so result names stay; bucketed bits differ from what older caches hold
        return {**inputs, "batching": "bucketed"} if self.batching == "bucketed" else inputs

    def _batches(self, sequences: Sequence[str]):
        """(indices, sequences of the call, tokens) per forward call; bucketed calls carry filler rows."""
        seqs = [A.normalize(s) for s in sequences]
        if self.batching == "fast":
            for idx in token_budget_batches([len(s) for s in seqs], self.batch_residues, extra=2):
                batch = [seqs[i] for i in idx]
                yield idx, batch, A.batch_tokens(batch).to(self.device)
            return
        for idx, width, rows in bucket_batches([len(s) for s in seqs], extra=2, cap=self.max_length):
            batch = fill_rows([seqs[i] for i in idx], rows)
            yield idx, batch, A.batch_tokens(batch, width=width).to(self.device)

    @staticmethod
    def _assemble(n: int, parts: list[tuple[list[int], torch.Tensor]]) -> np.ndarray:
        dim = parts[0][1].shape[1] if parts else 0
        out = np.zeros((n, dim), dtype=np.float32)
        for idx, pooled in parts:
            out[idx] = pooled[:len(idx)].float().cpu().numpy()  # filler rows dropped
        return np.ascontiguousarray(out)


class LatentEncoder(_Batched):
    """Mean-pooled per-residue representation of a frozen encoder checkpoint (no diffusion)."""

    def __init__(self, name: str, default_dir: str, standardized: bool, checkpoint=None, device: str = "cpu",
                 batch_residues: int | str | None = None, precision: str | None = None, batching=None,
                 kind: str | None = None):
        self.name, self.device, self.standardized = name, str(device), standardized
        self.precision = require(precision, self.device)
        self._set_batching(batch_residues, batching)
        directory = _checkpoint_dir(checkpoint, default_dir)
        self.source = LatentSource(directory, device=self.device)
        if self.source.kind != (kind or default_dir):
            raise CheckpointError(f"{directory}: encoder {name!r} needs a {kind or default_dir!r} checkpoint, "
                                  f"found {self.source.kind!r}")
        self.max_length = int(self.source.meta["train_config"]["max_len"])
        self._config = {"checkpoint_sha256": self.source.sha256, "kind": self.source.kind, "pooling": "mean",
                        "representation": "standardized_latent" if standardized else "final_hidden"}
        if self.source.kind == "mlm" and standardized:
            self._config["mlm_latent"] = self.source.model.cfg.latent

    @property
    def config(self) -> dict[str, Any]:
        return self._record(dict(self._config))

    @property
    def cache_inputs(self) -> dict[str, Any]:
        """Keys the embedding cache beside ``config``: a changed meta.json gets new embeddings, while the
        recorded config (and the committed results named after it) stays as it was."""
        return self._inputs({"meta_sha256": self.source.meta_sha256})

    @property
    def health(self) -> dict | None:
        """The checkpoint's health summary (reference_models/evaluation/health.py), as written at the end of training;
        lsdbench marks an entry that missed a target and reports the claims it feeds as not testable."""
        return _health_summary(self.source.meta)

    @property
    def n_parameters(self) -> int:
        """Parameters of the encoder whose representation this is (for leaderboard metadata)."""
        return sum(p.numel() for p in self.source.model.parameters())

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        parts = []
        with torch.inference_mode(), autocast(self.precision, self.device):
            for idx, _, tokens in self._batches(sequences):
                if self.standardized:
                    z, mask = self.source.latents(tokens)
                else:  # the MLM's final hidden states, as is
                    z = self.source.model.hidden(tokens)[:, 1:-1]
                    mask = A.is_residue(tokens[:, 1:-1])
                parts.append((idx, _mean_pool(z, mask)))
        return self._assemble(len(sequences), parts)


class DiffusionEncoder(_Batched):
    """Hidden states of a latent denoiser at noise level t, mean-pooled over residues."""

    sweep_param = "t"

    def __init__(self, name: str, default_dir: str, checkpoint=None, latent_checkpoint=None, t=0.0, layer=-1,
                 draws=1, multi_t=None, device: str = "cpu", batch_residues=None, precision=None, batching=None,
                 random_features=False, _shared=None):
        self.name, self.device, self._default_dir = name, str(device), default_dir
        self.random_features = str(random_features).lower() in ("1", "true", "yes")
        self.precision = require(precision, self.device)
        self._set_batching(batch_residues, batching)
        self.t = _check_t(float(t))
        self.layer, self.draws = int(layer), int(draws)
        if self.draws < 1:
            raise ValueError("draws must be at least 1")
        self.multi_t = [_check_t(v) for v in _floats(multi_t)] if multi_t not in (None, "", []) else None
        if _shared is None:
            _shared = self._load(checkpoint, latent_checkpoint)
        self._shared = _shared
        self.model, self.source, self._sha, self._meta_sha, self._denoiser_health = _shared
        n_layer = self.model.cfg.backbone.n_layer
        if not -n_layer <= self.layer < n_layer:
            raise ValueError(f"layer {self.layer} out of range for a denoiser with {n_layer} blocks")
        self.max_length = int(self.source.meta["train_config"]["max_len"])

    def _load(self, checkpoint, latent_checkpoint):
        directory = _checkpoint_dir(checkpoint, self._default_dir)
        tensors, meta = load_model(directory, kind="diffusion")
        if self.random_features:
            model = random_denoiser(from_dict("diffusion", meta["model_config"]), seed=RANDOM_DENOISER_SEED)
        else:
            model = build_model("diffusion", from_dict("diffusion", meta["model_config"]))
            load_weights(model, tensors, f"{directory}/model.safetensors", prefix="model.")
        model.to(self.device).eval().requires_grad_(False)
        src_meta = meta["latent_source"]
        src_dir = Path(latent_checkpoint) if latent_checkpoint else directory.parent / src_meta["directory_name"]
        source = LatentSource(_checkpoint_dir(src_dir, src_meta["directory_name"]), device=self.device)
        if source.sha256 != src_meta["sha256"]:
            raise CheckpointError(f"{src_dir}/model.safetensors ({source.sha256}) is not the encoder the denoiser "
                                  f"{directory} was trained on ({src_meta['sha256']})")
        own = None if self.random_features else _health_summary(meta)  # a random control has no training to judge
        return (model, source, sha256_file(directory / "model.safetensors"), meta_digest(read_json(directory / "meta.json")),
                own if own is not None and "testable" in own else None)

    @property
    def config(self) -> dict[str, Any]:
        config = {"checkpoint_sha256": self._sha, "latent_sha256": self.source.sha256,
                  "latent_kind": self.source.kind, "t": self.t, "layer": self.layer % self.model.cfg.backbone.n_layer,
                  "draws": self.draws, "multi_t": self.multi_t, "pooling": "mean",
                  "noise_seed": "sha256(draw:sequence)"}
        if self.random_features:  # the architecture of the checkpoint, none of its weights
            config["weights"] = f"random(seed={RANDOM_DENOISER_SEED}, gates=1)"
        return self._record(config)

    @property
    def cache_inputs(self) -> dict[str, Any]:
        """Both meta.json files (the denoiser's and its latent encoder's) key the embedding cache, not the
        recorded config: see LatentEncoder.cache_inputs."""
        return self._inputs({"meta_sha256": self._meta_sha, "latent_meta_sha256": self.source.meta_sha256})

    @property
    def health(self) -> dict | None:
        """The denoiser's own health by function (T1, T2, T6 in its meta.json) where measured; otherwise
        (older checkpoints, the random-feature controls) the health of the latent space it works on."""
        return self._denoiser_health or _health_summary(self.source.meta)

    @property
    def n_parameters(self) -> int:
        """Denoiser plus the frozen encoder it needs: both run to produce the representation."""
        return sum(p.numel() for m in (self.model, self.source.model) for p in m.parameters())

    def with_param(self, value) -> DiffusionEncoder:
        """The same encoder at noise level ``value`` (weights shared, not reloaded)."""
        return DiffusionEncoder(self.name, self._default_dir, t=float(value), layer=self.layer, draws=self.draws,
                                multi_t=None, device=self.device, batch_residues=self.batch_residues,
                                precision=self.precision, batching=self.batching,
                                random_features=self.random_features, _shared=self._shared)

    def _noise(self, seqs: list[str], shape, draw: int) -> torch.Tensor:
        eps = torch.zeros(shape)
        for row, s in enumerate(seqs):
            g = torch.Generator().manual_seed(_sequence_seed(s, draw))
            eps[row, :len(s)] = torch.randn(len(s), shape[-1], generator=g)
        return eps.to(self.device)

    def _features(self, z0, mask, noises, t: float) -> torch.Tensor:
        """Pooled block-``layer`` output at noise level t, averaged over the noise draws."""
        # one t broadcast over the rows: a (B,) t would put the adaLN matmuls' bits at the mercy of B
        tt = torch.full((1,), t, device=z0.device)
        pooled = 0
        for eps in noises:
            zt = (S.alpha(tt)[:, None, None] * z0 + S.sigma(tt)[:, None, None] * eps) * mask[..., None]
            _, blocks = self.model(zt, tt, mask, return_blocks=True)
            pooled = pooled + _mean_pool(blocks[self.layer], mask)
        return pooled / len(noises)

    def _levels(self, values) -> list[list[float]]:
        return [[_check_t(float(v))] for v in values]

    def _run(self, sequences: Sequence[str], level_sets: list[list[float]]) -> list[np.ndarray]:
        parts: list[list] = [[] for _ in level_sets]
        with torch.inference_mode(), autocast(self.precision, self.device):
            for idx, seqs, tokens in self._batches(sequences):
                z0, mask = self.source.latents(tokens)  # the clean latent, once per batch
                noises = [self._noise(seqs, z0.shape, k) for k in range(self.draws)]
                for j, levels in enumerate(level_sets):
                    parts[j].append((idx, torch.cat([self._features(z0, mask, noises, t) for t in levels], dim=-1)))
        return [self._assemble(len(sequences), p) for p in parts]

    def encode(self, sequences: Sequence[str]) -> np.ndarray:
        return self._run(sequences, [self.multi_t or [self.t]])[0]

    def encode_sweep(self, sequences: Sequence[str], values: Sequence[float]) -> list[np.ndarray]:
        """One (n, d) array per noise level; the clean latent and the noise are computed once per batch."""
        return self._run(sequences, self._levels(values))


RANDOM_DENOISER_SEED = 0


def random_denoiser(cfg, seed: int = RANDOM_DENOISER_SEED):
    """A denoiser of config ``cfg`` that was never trained: weights from ``seed``, adaLN gates non-zero.

    adaLN-Zero starts every block as the identity (gates 0) and the output head at zero, so an untrained
    denoiser as built for training is the identity plus a linear map: no random contextual features to
    compare against. Here the adaLN maps are small random matrices with gate biases 1, every block's
    attention and MLP contribute, and the time embedding modulates them as in a trained model."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model("diffusion", cfg)
        for block in model.backbone.blocks:
            if block.ada is None:
                continue
            torch.nn.init.normal_(block.ada.weight, std=0.02)
            bias = torch.zeros_like(block.ada.bias).view(6, -1)
            bias[2] = bias[5] = 1.0  # gate1, gate2 (shift1, scale1, gate1, shift2, scale2, gate2)
            block.ada.bias.data.copy_(bias.view(-1))
        torch.nn.init.normal_(model.out.weight, std=0.02)
    return model


def mlm(**options) -> LatentEncoder:
    return LatentEncoder("mlm", "mlm", standardized=False, **options)


def mlm_latent(**options) -> LatentEncoder:
    return LatentEncoder("mlm_latent", "mlm", standardized=True, **options)


def lsd_tn_latent(**options) -> LatentEncoder:
    return LatentEncoder("lsd_tn_latent", "lsd_tn", standardized=True, **options)


def lsd_nm_latent(**options) -> LatentEncoder:
    return LatentEncoder("lsd_nm_latent", "lsd_nm", standardized=True, **options)


def mlm_diffusion(**options) -> DiffusionEncoder:
    return DiffusionEncoder("mlm_diffusion", "mlm_diffusion", **options)


def lsd_tn_diffusion(**options) -> DiffusionEncoder:
    return DiffusionEncoder("lsd_tn_diffusion", "lsd_tn_diffusion", **options)


def lsd_nm_diffusion(**options) -> DiffusionEncoder:
    return DiffusionEncoder("lsd_nm_diffusion", "lsd_nm_diffusion", **options)


def _latent(name: str, directory: str, kind: str):
    def factory(**options) -> LatentEncoder:
        return LatentEncoder(name, directory, standardized=True, kind=kind, **options)

    factory.__name__ = name
    return factory


def _diffusion(name: str, directory: str, random_features: bool = False):
    def factory(**options) -> DiffusionEncoder:
        return DiffusionEncoder(name, directory, random_features=random_features, **options)

    factory.__name__ = name
    return factory


# each diffusion entry's random-feature control
mlm_random_denoiser = _diffusion("mlm_random_denoiser", "mlm_diffusion", True)
lsd_tn_random_denoiser = _diffusion("lsd_tn_random_denoiser", "lsd_tn_diffusion", True)
lsd_nm_random_denoiser = _diffusion("lsd_nm_random_denoiser", "lsd_nm_diffusion", True)

# the paper-faithful readings (configs/faithful.toml, train_faithful.sh)
lsd_tn_homogeneous_latent = _latent("lsd_tn_homogeneous_latent", "lsd_tn_homogeneous", "lsd_tn")
lsd_tn_homogeneous_diffusion = _diffusion("lsd_tn_homogeneous_diffusion", "lsd_tn_homogeneous_diffusion")
lsd_tn_homogeneous_random_denoiser = _diffusion("lsd_tn_homogeneous_random_denoiser", "lsd_tn_homogeneous_diffusion", True)
lsd_tn_vae_latent = _latent("lsd_tn_vae_latent", "lsd_tn_vae", "lsd_tn")
lsd_tn_vae_diffusion = _diffusion("lsd_tn_vae_diffusion", "lsd_tn_vae_diffusion")
lsd_tn_vae_random_denoiser = _diffusion("lsd_tn_vae_random_denoiser", "lsd_tn_vae_diffusion", True)
lsd_nm_weighted_latent = _latent("lsd_nm_weighted_latent", "lsd_nm_weighted", "lsd_nm")
lsd_nm_weighted_diffusion = _diffusion("lsd_nm_weighted_diffusion", "lsd_nm_weighted_diffusion")
lsd_nm_weighted_random_denoiser = _diffusion("lsd_nm_weighted_random_denoiser", "lsd_nm_weighted_diffusion", True)
