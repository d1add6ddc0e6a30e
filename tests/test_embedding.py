"""Encoder resolution, output checks, the long-sequence policy and the embedding cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsdbench.encode.batching import token_budget_batches
from lsdbench.encode.cache import EmbeddingCache, cache_summary, clear
from lsdbench.encode.embedding import embed
from lsdbench.encode.encoders import EncoderError, LongSequencePolicy, parse_options, resolve

FILE = Path(__file__).parent / "data" / "user_encoders.py"
SEQS = ["MKV", "ACDEFGHIKLMNPQRSTVWY", "MKV", "GGGGSW", "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP"]
IDS = ["a", "b", "c", "d", "e"]


def load(attr="Composition", **opts):
    return resolve(f"{FILE}:{attr}", **opts)


def test_resolve_class_factory_instance_and_options():
    assert load(scale=2).config == {"scale": 2.0}
    assert load("factory").config == {"scale": 3.0}
    assert load("instance").config == {"scale": 2.0}
    with pytest.raises(EncoderError, match="instance"):
        load("instance", scale=1)
    with pytest.raises(EncoderError, match="does not accept options"):
        load(nope=1)
    with pytest.raises(EncoderError, match="unknown encoder 'no_such'"):
        resolve("no_such")
    with pytest.raises(EncoderError, match="does not exist"):
        resolve("missing/file.py:X")
    assert parse_options(["t=0.3", "name=abc", "flag=true", "xs=[1,2]"]) == \
        {"t": 0.3, "name": "abc", "flag": True, "xs": [1, 2]}
    with pytest.raises(EncoderError, match="key=value"):
        parse_options(["oops"])


def test_module_attr_spec_resolves(monkeypatch):
    monkeypatch.syspath_prepend(str(FILE.parent))
    enc = resolve("user_encoders:factory", scale=5)
    assert enc.config == {"scale": 5.0}


def test_embed_dedupes_and_second_run_encodes_nothing(tmp_path):
    enc = load()
    type(enc).calls = type(enc).encoded = 0
    first = embed(enc, SEQS, ids=IDS, cache_dir=tmp_path, progress=False)
    assert first.dtype == np.float32 and first.flags.c_contiguous and first.shape == (5, 21)
    assert type(enc).encoded == 4  # "MKV" twice, embedded once
    np.testing.assert_array_equal(first[0], first[2])
    calls = type(enc).calls
    second = embed(load(), SEQS, ids=IDS, cache_dir=tmp_path, progress=False)
    assert type(enc).calls == calls
    np.testing.assert_array_equal(first, second)
    # another config is another cache entry
    embed(load(scale=2), SEQS, ids=IDS, cache_dir=tmp_path, progress=False)
    assert type(enc).calls > calls
    assert {e["name"] for e in cache_summary(tmp_path)} == {"test_composition"}
    assert len(cache_summary(tmp_path)) == 2
    assert clear(tmp_path, "test_composition") == 2 and cache_summary(tmp_path) == []


def test_per_residue_output_is_mean_pooled(tmp_path):
    out = embed(load("PerResidue"), ["AAC"], cache_dir=tmp_path, progress=False)
    expected = np.zeros(20, np.float32)
    expected[0], expected[1] = 2 / 3, 1 / 3
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


@pytest.mark.parametrize("mode, message", [
    ("nan", "NaN or inf"), ("inf", "NaN or inf"), ("count", "4 embeddings for 5 sequences"),
    ("int", "dtype int64"), ("shape", "per-residue output has shape"),
])
def test_bad_output_is_rejected_and_nothing_cached(tmp_path, mode, message):
    seqs = ["MKV", "AAAA", "GGGGSW", "PPPP", "LLLL"]
    enc = load("Broken", mode=mode)
    with pytest.raises(EncoderError) as info:
        embed(enc, seqs, ids=IDS, task="my_task", cache_dir=tmp_path, progress=False)
    text = str(info.value)
    assert "'test_broken'" in text and "'my_task'" in text and message in text
    if mode not in ("count",):
        assert "first bad sequence 'c'" in text
    assert cache_summary(tmp_path) == [] or all(e["sequences"] == 0 for e in cache_summary(tmp_path))


def test_corrupted_shard_is_detected_and_recomputed(tmp_path, caplog):
    enc = load()
    first = embed(enc, SEQS, cache_dir=tmp_path, progress=False)
    shards = list(tmp_path.glob("embeddings/*/*/shard-*.npz"))
    assert len(shards) == 1
    data = shards[0].read_bytes()
    shards[0].write_bytes(data[: len(data) // 2])  # truncated
    type(enc).encoded = 0
    again = embed(load(), SEQS, cache_dir=tmp_path, progress=False)
    assert type(enc).encoded == 4 and "corrupted" in caplog.text
    np.testing.assert_array_equal(first, again)


def test_flipped_bits_fail_the_checksum(tmp_path):
    cache = EmbeddingCache("x", {}, cache_dir=tmp_path)
    cache.put(["k" * 64], np.ones((1, 3), np.float32))
    shard = next(cache.dir.glob("shard-*.npz"))
    # rewrite the shard with altered embeddings but the old checksum
    with np.load(shard) as d:
        keys, emb, checksum = d["keys"], d["emb"].copy(), d["checksum"]
    emb[0, 0] = 5
    np.savez(shard, keys=keys, emb=emb, checksum=checksum)
    assert EmbeddingCache("x", {}, cache_dir=tmp_path).missing(["k" * 64]) == ["k" * 64]


def test_long_sequence_windows_and_crop():
    pol = LongSequencePolicy(max_length=10)
    pieces = pol.pieces("A" * 25)
    assert all(len(p) == 10 for p in pieces)
    assert pol.effective_overlap == 2 and len(pieces) == 3  # starts 0, 8, 15 (last ends at the end)
    assert LongSequencePolicy(policy="crop", max_length=10).pieces("ACDEFGHIKLMN") == ["ACDEFGHIKL"]
    assert LongSequencePolicy(max_length=10).pieces("ACD") == ["ACD"]
    with pytest.raises(EncoderError):
        LongSequencePolicy(policy="truncate")


def test_windowed_embedding_is_length_weighted_mean(tmp_path):
    seq = "A" * 12 + "C" * 8
    out = embed(load("PerResidue", max_length=10), [seq], cache_dir=tmp_path, progress=False)
    pol = LongSequencePolicy(max_length=10)
    pieces = pol.pieces(seq)
    expected = sum(np.array([p.count("A"), p.count("C")]) for p in pieces) / sum(len(p) for p in pieces)
    np.testing.assert_allclose(out[0, :2], expected, rtol=1e-6)


def test_token_budget_batches_respect_budget():
    lengths = [5, 100, 7, 50, 50, 3, 200]
    batches = token_budget_batches(lengths, 210, longest_first=True)
    assert sorted(i for b in batches for i in b) == list(range(7))
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 210


def test_longest_first_batches_equal_the_greedy_loop_the_harness_used():
    """The harness's batches (longest first, closing before the row that would pass the budget) are
    what its own greedy loop made before the batcher was shared: cached embeddings of batch-dependent
    encoders keep their meaning."""
    def greedy(lengths, budget):
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        batches, current, longest = [], [], 0
        for i in order:
            new_longest = max(longest, lengths[i])
            if current and new_longest * (len(current) + 1) > budget:
                batches.append(current)
                current, new_longest = [], lengths[i]
            current.append(i)
            longest = new_longest
        return batches + ([current] if current else [])

    rng = np.random.default_rng(0)
    for _ in range(500):
        lengths = rng.integers(1, int(rng.choice([5, 60, 700])), size=int(rng.integers(0, 50))).tolist()
        budget = int(rng.integers(1, 3000))
        assert token_budget_batches(lengths, budget, longest_first=True) == greedy(lengths, budget)


def test_sweep_fills_every_variant_with_one_shared_pass(tmp_path):
    from lsdbench.encode.embedding import embed_sweep

    base = load("ScaledFamily")
    values = [0.5, 1.0, 2.0]
    variants = [base.with_param(v) for v in values]
    type(base).shared_calls = type(base).calls = 0
    embed_sweep(base, variants, values, SEQS, cache_dir=tmp_path, progress=False)
    assert type(base).shared_calls == 1 and type(base).calls == 0
    for v, variant in zip(values, variants, strict=True):
        got = embed(variant, SEQS, cache_dir=tmp_path, progress=False)  # served from the cache
        np.testing.assert_allclose(got, np.stack([load().encode([s])[0] for s in SEQS]) * v, rtol=1e-6)
    assert type(base).shared_calls == 1


def test_an_empty_cache_passed_in_is_the_one_filled(tmp_path, monkeypatch):
    """Regression: an empty EmbeddingCache is falsy (len 0) and was once replaced by the default cache."""
    monkeypatch.setenv("LSDBENCH_CACHE_DIR", str(tmp_path / "default"))
    enc = resolve("aac")
    cache = EmbeddingCache(enc.name, {"k": 1}, cache_dir=tmp_path / "mine")
    embed(enc, ["ACDEQQ", "MKVW"], cache=cache, progress=False)
    assert len(EmbeddingCache(enc.name, {"k": 1}, cache_dir=tmp_path / "mine")) == 2
    assert not (tmp_path / "default" / "embeddings").exists()
    # and the cache_dir given to evaluate is where the embeddings go
    from lsdbench.run.evaluate import evaluate
    evaluate("aac", ["human_ppi_example"], cache_dir=tmp_path / "eval", progress=False)
    assert any((tmp_path / "eval" / "embeddings").rglob("shard-*.npz"))
    assert not (tmp_path / "default" / "embeddings").exists()


def test_cache_inputs_key_the_cache_but_are_not_the_config(tmp_path):
    """An encoder's side inputs (e.g. a meta.json hash) give a new cache entry without a new recorded config."""
    from lsdbench.encode.cache import config_digest
    from lsdbench.encode.embedding import cache_for
    from lsdbench.encode.encoders import policy_for

    plain = load()
    policy = policy_for(plain)
    old_key = config_digest(plain.name, {**plain.config, "_long_sequences": policy.record()})[:24]
    assert cache_for(plain, policy, tmp_path).dir.name == old_key  # no cache_inputs: existing caches stay valid
    a, b = load(), load()
    a.cache_inputs, b.cache_inputs = {"meta_sha256": "sha256:aa"}, {"meta_sha256": "sha256:bb"}
    assert a.config == b.config == plain.config
    dirs = {cache_for(e, policy, tmp_path).dir for e in (plain, a, b)}
    assert len(dirs) == 3
    embed(a, SEQS, ids=IDS, cache_dir=tmp_path, progress=False)
    assert len(cache_for(a, policy, tmp_path)) == 4 and len(cache_for(b, policy, tmp_path)) == 0
    bad = load()
    bad.cache_inputs = {"x": object()}
    with pytest.raises(EncoderError, match="cache_inputs is not JSON-serialisable"):
        resolve(bad)


def test_recompute_encodes_each_level_again_once_per_run(tmp_path):
    from lsdbench.encode.embedding import CachedRun
    from lsdbench.run.sweep import sweep_encoder
    from lsdbench.tasks import registry

    task = registry.load_task("human_ppi_example", progress=False)
    spec, family = f"{FILE}:ScaledFamily", type(load("ScaledFamily"))
    family.shared_calls = 0

    def sweep(cached_run=None):
        sweep_encoder(spec, [0.5, 2.0], task, cache_dir=tmp_path, progress=False, cached_run=cached_run)
        return family.shared_calls

    first = sweep()
    assert first > 0 and sweep() == first  # served from the cache
    run = CachedRun(recompute=True, cache_dir=tmp_path)
    again = sweep(run)
    assert again == 2 * first  # every level encoded again...
    assert sweep(run) == again  # ...once per run, not once per task
    from lsdbench.cli import build_parser
    for command in (["eval", "--encoder", "x"], ["sweep", "--encoder", "x", "--out", "o"]):
        assert build_parser().parse_args([*command, "--recompute"]).recompute


SHIFTING = """
import os

import numpy as np

class Shifting:
    name = "shifting"
    config = {}

    def encode(self, sequences):
        return np.stack([np.full(int(os.environ["SHIFTING_DIM"]), len(s), np.float32) for s in sequences])
"""


def test_a_changed_width_is_one_line_naming_the_entry_and_its_clear_command(tmp_path, monkeypatch, capsys):
    import shlex

    from lsdbench.cli import main
    from lsdbench.tasks import registry

    monkeypatch.chdir(tmp_path)  # eval's default results/ folder goes here, not into the repository
    (tmp_path / "shifting.py").write_text(SHIFTING)
    spec, cache = f"{tmp_path / 'shifting.py'}:Shifting", tmp_path / "cache"
    seqs = registry.load_task("human_ppi_example", progress=False).splits["train"].sequences[:5]
    monkeypatch.setenv("SHIFTING_DIM", "4")
    embed(resolve(spec), seqs, cache_dir=cache, progress=False)  # part of the task, at the old width
    monkeypatch.setenv("SHIFTING_DIM", "5")
    args = ["eval", "--encoder", spec, "--task", "human_ppi_example", "--cache-dir", str(cache), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsdbench: error: embedding cache entry ") and err.count("\n") == 1
    [entry] = (cache / "embeddings" / "shifting").iterdir()
    assert str(entry) in err and "dimension 4, the encoder now gives 5" in err
    command = err.split("`")[1]
    assert command == f"lsdbench cache clear --encoder shifting --cache-dir {cache}"
    assert main(shlex.split(command)[1:]) == 0  # the command it names is the one that clears it
    assert main(args) == 0
