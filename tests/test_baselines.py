"""The baselines package: exact composition values, hashing, the untrained transformer and the ESM-2 adapter."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import baselines
from baselines.composition import AAC, DPC, KmerHash, LengthOnly, OneHotMean
from baselines.random_transformer import RandomTransformer
from lsdbench.encode.embedding import embed
from lsdbench.encode.encoders import EncoderError, parse_options, registered, resolve
from lsdbench.tasks.sequences import ALPHABET, CANONICAL

AA = {a: i for i, a in enumerate(CANONICAL)}
SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "A", "ACDEFGHIKLMNPQRSTVWYXBZUO", "GG", "MXXB", "WWWWWWWWWWWWW"]
COMPOSITION = [AAC(), AAC(ambiguous="spread"), DPC(), DPC(ambiguous="spread"), KmerHash(), OneHotMean(),
               LengthOnly()]


def vec(dim: int, **entries: float) -> np.ndarray:
    out = np.zeros(dim, dtype=np.float32)
    for key, value in entries.items():
        out[AA[key] if len(key) == 1 else 20 * AA[key[0]] + AA[key[1]]] = value
    return out


# ---- composition: exact values ----

def test_aac_exact_values():
    x = AAC().encode(["ACDA", "M", "WWY"])
    np.testing.assert_array_equal(x[0], vec(20, A=0.5, C=0.25, D=0.25))
    np.testing.assert_array_equal(x[1], vec(20, M=1.0))
    np.testing.assert_array_equal(x[2], np.float32(vec(20, W=2 / 3, Y=1 / 3)))
    # the textbook definition, rounded once from float64 (what test_evaluate's independent pipeline does)
    seq = SEQS[0]
    expected = np.array([seq.count(a) / len(seq) for a in CANONICAL], dtype=np.float32)
    np.testing.assert_array_equal(AAC().encode([seq])[0], expected)


def test_aac_ambiguous_letters():
    ignore, spread = AAC(), AAC(ambiguous="spread")
    # ignore: non-canonical letters count in the length only
    np.testing.assert_array_equal(ignore.encode(["AX"])[0], vec(20, A=0.5))
    np.testing.assert_array_equal(ignore.encode(["XBZUO"])[0], np.zeros(20, np.float32))
    # spread: B = D/N, Z = E/Q, U = C, O = K, X = 1/20 of each
    np.testing.assert_array_equal(spread.encode(["B"])[0], vec(20, D=0.5, N=0.5))
    np.testing.assert_array_equal(spread.encode(["Z"])[0], vec(20, E=0.5, Q=0.5))
    np.testing.assert_array_equal(spread.encode(["UO"])[0], vec(20, C=0.5, K=0.5))
    np.testing.assert_allclose(spread.encode(["AX"])[0], vec(20, A=0.5) + 0.025, rtol=1e-6)
    np.testing.assert_allclose(spread.encode(SEQS).sum(axis=1), 1.0, rtol=1e-6)
    # canonical-only sequences are the same under both policies
    np.testing.assert_array_equal(spread.encode(SEQS[:2]), ignore.encode(SEQS[:2]))
    assert ignore.config != spread.config
    with pytest.raises(EncoderError, match="ambiguous"):
        AAC(ambiguous="guess")


def test_dpc_exact_values():
    x = DPC().encode(["ACAC", "AAA", "M", "AXA"])
    np.testing.assert_array_equal(x[0], np.float32(vec(400, AC=2 / 3, CA=1 / 3)))
    assert x[0][20 * AA["A"] + AA["C"]] == np.float32(2 / 3)  # index 20 * first + second
    np.testing.assert_array_equal(x[1], vec(400, AA=1.0))
    np.testing.assert_array_equal(x[2], np.zeros(400, np.float32))  # length 1: no dipeptide
    np.testing.assert_array_equal(x[3], np.zeros(400, np.float32))  # both pairs hold X
    spread = DPC(ambiguous="spread").encode(["AB", "M"])
    np.testing.assert_array_equal(spread[0], vec(400, AD=0.5, AN=0.5))
    np.testing.assert_array_equal(spread[1], np.zeros(400, np.float32))
    np.testing.assert_allclose(DPC(ambiguous="spread").encode([SEQS[0], SEQS[2], "GG"]).sum(axis=1), 1.0, rtol=1e-6)


def test_dipeptides_and_kmers_never_straddle_two_sequences():
    for enc in (DPC(), KmerHash(), KmerHash(k=2, dim=64)):
        together = enc.encode(["AC", "DE", "A", "FGH"])
        apart = np.concatenate([enc.encode([s]) for s in ["AC", "DE", "A", "FGH"]])
        np.testing.assert_array_equal(together, apart)


def test_length_one_and_onehot_and_length_features():
    for enc in COMPOSITION:
        x = enc.encode(["M", "X"])
        assert x.shape[0] == 2 and np.isfinite(x).all()
    np.testing.assert_array_equal(OneHotMean().encode(["M"])[0], np.eye(25, dtype=np.float32)[ALPHABET.index("M")])
    onehot = OneHotMean().encode(["AXXB"])[0]
    assert onehot[ALPHABET.index("A")] == 0.25 and onehot[ALPHABET.index("X")] == 0.5
    assert onehot[ALPHABET.index("B")] == 0.25 and onehot.sum() == 1.0
    np.testing.assert_array_equal(LengthOnly().encode(["M", "MKV"]), np.float32([[0.0, 1.0], [np.log(3), 3.0]]))
    np.testing.assert_array_equal(KmerHash().encode(["MK"]), np.zeros((1, 1024), np.float32))


def test_kmer_hashing_is_fixed_and_counts_kmers():
    enc = KmerHash()
    assert enc.encode(SEQS).shape == (len(SEQS), 1024)
    # the hash is a fixed function: these buckets hold in every process and on every platform
    assert (enc.bucket_of("AAA"), enc.bucket_of("MKV"), enc.bucket_of("KVM")) == (431, 861, 179)
    x = enc.encode(["AAAA", "MKVMKV"])
    np.testing.assert_array_equal(np.flatnonzero(x[0]), [431])
    assert x[0, 431] == 1.0
    assert x[1, 861] == 0.5 and x[1].sum() == 1.0  # MKV twice among four 3-mers (KVM, VMK once each)
    raw = KmerHash(normalize="false").encode(["AAAA"])
    assert raw[0, 431] == 2.0
    again = KmerHash().encode(SEQS)
    np.testing.assert_array_equal(KmerHash().encode(SEQS), again)  # a new instance: the same buckets
    assert again.flags.c_contiguous
    # options change the buckets and the config
    small = KmerHash(dim="64", seed=1, k=2)
    assert small.encode(SEQS).shape == (len(SEQS), 64) and small.dim == 64 and small.k == 2
    assert KmerHash(seed=1).bucket_of("AAA") != 431 or KmerHash(seed=1).bucket_of("MKV") != 861
    assert KmerHash(seed=1).config != enc.config
    # X, B, Z... are their own symbols
    assert enc.bucket_of("AXA") != enc.bucket_of("ABA")
    with pytest.raises(EncoderError):
        KmerHash(dim=0)
    with pytest.raises(EncoderError):
        KmerHash(k=20)


def test_composition_output_contract():
    for enc in COMPOSITION:
        x = enc.encode(SEQS)
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] == len(SEQS) and x.flags.c_contiguous
        assert np.isfinite(x).all()
        # one sequence at a time or all at once: identical
        np.testing.assert_array_equal(np.concatenate([enc.encode([s]) for s in SEQS]), x)
        np.testing.assert_array_equal(enc.encode(SEQS), x)
        assert enc.encode([]).shape[0] == 0
        assert enc.max_length is None and isinstance(enc.name, str) and isinstance(enc.config, dict)
    assert [e.encode(SEQS).shape[1] for e in (AAC(), DPC(), OneHotMean(), LengthOnly())] == [20, 400, 25, 2]
    with pytest.raises(ValueError, match="outside the alphabet"):
        AAC().encode(["MK", "AJ"])
    with pytest.raises(ValueError, match="empty"):
        DPC().encode(["MK", ""])
    # lower case is read like upper case
    np.testing.assert_array_equal(AAC().encode(["acda"]), AAC().encode(["ACDA"]))


# ---- random transformer ----

@pytest.fixture(scope="module")
def rt() -> RandomTransformer:
    return RandomTransformer(device="cpu")


def test_random_transformer_is_deterministic_across_instances(rt):
    other = RandomTransformer(device="cpu", threads="1")
    assert rt.config == other.config and rt.config["weights_sha256"].startswith("sha256:")
    assert {"dim", "layers", "heads", "seed", "weights_sha256"} <= set(rt.config)
    assert (rt.config["dim"], rt.config["layers"], rt.config["heads"], rt.config["seed"]) == (256, 4, 4, 0)
    x = rt.encode(SEQS)
    assert x.shape == (len(SEQS), 256) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(other.encode(SEQS), x, atol=1e-5)
    np.testing.assert_array_equal(rt.encode(SEQS), x)
    assert rt.max_length == 1024
    # not degenerate: different sequences, different vectors
    assert np.abs(x[0] - x[5]).max() > 0.1
    seeded = RandomTransformer(device="cpu", seed=1)
    assert seeded.config["weights_sha256"] != rt.config["weights_sha256"]
    assert np.abs(seeded.encode(SEQS[:1]) - x[:1]).max() > 0.01


def test_random_transformer_does_not_depend_on_the_batch(rt):
    target = "MKTAYIAKQRQISFVK"
    alone = rt.encode([target])[0]
    for batch in ([target, "A"], ["W" * 300, target, "MK"], ["G" * 40] * 5 + [target]):
        got = rt.encode(batch)[batch.index(target)]
        np.testing.assert_allclose(got, alone, atol=1e-5)
    with pytest.raises(ValueError, match="max_length"):
        rt.encode(["A" * 1025])


def test_random_transformer_options_and_pooling():
    small = RandomTransformer(dim="32", layers=1, heads=2, ffn=64, device="cpu")
    assert small.encode(["MKV"]).shape == (1, 32) and small.config["ffn"] == 64
    # with no blocks the output is the mean over residues of LayerNorm(embedding + position)
    bare = RandomTransformer(dim=16, layers=0, heads=2, device="cpu")
    m = bare.model
    tokens = torch.tensor([[ALPHABET.index(a) + 1 for a in "MKV"]])
    with torch.no_grad():
        h = m.ln_f(m.embed(tokens) + m.positions[:3]).mean(1)[0].numpy()
    np.testing.assert_allclose(bare.encode(["MKV"])[0], h, atol=1e-6)
    with pytest.raises(EncoderError):
        RandomTransformer(dim=30, heads=4)


# ---- resolution through lsdbench ----

def test_registered_names_resolve_to_the_baselines():
    eps = registered()
    for name, target in baselines.ENCODERS.items():
        assert eps[name].value == target
    assert isinstance(resolve("aac"), AAC) and resolve("aac").name == "aac"
    assert isinstance(resolve("baselines.composition:DPC"), DPC)
    for name in ("dpc", "kmer", "onehot_mean", "length"):
        assert resolve(name).name == name
    kmer = resolve("kmer", **parse_options(["dim=64", "normalize=false"]))
    assert (kmer.dim, kmer.normalize) == (64, False)
    assert resolve("kmer", dim="64").dim == 64  # strings from Python are converted too
    assert resolve("random_transformer", dim=32, layers=1, device="cpu").config["dim"] == 32
    with pytest.raises(EncoderError, match="does not accept"):
        resolve("aac", nonsense=1)
    with pytest.raises(EncoderError):
        resolve("kmer", dim="many")


def test_baselines_run_through_the_harness(tmp_path):
    seqs = ["MKV" * 10, "A", "ACDEFGHIKLMNPQRSTVWY" * 3]
    x = embed(resolve("aac"), seqs, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(x, AAC().encode(seqs))
    rt = resolve("random_transformer", dim=32, layers=1, max_length=16, device="cpu")
    y = embed(rt, seqs, cache_dir=tmp_path, progress=False)  # windows of 16 for the long ones
    assert y.shape == (3, 32) and np.isfinite(y).all()
    np.testing.assert_allclose(y[1], rt.encode(["A"])[0], atol=1e-6)


def test_lsdbench_never_imports_baselines():
    code = ("import sys, lsdbench.cli, lsdbench.run.evaluate, lsdbench.encode.embedding; lsdbench.cli.build_parser(); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('baselines', 'reference_models')); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ---- ESM-2 adapter on a tiny random model ----

@pytest.fixture(scope="module")
def tiny_esm():
    transformers = pytest.importorskip("transformers")
    config = transformers.EsmConfig(vocab_size=33, pad_token_id=1, mask_token_id=32, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                    max_position_embeddings=1026, position_embedding_type="rotary",
                                    token_dropout=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return transformers.EsmModel(config, add_pooling_layer=False).eval()


def direct_mean(model, sequence: str, layer: int | None = None) -> np.ndarray:
    """What ESM-2 users write by hand: <cls> seq <eos>, one sequence, mean over the residue positions."""
    from baselines.esm2 import ESM_TOKENS

    ids = torch.tensor([[0] + [ESM_TOKENS.index(a) for a in sequence] + [2]])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
    h = out.last_hidden_state if layer is None else out.hidden_states[layer]
    return h[0, 1:-1].mean(0).numpy()


def test_esm2_adapter_matches_a_direct_forward(tiny_esm):
    from baselines.esm2 import ESM2

    enc = ESM2(model=tiny_esm, device="cpu")
    assert enc.name == "esm2" and enc.max_length == 1022
    assert enc.config["layer"] == 2 and enc.config["weights_sha256"].startswith("sha256:")
    x = enc.encode(SEQS)
    assert x.shape == (len(SEQS), 32) and x.dtype == np.float32 and x.flags.c_contiguous
    for seq, row in zip(SEQS, x, strict=True):  # padded batch vs one unpadded sequence: same vector
        np.testing.assert_allclose(row, direct_mean(tiny_esm, seq), atol=1e-5)
    np.testing.assert_array_equal(enc.encode(SEQS), x)
    np.testing.assert_allclose(ESM2(model=tiny_esm, device="cpu", layer=2).encode(SEQS[::-1])[::-1], x, atol=1e-5)
    first = ESM2(model=tiny_esm, device="cpu", layer="1")
    assert first.config["layer"] == 1 and first.config != enc.config
    np.testing.assert_allclose(first.encode(SEQS[:1])[0], direct_mean(tiny_esm, SEQS[0], layer=1), atol=1e-5)
    assert ESM2(model=tiny_esm, device="cpu", layer=-3).config["layer"] == 0
    with pytest.raises(EncoderError, match="layer"):
        ESM2(model=tiny_esm, layer=3)
    with pytest.raises(ValueError, match="max_length"):
        enc.encode(["A" * 1023])
    assert resolve("esm2", model=tiny_esm, device="cpu").config == enc.config


def test_esm2_loads_a_local_safetensors_checkpoint(tiny_esm, tmp_path):
    from baselines.esm2 import ESM2

    tiny_esm.save_pretrained(tmp_path / "tiny")
    assert (tmp_path / "tiny" / "model.safetensors").is_file()
    enc = resolve("esm2", **parse_options([f"checkpoint={tmp_path / 'tiny'}", "layer=-1"]), device="cpu")
    direct = ESM2(model=tiny_esm, device="cpu")
    assert enc.config["weights_sha256"] == direct.config["weights_sha256"]
    np.testing.assert_allclose(enc.encode(SEQS), direct.encode(SEQS), atol=1e-6)


def test_esm2_errors_are_clear(monkeypatch, tmp_path):
    from baselines.esm2 import ESM2

    pytest.importorskip("transformers")
    with pytest.raises(EncoderError, match="not a directory"):
        ESM2(checkpoint=str(tmp_path / "missing"))
    with pytest.raises(EncoderError, match="cannot load ESM-2 checkpoint 'lsdbench-test/no-such-esm2'.*download"):
        ESM2(checkpoint="lsdbench-test/no-such-esm2", local_files_only=True)
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed
    with pytest.raises(EncoderError, match=r"transformers.*pip install"):
        ESM2(checkpoint="facebook/esm2_t6_8M_UR50D")
