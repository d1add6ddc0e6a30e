"""Baseline encoders for lsdbench, registered under the entry-point group ``lsdbench.encoders``.

Composition controls (numpy only, :mod:`baselines.composition`):

- ``aac``: amino-acid composition, 20-d.
- ``dpc``: dipeptide composition, 400-d.
- ``kmer``: hashed overlapping 3-mer counts, ``dim``-d (default 1024).
- ``onehot_mean``: mean one-hot over the 25-letter alphabet, 25-d.
- ``length``: ``[log L, L]``, 2-d: the floor any representation must clear.

Neural controls and third-party models (torch):

- ``random_transformer`` (:mod:`baselines.random_transformer`): an untrained pre-LN transformer
  (d = 256, 4 layers, 4 heads, seed 0), mean-pooled: the standard untrained control, 256-d.
- ``esm2`` (:mod:`baselines.esm2`): ESM-2 through Hugging Face ``transformers`` (extra ``esm``),
  ``checkpoint`` and ``layer`` options, mean over real residues, ``max_length`` 1022.

Resolve them by name: ``lsdbench.encode.encoders.resolve("aac")``, or ``lsdbench eval --encoder aac``.
Submodules are imported on demand, so ``import baselines`` costs nothing. See ``baselines/README.md``.
"""

ENCODERS = {
    "aac": "baselines.composition:AAC",
    "dpc": "baselines.composition:DPC",
    "kmer": "baselines.composition:KmerHash",
    "onehot_mean": "baselines.composition:OneHotMean",
    "length": "baselines.composition:LengthOnly",
    "random_transformer": "baselines.random_transformer:RandomTransformer",
    "esm2": "baselines.esm2:ESM2",
}
