"""The main job (`lsdbench run`) end to end on the smoke suite with user-style encoders."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from lsdbench.cli import main
from lsdbench.leaderboard.validate import validate_submission
from lsdbench.run.benchmark import EntriesError, load_plan, select_suite_level
from lsdbench.tasks import registry

DATA = Path(__file__).parent / "data"


def entry_toml(name: str, spec: str, **extra: str) -> str:
    """One [[entry]] table of an entries file, with the metadata every entry needs."""
    more = "".join(f'{k} = "{v}"\n' for k, v in extra.items())
    return (f'\n[[entry]]\nname = "{name}"\nspec = "{spec}"\ntraining_data = "none"\nlicence = "MIT"\n'
            f'link = "https://example.org/{name.lower().replace(" ", "-")}"\n{more}')


def entries(tmp_path: Path) -> Path:
    enc = DATA / "user_encoders.py"
    path = tmp_path / "entries.toml"
    path.write_text(textwrap.dedent(f"""
        suite = "smoke"
        levels = [1.0, 2.0]
        references = ["{enc}:Composition", "reference_that_does_not_exist"]

        [[entry]]
        name = "Composition"
        spec = "{enc}:Composition"
        parameters = 0
        training_data = "none"
        licence = "MIT"
        link = "https://example.org/composition"

        [[entry]]
        name = "Family"
        spec = "{enc}:ScaledFamily"
        sweep = "scale"
        training_data = "none"
        licence = "MIT"
        link = "https://example.org/family"

        [[entry]]
        name = "Missing checkpoint"
        spec = "{tmp_path / 'nowhere.py'}:Model"
        optional = true
        training_data = "none"
        licence = "MIT"
        link = "https://example.org/missing"
        """))
    return path


def test_main_job_skips_an_optional_entry_that_cannot_load_and_marks_an_unhealthy_one(tmp_path, capsys):
    enc = DATA / "user_encoders.py"
    path = tmp_path / "entries.toml"
    path.write_text(textwrap.dedent(f"""
        suite = "smoke"
        controls = ["Composition"]

        [[entry]]
        name = "Composition"
        spec = "{enc}:Composition"
        training_data = "none"
        licence = "MIT"
        link = "https://example.org/composition"

        [[entry]]
        name = "Unhealthy"
        spec = "{enc}:Unhealthy"
        training_data = "none"
        licence = "MIT"
        link = "https://example.org/unhealthy"
        description = "reports a missed target"

        [[entry]]
        name = "No weights"
        spec = "{enc}:WeightsMissing"
        optional = true
        training_data = "none"
        licence = "MIT"
        link = "https://example.org/none"

        [[hypothesis]]
        claim = "the unhealthy model beats composition"
        better = "Unhealthy"
        than = ["Composition", "No weights"]
        """))
    out = tmp_path / "run"
    assert main(["run", "--entries", str(path), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "No weights: skipped (checkpoint directory /nowhere does not exist)" in text
    report = (out / "leaderboard" / "hypotheses.md").read_text()
    assert "not testable" in report and "**not testable**: misses composition_r2" in report and "## Controls" in report
    board = (out / "leaderboard" / "README.md").read_text()
    assert "\\[HEALTH: misses composition\\_r2\\]" in board  # description text is escaped Markdown


def test_main_job_evaluates_sweeps_submits_and_builds(tmp_path, capsys):
    out = tmp_path / "run"
    board = tmp_path / "board"
    assert main(["run", "--entries", str(entries(tmp_path)), "--out", str(out), "--quiet",
                 "--publish", str(board)]) == 0
    text = capsys.readouterr().out
    assert "Missing checkpoint: skipped" in text and "reference_that_does_not_exist: skipped" in text
    subs = sorted((out / "submissions").glob("*.json"))
    assert len(subs) == 2
    for path in subs:
        validate_submission(path)
    assert (out / "figures" / "sweep_human_ppi_example.png").stat().st_size > 1000
    assert (out / "sweep" / "sweep_human_ppi_example.csv").exists()
    for name in ("README.md", "leaderboard.csv", "index.html"):
        assert (out / "leaderboard" / name).exists() and (board / name).exists()
    assert "Composition" in (board / "README.md").read_text()
    # a rerun reads every embedding from the cache and reproduces the leaderboard byte for byte
    before = (out / "leaderboard" / "leaderboard.csv").read_bytes()
    assert main(["run", "--entries", str(entries(tmp_path)), "--out", str(out), "--quiet"]) == 0
    assert (out / "leaderboard" / "leaderboard.csv").read_bytes() == before


def test_suite_level_is_chosen_on_validation_by_mean_rank():
    def res(valid, metric="accuracy"):
        return {"task": {"primary_metric": metric}, "scores": {"valid": {metric: valid}}}

    by_task = {"a": [res(0.5), res(0.7), res(0.6)], "b": [res(0.3, "mae"), res(0.2, "mae"), res(0.1, "mae")]}
    assert select_suite_level([0.0, 0.5, 0.9], by_task) == 1  # mean ranks 3, 1.5, 1.5 -> first of the tie


def test_entries_file_errors_name_the_file_and_entry(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[entry]]\nname = "X"\nspec = "aac"\n')
    with pytest.raises(EntriesError, match=r"bad.toml: entry 1 \(X\): missing 'training_data'"):
        load_plan(bad)
    assert main(["run", "--entries", str(tmp_path / "absent.toml")]) == 2


def test_a_partial_run_publishes_claims_and_sweeps_rebuilt_from_every_file(tmp_path, capsys):
    """`--only X --publish DIR` replaces X's submission (and sweep results), then rebuilds the sweep tables
    and figures from every result in DIR and re-tests the hypotheses from every submission there: the
    published tables and claims cover every entry, byte for byte as after a full run."""
    enc = DATA / "user_encoders.py"
    path = tmp_path / "entries.toml"
    path.write_text(f'suite = "smoke"\nlevels = [1.0, 2.0]\nreferences = ["{enc}:Composition"]\n'
                    'controls = ["Composition"]\n' + entry_toml("Composition", f"{enc}:Composition")
                    + entry_toml("Per residue", f"{enc}:PerResidue")
                    + entry_toml("Family", f"{enc}:ScaledFamily", sweep="scale") + textwrap.dedent("""
        [[hypothesis]]
        claim = "per-residue pooling beats composition"
        better = "Per residue"
        than = ["Composition"]
        """))
    board = tmp_path / "board"
    assert main(["run", "--entries", str(path), "--out", str(tmp_path / "full"), "--quiet",
                 "--publish", str(board)]) == 0
    derived = [board / "hypotheses.json", board / "hypotheses.md", board / "sweep" / "sweep_summary.json",
               board / "sweep" / "sweep_human_ppi_example.csv", board / "figures" / "sweep_human_ppi_example.png",
               board / "README.md"]
    full = {p: p.read_bytes() for p in derived}
    results = board / "sweep" / "results"
    first = sorted(results.glob("*.json"))[0]
    first.rename(results / "named-by-an-older-version.json")  # results are found by content, not name
    stale = json.loads((results / "named-by-an-older-version.json").read_text())
    stale["encoder"]["config"]["from"] = "an earlier checkpoint"
    (results / "stale.json").write_text(json.dumps(stale))
    for only in ("Composition", "Family"):
        for p in derived:
            p.unlink()
        assert main(["run", "--entries", str(path), "--out", str(tmp_path / only), "--quiet", "--only", only,
                     "--publish", str(board)]) == 0
        assert "skipped (its entries were not evaluated)" in capsys.readouterr().out  # the partial run's own report
        assert {p: p.read_bytes() for p in derived} == full, only
    assert not list((board / "sweep").glob("*.png"))  # figures live under figures/ only, as after a full run
    assert not (results / "stale.json").exists()  # the family's re-run removed its other configuration
    # with an entry's submission gone, the re-test names it and says how to make it
    (board / "submissions" / "per-residue.smoke.json").unlink()
    assert main(["run", "--entries", str(path), "--out", str(tmp_path / "part"), "--quiet", "--only", "Composition",
                 "--publish", str(board)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lsdbench: error: ") and "no submission for entry 'Per residue'" in err


def _without_timings(path: Path) -> bytes:
    """A file's bytes, with a result's or submission's timings (this run's seconds, and whether its probe
    outcome came from the cache) blanked."""
    if path.suffix == ".png":
        return path.read_bytes()
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'("(?:embed_s|fit_s)": ?)[0-9.e+-]+', r"\1T", text)
    return re.sub(r'("probe_reused": ?)(?:true|false)', r"\1T", text).encode()


def _same_files(made: Path, expected: Path, pattern: str) -> int:
    paths = sorted(p.relative_to(expected) for p in expected.glob(pattern) if p.is_file())
    assert paths and paths == sorted(p.relative_to(made) for p in made.glob(pattern) if p.is_file())
    for rel in paths:
        assert _without_timings(made / rel) == _without_timings(expected / rel), f"{rel} differs"
    return len(paths)


def test_main_job_in_memory_writes_what_the_step_by_step_file_path_writes(tmp_path, capsys):
    """The main job keeps its results in memory and validates each once; the same job done the way the
    main job used to do it, one documented command at a time through files (sweep, level chosen from the
    files, eval, submit, build, claims re-tested from the submissions), gives the same bytes from the
    same warm cache: results, sweep tables, figures, submissions, leaderboard and claims (timings aside)."""
    from lsdbench.leaderboard.validate import TaskLoader
    from lsdbench.results.result import read_result
    from lsdbench.run.benchmark import select_suite_level
    from lsdbench.run.entries import load_plan
    from lsdbench.run.publish import retest_hypotheses

    path = entries(tmp_path)
    path.write_text(path.read_text() + textwrap.dedent("""
        [[hypothesis]]
        claim = "the family beats composition"
        better = "Family"
        than = ["Composition"]
        """))
    plan = load_plan(path)
    # a first run fills the caches, so both ways below read them (a result records what its run encoded)
    assert main(["run", "--entries", str(path), "--out", str(tmp_path / "first"), "--quiet"]) == 0
    run = tmp_path / "run"
    assert main(["run", "--entries", str(path), "--out", str(run), "--quiet"]) == 0
    enc = DATA / "user_encoders.py"
    steps = tmp_path / "steps"
    assert main(["sweep", "--encoder", f"{enc}:ScaledFamily", "--t", "1,2", "--reference", f"{enc}:Composition",
                 "--suite", "smoke", "--out", str(steps / "sweep"), "--quiet"]) == 0
    level_files = {task.name: sorted((steps / "sweep" / "results").glob(f"test_family-*__{task.name}__linear.json"))
                   for task in registry.list_cards("smoke")}
    by_task = {task: sorted((read_result(p) for p in files), key=lambda r: r["encoder"]["config"]["scale"])
               for task, files in level_files.items()}
    star = select_suite_level(list(plan.levels), by_task)
    chosen = steps / "results" / "family"
    chosen.mkdir(parents=True)
    for files in level_files.values():
        for p in files:
            if read_result(p)["encoder"]["config"]["scale"] == plan.levels[star]:
                shutil.copyfile(p, chosen / p.name)
    assert main(["eval", "--encoder", f"{enc}:Composition", "--suite", "smoke", "--out",
                 str(steps / "results" / "composition"), "--quiet"]) == 0
    for name, folder, params in (("Composition", "composition", "0"), ("Family", "family", "0")):
        assert main(["leaderboard", "submit", "--results", str(steps / "results" / folder), "--suite", "smoke",
                     "--name", name, "--out", str(steps / "submissions" / f"{folder}.smoke.json"),
                     "--meta", f"parameters={params}", "--meta", "training_data=none", "--meta", "licence=MIT",
                     "--meta", f"link=https://example.org/{folder}"]) == 0
    figures = steps / "figures"
    figures.mkdir()
    for png in (steps / "sweep").glob("sweep_*.png"):
        shutil.copyfile(png, figures / png.name)
    assert main(["leaderboard", "build", "--submissions", str(steps / "submissions"), "--out",
                 str(steps / "leaderboard"), "--figures", str(figures)]) == 0
    retest_hypotheses(plan, steps / "submissions", steps / "leaderboard", loader=TaskLoader())
    capsys.readouterr()
    checked = sum(_same_files(run / part, steps / part, pattern) for part, pattern in (
        ("sweep", "results/*.json"), ("sweep", "sweep_*"), ("results", "*/*.json"), ("submissions", "*.json"),
        ("figures", "*.png"), ("leaderboard", "*")))
    assert checked >= 15  # every kind of file of the run, each compared


INTERRUPTING = '''
import numpy as np


class Interrupting:
    """Encodes its first batch (the plan's timing), then stops the run as Ctrl-C would."""

    name = "test_interrupting"
    config = {}

    def __init__(self):
        self.calls = 0

    def encode(self, sequences):
        self.calls += 1
        if self.calls > 1:
            raise KeyboardInterrupt
        return np.ones((len(sequences), 3), dtype=np.float32)
'''


def test_an_interrupted_run_leaves_a_valid_partial_leaderboard_naming_its_pending_entries(tmp_path, capsys):
    """The main job runs its cheap entries first and its sweeps last, rewriting each submission and the
    leaderboard as each entry finishes: stopped in the middle, it leaves what it finished, valid, and a
    leaderboard that names what is pending; a run that finishes writes no such note."""
    enc = DATA / "user_encoders.py"
    (tmp_path / "interrupting.py").write_text(INTERRUPTING)
    path = tmp_path / "entries.toml"
    path.write_text('suite = "smoke"\nlevels = [1.0, 2.0]\n'  # the sweep first in the file: it still runs last
                    + entry_toml("Family", f"{enc}:ScaledFamily", sweep="scale")
                    + entry_toml("Composition", f"{enc}:Composition")
                    + entry_toml("Interrupting", f"{tmp_path / 'interrupting.py'}:Interrupting"))
    out, cache = tmp_path / "run", tmp_path / "cache"  # a cache of its own: no recorded rate, no embeddings
    assert main(["run", "--entries", str(path), "--out", str(out), "--cache-dir", str(cache), "--quiet"]) == 130
    text = capsys.readouterr().out
    assert "leaderboard rewritten (1 entries; pending: Interrupting, Family)" in text
    assert [p.name for p in (out / "submissions").glob("*.json")] == ["composition.smoke.json"]
    validate_submission(out / "submissions" / "composition.smoke.json")
    board = out / "leaderboard"
    readme = (board / "README.md").read_text()
    assert "Partial leaderboard" in readme and "Pending entries: Interrupting, Family." in readme
    assert "[Composition](https://example.org/composition)" in readme
    assert 'id="pending"' in (board / "index.html").read_text()
    rows = (board / "leaderboard.csv").read_text().splitlines()
    assert len(rows) == 2 and ",Composition," in rows[1]
    assert not (board / "hypotheses.md").exists()
    # the same out folder, finished (the cheap entry only): no pending note is left behind
    assert main(["run", "--entries", str(path), "--out", str(out), "--cache-dir", str(cache), "--quiet",
                 "--only", "Composition"]) == 0
    assert "Partial" not in (board / "README.md").read_text()
    assert 'id="pending"' not in (board / "index.html").read_text()


def test_extended_entries_run_only_when_asked_or_named():
    """Hours of controls (random-denoiser sweeps, the faithful readings' sweeps) stay out of the default
    main job: `lsdbench run --extended` or `--only NAME` runs them."""
    from lsdbench.run.benchmark import build_encoders
    from lsdbench.run.entries import Entry, Plan, load_plan

    plan = Plan("open", (0.0,), (), (Entry("AAC", "aac"), Entry("Length", "length", extended=True)))
    assert [e.name for e in build_encoders(plan, None, {})[0]] == ["AAC"]
    assert [e.name for e in build_encoders(plan, None, {}, extended=True)[0]] == ["AAC", "Length"]
    assert [e.name for e in build_encoders(plan, ["Length"], {})[0]] == ["Length"]
    committed = load_plan(Path(__file__).resolve().parents[1] / "leaderboard" / "entries.toml")
    extended = {e.name for e in committed.entries if e.extended}
    assert extended and all("random denoiser" in n or n.endswith("diffusion") for n in extended)
