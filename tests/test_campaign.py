"""The time-boxed GPU campaign (scripts/gpu_campaign.sh, reference_models/training/campaign.py) run as CI runs it:
on CPU, with the tiny config, the smoke suite and a budget of seconds; and its time box on a budget that
no stage can finish in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_reference_models import EVAL_SEQS, TRAIN_SEQS, fake_registry, write_fasta

from reference_models import config as cfgmod
from reference_models.corpus.subset import subset_corpus
from reference_models.training.campaign import STAGES, train_stages
from reference_models.training.train import prepare_data

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("campaign_data")
    fasta = write_fasta(root / "pre.fasta", TRAIN_SEQS)
    full = prepare_data(str(fasta), root / "full", registry=fake_registry(EVAL_SEQS, []), heldout_fraction=0.05)
    # the campaign trains from a carry-sized subset (lsd-train subset), as a GPU machine without registries does
    subset = subset_corpus(root / "full", root / "data", int(0.9 * sum(full["residues"].values())))
    assert subset["n_train"] < full["n_train"]
    return root / "data"


def test_campaign_script_runs_on_cpu_within_a_budget_of_seconds(tmp_path, data, mirror):
    out = tmp_path / "campaign"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(["bash", "scripts/gpu_campaign.sh", str(out), "--config", "tiny", "--budget-minutes", "1",
                           "--device", "cpu", "--suite", "smoke", "--t", "0.3", "--data", str(data),
                           "--cache-dir", str(tmp_path / "cache")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "campaign.json").read_text())
    assert summary["within_budget"] and summary["device"] == "cpu" and summary["total_s"] <= 60
    trained = {r["name"]: r for r in summary["timing"] if "steps" in r}
    assert list(trained) == [name for name, _, _ in STAGES]
    for name, row in trained.items():
        assert row["steps"] == row["planned_steps"] == 6 and row["tokens_per_s"] > 0
        assert sorted(p.name for p in (out / "checkpoints" / name).iterdir()) == ["README.md", "meta.json",
                                                                                 "model.safetensors"]
        assert not (out / "runs" / name / "resume").exists() and (out / "runs" / name / "log.csv").is_file()
    assert [r["encoder"] for r in summary["evaluation"]] == ["mlm", "mlm_latent", "lsd_tn_latent", "lsd_nm_latent",
                                                             "mlm_diffusion", "lsd_tn_diffusion", "lsd_nm_diffusion"]
    assert all(r["tasks"] == 1 for r in summary["evaluation"])
    assert len(list((out / "results").rglob("*human_ppi_example__linear.json"))) == 7
    readme = (out / "README.md").read_text()
    for section in ("## Timing", "## Health", "## Results", "lsd_nm_diffusion", "human_ppi_example"):
        assert section in readme
    assert "| mlm | mlm |" in (out / "timing.md").read_text()


def test_each_stage_stops_at_its_share_of_the_budget(tmp_path, data):
    """A budget no stage can finish in: every stage stops early, finishes normally and says so."""
    raw = cfgmod.apply_overrides(cfgmod.load_config("tiny"), ["train.steps=100000", "train.ckpt_every=100000"])
    rows = train_stages(raw, data, tmp_path, budget_s=0.05, device="cpu", config_name="tiny", progress=False)
    for row in rows:
        assert 1 <= row["steps"] < row["planned_steps"] == 100000
        meta = json.loads((tmp_path / "checkpoints" / row["name"] / "meta.json").read_text())
        assert meta["training"]["steps"] == row["steps"] and meta["training"]["planned_steps"] == 100000
