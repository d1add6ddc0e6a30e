"""Evaluate a user's encoder from pytest with lsdbench's fixtures (the plugin ships with the package).

Run: ``pytest examples/test_my_encoder.py``. The data comes through pooch (set LSDBENCH_MIRROR to use
an offline mirror); embeddings are cached, so a rerun costs no forward pass.
"""

from my_encoder import CompositionPlusDipeptide


def test_my_encoder_beats_sequence_length_on_membrane_vs_soluble(lsdbench_evaluate, lsdbench_assert_beats):
    mine = lsdbench_evaluate(CompositionPlusDipeptide(), "binary_localization_small")
    baseline = lsdbench_evaluate("length", "binary_localization_small")
    comparison = lsdbench_assert_beats(mine, baseline, alpha=0.05)  # paired bootstrap on the same test items
    assert comparison.delta > 0


def test_my_encoder_result_is_complete(lsdbench_evaluate, lsdbench_task):
    task = lsdbench_task("human_ppi_example")
    result = lsdbench_evaluate(CompositionPlusDipeptide(), task)
    assert result["encoder"]["dim"] == 420
    assert result["predictions"]["ids"] == task.splits["test"].ids
