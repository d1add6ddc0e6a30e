"""What ``lsdbench encoders`` shows: each registered encoder's package, options, output dimension and
whether it can be built here (a reference model whose checkpoint is missing shows as absent).

Options are read from signatures, so a package documents them by writing ordinary keyword
arguments; a factory that takes ``**options`` is followed to the class its return annotation names.
"""

from __future__ import annotations

import inspect
import os
import typing
from dataclasses import dataclass, field
from typing import Any

from lsdbench.encode.encoders import EncoderError, _load_attr, pool_output, registered, resolve

PROBE = "ACDEFGHIKLMNPQRSTVWY"  # one short sequence, enough to measure the output dimension


@dataclass
class EncoderInfo:
    name: str
    package: str
    target: str
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    dim: int | None = None
    status: str = "not built"  # ready | absent | unavailable | not built
    detail: str = ""  # why it is absent or unavailable


def _returned_class(attr: Any) -> type | None:
    """The class a ``**options`` factory is annotated to return, if it says."""
    try:
        returned = typing.get_type_hints(attr).get("return")
    except Exception:  # an annotation that does not resolve: nothing more to learn
        return None
    return returned if inspect.isclass(returned) else None


def _options(attr: Any) -> dict[str, Any]:
    """Keyword options with their defaults (parameters without a default are the factory's business)."""
    target = attr.__init__ if inspect.isclass(attr) else attr
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return {}
    if not inspect.isclass(attr) and all(p.kind == p.VAR_KEYWORD for p in params):
        returned = _returned_class(attr)
        return _options(returned) if returned is not None else {}
    return {p.name: p.default for p in params
            if p.default is not p.empty and not p.name.startswith("_") and p.kind != p.VAR_KEYWORD}


def _summary(attr: Any) -> str:
    doc = inspect.getdoc(attr) if inspect.isclass(attr) or attr.__doc__ else None
    if not doc and not inspect.isclass(attr):
        returned = _returned_class(attr)
        doc = inspect.getdoc(returned) if returned is not None else None
    return (doc or "").split("\n\n")[0].replace("\n", " ")


def _missing(message: str) -> bool:
    """Whether a build error says the weights are not here (rather than broken or incompatible)."""
    text = message.lower()
    return "checkpoint" in text and any(w in text for w in ("no reference checkpoint", "cannot load", "not found",
                                                            "does not exist", "missing"))


def _build(info: EncoderInfo, spec: str) -> None:
    # Listing must never download: Hugging Face models are looked up in the local cache only.
    saved = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        encoder = resolve(spec)
        dim = getattr(encoder, "dim", None)
        if not isinstance(dim, int):
            dim = pool_output(encoder.encode([PROBE]), [PROBE], encoder=info.name, task="(probe)", ids=["probe"]).shape[1]
        info.dim, info.status = int(dim), "ready"
    except Exception as exc:  # whatever stops it being built is reported, never raised: this is a listing
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        info.detail = f"{type(exc).__name__}: {message}"
        info.status = "absent" if _missing(message) else "unavailable"
    finally:
        if saved is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved


def describe_encoder(spec: str, build: bool = True) -> EncoderInfo:
    """Facts about one encoder: a registered name, ``module:attr`` or ``file.py:attr``."""
    eps = registered()
    ep = eps.get(spec)
    # the importable package (baselines, reference_models, yours) and the distribution that registers it
    package = f"{ep.value.split('.')[0].split(':')[0]} ({getattr(ep.dist, 'name', None) or '?'})" if ep else "(not registered)"
    info = EncoderInfo(name=spec, package=package, target=ep.value if ep is not None else spec)
    try:
        attr = _load_attr(spec)
    except EncoderError as exc:
        if ep is None:
            raise
        info.status, info.detail = "unavailable", str(exc)
        return info
    info.description, info.options = _summary(attr), _options(attr)
    if build:
        _build(info, spec)
    return info


def list_encoders(build: bool = True) -> list[EncoderInfo]:
    """Every encoder registered under the ``lsdbench.encoders`` entry points, by name."""
    return [describe_encoder(name, build=build) for name in sorted(registered())]
