"""Verified downloads through pooch, with an offline mirror tried before the canonical URL.

A mirror is a local directory or a base URL laid out as ``MIRROR/HOST/PATH`` for ``https://HOST/PATH``
(the path exactly as in the URL, ``%20`` kept). Files land in ``CACHE/data/HOST/PATH``, the same
layout, so ``lsdbench mirror export`` is a copy of what the cache holds. Archive members are extracted
under ``CACHE/extracted/`` and re-verified on every load (``extract_member``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

import pooch

from lsdbench import settings
from lsdbench.atomic import atomic_copy
from lsdbench.errors import UserError

pooch.get_logger().setLevel(logging.WARNING)  # its "Downloading" lines would name the URL, not the mirror
log = logging.getLogger(__name__)


class FetchError(UserError, RuntimeError):
    """A file could not be obtained from the mirror or its canonical URL."""


class HashMismatchError(FetchError):
    """A file's content does not match the hash its task card pins; it is never parsed or used."""

    def __init__(self, file: str, expected: str, actual: str, extra: str = ""):
        self.file, self.expected, self.actual = file, expected, actual
        super().__init__(
            f"hash mismatch for {file}: expected {expected}, got {actual}. The file is truncated or "
            f"altered and was not used.{extra}"
        )


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"{algorithm}:{h.hexdigest()}"


def url_relpath(url: str) -> str:
    """``https://HOST/PATH`` -> ``HOST/PATH`` with the path exactly as written in the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ftp") or not parts.netloc:
        raise FetchError(f"not a downloadable URL: {url!r}")
    rel = PurePosixPath(parts.netloc + parts.path)
    if ".." in rel.parts:
        raise FetchError(f"refusing URL with '..' in its path: {url!r}")
    return str(rel)


def cached_path(url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    return settings.cache_dir(cache_dir) / "data" / url_relpath(url)


def _candidates(url: str, mirror: str | None) -> list[tuple[str, str]]:
    """(label, location) pairs in the order tried: mirror first, then the canonical URL."""
    out = []
    if mirror:
        if mirror.startswith(("http://", "https://")):
            # The mirror's files are named with the URL's path verbatim ("%20" kept), so over HTTP
            # that name itself is percent-encoded ("%2520").
            out.append(("mirror", mirror.rstrip("/") + "/" + quote(url_relpath(url), safe="/")))
        else:
            base = mirror[len("file://"):] if mirror.startswith("file://") else mirror
            out.append(("mirror", str(Path(base).expanduser() / url_relpath(url))))
    out.append(("url", url))
    return out


def _copy_downloader(source: str):
    def download(url, output_file, pooch_obj):  # pooch's downloader signature
        if not os.path.exists(source):
            raise FileNotFoundError(f"not in mirror: {source}")
        with open(source, "rb") as src, open(output_file, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return download


def fetch_url(url: str, known_hash: str, *, cache_dir=None, mirror=None, progress: bool = True) -> Path:
    """Return a verified local copy of ``url``, fetching it from the mirror or the URL if needed."""
    target = cached_path(url, cache_dir)
    algorithm = known_hash.split(":")[0]
    if target.exists():
        actual = file_hash(target, algorithm)
        if actual == known_hash:
            return target
        # A corrupted cache entry is reported, discarded and fetched again from a good source.
        log.warning("cached %s has %s, expected %s; fetching it again", target, actual, known_hash)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    mirror = settings.mirror(mirror)
    failures: list[str] = []
    mismatch: HashMismatchError | None = None
    for label, location in _candidates(url, mirror):
        seen: dict[str, str] = {}
        local = label == "mirror" and not location.startswith(("http://", "https://"))
        fetch_one = _copy_downloader(location) if local else pooch.HTTPDownloader(progressbar=progress, timeout=30)

        def downloader(_url, output_file, pooch_obj, _fetch=fetch_one, _loc=location, _seen=seen):
            _fetch(_loc, output_file, pooch_obj)
            _seen["actual"] = file_hash(output_file, algorithm)

        try:
            # pooch writes to a temporary file, checks the hash, and only then moves it into place.
            path = pooch.retrieve(url, known_hash=known_hash, fname=target.name, path=target.parent,
                                  downloader=downloader)
            return Path(path)
        except ValueError as exc:
            if "actual" in seen and seen["actual"] != known_hash:
                mismatch = HashMismatchError(location, known_hash, seen["actual"])
                failures.append(str(mismatch))
            else:
                failures.append(f"{label} {location}: {exc}")
        except Exception as exc:  # network errors, missing mirror files
            failures.append(f"{label} {location}: {type(exc).__name__}: {exc}")
    how = (" Set LSDBENCH_MIRROR (or --mirror) to a directory or base URL laid out as HOST/PATH, "
           "e.g. LSDBENCH_MIRROR=../shared/mirror, or fix network access.")
    detail = "\n  ".join(failures)
    if mismatch is not None:
        raise HashMismatchError(mismatch.file, known_hash, mismatch.actual, extra=f"\n  tried:\n  {detail}")
    raise FetchError(f"could not fetch {url}\n  tried:\n  {detail}\n{how}")


def _safe_member_path(root: Path, name: str) -> Path:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts:
        raise FetchError(f"archive member {name!r} escapes the extraction folder; refusing it")
    return root.joinpath(*pure.parts)


MANIFEST = "manifest.json"


def _copy_hashed(src, dst_path: Path) -> str:
    """Copy a stream to a new file; the sha256 of what was written (recorded at extraction)."""
    h = hashlib.sha256()
    with open(dst_path, "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            h.update(block)
            dst.write(block)
    return f"sha256:{h.hexdigest()}"


def _extracted_problem(slot: Path) -> str | None:
    """None when ``slot/files`` holds exactly the files of ``slot/manifest.json`` with their hashes,
    else what differs (in words)."""
    try:
        recorded = json.loads((slot / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "has no readable manifest of the hashes recorded at extraction"
    files = slot / "files"
    present = {p.relative_to(files).as_posix(): p for p in files.rglob("*") if p.is_file()} if files.is_dir() else {}
    for name in sorted(set(recorded) | set(present)):
        if name not in present:
            return f"lost {name}"
        if name not in recorded:
            return f"gained {name}, which the archive does not hold there"
        actual = file_hash(present[name])
        if actual != recorded[name]:
            return f"has an altered {name} ({actual}, extracted as {recorded[name]})"
    return None


def extract_member(archive: Path, member: str, cache_dir=None) -> Path:
    """Extract ``member`` (a file, or a folder such as an LMDB database) of a zip or tar archive.

    Each member has its own folder ``extracted/<archive>-<sha256>/<member hash>/`` holding ``files/<member>``
    and a manifest with the sha256 of every file written, so members of one archive never evict each other.
    Every call re-hashes the extracted files against the manifest: the archive is verified on fetch, and
    what is read is re-checked here, so a file edited (or added, or lost) after extraction is reported and
    the member extracted again. Extraction goes to a temporary folder renamed into place, so a killed run
    leaves nothing half-written.
    """
    archive_hash = file_hash(archive)
    prefix = member.rstrip("/")
    slot = (settings.cache_dir(cache_dir) / "extracted" / f"{archive.name}-{archive_hash[len('sha256:'):][:16]}"
            / hashlib.sha256(prefix.encode()).hexdigest()[:16])
    dest = _safe_member_path(slot / "files", prefix)
    stale = slot.exists()
    if stale:
        problem = _extracted_problem(slot)
        if problem is None:
            return dest
        log.warning("extracted member %r of %s %s; extracting it again from the verified archive (%s)",
                    member, archive, problem, slot)
    slot.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=slot.parent, prefix=".extract-"))
    try:
        hashes = _extract_into(archive, member, prefix, tmp / "files")
        (tmp / MANIFEST).write_text(json.dumps({"archive": archive_hash, "member": member,
                                                "files": hashes}, indent=1, sort_keys=True))
        _install(tmp, slot, stale)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _install(tmp: Path, slot: Path, stale: bool) -> None:
    """Rename a finished extraction into place. Only a slot found altered is moved aside first (a folder cannot
    be replaced while it has files); one that appeared meanwhile was put there by another process (shards
    loading the task at once) and is kept, since that process may be reading it."""
    if stale and slot.exists():
        old = Path(tempfile.mkdtemp(dir=slot.parent, prefix=".stale-"))
        os.replace(slot, old / "slot")
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(tmp, slot)
    except OSError:
        if _extracted_problem(slot) is not None:
            raise


def _extract_into(archive: Path, member: str, prefix: str, root: Path) -> dict[str, str]:
    """Write ``member`` of ``archive`` under ``root``; returns {path under root: sha256} of the files written."""
    hashes: dict[str, str] = {}

    def write(name: str, src) -> None:
        out = _safe_member_path(root, name)
        out.parent.mkdir(parents=True, exist_ok=True)
        hashes[out.relative_to(root).as_posix()] = _copy_hashed(src, out)

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.filename.rstrip("/") == prefix or info.filename.startswith(prefix + "/"):
                    if info.is_dir():
                        _safe_member_path(root, info.filename).mkdir(parents=True, exist_ok=True)
                        continue
                    with zf.open(info) as src:
                        write(info.filename, src)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            for info in tf.getmembers():
                name = info.name.lstrip("./") if info.name.startswith("./") else info.name
                if not (name.rstrip("/") == prefix or name.startswith(prefix + "/")):
                    continue
                if info.isdir():
                    _safe_member_path(root, name).mkdir(parents=True, exist_ok=True)
                elif info.isfile():  # links and devices are never extracted
                    with tf.extractfile(info) as src:
                        write(name, src)
    else:
        raise FetchError(f"{archive} is neither a zip nor a tar archive")
    if not hashes:
        raise FetchError(f"{archive} has no member {member!r}")
    return hashes


def export_mirror(urls: list[tuple[str, str]], dest: str | os.PathLike, *, cache_dir=None, mirror=None) -> list[Path]:
    """Write a mirror (``DEST/HOST/PATH``) holding the verified files of ``(url, hash)`` pairs."""
    written = []
    for url, known_hash in urls:
        src = fetch_url(url, known_hash, cache_dir=cache_dir, mirror=mirror)
        out = Path(dest) / url_relpath(url)
        written.append(atomic_copy(src, out))
    return written
