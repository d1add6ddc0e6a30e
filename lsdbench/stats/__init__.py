"""Foundation, stats: paired significance tests between two results on the same test items, and multiple-testing corrections.

Leaderboards in this field often rank models whose differences are noise. Two results of one task
were scored on the same test items, so their difference is tested *paired*: every resample or
permutation acts on whole items, for both results at once (and for every seed of an MLP probe).

Where each part lives:

- ``paired``: ``paired_test`` / ``PairedComparison``, and the conventions of the test (delta, CI, methods).
- ``many``: ``compare_many`` (a reference against every other result, corrected by family) and the
  display labels that tell results apart (``disambiguated_labels``, ``group_key``).
- ``multiple``: ``holm``, ``benjamini_hochberg``, ``adjust``, the ``verdict`` on an adjusted p, and ``judge`` (a family: adjust, then verdicts).
- ``elementary``: ``mcnemar_exact`` and ``bootstrap_pvalue``.
- ``resampling``: the bootstrap resample stream (``resample_indices``, ``bootstrap_scores``,
  ``bootstrap_ci``, ``bootstrap_deltas``) and ``permutation_pvalue``.
- ``weighted``: a result's metric on whole batches of resamples, through the batched forms of the metric
  registry ``metrics.METRICS`` (checked against the plain form before use).
- ``predictions``: a result's per-item predictions as arrays and the checks that two are comparable.
"""


from lsdbench import lazy_exports

# the names and defaults the command line offers live in lsdbench.stats.significance, which imports nothing
_EXPORTS = {
    "bootstrap_pvalue": "lsdbench.stats.elementary",
    "mcnemar_exact": "lsdbench.stats.elementary",
    "FAMILIES": "lsdbench.stats.significance",
    "compare_many": "lsdbench.stats.many",
    "disambiguated_labels": "lsdbench.stats.many",
    "group_key": "lsdbench.stats.many",
    "CORRECTIONS": "lsdbench.stats.multiple",
    "VERDICTS": "lsdbench.stats.multiple",
    "adjust": "lsdbench.stats.multiple",
    "benjamini_hochberg": "lsdbench.stats.multiple",
    "holm": "lsdbench.stats.multiple",
    "judge": "lsdbench.stats.multiple",
    "verdict": "lsdbench.stats.multiple",
    "METHODS": "lsdbench.stats.paired",
    "PairedComparison": "lsdbench.stats.paired",
    "paired_test": "lsdbench.stats.paired",
    "CLASSIFICATION": "lsdbench.stats.predictions",
    "ComparisonError": "lsdbench.stats.predictions",
    "result_label": "lsdbench.stats.predictions",
    "DEFAULT_RESAMPLES": "lsdbench.stats.resampling",
    "bootstrap_ci": "lsdbench.stats.resampling",
    "bootstrap_deltas": "lsdbench.stats.resampling",
    "bootstrap_scores": "lsdbench.stats.resampling",
    "permutation_pvalue": "lsdbench.stats.resampling",
    "resample_indices": "lsdbench.stats.resampling",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
