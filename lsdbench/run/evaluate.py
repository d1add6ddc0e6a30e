"""Orchestration: one encoder x tasks -> validated result files (one per encoder, task and probe)."""

from __future__ import annotations

import os
import reprlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lsdbench import PROTOCOL, __version__
from lsdbench.encode import cost, distributed
from lsdbench.encode.cache import sequence_key
from lsdbench.encode.embedding import CachedRun, cache_for, embed
from lsdbench.encode.encoders import EncoderError, is_encoder, merge_precision, policy_for, resolve
from lsdbench.probe import cache as probe_cache
from lsdbench.probe.probing import fit_and_score, pair_features
from lsdbench.results.result import (
    RESULT_SCHEMA,
    Result,
    ResultError,
    environment,
    read_result,
    result_filename,
    validate_result,
    write_result,
)
from lsdbench.results.result_set import Results
from lsdbench.tasks import registry
from lsdbench.tasks.cards import TaskCard
from lsdbench.tasks.pairs import protein_clusters
from lsdbench.types import Encoder, Task, one_or_many


def task_embeddings(encoder: Encoder, task: Task, *, policy, cache_dir=None, progress: bool = True,
                    batch_residues: int | None = None, tally: cost.Tally | None = None) -> dict[str, np.ndarray] | None:
    """Features per split: pooled embeddings, or symmetric pair features for pair tasks.

    Under torchrun each rank first embeds its shard; ranks other than 0 then return None. ``tally`` adds
    up this process's encoding (residues, seconds, sequences encoded and found cached).
    """
    seqs, ids = task.sequences_and_ids()
    rank, size = distributed.world()
    if size > 1:
        mine = [i for i, s in enumerate(seqs) if distributed.owns(sequence_key(s), rank, size)]
        embed(encoder, [seqs[i] for i in mine], ids=[ids[i] for i in mine], task=task.name, policy=policy,
              cache_dir=cache_dir, batch_residues=batch_residues, progress=progress and rank == 0, tally=tally)
        distributed.barrier()
        if rank != 0:
            return None
    # a fresh cache object, so its index sees the shards every rank wrote
    matrix = embed(encoder, seqs, ids=ids, task=task.name, policy=policy, cache=cache_for(encoder, policy, cache_dir),
                   batch_residues=batch_residues, progress=progress, tally=tally)
    features, offset = {}, 0
    for name, split in task.splits.items():
        n = len(split)
        if split.is_pair:
            u, v = matrix[offset:offset + n], matrix[offset + n:offset + 2 * n]
            features[name] = pair_features(u, v)
            offset += 2 * n
        else:
            features[name] = matrix[offset:offset + n]
            offset += n
    return features


def evaluate_task(encoder: Encoder, task: Task, *, probe: str = "linear", probe_params: dict | None = None,
                  seeds: Sequence[int] | None = None, spec: str | None = None, long_sequences: str = "window",
                  cache_dir=None, progress: bool = True, batch_residues: int | None = None,
                  reuse_probe: bool = True) -> Result | None:
    """Embed (through the cache), probe and score one task; returns the validated result.

    The probe outcome is cached by the content of what it was fitted on (``probe_cache``), so a
    re-evaluation neither encodes nor fits; ``reuse_probe=False`` fits again (and stores the new outcome).
    """
    policy = policy_for(encoder, long_sequences)
    t0 = time.perf_counter()
    tally = cost.Tally()
    feats = task_embeddings(encoder, task, policy=policy, cache_dir=cache_dir, progress=progress,
                            batch_residues=batch_residues, tally=tally)
    if feats is None:
        return None  # a helper rank under torchrun: its shard is in the cache
    embed_s = time.perf_counter() - t0
    encoding = cost.result_cost(tally, cache_for(encoder, policy, cache_dir).dir, task.name)
    splits = task.splits
    card: TaskCard = task.card
    t0 = time.perf_counter()
    labels = {name: split.labels for name, split in splits.items()}
    key = probe_cache.outcome_key(task.type, card.primary_metric, feats, labels, splits["test"].ids, probe=probe,
                                  probe_params=probe_params, seeds=seeds, n_classes=card.n_classes)
    y_test = [int(v) for v in labels["test"]] if card.n_classes else [float(v) for v in labels["test"]]
    outcome = probe_cache.load(key, cache_dir, task_type=task.type, test_ids=splits["test"].ids,
                               y_true=y_test) if reuse_probe else None
    reused = outcome is not None
    if outcome is None:
        outcome = fit_and_score(task.type, card.primary_metric, feats["train"], labels["train"], feats["valid"],
                                labels["valid"], feats["test"], labels["test"], splits["test"].ids, probe=probe,
                                probe_params=probe_params, seeds=seeds, n_classes=card.n_classes)
        probe_cache.store(key, outcome, cache_dir)
        outcome = probe_cache.as_stored(outcome)
    probe_s = time.perf_counter() - t0  # this run's cost: near zero when the outcome was reused
    result = {
        "schema": RESULT_SCHEMA,
        "lsdbench_version": __version__,
        "protocol": PROTOCOL,
        "encoder": {"name": encoder.name, "spec": spec or encoder.name, "config": encoder.config,
                    "dim": int(feats["test"].shape[1] // (3 if splits["test"].is_pair else 1)),
                    "long_sequences": policy.record()},
        "task": {"name": card.name, "version": card.version, "type": card.type,
                 "primary_metric": card.primary_metric, "split_hashes": task.split_hashes(),
                 "sizes": {name: len(split) for name, split in splits.items()}},
        **outcome.result_fields(task.type, protein_clusters(splits["test"])),
        "timings": {"embed_s": round(embed_s, 3), "fit_s": round(probe_s, 3), "probe_reused": reused},
        "cost": encoding,
        "environment": environment(),
    }
    return Result(validate_result(result, source=f"result of {encoder.name} on {card.name}"))


def refuse_other_output(path: Path, result, *, recompute: bool = False) -> Path:
    """``path``, unless it holds a result of the same name, config, task and probe with other predictions:
    then something that changes the output is not in the config (a checkpoint's meta.json, a side input),
    and writing would silently replace one run's result with another's. ``recompute`` (asked for) replaces it."""
    if recompute or not path.exists():
        return path
    try:
        old = read_result(path)
    except ResultError:
        return path  # not a valid result: replacing it loses nothing that could be told apart
    if old["predictions"] != result["predictions"]:
        raise ResultError(f"{path} holds a result of {result['encoder']['name']!r} with the same config and other "
                          f"predictions: the encoder's output depends on something its config does not record "
                          f"(a checkpoint's meta.json or cache_inputs); keep both by writing to another --out, "
                          f"or replace it with --recompute")
    return path


def cards_for(tasks: Sequence[str | TaskCard] | None, suite: str | None) -> list[TaskCard]:
    """The cards of ``tasks`` plus those of ``suite``; the ``open`` suite when neither is given."""
    if tasks is None:
        return registry.list_cards(suite or "open")
    tasks = one_or_many(tasks, (str, os.PathLike, TaskCard), "tasks",
                        "a task name, a card path or TaskCard, or a list of them")
    return [registry.get_card(t) for t in tasks] + (registry.list_cards(suite) if suite else [])


def evaluate(encoder: Encoder | str, tasks: Sequence[str | TaskCard] | None = None, *, suite: str | None = None,
             probe: str = "linear", out_dir: str | Path | None = None, encoder_options: dict | None = None,
             cache_dir=None, mirror=None, progress: bool = True, spec: str | None = None, recompute: bool = False,
             precision: str | None = None, **kwargs) -> Results:
    """Evaluate an encoder (instance or spec) on tasks (names, cards, or a suite; default ``open``).

    Each result is validated and, with ``out_dir``, written atomically as one JSON file. Returns
    ``Results``: a list of result dicts that prints as a table and has ``to_dataframe()``. ``spec``: what
    to record as the encoder's spec when ``encoder`` is an instance built from one. ``recompute`` deletes
    the encoder configuration's cached embeddings first, so all are computed again. ``precision``: ``fp32``,
    ``bf16`` or ``fp16`` for an encoder that supports it (recorded in its config; see lsdbench.encode.precision).
    """
    if not (isinstance(encoder, str) or is_encoder(encoder)):
        raise EncoderError(f"evaluate() takes an encoder object (with a name and an encode method) or a spec "
                           f"string (a registered name, module:attr or file.py:attr), not "
                           f"{type(encoder).__name__} {reprlib.repr(encoder)}")
    spec = encoder if isinstance(encoder, str) else spec
    enc = resolve(encoder, **merge_precision(encoder_options or {}, precision))
    CachedRun(recompute, cache_dir).prepare(enc, spec)
    cards = cards_for(tasks, suite)
    results = Results(saved_to=out_dir)
    for card in tqdm(cards, desc=f"{enc.name}", unit="task", disable=not progress or len(cards) < 2):
        task = registry.load_task(card, cache_dir=cache_dir, mirror=mirror, progress=progress)
        result = evaluate_task(enc, task, probe=probe, spec=spec, cache_dir=cache_dir, progress=progress,
                               **kwargs)
        if result is None:
            continue  # other ranks only helped fill the cache; rank 0 probes and writes
        if out_dir is not None:
            path = Path(out_dir) / result_filename(enc.name, enc.config, card.name, probe)
            write_result(refuse_other_output(path, result, recompute=recompute), result)
        results.append(result)
    return results


from lsdbench import _make_callable as make_callable  # noqa: E402  (after evaluate is defined)

make_callable(__name__, evaluate)
