"""The Debian-package corpus source (issue 31) on tiny synthetic packages built here: .deb archives (ar +
control.tar + data.tar), a marker CDS FASTA and BLAST v4 protein databases; every parser and drop reason.
One optional test reads the real packages when they are in the lsdbench cache."""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from reference_models.corpus import blastdb, cds, data, debian_source
from reference_models.corpus.deb_archive import deb_control, deb_members
from reference_models.corpus.token_files import CorpusError, TokenCorpus

PROTEINS = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ",
            "MSDNELQRQLAELEAKIAALEAEVARLKAGEPVQNLTPEQKALLEAYREGKISKEEAM",
            "MAHHHHHHVDDDDKMLEEKGISRLTFQKILAELNSGEDFATVVAKLASEQNR"]
CODON = {"M": "ATG", "K": "AAA", "T": "ACC", "A": "GCG", "Y": "TAT", "I": "ATT", "Q": "CAG", "R": "CGT",
         "S": "AGC", "F": "TTT", "V": "GTG", "H": "CAT", "L": "CTG", "E": "GAA", "G": "GGC", "P": "CCG",
         "D": "GAT", "N": "AAC", "W": "TGG", "C": "TGC"}


def back_translate(protein: str, start: str = "ATG", stop: str = "TAA") -> str:
    return start + "".join(CODON[a] for a in protein[1:]) + stop


# ---- building the test files --------------------------------------------------------------------

def make_tar(files: dict[str, bytes], mode: str = "w:xz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo("./" + name.lstrip("/"))
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def make_deb(path: Path, package: str, version: str, files: dict[str, bytes], compression: str = "xz") -> Path:
    control = f"Package: {package}\nVersion: {version}\nDescription: test\n continued line\n".encode()
    ext = {"xz": ".xz", "gz": ".gz", "": ""}[compression]
    members = [("debian-binary", b"2.0\n"), ("control.tar.xz", make_tar({"control": control})),
               (f"data.tar{ext}", make_tar(files, f"w:{compression}" if compression else "w"))]
    out = bytearray(b"!<arch>\n")
    for name, content in members:
        out += f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}".encode() + b"`\n"
        out += content + (b"\n" if len(content) % 2 else b"")
    path.write_bytes(bytes(out))
    return path


def ncbistdaa(letters: str) -> bytes:
    return bytes(blastdb.NCBISTDAA.index(c.encode()) for c in letters)


def make_blast(sequences: list[str], title: str = "db/goasp.fasta", version: int = 4) -> tuple[bytes, bytes]:
    """(.pin, .psq) bytes of a BLAST v4 protein database holding ``sequences`` (letters, '*' allowed)."""
    psq, offsets = bytearray(b"\0"), []
    for s in sequences:
        offsets.append(len(psq))
        psq += ncbistdaa(s) + b"\0"
    offsets.append(len(psq))
    date = b"Jan 20, 2022  10:32 AM"
    date += b"\0" * ((-(8 + 4 + len(title) + 4 + len(date))) % 8)  # the header pads the date to 8-byte alignment
    pin = struct.pack(">ii", version, 1) + struct.pack(">i", len(title)) + title.encode()
    pin += struct.pack(">i", len(date)) + date + struct.pack(">i", len(sequences))
    pin += struct.pack("<Q", sum(len(s) for s in sequences)) + struct.pack(">i", max(map(len, sequences)))
    pin += np.arange(len(offsets), dtype=">u4").tobytes() + np.array(offsets, ">u4").tobytes()
    return pin, bytes(psq)


def fasta(records: list[str]) -> bytes:
    return "".join(f">r{i} some header\n{r[:50]}\n{r[50:]}\n" for i, r in enumerate(records)).encode()


# ---- .deb --------------------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["xz", "gz", ""])
def test_deb_control_and_members_stream(tmp_path, compression):
    deb = make_deb(tmp_path / "p.deb", "pkg", "1.0-1", {"/usr/share/a.txt": b"alpha", "/var/lib/b.fasta": b"beta"},
                   compression)
    control = deb_control(deb)
    assert (control["Package"], control["Version"]) == ("pkg", "1.0-1")
    assert control["Description"] == "test\ncontinued line"
    got = [(name, stream.read()) for name, _, stream in deb_members(deb, lambda n: n.endswith(".fasta"))]
    assert got == [("/var/lib/b.fasta", b"beta")]


def test_deb_rejects_what_is_no_package(tmp_path):
    (tmp_path / "x.deb").write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(CorpusError, match="not a Debian package"):
        deb_control(tmp_path / "x.deb")
    deb = make_deb(tmp_path / "p.deb", "pkg", "1", {"a": b"a"})
    (tmp_path / "cut.deb").write_bytes(deb.read_bytes()[:70])
    with pytest.raises(CorpusError, match="cut.deb"):
        list(deb_members(tmp_path / "cut.deb", lambda n: True))


# ---- CDS translation ---------------------------------------------------------------------------

def test_translate_rules_and_every_drop_reason():
    p = PROTEINS[0]
    assert cds.translate(back_translate(p).encode()) == (p.encode(), ())
    # an alternative start (GTG, TTG) is read as M; RNA, lower case and line breaks are accepted
    assert cds.translate(back_translate(p, "GTG").encode()) == (p.encode(), ("alternative_start",))
    rna = back_translate(p, "TTG").lower().replace("t", "u")
    assert cds.translate((rna[:40] + "\n" + rna[40:]).encode()) == (p.encode(), ("alternative_start",))
    # no terminal stop is fine; an ambiguous base makes X
    nt = back_translate(p, stop="")
    assert cds.translate(nt.encode())[0] == p.encode()
    assert cds.translate((nt[:6] + "NNN" + nt[9:]).encode())[0] == (p[:2] + "X" + p[3:]).encode()
    # a trailing partial codon is cut off (and noted); a frameshift shows as internal stops
    assert cds.translate((nt + "AC").encode()) == (p.encode(), ("partial_codon",))
    assert cds.translate(("GTG" + nt[3:] + "A").encode()) == (p.encode(), ("partial_codon", "alternative_start"))
    assert cds.translate(b"") == (None, ("empty",))
    assert cds.translate(nt.replace("A", "E", 1).encode()) == (None, ("not_nucleotide",))
    assert cds.translate((nt[:9] + "TGA" + nt[9:]).encode()) == (None, ("internal_stop",))
    assert cds.translate((nt[:9] + "A" + nt[9:]).encode())[1] == ("internal_stop",)
    assert cds.translate(back_translate(p[:29]).encode()) == (None, ("too_short",))
    assert cds.translate(back_translate(p[:30]).encode())[0] == p[:30].encode()


def test_translate_records_counts_each_reason():
    good = [back_translate(p) for p in PROTEINS]
    records = good + [back_translate(PROTEINS[0], "CTG"), "ACGTA", "ATGTAG" + good[1], "ATGAAATAA", "",
                      good[2] + "G", "ATGXYZ"]
    counts = Counter()
    out = list(cds.translate_records([r.encode() for r in records], counts))
    assert out == [p.encode() for p in PROTEINS] + [PROTEINS[0].encode(), PROTEINS[2].encode()]
    assert counts == {"input": 10, "kept": 5, "alternative_start": 1, "partial_codon": 1, "internal_stop": 1,
                      "too_short": 2, "empty": 1, "not_nucleotide": 1}


# ---- BLAST v4 ----------------------------------------------------------------------------------

def test_blast_pin_and_psq_decode(tmp_path, monkeypatch):
    seqs = PROTEINS + ["ACDEFGHIKLMNPQRSTVWYXBZUOJ", "MK*LL", "MK-LL"]
    pin, psq = make_blast(seqs)
    index = blastdb.read_pin(pin, "t.pin")
    assert (index.title, index.date, index.n_sequences) == ("db/goasp.fasta", "Jan 20, 2022  10:32 AM", len(seqs))
    assert (index.total_residues, index.max_length) == (sum(map(len, seqs)), max(map(len, seqs)))
    monkeypatch.setattr(blastdb, "READ_BYTES", 7)  # sequences straddle every read
    raw = list(blastdb.psq_sequences(io.BytesIO(psq), index, "t.psq"))
    assert [r.translate(blastdb.TO_LETTER).decode() for r in raw] == seqs
    counts = Counter()
    assert [s.decode() for s in blastdb.decode_sequences(iter(raw), counts, "t")] == seqs[:4]
    assert counts == {"input": 6, "kept": 4, "stop_or_gap": 2}


@pytest.mark.parametrize("damage, message", [
    (lambda pin, psq: (struct.pack(">i", 5) + pin[4:], psq), "version 5"),
    (lambda pin, psq: (pin[:4] + struct.pack(">i", 0) + pin[8:], psq), "nucleotide"),
    (lambda pin, psq: (pin[:-4], psq), "sequences need"),
    (lambda pin, psq: (pin, psq[:-3]), "ends at byte"),
    (lambda pin, psq: (pin, psq + b"\1\0"), "after the last"),
    (lambda pin, psq: (pin, b"\1" + psq[1:]), "NUL byte"),
    (lambda pin, psq: (pin, psq[:12] + b"\1" + psq[13:]), "sentinel"),
])
def test_blast_damage_is_one_clear_error(damage, message):
    pin, psq = damage(*make_blast(["MKV", "ACDEFGH", "WY"]))
    with pytest.raises(CorpusError, match=message):
        index = blastdb.read_pin(pin, "t.pin")
        list(blastdb.psq_sequences(io.BytesIO(psq), index, "t.psq"))
    with pytest.raises(CorpusError, match="no NCBIstdaa"):
        list(blastdb.decode_sequences(iter([b"\1\2\200"]), Counter(), "t"))


# ---- the source, end to end --------------------------------------------------------------------

def fake_packages(tmp_path: Path, psq_first: bool = False) -> dict[str, Path]:
    cds_records = [back_translate(p) for p in PROTEINS] + [back_translate(PROTEINS[1], "TTG"), "ATGAAATAA", "ACGTA"]
    markers = make_deb(tmp_path / "m.deb", "metaphlan2-data", "2.6.0+ds-4",
                       {"/var/lib/metaphlan2-data/markers.fasta": fasta(cds_records),
                        "/var/lib/metaphlan2-data/bt2.md5": b"x"})
    pin1, psq1 = make_blast([PROTEINS[2], "MSTNPKPQRKTKRNTNRRPQDVKFPGG", "MK*VVLAGGSAKRLG"])
    pin2, psq2 = make_blast(["MSTNPKPQRKTKRNTNRRPQDVKFPGG", "WWWWYYYYHHHHKKKK"])
    root = "/usr/share/metastudent-data/dataset_201401"
    files = {f"{root}/BPO/goasp.fasta.phr": b"headers", f"{root}/BPO/goasp.fasta.pin": pin1,
             f"{root}/BPO/goasp.fasta.psq": psq1}
    files.update({f"{root}/MFO/goasp.fasta.psq": psq2, f"{root}/MFO/goasp.fasta.pin": pin2} if psq_first else
                 {f"{root}/MFO/goasp.fasta.pin": pin2, f"{root}/MFO/goasp.fasta.psq": psq2})
    sprot = make_deb(tmp_path / "s.deb", "metastudent-data", "2.0.1-8", files, "gz")
    return {"metaphlan2": markers, "metastudent": sprot}


def toy_registry(eval_seqs: list[str]) -> dict:
    split = SimpleNamespace(all_sequences=lambda: list(eval_seqs))
    return {"list_cards": lambda: [SimpleNamespace(name="toy", suites=("open",))],
            "load_task": lambda name: SimpleNamespace(splits={"test": split}), "fetch_error": RuntimeError}


@pytest.mark.parametrize("psq_first", [False, True])
def test_debian_source_builds_the_corpus_with_its_manifest(tmp_path, monkeypatch, psq_first):
    debs = fake_packages(tmp_path, psq_first)
    monkeypatch.setattr(debian_source, "obtain", lambda pkg, cache=None: (debs[pkg.key], "test"))
    info = data.prepare(debian_source.DEFAULT, tmp_path / "out", heldout_fraction=0.25,
                        registry=toy_registry(["WWWWYYYYHHHHKKKK"]))
    # 4 translated (PROTEINS + PROTEINS[1] again), 4 decoded (PROTEINS[2] and one other twice)
    assert (info["input_records"], info["duplicates"], info["decontamination"]["removed"]) == (8, 3, 1)
    assert info["n_train"] + info["n_heldout"] == 4
    got = sorted(TokenCorpus(tmp_path / "out", "train")[:] + TokenCorpus(tmp_path / "out", "heldout")[:])
    assert got == sorted(PROTEINS + ["MSTNPKPQRKTKRNTNRRPQDVKFPGG"])
    markers, sprot = info["sources"]
    assert (markers["package"], markers["licence"], sprot["licence"]) == ("metaphlan2-data", "Expat", "GPL-2+")
    assert markers["counts"] == {"input": 6, "kept": 4, "alternative_start": 1, "too_short": 2}
    assert sprot["counts"] == {"input": 5, "kept": 4, "stop_or_gap": 1}
    assert [f["sequences"] for f in sprot["files"]] == [3, 2]
    assert "UniProtKB" in sprot["origin"] and sprot["sha256"] == debian_source.PACKAGES["metastudent"].sha256
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["sources"] == info["sources"]


def test_debian_source_names_and_versions_are_checked(tmp_path, monkeypatch):
    with pytest.raises(CorpusError, match="metaphlan2, metastudent"):
        debian_source.parse_source("debian:metaphlan2+uniref")
    deb = make_deb(tmp_path / "m.deb", "metaphlan2-data", "2.5.0-1", {"/var/lib/metaphlan2-data/markers.fasta": b""})
    src = debian_source.DebianSource("debian:metaphlan2", fetch=lambda pkg: (deb, "test"))
    with pytest.raises(CorpusError, match="not metaphlan2-data 2.6.0"):
        list(src.records())


def test_obtain_verifies_the_pinned_sha256(tmp_path, monkeypatch):
    pkg = debian_source.PACKAGES["metaphlan2"]

    def fake_apt(pkg, folder):
        (folder / "bad").write_bytes(b"not the package")
        return folder / "bad"

    monkeypatch.setattr(debian_source, "_apt_download", fake_apt)
    with pytest.raises(CorpusError, match="not the pinned"):
        debian_source.obtain(pkg, tmp_path)
    assert not (tmp_path / "debian" / "bad").exists()
    # a cached file with the pinned hash is used as is (the pin replaced by this file's hash)
    good = tmp_path / "debian" / pkg.filename
    good.write_bytes(b"pretend package")
    monkeypatch.setitem(debian_source.PACKAGES, "metaphlan2",
                        debian_source.Package(**{**pkg.__dict__, "sha256": debian_source.sha256_file(good)}))
    assert debian_source.obtain(debian_source.PACKAGES["metaphlan2"], tmp_path) == (good, "cache")


def test_real_packages_when_present():
    """The first records of the real packages, when LSDBENCH_DEBS names a folder holding them (tests
    download nothing; the session cache of the tests is a fresh folder)."""
    folder = Path(os.environ.get("LSDBENCH_DEBS", "/nonexistent"))
    found = {k: folder / p.filename for k, p in debian_source.PACKAGES.items()}
    if not all(p.is_file() for p in found.values()):
        pytest.skip("set LSDBENCH_DEBS to a folder with the two .deb files to read the real packages")
    src = debian_source.DebianSource(debian_source.DEFAULT, fetch=lambda pkg: (found[pkg.key], "cache"))
    records = src.records()
    first = [next(records) for _ in range(1000)]
    assert all(len(r) >= cds.MIN_LENGTH and b"*" not in r for r in first)
    assert src.report()[0]["counts"]["kept"] == 1000
    records.close()


# ---- the carry-sized subset --------------------------------------------------------------------

def test_subset_is_a_hash_sample_within_budget(tmp_path, monkeypatch):
    from reference_models.corpus import corpus
    from reference_models.corpus.subset import parse_size, subset_corpus

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), int(rng.integers(20, 90)))) for _ in range(400)]
    (tmp_path / "a.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    full = data.prepare(str(tmp_path / "a.fa"), tmp_path / "full", heldout_fraction=0.1, decontaminate=False)
    monkeypatch.setattr(corpus, "READ_BYTES", 300)  # the subset reads many blocks
    small = subset_corpus(tmp_path / "full", tmp_path / "small", 5000)
    large = subset_corpus(tmp_path / "full", tmp_path / "large", 9000)
    assert sum(small["residues"].values()) < sum(large["residues"].values()) <= 9000
    assert sum(small["residues"].values()) <= 5000 < sum(small["residues"].values()) + 2 * 90
    for split in ("train", "heldout"):
        whole = TokenCorpus(tmp_path / "full", split)[:]
        part, bigger = TokenCorpus(tmp_path / "small", split)[:], TokenCorpus(tmp_path / "large", split)[:]
        assert part == [s for s in whole if s in set(part)]  # the source's order
        assert set(part) < set(bigger) < set(whole)  # a smaller subset is part of a larger one
        assert data.sequences_hash(part) == small[f"{split}_hash"]
    assert small["subset"]["of_train_hash"] == full["train_hash"]
    assert subset_corpus(tmp_path / "full", tmp_path / "again", 5000)["train_hash"] == small["train_hash"]
    assert (tmp_path / "again" / "train.bin").read_bytes() == (tmp_path / "small" / "train.bin").read_bytes()
    assert parse_size("60M") == 60_000_000 and parse_size("2.5k") == 2500
    with pytest.raises(CorpusError, match="--max-residues"):
        parse_size("60 MiB")
    with pytest.raises(CorpusError, match="lsd-train data"):
        subset_corpus(tmp_path / "nothing", tmp_path / "x", 10)


def test_cli_builds_the_debian_corpus_and_its_subset(tmp_path, monkeypatch, capsys):
    from reference_models.training.train import main

    debs = fake_packages(tmp_path)
    monkeypatch.setattr(debian_source, "obtain", lambda pkg, cache=None: (debs[pkg.key], "test"))
    out = tmp_path / "carry"
    assert main(["data", "--source", debian_source.DEFAULT, "--out", str(out), "--max-residues", "120",
                 "--no-decontaminate"]) == 0
    printed = capsys.readouterr().out
    assert "metaphlan2-data 2.6.0+ds-4 (Expat): alternative_start 1, input 6, kept 4, too_short 2" in printed
    full = json.loads((out / "full" / "data.json").read_text())
    small = json.loads((out / "data.json").read_text())
    assert full["n_train"] + full["n_heldout"] == 5
    assert 0 < sum(small["residues"].values()) <= 120 and small["sources"] == full["sources"]
    assert main(["subset", str(out / "full"), "--out", str(tmp_path / "s2"), "--max-residues", "120"]) == 0
    assert (tmp_path / "s2" / "train.bin").read_bytes() == (out / "train.bin").read_bytes()
    assert main(["subset", str(out / "full"), "--out", str(tmp_path / "s3"), "--max-residues", "lots"]) == 2
    assert "lsd-train: error: --max-residues 'lots'" in capsys.readouterr().err


# ---- decontamination by identity ---------------------------------------------------------------

FAKE_MMSEQS = '''#!/usr/bin/env python3
"""A stand-in for mmseqs: 'hits' are containments (identity 1) and shared 12-residue prefixes."""
import sys
if sys.argv[1] == "version":
    print("fake-1")
    sys.exit(0)
def read(path):
    seqs, name = {}, None
    for line in open(path):
        if line.startswith(">"):
            name = line[1:].strip()
        else:
            seqs[name] = line.strip()
    return seqs
query, target, out = read(sys.argv[2]), read(sys.argv[3]), open(sys.argv[4], "w")
for qn, q in query.items():
    for tn, t in target.items():
        if t in q or q in t:
            out.write(f"{qn}\\t{tn}\\t1.000\\t{min(1, len(t) / len(q)):.3f}\\t{min(1, len(q) / len(t)):.3f}\\n")
        elif q[:12] == t[:12]:
            out.write(f"{qn}\\t{tn}\\t1.000\\t{12 / len(q):.3f}\\t{12 / len(t):.3f}\\n")
'''


def identity_case(tmp_path):
    rng = np.random.default_rng(1)
    rand = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 60)) for _ in range(30)]
    task = [rand[0], rand[1], rand[2]]  # the task's test sequences (not in the corpus as such)
    corpus = rand[3:] + [rand[4][:20] + rand[0] + rand[5], rand[1][5:55], rand[2][:12] + rand[6]]
    (tmp_path / "c.fa").write_text("".join(f">c{i}\n{s}\n" for i, s in enumerate(corpus)))
    return corpus, toy_registry(task)


def test_identity_step_removes_homologs_by_either_coverage(tmp_path, monkeypatch):
    exe = tmp_path / "mmseqs"
    exe.write_text(FAKE_MMSEQS)
    exe.chmod(0o755)
    monkeypatch.setenv("LSDBENCH_MMSEQS", str(exe))
    corpus, registry = identity_case(tmp_path)
    info = data.prepare(str(tmp_path / "c.fa"), tmp_path / "out", heldout_fraction=0.1, registry=registry,
                        min_identity=0.5)
    ident = info["identity_decontamination"]
    # the task sequence inside a longer one (task coverage 1) and the fragment (corpus coverage 1) go;
    # the shared 12-residue prefix (coverage 0.17 / 0.2) stays
    assert (ident["removed"], ident["removed_per_task"], ident["version"]) == (2, {"toy": 2}, "fake-1")
    kept = TokenCorpus(tmp_path / "out", "train")[:] + TokenCorpus(tmp_path / "out", "heldout")[:]
    assert sorted(kept) == sorted(corpus[:-3] + corpus[-1:])
    assert data.sequences_hash(TokenCorpus(tmp_path / "out", "train")[:]) == info["train_hash"]
    assert info["n_train"] + info["n_heldout"] == len(corpus) - 2
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["splits"]["train"]["sequences"] == info["n_train"] and not (tmp_path / "out" / ".identity.tmp").exists()


def test_identity_step_without_mmseqs_says_so(tmp_path, monkeypatch, capsys):
    from reference_models.corpus import identity

    monkeypatch.setattr(identity, "find_mmseqs", lambda: None)
    corpus, registry = identity_case(tmp_path)
    info = data.prepare(str(tmp_path / "c.fa"), tmp_path / "out", registry=registry, min_identity=0.5)
    assert info["identity_decontamination"]["tool"] is None
    assert "mmseqs not found" in capsys.readouterr().err
    assert info["n_train"] + info["n_heldout"] == len(corpus)
    with pytest.raises(CorpusError, match="fractions"):
        data.prepare(str(tmp_path / "c.fa"), tmp_path / "out", registry=registry, min_identity=50)


def test_identity_step_with_the_real_mmseqs(tmp_path):
    """With MMSeqs2 installed (or LSDBENCH_MMSEQS set): a 90 %-identical copy of a task sequence is found."""
    from reference_models.corpus import identity

    if identity.find_mmseqs() is None:
        pytest.skip("mmseqs is not installed (Debian package mmseqs2)")
    rng = np.random.default_rng(2)
    letters = list("ACDEFGHIKLMNPQRSTVWY")
    rand = ["".join(rng.choice(letters, 150)) for _ in range(40)]
    mutant = list(rand[0])
    for i in rng.choice(150, 15, replace=False):
        mutant[i] = letters[(letters.index(mutant[i]) + 1) % 20]
    (tmp_path / "c.fa").write_text("".join(f">c{i}\n{s}\n" for i, s in enumerate(rand[1:] + ["".join(mutant)])))
    info = data.prepare(str(tmp_path / "c.fa"), tmp_path / "out", registry=toy_registry([rand[0]]),
                        min_identity=0.5)
    assert info["identity_decontamination"]["removed"] == 1
    assert "".join(mutant) not in TokenCorpus(tmp_path / "out", "train")[:]
