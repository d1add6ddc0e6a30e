"""``--precision``: a recorded choice that keys the cache and the result files; refused by encoders without it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lsdbench import cli
from lsdbench.encode.embedding import cache_for
from lsdbench.encode.encoders import EncoderError, policy_for, resolve
from lsdbench.encode.precision import PrecisionError, require, supported
from lsdbench.run.evaluate import evaluate

REPO = Path(__file__).resolve().parents[1]
SEQS = ["MKTAYIAKQRQISFVKSHFSRQ", "ACDEFGHIKLMNPQRSTVWY" * 3, "MSTNPKPQRKTKRNTNRRPQDVKFPGG"]
SMALL_RT = {"dim": 32, "layers": 1, "heads": 2}


class Swallows:
    """Takes any option (a precision too) but records none: its results would mix with fp32 ones."""

    name = "swallows"
    config: dict = {}

    def __init__(self, **options):
        pass

    def encode(self, sequences):
        return np.ones((len(sequences), 2), np.float32)


def test_encoders_without_a_precision_option_refuse_bf16_in_one_line(capsys):
    with pytest.raises(EncoderError, match="'aac' does not support --precision bf16"):
        resolve("aac", precision="bf16")
    code = cli.main(["eval", "--encoder", "aac", "--task", "human_ppi_example", "--precision", "bf16", "--no-save"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("lsdbench: error: encoder 'aac' does not support --precision bf16")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert resolve("aac", precision="fp32").config == resolve("aac").config  # fp32 is never passed


def test_an_encoder_must_record_the_precision_it_was_given():
    with pytest.raises(EncoderError, match="config records fp32"):
        resolve(f"{__file__}:Swallows", precision="bf16")  # built with it: **options took it
    with pytest.raises(EncoderError, match="config records fp32"):
        resolve(Swallows(), precision="bf16")  # an instance: checked, never rebuilt
    with pytest.raises(PrecisionError, match="one of fp32, bf16, fp16"):
        resolve("aac", precision="int8")
    with pytest.raises(EncoderError, match="disagree"):
        evaluate("random_transformer", ["human_ppi_example"], precision="bf16",
                 encoder_options={**SMALL_RT, "precision": "fp16"}, progress=False)


def test_device_support_is_measured_not_assumed():
    assert supported("fp32", "cpu") and supported("bf16", "cpu")  # torch's CPU autocast runs bf16
    assert require(None, "cpu") == "fp32" and require("bf16", "cpu") == "bf16"
    with pytest.raises(PrecisionError, match="not supported on device meta"):
        require("bf16", "meta")


def test_bf16_is_recorded_and_never_mixes_with_fp32_in_cache_or_results(tmp_path):
    fp32 = resolve("random_transformer", **SMALL_RT)
    bf16 = resolve("random_transformer", precision="bf16", **SMALL_RT)
    assert "precision" not in fp32.config and bf16.config == {**fp32.config, "precision": "bf16"}
    a, b = fp32.encode(SEQS), bf16.encode(SEQS)
    assert not np.array_equal(a, b)
    np.testing.assert_allclose(b, a, atol=0.05 * np.abs(a).max())  # the same representation, rounded
    np.testing.assert_array_equal(resolve("random_transformer", precision="fp32", **SMALL_RT).encode(SEQS), a)
    out = tmp_path / "results"
    for precision in (None, "bf16"):
        evaluate("random_transformer", ["human_ppi_example"], encoder_options=SMALL_RT, precision=precision,
                 out_dir=out, cache_dir=tmp_path, progress=False)
    results = sorted(json.loads(f.read_text())["encoder"]["config"].get("precision", "fp32") for f in out.glob("*.json"))
    assert results == ["bf16", "fp32"]  # two files: the second did not overwrite the first
    assert cache_for(fp32, policy_for(fp32), tmp_path).dir != cache_for(bf16, policy_for(bf16), tmp_path).dir


def test_precision_flag_reaches_the_encoder_through_the_cli(tmp_path, capsys):
    code = cli.main(["eval", "--encoder", "random_transformer", "--task", "human_ppi_example", "--precision", "bf16",
                     *[f"--encoder-opt={k}={v}" for k, v in SMALL_RT.items()], "--quiet", "--out", str(tmp_path / "r"),
                     "--cache-dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    [result] = [json.loads(f.read_text()) for f in (tmp_path / "r").glob("*.json")]
    assert result["encoder"]["config"]["precision"] == "bf16"


@pytest.mark.parametrize("submission", ["random-transformer", "mlm-reference", "lsd-tn-diffusion"])
def test_committed_leaderboard_configs_are_those_of_the_default_precision(submission):
    """The default path passes nothing: every committed entry's config (and so its result names) is unchanged."""
    recorded = json.loads((REPO / "leaderboard" / "submissions" / f"{submission}.open.json").read_text())
    encoder = recorded["results"][0]["encoder"]
    options = {"random-transformer": lambda c: {"dim": c["dim"]}, "mlm-reference": lambda c: {},
               "lsd-tn-diffusion": lambda c: {"t": c["t"], "layer": c["layer"]}}[submission](encoder["config"])
    try:
        built = resolve(encoder["spec"], **options)
    except EncoderError as exc:  # a reference checkpoint that is not committed in this checkout
        pytest.skip(str(exc))
    assert built.config == encoder["config"]


def test_reference_models_take_precision_and_keep_it_across_a_sweep():
    try:
        fp32 = resolve("lsd_tn_diffusion", t=0.3)
    except EncoderError as exc:
        pytest.skip(str(exc))
    bf16 = resolve("lsd_tn_diffusion", t=0.3, precision="bf16")
    assert bf16.config == {**fp32.config, "precision": "bf16"}
    assert [v.config["precision"] for v in (bf16.with_param(0.0), bf16.with_param(0.9))] == ["bf16", "bf16"]
    a, b = fp32.encode(SEQS), bf16.encode(SEQS)
    assert not np.array_equal(a, b) and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99
    latent = resolve("lsd_tn_latent", precision="bf16")
    assert latent.config["precision"] == "bf16" and np.isfinite(latent.encode(SEQS)).all()


def test_esm2_precision_sets_its_dtype():
    transformers = pytest.importorskip("transformers")
    from baselines.esm2 import ESM2

    config = transformers.EsmConfig(vocab_size=33, pad_token_id=1, mask_token_id=32, hidden_size=16,
                                    num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                                    max_position_embeddings=64, position_embedding_type="rotary")
    model = transformers.EsmModel(config, add_pooling_layer=False).eval()
    enc = ESM2(model=model, device="cpu", precision="bf16")
    assert enc.config["dtype"] == "bfloat16" and enc.config["precision"] == "bf16"
    assert np.isfinite(enc.encode(SEQS[:1])).all()
    with pytest.raises(EncoderError, match="disagree"):
        ESM2(model=model, device="cpu", precision="bf16", dtype="float16")
