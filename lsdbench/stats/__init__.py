"""Paired significance tests between two results on the same test items, and multiple-testing corrections.

Leaderboards in this field often rank models whose differences are noise. Two results of one task
were scored on the same test items, so their difference is tested *paired*: every resample or
permutation acts on whole items, for both results at once (and for every seed of an MLP probe).

Where each part lives:

- ``paired``: ``paired_test`` / ``PairedComparison``, and the conventions of the test (delta, CI, methods).
- ``many``: ``compare_many`` (a reference against every other result, one corrected family) and the
  display labels that tell results apart (``disambiguated_labels``, ``group_key``).
- ``multiple``: ``holm``, ``benjamini_hochberg``, ``adjust``, the ``verdict`` on an adjusted p, and ``judge`` (a family: adjust, then verdicts).
- ``elementary``: ``mcnemar_exact`` and ``bootstrap_pvalue``.
- ``resampling``: the bootstrap resample stream (``resample_indices``, ``bootstrap_scores``,
  ``bootstrap_ci``, ``bootstrap_deltas``) and ``permutation_pvalue``.
- ``weighted``: a result's metric on whole batches of resamples, through the batched forms of the metric
  registry ``metrics.METRICS`` (checked against the plain form before use).
- ``predictions``: a result's per-item predictions as arrays and the checks that two are comparable.
"""

from __future__ import annotations

from .elementary import bootstrap_pvalue, mcnemar_exact
from .many import compare_many, disambiguated_labels, group_key
from .multiple import CORRECTIONS, VERDICTS, adjust, benjamini_hochberg, holm, judge, verdict
from .paired import METHODS, PairedComparison, paired_test
from .predictions import CLASSIFICATION, ComparisonError, result_label
from .resampling import (
    DEFAULT_RESAMPLES,
    bootstrap_ci,
    bootstrap_deltas,
    bootstrap_scores,
    permutation_pvalue,
    resample_indices,
)

# the names and defaults the command line offers live in lsdbench.significance, which imports nothing

__all__ = [
    "CLASSIFICATION",
    "CORRECTIONS",
    "DEFAULT_RESAMPLES",
    "METHODS",
    "VERDICTS",
    "ComparisonError",
    "PairedComparison",
    "adjust",
    "benjamini_hochberg",
    "bootstrap_ci",
    "bootstrap_deltas",
    "bootstrap_pvalue",
    "bootstrap_scores",
    "compare_many",
    "disambiguated_labels",
    "group_key",
    "holm",
    "mcnemar_exact",
    "paired_test",
    "permutation_pvalue",
    "resample_indices",
    "result_label",
    "judge",
    "verdict",
]
