"""A trained encoder (MLM, LSD-TN or LSD-NM) seen as a latent space: per-residue latents of clean input,
standardized per channel with statistics stored in its checkpoint, and the way back to residues.

MLM: the final hidden states, as is (``latent = "identity"``, d_model channels) or projected on stored
principal components (``latent = "pca"``). LSD: the bottleneck latent (after Token Norm for LSD-TN).
Standardization makes the diffusion prior N(0, I) fit every latent space.
"""

from __future__ import annotations

import torch

from reference_models.checkpoint import CheckpointError, load_model, load_weights, meta_digest, sha256_file
from reference_models.config import ENCODER_KINDS, build_model, from_dict
from reference_models.corpus import alphabet as A


@torch.no_grad()
def raw_latents(model, kind: str, tokens: torch.Tensor, pca: tuple | None = None):
    """(latents (B, L, d) over residue slots before standardization, residue mask (B, L))."""
    if kind == "mlm":
        h = model.hidden(tokens)[:, 1:-1]
        mask = A.is_residue(tokens[:, 1:-1])
        if pca is not None:
            mean, components = pca
            h = (h - mean) @ components
        return h, mask
    return model.encode(tokens)


@torch.no_grad()
def standardized_latents(model, kind: str, tokens: torch.Tensor, mean, std, pca: tuple | None = None):
    """(standardized latents (B, L, d), zero outside residues; residue mask (B, L)): what diffusion sees."""
    z, mask = raw_latents(model, kind, tokens, pca)
    return ((z - mean) / std) * mask[..., None], mask


@torch.no_grad()
def latent_statistics(model, kind: str, batches, pca_dim: int | None = None) -> dict[str, torch.Tensor]:
    """Per-channel mean and std (and PCA for MLM ``latent = "pca"``) over the residues of ``batches``."""
    rows = []
    for tokens in batches:
        h, mask = raw_latents(model, kind, tokens)
        rows.append(h[mask].double())
    x = torch.cat(rows)
    stats = {}
    if pca_dim:
        mean = x.mean(0)
        # top principal directions of the hidden states (eigh returns ascending eigenvalues)
        _, vecs = torch.linalg.eigh(torch.cov((x - mean).T))
        components = vecs[:, -pca_dim:].flip(-1)
        stats = {"latent.pca_mean": mean.float(), "latent.pca_components": components.float().contiguous()}
        x = (x - mean) @ components
    stats["latent.mean"] = x.mean(0).float()
    stats["latent.std"] = x.std(0).clamp(min=1e-6).float()
    return stats


class LatentSource:
    """A frozen encoder checkpoint: ``latents(tokens)`` (standardized) and ``logits(latents, mask)``."""

    def __init__(self, directory, device: str = "cpu"):
        tensors, meta = load_model(directory)
        kind = meta.get("kind")
        if kind not in ENCODER_KINDS:
            raise CheckpointError(f"{directory}: a latent space needs an mlm, lsd_tn or lsd_nm checkpoint, "
                                  f"found {kind!r}")
        self.kind, self.meta, self.directory = kind, meta, directory
        self.sha256 = sha256_file(f"{directory}/model.safetensors")
        # meta.json holds the model config the encoder is rebuilt from (bottleneck, anchors, max_len):
        # output can change with it while the weights stay the same (its health record cannot).
        self.meta_sha256 = meta_digest(meta)
        self.model = build_model(kind, from_dict(kind, meta["model_config"]))
        load_weights(self.model, tensors, f"{directory}/model.safetensors", prefix="model.")
        self.model.to(device).eval().requires_grad_(False)
        for name in ("latent.mean", "latent.std"):
            if name not in tensors:
                raise CheckpointError(f"{directory}/model.safetensors lacks {name!r} (latent statistics)")
        self.mean, self.std = tensors["latent.mean"].to(device), tensors["latent.std"].to(device)
        self.pca = None
        if "latent.pca_components" in tensors:
            self.pca = (tensors["latent.pca_mean"].to(device), tensors["latent.pca_components"].to(device))
        self.dim = self.mean.numel()

    @torch.no_grad()
    def latents(self, tokens: torch.Tensor):
        return standardized_latents(self.model, self.kind, tokens, self.mean, self.std, self.pca)

    @torch.no_grad()
    def logits(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Residue logits of standardized latents: the decoder path of sampled latents."""
        raw = z * self.std + self.mean
        if self.kind == "mlm":
            if self.pca is not None:
                raw = raw @ self.pca[1].T + self.pca[0]
            return self.model.logits(raw)
        return self.model.decode(raw, mask)

    def sequences(self, z: torch.Tensor, mask: torch.Tensor) -> list[str]:
        """Most likely residues at each real position (special tokens cannot be chosen)."""
        logits = self.logits(z, mask)[..., A.FIRST_RESIDUE:]
        ids = logits.argmax(-1) + A.FIRST_RESIDUE
        return [A.decode(row[m].tolist()) for row, m in zip(ids, mask, strict=True)]
