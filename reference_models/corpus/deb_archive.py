"""Reading a Debian binary package (.deb) in Python, as a stream: no dpkg, no root, nothing installed.

A .deb is an ``ar`` archive holding ``debian-binary``, ``control.tar.*`` and ``data.tar.*`` (xz, gzip,
bzip2 or uncompressed). ``deb_control`` returns the control fields (Package, Version...); ``deb_members``
yields the data files one at a time as readable streams, read straight out of the compressed tar, so a
771 MB file inside a 200 MB package never touches the disk or memory whole.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from reference_models.corpus.token_files import CorpusError

AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
_TAR_MODES = {"": "r|", ".gz": "r|gz", ".xz": "r|xz", ".bz2": "r|bz2"}


class _Slice(io.RawIOBase):
    """Bytes ``start`` .. ``start + size`` of an open file, as a read-only stream."""

    def __init__(self, f, start: int, size: int):
        self.f, self.pos, self.end = f, start, start + size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.end - self.pos)
        if n <= 0:
            return 0
        self.f.seek(self.pos)
        data = self.f.read(n)
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)


def ar_members(f, where: str) -> Iterator[tuple[str, int, int]]:
    """(name, data offset, size) of each member of the ar archive open as ``f`` (common and GNU names)."""
    f.seek(0)
    if f.read(len(AR_MAGIC)) != AR_MAGIC:
        raise CorpusError(f"{where} is not a Debian package (no ar archive header): download it again")
    pos = len(AR_MAGIC)
    while True:
        f.seek(pos)
        header = f.read(_AR_HEADER)
        if not header:
            return
        if len(header) < _AR_HEADER or header[58:60] != b"`\n":
            raise CorpusError(f"{where}: damaged ar member header at byte {pos}: download the package again")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise CorpusError(f"{where}: ar member {name!r} has no valid size: download the package again") from None
        yield name, pos + _AR_HEADER, size
        pos += _AR_HEADER + size + (size & 1)  # members are padded to an even offset


def _tar_stream(path: Path, prefix: str) -> tarfile.TarFile:
    """The ``prefix`` (``control`` or ``data``) tarball of the .deb at ``path``, opened as a stream."""
    f = open(path, "rb")
    for name, start, size in ar_members(f, str(path)):
        for ext, mode in _TAR_MODES.items():
            if name == f"{prefix}.tar{ext}":
                stream = io.BufferedReader(_Slice(f, start, size), buffer_size=1 << 20)
                try:
                    tar = tarfile.open(fileobj=stream, mode=mode)
                except (tarfile.TarError, EOFError, OSError) as exc:
                    f.close()
                    raise CorpusError(f"{path}: cannot read {name} ({exc}): download the package again") from None
                tar._lsd_file = f  # closed with the tar (see _close)
                return tar
    f.close()
    raise CorpusError(f"{path} holds no {prefix}.tar(.gz|.xz|.bz2) (zstd-compressed packages are not supported)")


def _close(tar: tarfile.TarFile) -> None:
    tar.close()
    tar._lsd_file.close()


def deb_control(path) -> dict[str, str]:
    """The fields of the package's ``control`` file (Package, Version, ...)."""
    path = Path(path)
    tar = _tar_stream(path, "control")
    try:
        for member in tar:
            if member.isfile() and member.name.lstrip("./") == "control":
                text = tar.extractfile(member).read().decode("utf-8", "replace")
                break
        else:
            raise CorpusError(f"{path}: control.tar holds no 'control' file: download the package again")
    finally:
        _close(tar)
    fields, last = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and last:
            fields[last] += "\n" + line.strip()  # a continuation line
        elif ":" in line:
            last, _, value = line.partition(":")
            fields[last] = value.strip()
    return fields


def deb_members(path, wanted: Callable[[str], bool]) -> Iterator[tuple[str, tarfile.TarInfo, io.BufferedReader]]:
    """(path inside the package, tar entry, stream) of each regular data file for which ``wanted(path)``,
    in archive order; each stream is valid only until the next one is yielded."""
    path = Path(path)
    tar = _tar_stream(path, "data")
    try:
        for member in tar:
            name = "/" + member.name.lstrip("./")
            if member.isfile() and wanted(name):
                yield name, member, tar.extractfile(member)
    except (tarfile.TarError, EOFError) as exc:
        raise CorpusError(f"{path}: damaged data archive ({exc}): download the package again") from None
    finally:
        _close(tar)
