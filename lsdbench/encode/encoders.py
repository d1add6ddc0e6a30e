"""Resolve an encoder from a spec and turn its raw output into checked, pooled float32 embeddings.

A spec is a registered name (entry-point group ``lsdbench.encoders``), ``module:attr`` or
``path/to/file.py:attr``; ``attr`` may be a class, a factory or an instance.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsdbench.encode import threads
from lsdbench.encode.precision import DEFAULT as DEFAULT_PRECISION
from lsdbench.encode.precision import check_name
from lsdbench.errors import UserError
from lsdbench.types import Encoder

ENTRY_POINT_GROUP = "lsdbench.encoders"


class EncoderError(UserError, ValueError):
    """An encoder could not be found or built, or returned unusable output."""


def describe(exc: BaseException) -> str:
    """An encoder's exception in one line: its type and a bounded message (the encoder's own words)."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def registered() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["t=0.3", "checkpoint=x"]`` -> ``{"t": 0.3, "checkpoint": "x"}`` (JSON scalars decoded)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EncoderError(f"encoder option {pair!r} is not of the form key=value")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def merge_precision(options: dict[str, Any], precision: str | None) -> dict[str, Any]:
    """``options`` with ``--precision`` among them (as ``resolve`` takes it); the two may not disagree."""
    if precision is None:
        return options
    given = options.get("precision")
    if given is not None and given != precision:
        raise EncoderError(f"--precision {precision} and the encoder option precision={given} disagree; give one")
    return {**options, "precision": precision}


def _load_attr(spec: str) -> Any:
    if spec in registered():
        try:
            return registered()[spec].load()
        except ImportError as exc:
            raise EncoderError(f"encoder {spec!r} is registered but could not be imported: {exc}") from exc
    target, sep, attr = spec.rpartition(":")
    if not sep:
        known = ", ".join(sorted(registered())) or "none"
        raise EncoderError(f"unknown encoder {spec!r}: not a registered name (registered: {known}), "
                           f"nor module:attr, nor path/to/file.py:attr")
    if target.endswith(".py"):
        path = Path(target)
        if not path.exists():
            raise EncoderError(f"encoder file {path} does not exist")
        name = "lsdbench_user_encoder_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        module = sys.modules.get(name)
        if module is None:  # load each file once per process, like an imported module
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            try:
                module_spec.loader.exec_module(module)  # the user's own code, named by the user
            except BaseException as exc:
                del sys.modules[name]
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise EncoderError(f"encoder file {path} failed to load: {describe(exc)}") from exc
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise EncoderError(f"cannot import module {target!r} for encoder {spec!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise EncoderError(f"{target} has no attribute {attr!r}") from None


def source_file(spec: Any) -> Path | None:
    """The file of a ``path/to/file.py:attr`` spec, else None. The cache key is the encoder's name and
    config, so an edit of this file that changes the output is invisible to it (see ``--recompute``)."""
    if not isinstance(spec, str) or spec in registered():
        return None
    target, sep, _ = spec.rpartition(":")
    return Path(target) if sep and target.endswith(".py") else None


def is_encoder(obj: Any) -> bool:
    return callable(getattr(obj, "encode", None)) and isinstance(getattr(obj, "name", None), str) \
        and not isinstance(obj, type)


def _check_json_dict(obj: Any, attr: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise EncoderError(f"encoder {obj.name!r}: {attr!r} must be a dict, got {type(value).__name__}")
    try:
        json.dumps(value, sort_keys=True)
    except TypeError as exc:
        raise EncoderError(f"encoder {obj.name!r}: {attr} is not JSON-serialisable: {exc}") from None


def _refuse_precision(spec: Any, precision: str) -> EncoderError:
    return EncoderError(f"encoder {spec!r} does not support --precision {precision}: it takes no 'precision' "
                        f"option (see lsdbench.encode.precision for how an encoder declares it)")


def _precision_options(attr: Any, spec: Any, precision: str | None, options: dict) -> dict:
    """``options`` plus ``precision`` when a lower one is asked for; refused before building (no weights loaded)
    when the factory's signature has no ``precision`` (nor ``**kwargs``, which may pass it on)."""
    if precision in (None, DEFAULT_PRECISION):
        return options  # fp32 is every encoder's default: never passed, so the default path is untouched
    try:
        params = inspect.signature(attr).parameters.values()
    except (TypeError, ValueError):  # no signature to read: building will tell
        params = None
    if params is not None and not any(p.name == "precision" or p.kind is p.VAR_KEYWORD for p in params):
        raise _refuse_precision(spec, precision)
    return {**options, "precision": precision}


def _check_precision(obj: Any, precision: str | None) -> None:
    """An encoder run at a precision must record it in its config, or its results would mix with fp32 ones."""
    recorded = obj.config.get("precision", DEFAULT_PRECISION)
    if precision is not None and recorded != precision:
        raise EncoderError(f"encoder {obj.name!r} was asked for precision {precision} but its config records "
                           f"{recorded}: an encoder with a 'precision' option must record any precision other "
                           f"than fp32 in its config (see lsdbench.encode.precision)")


def resolve(spec: str | Encoder, *, precision: str | None = None, **options: Any) -> Encoder:
    """Build an encoder from a spec (or pass an instance through), applying keyword options.

    ``precision`` (``--precision``; None: the encoder's default, fp32) is passed as the ``precision`` option
    when it is lower than fp32, and the built encoder's config must record it (lsdbench.encode.precision).
    """
    if precision is not None:
        check_name(precision)
    if is_encoder(spec):
        if options:
            raise EncoderError(f"options {sorted(options)} given for an encoder instance; build it with them")
        obj = spec
    else:
        attr = _load_attr(str(spec))
        if is_encoder(attr):
            if options:
                raise EncoderError(f"{spec!r} is an instance; it takes no options (got {sorted(options)})")
            obj = attr
        elif callable(attr):
            options = _precision_options(attr, spec, precision, options)
            try:
                obj = attr(**options)
            except TypeError as exc:
                if "precision" in options and "precision" in str(exc):  # **kwargs passed it to no taker
                    raise _refuse_precision(spec, precision) from exc
                raise EncoderError(f"encoder {spec!r} does not accept options {options}: {exc}") from exc
            except EncoderError:
                raise
            except (Exception, SystemExit) as exc:  # a missing checkpoint, an option out of range, ...
                raise EncoderError(f"encoder {spec!r} could not be built: {describe(exc)}") from exc
        else:
            raise EncoderError(f"{spec!r} is neither an encoder, a class nor a factory")
    if not is_encoder(obj):
        raise EncoderError(f"{spec!r} did not give an encoder: it needs a str 'name', a 'config' dict and "
                           f"an 'encode(sequences)' method")
    _check_json_dict(obj, "config", getattr(obj, "config", None))
    inputs = getattr(obj, "cache_inputs", None)  # optional: keys the embedding cache (lsdbench.types)
    if inputs is not None:
        _check_json_dict(obj, "cache_inputs", inputs)
    _check_precision(obj, precision)
    threads.apply()  # building it may have loaded torch: size its pool to the CPUs this process has
    return obj


@dataclass(frozen=True)
class LongSequencePolicy:
    """What the harness does with sequences longer than the encoder's ``max_length``.

    ``window`` (default): cut into windows of ``max_length`` residues that overlap by ``overlap``
    residues (default a quarter of the window), embed each, and average the pooled window embeddings
    weighted by window length. ``crop``: keep the first ``max_length`` residues.
    """

    policy: str = "window"
    max_length: int | None = None
    overlap: int | None = None

    def __post_init__(self):
        if self.policy not in ("window", "crop"):
            raise EncoderError(f"long-sequence policy must be 'window' or 'crop', got {self.policy!r}")

    @property
    def effective_overlap(self) -> int:
        if self.max_length is None:
            return 0
        return self.max_length // 4 if self.overlap is None else self.overlap

    def pieces(self, sequence: str) -> list[str]:
        m = self.max_length
        if m is None or len(sequence) <= m:
            return [sequence]
        if self.policy == "crop":
            return [sequence[:m]]
        stride = max(1, m - self.effective_overlap)
        starts = list(range(0, len(sequence) - m + 1, stride))
        if starts[-1] + m < len(sequence):
            starts.append(len(sequence) - m)  # the last window ends at the last residue
        return [sequence[s:s + m] for s in starts]

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["overlap"] = self.effective_overlap
        return out


def policy_for(encoder: Encoder, policy: str = "window", overlap: int | None = None) -> LongSequencePolicy:
    max_length = getattr(encoder, "max_length", None)
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise EncoderError(f"encoder {encoder.name!r}: max_length must be a positive int or None")
    return LongSequencePolicy(policy=policy, max_length=max_length, overlap=overlap)


def _from_tensor(value: Any) -> Any:
    """A torch tensor as a numpy array; half and bfloat16 (which numpy cannot hold) widened to float32."""
    if not hasattr(value, "detach"):
        return value
    value = value.detach().cpu()
    if getattr(value, "is_floating_point", lambda: False)() and value.element_size() < 4:
        value = value.float()  # pooled embeddings are stored as float32 anyway
    return value.numpy()


def pool_output(output: Any, sequences: Sequence[str], *, encoder: str, task: str, ids: Sequence[str]) -> np.ndarray:
    """Check an ``encode`` result and return pooled, contiguous float32 embeddings (n, d).

    Accepts an (n, d) float array or n per-residue (L_i, d) float arrays (mean-pooled). Errors name the
    encoder, the task and the first offending sequence id.
    """
    n = len(sequences)

    def fail(i: int | None, what: str) -> EncoderError:
        where = f", first bad sequence {ids[i]!r}" if i is not None else ""
        return EncoderError(f"encoder {encoder!r} on task {task!r}: {what}{where}")

    output = _from_tensor(output)
    if isinstance(output, np.ndarray) and output.ndim == 2:
        if output.shape[0] != n:
            raise fail(None, f"returned {output.shape[0]} embeddings for {n} sequences")
        if output.dtype.kind != "f":
            raise fail(0, f"returned dtype {output.dtype}, expected floats")
        pooled = output
    elif isinstance(output, (list, tuple)) or (isinstance(output, np.ndarray) and output.dtype == object):
        if len(output) != n:
            raise fail(None, f"returned {len(output)} outputs for {n} sequences")
        rows = []
        for i, item in enumerate(output):
            item = np.asarray(_from_tensor(item))
            if item.dtype.kind != "f":
                raise fail(i, f"returned dtype {item.dtype}, expected floats")
            if item.ndim != 2 or item.shape[0] != len(sequences[i]):
                raise fail(i, f"per-residue output has shape {item.shape}, expected ({len(sequences[i])}, d)")
            rows.append(item.mean(axis=0, dtype=np.float64))
        dims = {r.shape[0] for r in rows}
        if len(dims) > 1:
            raise fail(None, f"outputs have different dimensions {sorted(dims)}")
        pooled = np.stack(rows) if rows else np.zeros((0, 0))
    else:
        shape = getattr(output, "shape", None)
        raise fail(None, f"returned {type(output).__name__} with shape {shape}; expected an (n, d) float "
                         f"array or a list of (L, d) arrays")
    if pooled.ndim != 2 or (n and pooled.shape[1] == 0):
        raise fail(0 if n else None, f"returned embeddings of shape {pooled.shape}; each needs at least one dimension")
    pooled = np.ascontiguousarray(pooled, dtype=np.float32)
    finite = np.isfinite(pooled).all(axis=1)  # after the cast: float64 beyond float32's range is inf too
    if not finite.all():
        raise fail(int(np.argmin(finite)), "returned NaN or inf")
    return pooled
