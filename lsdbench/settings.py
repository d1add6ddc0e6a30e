"""Where lsdbench keeps downloads and embeddings, where it looks for a data mirror, and the limits it
puts on every input (docs/LIMITS.md lists them).

Precedence for each setting: explicit argument > environment variable > default.

A small input must never buy a large amount of memory, time or trust, so each input that enters from
outside (a pickled record, a shard count, a completion marker) is checked against a named ``Limit``
here, and the error that refuses it names the limit and, where a real user could need more, the
environment variable that raises it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pooch

from lsdbench import LAUNCH_DIR
from lsdbench.errors import UserError

CACHE_ENV = "LSDBENCH_CACHE_DIR"
MIRROR_ENV = "LSDBENCH_MIRROR"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Root of the lsdbench cache (downloads under ``data/``, embeddings under ``embeddings/``)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(pooch.os_cache("lsdbench"))


def mirror(override: str | os.PathLike | None = None) -> str | None:
    """A mirror tried before the canonical URLs: a local directory or a base URL, laid out as HOST/PATH.

    A relative directory in ``LSDBENCH_MIRROR`` is taken from the directory the process started in, so
    code that changes directory later (a notebook, a test in tmp_path) still finds it."""
    if override:
        return str(override)
    value = os.environ.get(MIRROR_ENV) or None
    if value and "://" not in value and not Path(value).is_absolute():
        value = str((Path(LAUNCH_DIR) / value).resolve())
    return value


@dataclass(frozen=True)
class Limit:
    name: str
    default: int
    what: str
    env: str | None = None  # the variable that overrides it, where a real user could need more

    def value(self) -> int:
        """The limit in force: the environment override if set (a positive integer), else the default."""
        raw = os.environ.get(self.env) if self.env else None
        if not raw:
            return self.default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value <= 0:
            raise UserError(f"{self.env}={raw[:40]!r} is not a positive integer; unset it or give one")
        return value

    def hint(self) -> str:
        return f"limit {self.name} = {self.value():,}" + (f"; raise it with {self.env}" if self.env else "")


PICKLE_RECORD_BYTES = Limit("pickle_record_bytes", 64 * 2**20, "bytes of one pickled LMDB record, checked before loading")
PICKLE_DEPTH = Limit("pickle_depth", 64, "nesting depth of one unpickled record")
RESULT_FILE_BYTES = Limit("result_file_bytes", 64 * 2**20, "bytes of one result file, checked before parsing")
SUBMISSION_FILE_BYTES = Limit("submission_file_bytes", 64 * 2**20,
                              "bytes of one submission file, checked before parsing (`leaderboard validate --max-mib` raises it)")
PICKLE_EXPANDED_BYTES = Limit(
    "pickle_expanded_bytes", 256 * 2**20,
    "estimated size of one unpickled record with shared parts counted each time they are referenced "
    "(8 bytes per item plus string and array bytes)", "LSDBENCH_MAX_RECORD_BYTES")
SHARD_COUNT = Limit(
    "shard_count", 100_000,
    "shards (--shard I/N, SLURM_ARRAY_TASK_COUNT, a completion marker's count) one cache entry may have",
    "LSDBENCH_MAX_SHARDS")
CACHE_FILE_BYTES = Limit(
    "cache_marker_bytes", 1 * 2**20, "bytes of one cache entry's small metadata file (encoder.json, marker)")

DELIMITED_FIELD_CHARS = Limit("delimited_field_chars", 131_072,
                              "characters of one CSV/TSV field (the csv module's limit; the longest protein is "
                              "~35,000 residues)")
CORPUS_RECORD_BYTES = Limit("corpus_record_bytes", 4 * 2**20,
                            "bytes of one FASTA record read by `lsd-train data` (the longest protein, titin, is "
                            "~36 KB); what a long run without a header may hold in memory", "LSD_TRAIN_MAX_RECORD_BYTES")
URL_TIMEOUT_S = Limit("url_timeout_s", 60, "seconds a corpus URL may take to connect or to send the next bytes",
                      "LSD_TRAIN_URL_TIMEOUT")
URL_MIN_RATE = Limit("url_min_bytes_per_s", 1024,
                     "average transfer rate a corpus URL must keep after its first url_timeout_s seconds",
                     "LSD_TRAIN_URL_MIN_RATE")

LIMITS = (PICKLE_RECORD_BYTES, PICKLE_DEPTH, PICKLE_EXPANDED_BYTES, RESULT_FILE_BYTES, SUBMISSION_FILE_BYTES,
          DELIMITED_FIELD_CHARS, SHARD_COUNT, CACHE_FILE_BYTES, CORPUS_RECORD_BYTES, URL_TIMEOUT_S, URL_MIN_RATE)


def limits_table() -> str:
    """The limits as a Markdown table (docs/LIMITS.md embeds it; a test keeps them in step)."""
    rows = ["| limit | default | what it bounds | override |", "|---|---|---|---|"]
    for limit in LIMITS:
        rows.append(f"| `{limit.name}` | {limit.default:,} | {limit.what} | {limit.env or '-'} |")
    return "\n".join(rows) + "\n"
