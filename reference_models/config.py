"""Config files (configs/<name>.toml) -> the dataclasses of each stage, and models from stored configs.

``[backbone]`` is shared by mlm, lsd_tn and lsd_nm, so the three encoders have the same size by
construction; ``[autoencoder]`` is shared by lsd_tn and lsd_nm, which differ only in their own sections.
``[train]`` holds the optimisation settings; ``[train.diffusion]`` overrides them for diffusion.
"""

from __future__ import annotations

import copy
import dataclasses

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from reference_models.networks.autoencoder import Autoencoder, AutoencoderConfig
from reference_models.networks.denoiser import Denoiser, DenoiserConfig
from reference_models.networks.mlm import MLM, MLMConfig
from reference_models.networks.transformer import TransformerConfig

STAGES = ("mlm", "lsd_tn", "lsd_nm", "diffusion")
ENCODER_KINDS = ("mlm", "lsd_tn", "lsd_nm")
# the model of each stage; it owns its training draws (``draws``) and its loss
MODELS = {"mlm": MLM, "lsd_tn": Autoencoder, "lsd_nm": Autoencoder, "diffusion": Denoiser}


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.98
    grad_clip: float = 1.0
    max_len: int = 256  # residues; longer training sequences are randomly cropped to this
    tokens_per_batch: int = 4096  # token budget of one global batch (padded residues + bos/eos)
    # > tokens_per_batch: each optimizer step accumulates ceil(tokens_per_step / tokens_per_batch) batches
    # (the GPU path's large batches on a memory budget); 0: one batch per step
    tokens_per_step: int = 0
    seed: int = 0
    ckpt_every: int = 200
    log_every: int = 10
    num_threads: int = 0  # torch CPU threads; 0 keeps torch's default
    max_minutes: float = 0.0  # > 0: stop early (and finish normally) after this wall time
    compile: bool = False  # torch.compile the training step; falls back to eager if compilation fails
    stats_residues: int = 200_000  # residues of training data used for latent standardization statistics
    eval_sequences: int = 500  # held-out sequences used for the model card's metrics
    peak_flops: float = 0.0  # the device's peak FLOP/s for the logged MFU; 0: known GPUs' bf16 peak, or measured on CPU

    @property
    def micro_batches(self) -> int:
        return max(1, -(-self.tokens_per_step // self.tokens_per_batch)) if self.tokens_per_step > 0 else 1


def load_config(name_or_path: str) -> dict:
    """A packaged config by name (tiny, small, base) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        return tomllib.loads(path.read_text())
    entry = resources.files("reference_models") / "configs" / f"{name_or_path}.toml"
    if not entry.is_file():
        names = sorted(p.name[:-5] for p in (resources.files("reference_models") / "configs").iterdir()
                       if p.name.endswith(".toml"))
        raise FileNotFoundError(f"unknown config {name_or_path!r}; packaged configs: {', '.join(names)}")
    return tomllib.loads(entry.read_text())


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """``section.key=value`` strings (value parsed as TOML, else kept as a string) applied to a config."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not of the form section.key=value")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        node = raw
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = parsed
    return raw


def _build(cls, values: dict):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    return cls(**values)


def model_config(raw: dict, stage: str, d_latent: int | None = None):
    """The model config dataclass of ``stage`` from a raw (TOML) config."""
    if stage == "mlm":
        return _build(MLMConfig, {**raw.get("mlm", {}), "backbone": _build(TransformerConfig, raw.get("backbone", {}))})
    if stage in ("lsd_tn", "lsd_nm"):
        values = {**raw.get("autoencoder", {}), **raw.get(stage, {})}
        return _build(AutoencoderConfig, {**values, "backbone": _build(TransformerConfig, raw.get("backbone", {}))})
    if stage == "diffusion":
        den = dict(raw.get("denoiser", {}))
        backbone = {k: den.pop(k) for k in list(den) if k in {f.name for f in dataclasses.fields(TransformerConfig)}}
        backbone.setdefault("cond_dim", backbone.get("d_model", 128))
        if d_latent is not None:
            den["d_latent"] = d_latent
        return _build(DenoiserConfig, {**den, "backbone": _build(TransformerConfig, backbone)})
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")


def train_config(raw: dict, stage: str) -> TrainConfig:
    values = {k: v for k, v in raw.get("train", {}).items() if not isinstance(v, dict)}
    values.update(raw.get("train", {}).get(stage, {}))
    return _build(TrainConfig, values)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(kind: str, values: dict):
    """Rebuild a stored model config (meta.json) of ``kind``."""
    cls = {"mlm": MLMConfig, "lsd_tn": AutoencoderConfig, "lsd_nm": AutoencoderConfig, "diffusion": DenoiserConfig}[kind]
    values = dict(values)
    values["backbone"] = _build(TransformerConfig, values["backbone"])
    return _build(cls, values)


def build_model(kind: str, cfg):
    return MODELS[kind](cfg)
