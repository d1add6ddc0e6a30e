"""Stage 2, encode: an encoder and a task's sequences in; pooled embeddings in a verified cache out.

Encoder resolution and output checks (``encoders``), token-budget and bucketed batching, precision,
the sharded embedding cache and its verification, cost and throughput records.
"""

from lsdbench import lazy_exports

_EXPORTS = {
    "EncoderError": "lsdbench.encode.encoders",
    "resolve": "lsdbench.encode.encoders",
    "parse_options": "lsdbench.encode.encoders",
    "token_budget_batches": "lsdbench.encode.batching",
    "token_budget_bounds": "lsdbench.encode.batching",
    "batching_mode": "lsdbench.encode.buckets",
    "bucket_batches": "lsdbench.encode.buckets",
    "fill_rows": "lsdbench.encode.buckets",
    "PRECISIONS": "lsdbench.encode.precision",
    "PrecisionError": "lsdbench.encode.precision",
    "autocast": "lsdbench.encode.precision",
    "record": "lsdbench.encode.precision",
    "require": "lsdbench.encode.precision",
    "embed": "lsdbench.encode.embedding",
    "embed_sweep": "lsdbench.encode.embedding",
    "EmbeddingCache": "lsdbench.encode.cache",
    "describe_encoder": "lsdbench.encode.info",
    "list_encoders": "lsdbench.encode.info",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
