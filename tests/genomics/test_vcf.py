"""VCF reading against the GIAB chr20 reference, per-record issues, and bgzipped write-back."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.genomics.fasta import FastaReference
from precisionmed.genomics.vcf import HeaderField, read_variants, rename_contig, write_vcf
from tests.conftest import require_path

GIAB = "genomics/giab_chr20"
VCF = f"{GIAB}/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
FASTA = f"{GIAB}/ucsc.hg19.chr20.unittest.fasta.gz"


@pytest.fixture(scope="module")
def fasta() -> FastaReference:
    return FastaReference(require_path(FASTA))


def _raw_records(path: Path) -> list[list[str]]:
    # the VCF text read without pysam, as the independent side of the comparisons
    with gzip.open(path, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if not line.startswith("#")]


def _rewrite(src: Path, dst: Path, edit: dict[int, tuple[str | None, str | None]]) -> None:
    """Copy ``src`` to ``dst`` with pysam, record i given a new (contig, ref) from ``edit``."""
    vin = pysam.VariantFile(str(src))
    header = vin.header.copy()
    if "20" not in header.contigs:
        header.contigs.add("20", length=63025520)
    with pysam.VariantFile(str(dst), "w", header=header) as vout:
        for i, rec in enumerate(vin):
            rec.translate(header)
            contig, ref = edit.get(i, (None, None))
            if contig is not None:
                rec.contig = contig
            if ref is not None:
                rec.ref = ref
            vout.write(rec)
    vin.close()


def test_every_giab_ref_agrees_with_the_fasta(fasta: FastaReference) -> None:
    path = require_path(VCF)
    result = read_variants(path, fasta)
    raw = _raw_records(path)
    assert result.n_records == len(raw) == 221
    # the one multi-allelic record (A -> AA,AG) is split, nothing is skipped
    assert result.issue_counts() == {"multiallelic_split": 1}
    assert len(result.variants) == 222
    for v in result.variants:
        assert fasta.fetch(v.contig, v.start, v.end) == v.ref
    assert sum(g.phased for v in result.variants for g in v.genotypes.values()) == 17  # 16 + split


def test_multiallelic_split_recodes_the_genotype(fasta: FastaReference) -> None:
    result = read_variants(require_path(VCF), fasta)
    split = [v for v in result.variants if v.pos == 10004223]
    assert [(v.ref, v.alt, v.alt_index) for v in split] == [("A", "AA", 1), ("A", "AG", 2)]
    assert split[0].record_index == split[1].record_index
    # 1|2 becomes 1|2 ("2": another ALT) for the first ALT and 2|1 for the second
    assert [v.genotypes["INTEGRATION"].alleles for v in split] == [(1, 2), (2, 1)]
    assert all(v.genotypes["INTEGRATION"].phased for v in split)


def test_wrong_ref_and_contig_20_are_reported_and_the_rest_is_read(
    fasta: FastaReference, tmp_path: Path
) -> None:
    src = require_path(VCF)
    raw = _raw_records(src)
    wrong_ref = "G" if raw[3][3] != "G" else "C"
    bad = tmp_path / "bad.vcf"
    _rewrite(src, bad, {3: (None, wrong_ref), 10: ("20", None), 11: ("20", None)})
    result = read_variants(bad, fasta)
    kinds = {(i.pos, i.kind) for i in result.issues}
    assert (int(raw[3][1]), "ref_mismatch") in kinds
    assert (int(raw[10][1]), "unknown_contig") in kinds
    assert (int(raw[11][1]), "unknown_contig") in kinds
    assert result.issue_counts() == {
        "ref_mismatch": 1,
        "unknown_contig": 2,
        "multiallelic_split": 1,
    }
    mismatch = next(i for i in result.issues if i.kind == "ref_mismatch")
    assert f"REF {wrong_ref} does not match the reference {raw[3][3]}" in mismatch.message
    assert len(result.variants) == 222 - 3
    kept = {v.record_index for v in result.variants}
    assert kept == set(range(221)) - {3, 10, 11}

    # opt-in renaming maps 20 -> chr20; then only the wrong REF is left out
    renamed = read_variants(bad, fasta, rename_contigs="auto")
    assert renamed.issue_counts() == {"ref_mismatch": 1, "multiallelic_split": 1}
    assert {v.contig for v in renamed.variants} == {"chr20"}
    assert {v.vcf_contig for v in renamed.variants if v.record_index in {10, 11}} == {"20"}


def test_symbolic_alleles_are_skipped_per_allele(fasta: FastaReference, tmp_path: Path) -> None:
    header = pysam.VariantHeader()
    header.contigs.add("chr20", length=63025520)
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_line('##ALT=<ID=DEL,Description="Deletion">')
    header.add_sample("S")
    path = tmp_path / "sym.vcf"
    base = fasta.fetch("chr20", 10000116, 10000117)  # C at 10000117
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for start, alleles in [
            (10000116, (base, "<DEL>")),
            (10000116, (base, "T", "*")),
            (10000210, ("C", "T")),
        ]:
            rec = out.new_record(contig="chr20", start=start, alleles=alleles)
            rec.samples["S"]["GT"] = (0, 1)
            out.write(rec)
    result = read_variants(path, fasta)
    assert [i.kind for i in result.issues] == [
        "symbolic_allele",
        "multiallelic_split",
        "symbolic_allele",
    ]
    assert [(v.pos, v.alt) for v in result.variants] == [(10000117, "T"), (10000211, "T")]


def test_rename_contig_rules() -> None:
    assert rename_contig("20", "add-chr") == "chr20"
    assert rename_contig("chr20", "strip-chr") == "20"
    assert rename_contig("20", "auto", ["chr20"]) == "chr20"
    assert rename_contig("chr20", "auto", ["20"]) == "20"
    assert rename_contig("20", None, ["chr20"]) == "20"
    assert rename_contig("20", {"20": "chr20"}) == "chr20"
    with pytest.raises(DataFormatError, match="rename_contigs must be"):
        rename_contig("20", "upper")  # type: ignore[arg-type]


def test_unreadable_vcf_and_absent_sample(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"absent\.vcf: VCF/BCF file not found"):
        read_variants(tmp_path / "absent.vcf")
    bad = tmp_path / "bad.vcf"
    bad.write_text("not a vcf\n")
    with pytest.raises(DataFormatError, match=r"bad\.vcf: not a readable VCF/BCF") as err:
        read_variants(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(DataFormatError, match=r"sample\(s\) \['NOPE'\] not in the VCF"):
        read_variants(require_path(VCF), samples=["NOPE"])


def test_written_vcf_reads_back_with_every_record_and_the_new_fields(tmp_path: Path) -> None:
    src = require_path(VCF)
    result = read_variants(src)
    fields = [
        HeaderField("PM_DIFF", "A", "Float", "alt minus ref prediction"),
        HeaderField("PM_FLAG", "0", "Flag", "scored"),
        HeaderField("PM_S", "1", "Float", "per-sample score", kind="FORMAT"),
    ]
    info = {}
    for v in result.variants:
        n_alts = 2 if v.pos == 10004223 else 1
        diffs = info.setdefault(v.record_index, {"PM_DIFF": [None] * n_alts, "PM_FLAG": True})
        diffs["PM_DIFF"][v.alt_index - 1] = (v.pos % 1000) / 4
    formats = {0: {"INTEGRATION": {"PM_S": 0.5}}}
    out = write_vcf(
        src, tmp_path / "out" / "scored.vcf.gz", fields=fields, info=info, formats=formats
    )
    assert Path(f"{out}.tbi").is_file()
    with pysam.VariantFile(str(out)) as vcf:
        assert vcf.header.info["PM_DIFF"].number == "A"
        assert vcf.header.formats["PM_S"].type == "Float"
        records = list(vcf)
        fetched = [r.pos for r in vcf.fetch("chr20", 10004000, 10004300)]  # through the .tbi
    raw = _raw_records(src)
    overlapping = [
        int(line[1])
        for line in raw
        if int(line[1]) - 1 < 10004300 and int(line[1]) - 1 + len(line[3]) > 10004000
    ]
    assert fetched == overlapping
    assert len(fetched) == 4
    assert len(records) == len(raw)
    for rec, line in zip(records, raw, strict=True):
        assert (rec.contig, rec.pos, rec.ref, ",".join(rec.alts)) == (
            line[0],
            int(line[1]),
            line[3],
            line[4],
        )
        assert rec.samples["INTEGRATION"]["GT"] is not None
        assert rec.info["PM_FLAG"] is True
        assert rec.info["PM_DIFF"] == pytest.approx(tuple([(rec.pos % 1000) / 4] * len(rec.alts)))
    assert records[0].samples["INTEGRATION"]["PM_S"] == pytest.approx(0.5)


def test_undeclared_key_and_bad_name_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="declare every INFO/FORMAT key"):
        write_vcf(require_path(VCF), tmp_path / "x.vcf.gz", info={0: {"NOT_DECLARED": 1}})
    with pytest.raises(ConfigError, match=r"name it \*\.vcf\.gz"):
        write_vcf(require_path(VCF), tmp_path / "x.vcf")


def test_bcf_reads_like_the_vcf(fasta: FastaReference, tmp_path: Path) -> None:
    src = require_path(VCF)
    bcf = tmp_path / "calls.bcf"
    with (
        pysam.VariantFile(str(src)) as vin,
        pysam.VariantFile(str(bcf), "wb", header=vin.header) as out,
    ):
        for rec in vin:
            out.write(rec)
    from_vcf, from_bcf = read_variants(src, fasta), read_variants(bcf, fasta)
    assert from_bcf.variants == from_vcf.variants
    assert [v.genotypes for v in from_bcf.variants] == [v.genotypes for v in from_vcf.variants]
    assert from_bcf.issues == from_vcf.issues
