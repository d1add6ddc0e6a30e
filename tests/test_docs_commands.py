"""Every command in a ``bash`` block of README.md and of the docs pages is run, here or by a named test,
or is listed with the reason it is not run.

A page is read as the site shows it (``--8<--`` includes expanded). A command is one logical line of a
block: continuation lines joined, comments dropped. A new command on a page fails
``test_every_command_on_the_pages_is_run_or_listed`` until it is put in one of the lists below; a listed
command that no page shows any more fails it too. The run ones run as typed, from the root of a folder
laid out like the clone (``clone_dir``: the committed ``leaderboard/``, ``lsdbench`` meaning this
checkout, the mirror), in the order the pages give them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_formats import proteins, readme_card, write_jsonl
from test_readme import run

REPO = Path(__file__).resolve().parents[1]
SHELLS = ("bash", "sh", "shell", "console")

# Run by test_cheap_commands_run_as_written, in this order (seconds in all, from a warm cache).
CHEAP = [
    "lsdbench tasks",
    "lsdbench fetch --suite open",
    "lsdbench info metal_ion_binding",
    "lsdbench mirror export DIR",
    "lsdbench encoders --no-build",
    "lsdbench eval --help",
    # task-cards.md: the reader's own card, made here from the worked example (my_task_files below)
    "lsdbench info path/to/my_task.toml",
    "lsdbench eval --encoder aac --task path/to/my_task.toml --out results/",
    "lsdbench eval --encoder aac --card path/to/my_task.toml --task my_task",
    "LSDBENCH_TASKS=path/to/cards/ lsdbench tasks --suite mine",
    "lsdbench info my_task/card.toml",
    "lsdbench eval --encoder aac --task my_task/card.toml --out results/",
]

# Run by test_slower_commands_run_as_written (builds models, a plan over the open suite; about a minute).
SLOW = [
    "lsdbench encoders lsd_tn_diffusion",
    "lsdbench compare leaderboard/submissions/aac.open.json leaderboard/submissions/dpc.open.json results/",
    "lsdbench sweep --encoder lsd_tn_diffusion --encoder lsd_nm_diffusion --encoder mlm_diffusion "
    "--t 0,0.1,0.2,0.3,0.5,0.7,0.9 --reference lsd_tn_latent --reference mlm --out runs/sweep --plan-only",
]

# Run as written by another test (file::function).
ELSEWHERE = {
    "lsdbench eval --encoder dpc --task metal_ion_binding": "tests/test_readme.py::test_quick_start_runs_as_written",
    "lsdbench compare leaderboard/submissions/aac.open.json results/":
        "tests/test_readme.py::test_quick_start_runs_as_written",
    "lsdbench eval --encoder my_encoder.py:MyEncoder --encoder-opt dim=32 --suite open --out results/my_encoder-dim32":
        "tests/test_readme.py::test_score_your_own_encoder_runs_as_written",
    "lsdbench compare leaderboard/submissions/aac.open.json results/my_encoder-dim32/":
        "tests/test_readme.py::test_score_your_own_encoder_runs_as_written",
}

_SETUP = "set-up: the tests run inside the environment it creates"
_HOURS = "hours of compute on the open suite (make bench, CI runs make test itself)"
_MAKE = "make targets: `make test` is what CI runs; the others call ruff, mkdocs or the benchmarks that it runs too"
_CLUSTER = "needs a GPU cluster and a UniRef50 download (not available to this project yet)"
_TRAIN = "trains the reference models: tens of minutes to hours (tests/test_reference_models.py trains `tiny`)"
_SLURM = "needs a Slurm cluster; shards and cache verify are tested in tests/test_shards.py"
_SUITE = ("evaluates an encoder on the whole open suite (minutes to an hour on 2 cores); eval on one task "
          "runs in the quick start")
_LEADERBOARD = ("submit needs results on the whole open suite, build would rewrite the committed leaderboard/; "
                "tests/test_leaderboard.py::test_cli_submit_validate_build runs the three on a toy suite")
NOT_RUN = {
    "LSDBENCH_MIRROR=../shared/mirror make bench": _HOURS,
    "LSDBENCH_MIRROR=../shared/mirror make test": "the command that runs this test",
    "python3 -m venv .venv && . .venv/bin/activate": _SETUP,
    "LSDBENCH_EXTRAS=user bash scripts/setup.sh": _SETUP,
    "export LSDBENCH_MIRROR=../shared/mirror": _SETUP + " (the mirror comes from its environment)",
    "make test": "the command that runs this test",
    "make lint": _MAKE,
    "make docs": _MAKE,
    "make benchmarks": _MAKE,
    "lsdbench eval --encoder lsd_tn_latent --suite open --out results/": _SUITE,
    "lsdbench eval --encoder lsd_tn_diffusion --encoder-opt t=0.3 --suite open --out results/": _SUITE,
    "torchrun --nproc_per_node 4 -m lsdbench eval --encoder esm2 --suite open --out results/":
        "needs transformers and ESM-2 weights; torchrun ranks are tested in tests/test_embedding.py on 2 CPU processes",
    "pytest --lsdbench-encoder examples/my_encoder.py:CompositionPlusDipeptide --lsdbench-suite open":
        _SUITE + "; the plugin is tested in tests/test_pytest_plugin.py and examples/test_my_encoder.py",
    "lsdbench submit --results results/ --suite open --name \"My encoder\" --meta parameters=0 "
    "--meta training_data=none --meta licence=MIT --meta link=https://example.org": _LEADERBOARD,
    "lsdbench leaderboard validate my-encoder.open.json": _LEADERBOARD,
    "lsdbench leaderboard build": _LEADERBOARD,
    "jid=$(sbatch --parsable examples/slurm_eval.sh)": _SLURM,
    "sbatch --dependency=afterok:$jid --array=0 --export=ALL,STAGE=probe examples/slurm_eval.sh": _SLURM,
    "lsdbench cache verify --encoder esm2": _SLURM,
    "bash reference_models/train_small.sh": _TRAIN,
    "lsd-train data --out runs/data": _TRAIN,
    "lsd-train lsd_tn --config small --data runs/data --out runs/lsd_tn": _TRAIN,
    "lsd-train diffusion --config small --latent runs/lsd_tn --data runs/data --out runs/lsd_tn_diffusion": _TRAIN,
    "lsd-train health reference_models/checkpoints/lsd_tn --data runs/data": _TRAIN,
    "torchrun --nproc_per_node 8 -m reference_models.training.train mlm --config base --data runs/data "
    "--out runs/mlm": _CLUSTER,
    **dict.fromkeys([
        "curl -LO https://ftp.uniprot.org/pub/databases/uniprot/uniref/uniref50/uniref50.fasta.gz",
        "lsd-train data --source uniref50.fasta.gz --out runs/u50/data",
        # the Debian corpus (two 200 MB packages, minutes): its parsers and CLI run on small packages
        # built in tests/test_debian_corpus.py
        "lsd-train data --source debian:metaphlan2+metastudent --min-identity 0.5 --out runs/deb/data",
        "lsd-train subset runs/deb/data --out runs/deb/carry --max-residues 60M",
        "bash scripts/gpu_campaign.sh runs/campaign",
        'T="torchrun --nnodes $N --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint $HEAD:29500 '
        '-m reference_models.training.train"',
        "for s in mlm lsd_tn lsd_nm; do",
        "$T $s --config base --data runs/u50/data --out runs/u50/$s --export ckpt/u50/$s "
        "--set train.tokens_per_step=524288",
        "done",
        "$T diffusion --config base --latent ckpt/u50/$s --data runs/u50/data --out runs/u50/${s}_diffusion "
        "--export ckpt/u50/${s}_diffusion --set train.tokens_per_step=524288",
        "lsd-train health ckpt/u50/lsd_tn --data runs/u50/data",
        "lsdbench eval --encoder lsd_tn_latent --encoder-opt checkpoint=ckpt/u50/lsd_tn --suite open",
        "lsdbench sweep --encoder lsd_tn_diffusion --encoder-opt checkpoint=ckpt/u50/lsd_tn_diffusion "
        "--out runs/u50/sweep",
    ], _CLUSTER),
}


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def page_text(page: Path) -> str:
    """The page as the site renders it: ``--8<-- "path"`` lines replaced by that file (from the root)."""
    return re.sub(r'^--8<-- "([^"]+)"$', lambda m: (REPO / m.group(1)).read_text(encoding="utf-8"),
                  page.read_text(encoding="utf-8"), flags=re.M)


def commands(block: str) -> list[str]:
    """The logical lines of a shell block: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", "", block)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()  # no command of the pages has a '#' of its own
        if line and not line.startswith("#"):
            out.append(line)
    return out


def page_commands() -> dict[str, list[str]]:
    """Each page's commands (relative path -> commands in the order the page gives them)."""
    found = {}
    for page in pages():
        blocks = re.findall(r"^```(\w*)\n(.*?)^```", page_text(page), flags=re.S | re.M)
        cmds = [c for lang, code in blocks if lang in SHELLS for c in commands(code)]
        if cmds:
            found[str(page.relative_to(REPO))] = cmds
    return found


def test_every_command_on_the_pages_is_run_or_listed():
    listed = {*CHEAP, *SLOW, *ELSEWHERE, *NOT_RUN}
    assert len(listed) == len(CHEAP) + len(SLOW) + len(ELSEWHERE) + len(NOT_RUN), "a command is listed twice"
    found = page_commands()
    assert "README.md" in found and any(p.startswith("docs/") for p in found)
    shown = {c for cmds in found.values() for c in cmds}
    unlisted = [f"{page}: {c}" for page, cmds in found.items() for c in cmds if c not in listed]
    assert not unlisted, ("commands on the pages that no test runs and no list excuses (add each to CHEAP, "
                          "SLOW, ELSEWHERE or NOT_RUN in this file):\n" + "\n".join(unlisted))
    assert not listed - shown, f"listed but on no page any more: {sorted(listed - shown)}"
    for where in set(ELSEWHERE.values()):
        path, name = where.split("::")
        assert f"def {name}(" in (REPO / path).read_text(encoding="utf-8"), where


def test_quick_start_is_on_the_front_page_and_the_front_page_is_short():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 150
    assert readme.splitlines()[3:5] == ["LSDBENCH_MIRROR=../shared/mirror make bench   # set up, then run the "
                                        "default benchmark and leaderboard",
                                        "LSDBENCH_MIRROR=../shared/mirror make test    # set up, then run the "
                                        "test suite"]
    assert [c for c in page_commands()["README.md"] if c.startswith("lsdbench")] == [
        c for c in ELSEWHERE if "test_quick_start" in ELSEWHERE[c]]


def _own_cards(cwd: Path) -> None:
    """The files task-cards.md's commands name: the worked example (my_task/) and a reader's own card
    (path/to/my_task.toml and a folder of cards path/to/cards/), all from the worked example's card."""
    card = readme_card()
    for folder, text in ((cwd / "my_task", card), (cwd / "path" / "to" / "cards", card),
                         (cwd / "path" / "to", card.replace('name = "my_jsonl_task"', 'name = "my_task"'))):
        folder.mkdir(parents=True, exist_ok=True)
        for split, n, seed in (("train", 48, 1), ("valid", 16, 2), ("test", 20, 3)):
            write_jsonl(folder / f"{split}.jsonl", [{"sequence": s, "label": y} for s, y in proteins(n, seed)])
        (folder / ("my_task.toml" if folder.name == "to" else "card.toml")).write_text(text)


def _run_all(cmds: list[str], cwd: Path, env: dict) -> dict[str, str]:
    return {c: run(["bash", "-euo", "pipefail", "-c", c], cwd, env) for c in cmds}


def test_cheap_commands_run_as_written(clone_dir):
    cwd, env = clone_dir
    _own_cards(cwd)
    out = _run_all(CHEAP, cwd, env)
    assert "metal_ion_binding" in out["lsdbench tasks"] and "ppi_yeast" in out["lsdbench tasks"]
    assert "wrote 7 files to DIR" in out["lsdbench mirror export DIR"]
    assert "aac" in out["lsdbench encoders --no-build"] and "--encoder" in out["lsdbench eval --help"]
    assert "my_jsonl_task" in out["LSDBENCH_TASKS=path/to/cards/ lsdbench tasks --suite mine"]
    assert "my_task" in out["lsdbench eval --encoder aac --card path/to/my_task.toml --task my_task"]
    saved = sorted(json.loads(p.read_text())["task"]["name"] for p in (cwd / "results").rglob("*.json"))
    assert saved == ["my_jsonl_task", "my_task", "my_task"]


@pytest.mark.slow  # builds the diffusion encoders and plans a sweep of the open suite: about a minute
def test_slower_commands_run_as_written(clone_dir):
    cwd, env = clone_dir
    _run_all(["lsdbench eval --encoder dpc --task metal_ion_binding"], cwd, env)  # the quick start's: results/
    out = _run_all(SLOW, cwd, env)
    assert "lsd_tn_diffusion" in out["lsdbench encoders lsd_tn_diffusion"]
    assert "reference (A): aac" in out[SLOW[1]] and "## metal_ion_binding" in out[SLOW[1]]
    assert "estimate" in out[SLOW[2]] and not (cwd / "runs" / "sweep").exists()
