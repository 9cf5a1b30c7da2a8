"""FASTA random access on the GIAB chr20 reference (bgzipped, .fai + .gzi)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from precisionmed.errors import DataFormatError
from precisionmed.genomics.fasta import FastaReference, open_fasta
from tests.conftest import require_path

GIAB = "genomics/giab_chr20"
FASTA = f"{GIAB}/ucsc.hg19.chr20.unittest.fasta.gz"


@pytest.fixture(scope="module")
def fasta() -> FastaReference:
    return FastaReference(require_path(FASTA))


def _plain_sequence(path: Path) -> str:
    # independent of pysam: decompress the whole (small) file and join the lines
    with gzip.open(path, "rt") as handle:
        lines = handle.read().split("\n")
    assert lines[0].startswith(">chr20")
    return "".join(lines[1:]).upper()


def test_random_access_equals_the_decompressed_sequence(fasta: FastaReference) -> None:
    whole = _plain_sequence(fasta.path)
    assert fasta.contigs == ["chr20"]
    assert fasta.lengths["chr20"] == len(whole) == 63025520
    for start, end in [(0, 10), (10000116, 10000200), (63025500, 63025520)]:
        assert fasta.fetch("chr20", start, end) == whole[start:end]
    # past the end is cut to the contig, like pysam
    assert fasta.fetch("chr20", 63025510, 63025600) == whole[63025510:]


def test_unknown_contig_and_bad_interval_name_the_file(fasta: FastaReference) -> None:
    with pytest.raises(DataFormatError, match=r"contig '20' is not in the FASTA.*chr20"):
        fasta.fetch("20", 0, 5)
    with pytest.raises(DataFormatError, match="outside the contig"):
        fasta.fetch("chr20", 10, 5)
    assert "chr20" in fasta
    assert "20" not in fasta


def test_unreadable_files_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="FASTA file not found") as err:
        FastaReference(tmp_path / "absent.fa")
    assert "\n" not in str(err.value)
    bad = tmp_path / "bad.fa"
    bad.write_text("this is not a fasta\n")
    with pytest.raises(DataFormatError, match=r"bad\.fa: not a readable FASTA") as err:
        open_fasta(bad)
    assert "\n" not in str(err.value)


def test_open_fasta_passes_an_open_reference_through(fasta: FastaReference) -> None:
    assert open_fasta(fasta) is fasta
