"""The pytest plugin shipped with lsdbench, run as a user would run it (in a subprocess)."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]
DATA = Path(__file__).parent / "data"


def test_one_test_per_task_and_results_written(pytester, tmp_path):
    out = tmp_path / "results"
    result = pytester.runpytest_subprocess(
        "--lsdbench-encoder", f"{DATA / 'user_encoders.py'}:Composition", "--lsdbench-task", "human_ppi_example",
        "--lsdbench-task", "binary_localization_small", "--lsdbench-out", str(out), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([r"collected 2 items", r".*lsdbench scores.*",
                                  r".*human_ppi_example: accuracy = 0\.\d{4}  \(95% CI \[[01]\.\d{4}, [01]\.\d{4}\]\)"])
    # (36 test pairs of few proteins: the protein bootstrap of a pair task can span [0, 1] here)
    assert "deselected" not in result.stdout.str()
    assert len(list(out.glob("*.json"))) == 2


def test_a_misbehaving_encoder_fails_with_its_error(pytester):
    result = pytester.runpytest_subprocess(
        "--lsdbench-encoder", f"{DATA / 'user_encoders.py'}:Broken", "--lsdbench-task", "human_ppi_example",
        "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_broken*human_ppi_example*NaN*"])


def test_an_unknown_task_is_a_one_line_collection_error(pytester):
    result = pytester.runpytest_subprocess(
        "--lsdbench-encoder", "aac", "--lsdbench-task", "no_such_task", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*lsdbench: *no_such_task*"])
    assert "Traceback" not in result.stdout.str()


def test_fixtures_evaluate_and_assert_beats(pytester):
    pytester.makepyfile(test_user=f"""
        import sys
        sys.path.insert(0, {str(DATA)!r})
        from user_encoders import Composition, ScaledFamily

        def test_scores(lsdbench_evaluate, lsdbench_assert_beats, lsdbench_task):
            task = lsdbench_task("binary_localization_small")
            good = lsdbench_evaluate(Composition(), task)
            same = lsdbench_evaluate(Composition(scale=3.0), task)
            try:
                lsdbench_assert_beats(same, good)
            except AssertionError as exc:
                assert "does not beat" in str(exc) and "p =" in str(exc)
            else:
                raise AssertionError("an encoder equal up to scale cannot significantly beat itself")
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
