"""Names and defaults of the paired tests and their corrections: a module of constants with no imports,
so the command line can offer them as choices without loading scipy (``lsdbench --help`` under 0.5 s)."""

METHODS = ("bootstrap", "permutation", "mcnemar")  # paired tests of two results on the same test items
CORRECTIONS = ("holm", "bh", "none")  # multiple-testing corrections over one family of comparisons
FAMILIES = ("all", "pair", "task")  # what one family of a compare call holds: all, one A-vs-B pair, one task
VERDICTS = ("better", "worse", "not distinguishable")
DEFAULT_RESAMPLES = 10_000  # bootstrap resamples / permutations of a paired test
