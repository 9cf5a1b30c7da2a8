"""Personal haplotype sequences and variant windows on the GIAB chr20 reference."""

from __future__ import annotations

import gzip
from pathlib import Path

import pysam
import pytest

from precisionmed.errors import ConfigError
from precisionmed.genomics.fasta import FastaReference
from precisionmed.genomics.haplotypes import haplotype_sequences, variant_windows
from precisionmed.genomics.vcf import Variant, read_variants
from tests.conftest import require_path

GIAB = "genomics/giab_chr20"
VCF = f"{GIAB}/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
FASTA = f"{GIAB}/ucsc.hg19.chr20.unittest.fasta.gz"
START, END = 10000100, 10000200  # the tiny VCF's region, 0-based half-open


@pytest.fixture(scope="module")
def fasta() -> FastaReference:
    return FastaReference(require_path(FASTA))


def _apply_right_to_left(ref: str, region_start: int, edits: list[tuple[int, str, str]]) -> str:
    """Independent expectation: replace (1-based pos, REF, ALT) from the rightmost edit leftwards,
    so no coordinate ever shifts."""
    seq = ref
    for pos, r, a in sorted(edits, reverse=True):
        i = pos - 1 - region_start
        assert seq[i : i + len(r)] == r
        seq = seq[:i] + a + seq[i + len(r) :]
    return seq


def _write_vcf(path: Path, rows: list[tuple[int, str, str, tuple, bool]]) -> None:
    header = pysam.VariantHeader()
    header.contigs.add("chr20", length=63025520)
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_sample("P1")
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for pos, ref, alt, gt, phased in rows:
            rec = out.new_record(contig="chr20", start=pos - 1, alleles=(ref, alt))
            rec.samples["P1"]["GT"] = gt
            rec.samples["P1"].phased = phased
            out.write(rec)


@pytest.fixture
def tiny(fasta: FastaReference, tmp_path: Path) -> tuple[Path, dict[str, tuple[int, str, str]]]:
    def base(pos: int, n: int = 1) -> str:
        return fasta.fetch("chr20", pos - 1, pos - 1 + n)

    def other(b: str) -> str:
        return "A" if b != "A" else "C"

    v = {
        "snv_h2": (10000117, base(10000117), other(base(10000117))),
        "del_h1": (10000130, base(10000130, 4), base(10000130)),
        "in_del": (10000131, base(10000131), other(base(10000131))),  # overlaps del_h1 on hap 1
        "ins_both": (10000150, base(10000150), base(10000150) + "GGA"),
        "unphased": (10000160, base(10000160), other(base(10000160))),
        "hom_unphased": (10000170, base(10000170), other(base(10000170))),
        "missing": (10000175, base(10000175), other(base(10000175))),
        "mnv_h2": (10000180, base(10000180, 2), other(base(10000180)) + other(base(10000181))),
    }
    gts = {
        "snv_h2": ((0, 1), True),
        "del_h1": ((1, 0), True),
        "in_del": ((1, 0), True),
        "ins_both": ((1, 1), True),
        "unphased": ((0, 1), False),
        "hom_unphased": ((1, 1), False),
        "missing": ((None, None), False),
        "mnv_h2": ((0, 1), True),
    }
    path = tmp_path / "phased.vcf"
    _write_vcf(path, [(*v[k], *gts[k]) for k in sorted(v, key=lambda k: v[k][0])])
    return path, v


def test_haplotypes_apply_exactly_their_alleles(fasta: FastaReference, tiny) -> None:
    path, v = tiny
    variants = read_variants(path, fasta)
    assert variants.issues == []
    result = haplotype_sequences(variants, fasta, "P1", "chr20", START, END)
    ref = fasta.fetch("chr20", START, END)
    hap1 = _apply_right_to_left(ref, START, [v["del_h1"], v["ins_both"], v["hom_unphased"]])
    hap2 = _apply_right_to_left(
        ref, START, [v["snv_h2"], v["ins_both"], v["hom_unphased"], v["mnv_h2"]]
    )
    assert result.sequences == (hap1, hap2)
    assert len(hap1) == END - START - 3 + 3  # 3 bases deleted, 3 inserted
    assert len(hap2) == END - START + 3
    kinds = {(i.pos, i.kind) for i in result.issues}
    assert kinds == {
        (v["in_del"][0], "overlap"),
        (v["unphased"][0], "unphased"),
        (v["missing"][0], "missing_genotype"),
    }
    assert [u.pos for u in result.unphased] == [v["unphased"][0]]

    # as-listed applies the unphased call's GT order (0/1: ALT on haplotype 2)
    listed = haplotype_sequences(variants, fasta, "P1", "chr20", START, END, unphased="as-listed")
    assert listed.sequences[0] == hap1
    assert listed.sequences[1] == _apply_right_to_left(
        ref, START, [v["snv_h2"], v["ins_both"], v["unphased"], v["hom_unphased"], v["mnv_h2"]]
    )


def test_reference_position_maps_haplotype_offsets_back(fasta: FastaReference, tiny) -> None:
    path, v = tiny
    result = haplotype_sequences(read_variants(path, fasta), fasta, "P1", "chr20", START, END)
    hap1 = result.sequences[0]
    for offset in range(len(hap1)):
        ref_pos = result.reference_position(0, offset)
        if ref_pos is not None:
            assert fasta.fetch("chr20", ref_pos, ref_pos + 1) == hap1[offset]
    del_pos = v["del_h1"][0] - 1  # the deletion's anchor base stays, 3 bases go
    anchor = del_pos - START
    assert result.reference_position(0, anchor - 1) == del_pos - 1
    assert result.reference_position(0, anchor) is None  # ALT allele base
    assert result.reference_position(0, anchor + 1) == del_pos + 4


def _raw_phased_expectation(fasta: FastaReference, start: int, end: int) -> tuple[str, str]:
    # from the VCF text, not through pysam: phased or homozygous calls, applied right to left
    edits: tuple[list, list] = ([], [])
    with gzip.open(require_path(VCF), "rt") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            pos, ref, alts = int(cols[1]), cols[3], cols[4].split(",")
            if not (start <= pos - 1 and pos - 1 + len(ref) <= end):
                continue
            gt = cols[9].split(":")[0]
            calls = [int(a) for a in gt.replace("|", "/").split("/")]
            if "|" not in gt and calls[0] != calls[1]:
                continue
            for hap, a in enumerate(calls):
                if a:
                    edits[hap].append((pos, ref, [ref, *alts][a]))
    ref_seq = fasta.fetch("chr20", start, end)
    return (
        _apply_right_to_left(ref_seq, start, edits[0]),
        _apply_right_to_left(ref_seq, start, edits[1]),
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [(10004200, 10004260), (10097400, 10097500), (10070900, 10070960), (10000846, 10002407)],
)
def test_giab_haplotypes_match_the_vcf_text(fasta: FastaReference, start: int, end: int) -> None:
    variants = read_variants(require_path(VCF), fasta)
    result = haplotype_sequences(variants, fasta, "INTEGRATION", "chr20", start, end)
    assert result.sequences == _raw_phased_expectation(fasta, start, end)
    assert not [i for i in result.issues if i.kind == "overlap"]


def test_giab_phased_deletions_on_different_haplotypes(fasta: FastaReference) -> None:
    # 10097436 (37 bp -> 1, 1|0) and 10097453 (5 bp -> 1, 0|1) overlap on the reference only
    variants = read_variants(require_path(VCF), fasta)
    result = haplotype_sequences(variants, fasta, "INTEGRATION", "chr20", 10097400, 10097500)
    assert [x.pos for x in result.applied[0]] == [10097436]
    assert [x.pos for x in result.applied[1]] == [10097453]
    assert [len(s) for s in result.sequences] == [100 - 36, 100 - 4]


def test_phased_calls_from_two_phase_sets_are_reported(
    fasta: FastaReference, tmp_path: Path
) -> None:
    header = pysam.VariantHeader()
    header.contigs.add("chr20", length=63025520)
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_line('##FORMAT=<ID=PS,Number=1,Type=Integer,Description="Phase set">')
    header.add_sample("P1")
    path = tmp_path / "ps.vcf"
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for pos, ps in [(10000117, 10000117), (10000211, 10000211)]:
            base = fasta.fetch("chr20", pos - 1, pos)
            rec = out.new_record(
                contig="chr20", start=pos - 1, alleles=(base, "A" if base != "A" else "C")
            )
            rec.samples["P1"]["GT"] = (0, 1)
            rec.samples["P1"].phased = True
            rec.samples["P1"]["PS"] = ps
            out.write(rec)
    variants = read_variants(path, fasta)
    assert [v.genotypes["P1"].phase_set for v in variants.variants] == [10000117, 10000211]
    one = haplotype_sequences(variants, fasta, "P1", "chr20", 10000100, 10000150)
    assert one.issues == []
    both = haplotype_sequences(variants, fasta, "P1", "chr20", 10000100, 10000250)
    assert [i.kind for i in both.issues] == ["phase_sets"]


def test_bad_region_and_options(fasta: FastaReference, tiny) -> None:
    path, _ = tiny
    variants = read_variants(path, fasta)
    with pytest.raises(ConfigError, match="not within the reference"):
        haplotype_sequences(variants, fasta, "P1", "chr20", 10, 63025521)
    with pytest.raises(ConfigError, match="unphased must be"):
        haplotype_sequences(variants, fasta, "P1", "chr20", START, END, unphased="guess")
    with pytest.raises(ConfigError, match="sample 'NOPE' has no genotype"):
        haplotype_sequences(variants, fasta, "NOPE", "chr20", START, END)


@pytest.mark.parametrize("length", [11, 12])
def test_variant_windows_centre_snvs_and_indels(fasta: FastaReference, length: int) -> None:
    ref = fasta.fetch("chr20", 10000000, 10000100)

    def at(pos: int, n: int = 1) -> str:
        return ref[pos - 1 - 10000000 : pos - 1 - 10000000 + n]

    snv = Variant("chr20", 10000050, at(10000050), "A" if at(10000050) != "A" else "G")
    w = variant_windows(snv, fasta, length)
    left = (length - 1) // 2
    assert w.ref == ref[50 - 1 - left : 50 - 1 - left + length]
    assert w.alt == w.ref[:left] + snv.alt + w.ref[left + 1 :]
    assert w.ref_start == w.alt_start == 10000049 - left

    deletion = Variant("chr20", 10000050, at(10000050, 5), at(10000050))
    w = variant_windows(deletion, fasta, length)
    assert len(w.ref) == len(w.alt) == length
    lalt = (length - 1) // 2
    # ALT window: reference left flank, the anchor base, then the bases after the deleted ones
    assert w.alt == ref[49 - lalt : 49] + at(10000050) + ref[54 : 54 + length - 1 - lalt]
    lref = (length - 5) // 2
    assert w.ref == ref[49 - lref : 49 - lref + length]

    insertion = Variant("chr20", 10000050, at(10000050), at(10000050) + "TTTT")
    w = variant_windows(insertion, fasta, length)
    lins = (length - 5) // 2
    assert w.alt == ref[49 - lins : 49] + insertion.alt + ref[50 : 50 + length - 5 - lins]


def test_variant_windows_pad_at_contig_ends(fasta: FastaReference) -> None:
    first = Variant("chr20", 2, fasta.fetch("chr20", 1, 2), "A")
    w = variant_windows(first, fasta, 9)
    assert w.ref == "NNN" + fasta.fetch("chr20", 0, 6)
    assert w.ref_start == -3
    n = fasta.lengths["chr20"]
    last = Variant("chr20", n, fasta.fetch("chr20", n - 1, n), "A")
    w = variant_windows(last, fasta, 9)
    assert w.alt == fasta.fetch("chr20", n - 5, n - 1) + "A" + "NNNN"
    long_ins = Variant("chr20", 100, fasta.fetch("chr20", 99, 100), "ACGTACGTACGT")
    w = variant_windows(long_ins, fasta, 4)  # an allele longer than the window: its centre
    assert (w.alt, w.alt_start) == ("ACGT", 99 + 4)
    assert w.ref == fasta.fetch("chr20", 98, 102)
    with pytest.raises(ConfigError, match="positive integer"):
        variant_windows(first, fasta, 0)


def test_unphased_multiallelic_flags_only_the_alt_carried(
    fasta: FastaReference, tmp_path: Path
) -> None:
    header = pysam.VariantHeader()
    header.contigs.add("chr20", length=63025520)
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_sample("P1")
    path = tmp_path / "multi.vcf"
    base = fasta.fetch("chr20", 10000116, 10000117)
    alts = [b for b in "ACGT" if b != base][:2]
    with pysam.VariantFile(str(path), "w", header=header) as out:
        rec = out.new_record(contig="chr20", start=10000116, alleles=(base, *alts))
        rec.samples["P1"]["GT"] = (0, 2)
        out.write(rec)
    result = haplotype_sequences(read_variants(path, fasta), fasta, "P1", "chr20", START, END)
    assert [(v.alt, v.alt_index) for v in result.unphased] == [(alts[1], 2)]
    assert result.sequences == (fasta.fetch("chr20", START, END),) * 2
