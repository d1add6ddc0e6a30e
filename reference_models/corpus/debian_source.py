"""A pretraining corpus from two Debian data packages, read as a stream (``lsd-train data --source debian:...``).

- ``metaphlan2``: ``metaphlan2-data`` 2.6.0+ds-4 (Expat): ~1.04 M MetaPhlAn2 marker-gene CDS from ~17 k
  RefSeq genomes (``/var/lib/metaphlan2-data/markers.fasta``), translated as clean ORFs (``cds.py``);
- ``metastudent``: ``metastudent-data`` 2.0.1-8 (GPL-2+; sequences from UniProtKB/Swiss-Prot, 2014-01):
  three BLAST protein databases of GO-annotated entries (``dataset_201401/{BPO,MFO,CCO}/goasp.fasta``),
  decoded without BLAST (``blastdb.py``).

``debian:metaphlan2+metastudent`` is both (exact duplicates, within and across packages, are dropped by
``corpus.prepare_corpus``). Each package is obtained once into ``<lsdbench cache>/debian/``: from the cache
when its sha256 matches, else with ``apt-get download NAME=VERSION`` where apt-get exists, else with pooch
from the package's canonical Debian pool URL; either way its sha256 must be the pinned one (the value in
Debian bookworm's Packages index). The .deb is read in Python (``deb_archive.py``); nothing is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reference_models.corpus import blastdb, cds
from reference_models.corpus.corpus import _sha256_file, fasta_records
from reference_models.corpus.deb_archive import deb_control, deb_members
from reference_models.corpus.token_files import CorpusError

PREFIX = "debian:"
POOL = "https://deb.debian.org/debian/"


@dataclass(frozen=True)
class Package:
    key: str  # the name in a source spec
    name: str
    version: str
    pool_path: str
    sha256: str
    size: int
    licence: str
    origin: str
    kind: str  # "cds" (a nucleotide FASTA to translate) or "blast" (BLAST v4 protein databases)
    members: str  # regex on the path inside the package

    @property
    def filename(self) -> str:
        return self.pool_path.rsplit("/", 1)[1]

    @property
    def url(self) -> str:
        return POOL + self.pool_path


PACKAGES = {p.key: p for p in (
    Package("metaphlan2", "metaphlan2-data", "2.6.0+ds-4",
            "pool/main/m/metaphlan2-data/metaphlan2-data_2.6.0+ds-4_all.deb",
            "f38a6e3f49d7b03ba80d9fdd5647b9f9f2dfb38d43b28618053e8ef2c60db7d7", 204323768, "Expat",
            "MetaPhlAn2 marker genes (CDS) of ~17 k RefSeq genomes, mostly prokaryotic (biobakery)",
            "cds", r"^/var/lib/metaphlan2-data/markers\.fasta$"),
    Package("metastudent", "metastudent-data", "2.0.1-8",
            "pool/main/m/metastudent-data/metastudent-data_2.0.1-8_all.deb",
            "020ed0c560a5ba96f39c434399b3ecf0fa790a4776c4aac24458f837969ae54b", 224684540, "GPL-2+",
            "UniProtKB/Swiss-Prot entries with GO annotations, release 2014-01 (metastudent dataset_201401)",
            "blast", r"^/usr/share/metastudent-data/.*\.(pin|psq)$"),
)}
DEFAULT = PREFIX + "+".join(PACKAGES)  # debian:metaphlan2+metastudent


def is_debian_source(source: str) -> bool:
    return source.startswith(PREFIX)


def parse_source(source: str) -> list[Package]:
    keys = source[len(PREFIX):].split("+")
    unknown = [k for k in keys if k not in PACKAGES]
    if unknown or not keys or len(set(keys)) != len(keys):
        raise CorpusError(f"--source {source!r}: name packages among {', '.join(PACKAGES)} once each, joined "
                          f"by '+' (e.g. {DEFAULT})")
    return [PACKAGES[k] for k in keys]


def sha256_file(path: Path) -> str:
    return _sha256_file(path).removeprefix("sha256:")


def _apt_download(pkg: Package, folder: Path) -> Path | None:
    """``apt-get download`` into a fresh folder under ``folder``; None where apt-get is absent or fails."""
    if shutil.which("apt-get") is None:
        return None
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        done = subprocess.run(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=tmp,  # noqa: S603,S607
                              capture_output=True, text=True)
        got = Path(tmp) / pkg.filename
        if done.returncode != 0 or not got.is_file():
            return None
        target = folder / f".{pkg.filename}.apt"
        shutil.move(got, target)
        return target


def _pooch_download(pkg: Package, folder: Path) -> Path:
    import pooch

    return Path(pooch.retrieve(pkg.url, known_hash=f"sha256:{pkg.sha256}", fname=f".{pkg.filename}.pooch",
                               path=folder, progressbar=False))


def obtain(pkg: Package, cache: Path | None = None) -> tuple[Path, str]:
    """(path of the verified .deb, how it was obtained: cache, apt-get or pooch)."""
    from lsdbench.settings import cache_dir

    folder = Path(cache_dir(cache)) / "debian"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / pkg.filename
    if path.is_file() and sha256_file(path) == pkg.sha256:
        return path, "cache"
    got, how = _apt_download(pkg, folder), "apt-get"
    if got is None:
        got, how = _pooch_download(pkg, folder), "pooch"
    digest = sha256_file(got)
    if digest != pkg.sha256:
        got.unlink()
        raise CorpusError(f"{pkg.filename} from {how} has sha256 {digest}, not the pinned {pkg.sha256}: the "
                          "mirror serves another build; check your apt sources or download it again")
    got.replace(path)
    return path, how


class DebianSource:
    """The proteins of the named packages as one stream (``records``); ``report()`` afterwards gives the
    manifest entry of each package: version, sha256, licence, files read, and the count of each drop reason."""

    def __init__(self, source: str, cache: Path | None = None,
                 fetch: Callable[[Package], tuple[Path, str]] | None = None):
        self.source, self.packages = source, parse_source(source)
        self.fetch = fetch or (lambda pkg: obtain(pkg, cache))
        self.reports: list[dict] = []

    def records(self) -> Iterator[bytes]:
        for pkg in self.packages:
            path, how = self.fetch(pkg)
            control = deb_control(path)
            if (control.get("Package"), control.get("Version")) != (pkg.name, pkg.version):
                raise CorpusError(f"{path} is {control.get('Package')} {control.get('Version')}, not "
                                  f"{pkg.name} {pkg.version}: remove it and run again")
            counts, files = Counter(), []
            report = {"package": pkg.name, "version": pkg.version, "sha256": pkg.sha256, "bytes": pkg.size,
                      "url": pkg.url, "obtained_with": how, "licence": pkg.licence, "origin": pkg.origin,
                      "files": files, "counts": counts}
            self.reports.append(report)
            read = _read_cds if pkg.kind == "cds" else _read_blast
            yield from read(path, pkg, counts, files)
            if not files:
                raise CorpusError(f"{path} holds no file matching {pkg.members}: not the expected package layout")

    def report(self) -> list[dict]:
        return [{**r, "counts": dict(sorted(r["counts"].items()))} for r in self.reports]


def _read_cds(path: Path, pkg: Package, counts: Counter, files: list) -> Iterator[bytes]:
    for name, member, stream in deb_members(path, re.compile(pkg.members).search):
        files.append({"path": name, "bytes": member.size})
        yield from cds.translate_records(fasta_records(stream), counts)


def _read_blast(path: Path, pkg: Package, counts: Counter, files: list) -> Iterator[bytes]:
    """Each ``.psq`` decoded with its ``.pin``; a ``.psq`` that comes first in the archive is spooled to a
    temporary file until its index arrives (the Debian package stores the index first)."""
    indexes: dict[str, blastdb.BlastIndex] = {}
    with tempfile.TemporaryDirectory() as spool:
        waiting: dict[str, Path] = {}
        for name, _, stream in deb_members(path, re.compile(pkg.members).search):
            db, ext = name.rsplit(".", 1)
            where = f"{path.name}:{name}"
            if ext == "pin":
                index = indexes[db] = blastdb.read_pin(stream.read(), where)
                files.append({"path": db, "title": index.title, "date": index.date, "sequences": index.n_sequences,
                              "residues": index.total_residues})
                if db in waiting:
                    with open(waiting.pop(db), "rb") as f:
                        yield from _decode(f, index, where[:-3] + "psq", counts)
            elif db in indexes:
                yield from _decode(stream, indexes[db], where, counts)
            else:
                waiting[db] = Path(spool) / f"{len(waiting)}.psq"
                with open(waiting[db], "wb") as f:
                    shutil.copyfileobj(stream, f, 1 << 24)
        if waiting:
            raise CorpusError(f"{path.name}: {', '.join(sorted(waiting))}.psq has no .pin index in the package")


def _decode(stream, index: blastdb.BlastIndex, where: str, counts: Counter) -> Iterator[bytes]:
    yield from blastdb.decode_sequences(blastdb.psq_sequences(stream, index, where), counts, where)
