"""Every file and folder name lsdbench derives from a user's text, in one place.

Three rules, each for a name that files already exist under, so none can change without orphaning
them (committed results and submissions, users' caches):

- ``run_name`` / ``result_filename``: result files and result folders. Readable and case-preserving
  (``lsd_tn_diffusion-t0.5-<config hash>``); any other character becomes ``-``, and a name that lost
  characters gets a hash of the exact name, so ``my enc`` and ``my/enc`` never share a file.
- ``cache_folder``: an encoder's folder in the embedding cache. The same idea with ``_``, kept so
  that caches filled by earlier versions stay valid.
- ``public_slug`` / ``submission_filename``: a leaderboard entry's id, in file names, URLs and HTML
  anchors: lower case ``a-z0-9-`` only, and refused (not hashed) when nothing usable is left, since
  the submitter chooses it.
"""

from __future__ import annotations

import hashlib
import json
import re

from lsdbench.errors import UserError

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
SUITE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # as the submission schema's "suite" pattern
# Config entries shown in result names besides the hash: the noise level t is what tells the files of
# one sweep apart, and a reader should not have to open them to find it.
NAMED_PARAMS = ("t",)
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CACHE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class UnsafeName(UserError, ValueError):
    """No safe name can be made from the text (the leaderboard re-raises it as a SubmissionError)."""


def _hash8(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def config_hash(config: dict) -> str:
    """Short, stable hash of an encoder config (canonical JSON), used in file names and grouping."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def file_part(text: str) -> str:
    """``text`` with every run of characters other than ``A-Za-z0-9._-`` replaced by ``-``."""
    return _FILE_UNSAFE.sub("-", text).strip("-") or "x"


def run_name(encoder_name: str, config: dict) -> str:
    """``<encoder>[-t0.5]-<confighash>``: one encoder configuration, as in file and folder names."""
    named = "".join(f"-{file_part(f'{k}{config[k]}')}" for k in NAMED_PARAMS
                    if isinstance(config.get(k), (int, float, str)) and not isinstance(config.get(k), bool))
    slug = file_part(encoder_name)
    if slug != encoder_name:  # 'my enc' and 'my/enc' share a slug: the exact name's hash keeps them apart
        slug += "-" + _hash8(encoder_name, 8)
    return f"{slug}{named}-{config_hash(config)}"


def result_filename(encoder_name: str, config: dict, task: str, probe: str) -> str:
    """``<encoder>[-t0.5]-<confighash>__<task>__<probe>.json``: distinct configs never overwrite each other."""
    return f"{run_name(encoder_name, config)}__{file_part(task)}__{file_part(probe)}.json"


def cache_folder(name: str) -> str:
    """An encoder's folder under ``embeddings/``: never a path of its own (``..``, ``a/b``).

    Names that are already safe keep their folder (existing caches stay valid); any other name gets
    its safe form plus a hash of the exact name, so ``my enc`` and ``my/enc`` never share a folder.
    """
    safe = _CACHE_UNSAFE.sub("_", name)
    if safe == name and not name.startswith("."):
        return name
    return f"{safe.strip('.') or '_'}-{_hash8(name, 12)}"


def public_slug(name: str) -> str:
    """A leaderboard entry's id: lower case, other characters collapsed to ``-``; UnsafeName when
    nothing safe is left. The result always matches SLUG_RE."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")
    if not SLUG_RE.match(slug):
        raise UnsafeName(f"encoder name {name!r} gives no usable file name (slug {slug!r} must match "
                         f"{SLUG_RE.pattern})")
    return slug


def submission_filename(name_slug: str, suite: str) -> str:
    """The one file name a submission may have in the submissions folder: ``<slug>.<suite>.json``."""
    if not SLUG_RE.match(name_slug) or not SUITE_RE.match(suite):
        raise UnsafeName(f"no safe file name for encoder slug {name_slug!r} and suite {suite!r}")
    return f"{name_slug}.{suite}.json"
