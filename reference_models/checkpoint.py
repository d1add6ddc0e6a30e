"""Checkpoints without pickle: safetensors for tensors, JSON for everything else, written atomically.

A model directory holds ``model.safetensors`` (weights and latent statistics) and ``meta.json`` (kind,
configs, data hash, training summary). A run directory adds ``resume/step-N/`` folders (raw weights,
optimizer moments, EMA, JSON state) and a ``resume/latest`` pointer replaced atomically, so a run killed
at any moment resumes from the last complete checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lsdbench import strict_json
from lsdbench.atomic import atomic_write_text, atomic_write_with
from lsdbench.errors import UserError

FORMAT = "lsd-checkpoint-1"
WEIGHTS, META = "model.safetensors", "meta.json"
META_MAX_BYTES = 16 * 2**20  # meta.json holds configs and health records (kilobytes); far larger is not one


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, unreadable or does not match the model it is loaded into."""


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def meta_digest(meta: dict) -> str:
    """sha256 of a checkpoint's meta.json content minus its ``health`` record: the health diagnostics are
    rewritten after training (``lsd-train health --write``) and never change what the model outputs, so
    they must not invalidate cached embeddings; every other field (model config, max_len, ...) may."""
    body = {k: v for k, v in meta.items() if k != "health"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    clean = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write_with(Path(path), lambda tmp: save_file(clean, tmp))


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint file {path} is not a readable safetensors file: {e}") from None


def read_json(path: Path) -> dict:
    """A checkpoint's JSON (untrusted: a downloaded checkpoint) through lsdbench's strict reader."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    return strict_json.read(path, max_bytes=META_MAX_BYTES, error=CheckpointError)


def save_model(directory: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    d = Path(directory)
    write_tensors(d / WEIGHTS, tensors)
    write_json(d / META, {"format": FORMAT, **meta})  # meta last: its presence marks a complete model


def load_model(directory: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    d = Path(directory)
    if not d.is_dir():
        raise CheckpointError(f"checkpoint directory {d} does not exist (train one with `lsd-train`, "
                              f"see reference_models/README.md)")
    meta = read_json(d / META)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{d / META}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{d / META}: checkpoint holds a {meta.get('kind')!r} model, expected {kind!r}")
    return read_tensors(d / WEIGHTS), meta


def load_weights(module: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str, prefix: str = "") -> None:
    """Strict load of ``prefix``-ed tensors; names missing, unexpected and mis-shaped keys on failure."""
    own = module.state_dict()
    given = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    shapes = [f"{k}: file {tuple(given[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(given)) if given[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append("shape mismatch " + "; ".join(shapes[:5]))
        raise CheckpointError(f"{source} does not match the model built from its config: " + ", ".join(parts))
    module.load_state_dict(given, strict=True)


def prefixed(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in module.state_dict().items()}


# ---- resume state ---------------------------------------------------------------------------------

def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """AdamW state as tensors (moments, step counts) plus its param_groups as JSON."""
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for key, value in st.items():
            tensors[f"opt.{pid}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, {"param_groups": sd["param_groups"]}


def load_optimizer_state(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], state: dict) -> None:
    per_param: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, pid, key = name.split(".", 2)
            per_param.setdefault(int(pid), {})[key] = value
    opt.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})


def save_resume(run_dir: str | os.PathLike, step: int, tensors: dict[str, torch.Tensor], state: dict,
                keep: int = 1) -> Path:
    root = Path(run_dir) / "resume"
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write_with(root / "latest", lambda p: Path(p).write_text(final.name))
    for old in sorted(root.glob("step-*"))[:-keep]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_resume(run_dir: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict] | None:
    root = Path(run_dir) / "resume"
    if not (root / "latest").is_file():
        return None
    d = root / (root / "latest").read_text().strip()
    tensors, state = read_tensors(d / "state.safetensors"), read_json(d / "state.json")
    return tensors, state
