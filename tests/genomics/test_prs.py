"""Polygenic risk score: a hand-made PGS Catalog scoring file on the GIAB NA12878 chr20 calls."""

from __future__ import annotations

import gzip
import json
import statistics
from pathlib import Path

import pysam
import pytest

from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.genomics.prs import polygenic_score, read_scoring_file
from tests.conftest import require_path

GIAB = "genomics/giab_chr20"
VCF = f"{GIAB}/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
FASTA = f"{GIAB}/ucsc.hg19.chr20.unittest.fasta.gz"

HEADER = """###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring
#format_version=2.0
##POLYGENIC SCORE (PGS) INFORMATION
#pgs_id=PGS999999
#pgs_name=test_score
#trait_reported=Test trait
#weight_type=beta
#genome_build=GRCh37
#variants_number={n}
"""

# chr_name, chr_position, effect_allele, other_allele, effect_weight; the GIAB calls at these
# positions (read from the VCF text in the test below) are written beside each row
ROWS = [
    ("20", 10000117, "T", "C", 0.5),  # C>T 0/1: dosage 1
    ("20", 10000439, "C", "A", 0.3),  # T>G 1/1: C/A is G/T on the other strand: dosage 2
    ("20", 10000598, "A", "T", 1.0),  # T>A 1/1: A/T, strand-ambiguous: skipped
    ("20", 10000694, "G", "A", -0.4),  # G>A 0/1: effect allele = REF: dosage 1
    ("20", 10000500, "A", "G", 0.7),  # not in the VCF: missing
    ("20", 10001436, "AAGGCT", "A", 0.1),  # insertion 1/1: dosage 2
    ("20", 10004223, "A", "AG", 0.25),  # A>AA,AG 1|2: REF copies 0
    ("20", 10004223, "AG", "A", 0.05),  # ... AG copies 1
    ("20", 10001019, "C", "T", 0.9),  # T>G: alleles do not fit: mismatch
]


def _write_score(path: Path, rows=ROWS, header: str = HEADER, hm: bool = False) -> Path:
    cols = ["rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight"]
    lines = [header.format(n=len(rows)).rstrip("\n")]
    if hm:
        lines.insert(1, "#HmPOS_build=GRCh37\n#HmPOS_date=2026-01-01")
        cols += ["hm_chr", "hm_pos"]
    lines.append("\t".join(cols))
    for chrom, pos, ea, oa, w in rows:
        row = [".", chrom, str(pos + 1_000_000 if hm else pos), ea, oa, str(w)]
        if hm:  # chr_position is the author's (wrong build), hm_pos the harmonised one
            row += [chrom, str(pos)]
        lines.append("\t".join(row))
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def _gt_text(pos: int) -> list[str]:
    with gzip.open(require_path(VCF), "rt") as handle:
        return [
            line.split("\t")[9].split(":")[0]
            for line in handle
            if not line.startswith("#") and int(line.split("\t")[1]) == pos
        ]


def test_score_equals_the_hand_computed_sum(tmp_path: Path) -> None:
    # the genotypes the comments above rely on, read from the VCF text
    assert _gt_text(10000117) == ["0/1"]
    assert _gt_text(10000439) == ["1/1"]
    assert _gt_text(10000694) == ["0/1"]
    assert _gt_text(10001436) == ["1/1"]
    assert _gt_text(10004223) == ["1|2"]
    assert _gt_text(10000500) == []
    expected = 1 * 0.5 + 2 * 0.3 + 1 * -0.4 + 2 * 0.1 + 0 * 0.25 + 1 * 0.05
    result = polygenic_score(
        _write_score(tmp_path / "PGS999999.txt.gz"),
        require_path(VCF),
        reference=require_path(FASTA),
        vcf_genome_build="hg19",
    )
    assert result.score == pytest.approx(expected)
    assert result.pgs_id == "PGS999999"
    assert result.genome_build == "GRCh37"
    assert result.sample == "INTEGRATION"
    assert (result.n_variants, result.n_matched) == (9, 6)
    assert result.variant_coverage == pytest.approx(6 / 9)
    total = sum(abs(r[4]) for r in ROWS)
    assert result.weight_coverage == pytest.approx((0.5 + 0.3 + 0.4 + 0.1 + 0.25 + 0.05) / total)
    assert result.issue_counts == {"ambiguous": 1, "missing": 1, "allele_mismatch": 1}
    assert {(i.pos, i.kind) for i in result.issues} == {
        (10000598, "ambiguous"),
        (10000500, "missing"),
        (10001019, "allele_mismatch"),
    }
    strands = {m.pos: m.strand for m in result.matches if m.weight != 0.05}
    assert strands[10000439] == "flipped"
    assert strands[10000117] == "forward"
    assert result.z_score is None
    assert json.loads(json.dumps(result.to_dict()))["score"] == pytest.approx(expected)


def test_harmonised_columns_win_and_standardisation(tmp_path: Path) -> None:
    path = _write_score(tmp_path / "PGS999999_hmPOS_GRCh37.txt", hm=True)
    scoring = read_scoring_file(path)
    assert scoring.harmonised
    assert scoring.variants[0].pos == 10000117  # hm_pos, not chr_position
    panel = [0.0, 0.5, 1.0, 1.5, 2.0]
    result = polygenic_score(scoring, require_path(VCF), reference_scores=panel)
    score = 0.95
    assert result.score == pytest.approx(score)
    mean, sd = statistics.mean(panel), statistics.stdev(panel)
    assert result.z_score == pytest.approx((score - mean) / sd)
    assert result.percentile == pytest.approx(40.0)  # 0.0 and 0.5 of 5 are <= 0.95
    given = polygenic_score(scoring, require_path(VCF), reference_mean=1.0, reference_sd=0.5)
    assert given.z_score == pytest.approx((score - 1.0) / 0.5)
    assert given.percentile is None
    with pytest.raises(ConfigError, match="positive sd"):
        polygenic_score(scoring, require_path(VCF), reference_mean=1.0, reference_sd=0.0)
    with pytest.raises(ConfigError, match="the VCF on GRCh38"):
        polygenic_score(scoring, require_path(VCF), vcf_genome_build="hg38")


def _af_vcf(path: Path) -> Path:
    header = pysam.VariantHeader()
    header.contigs.add("chr1", length=1000)
    header.add_line('##INFO=<ID=AF,Number=A,Type=Float,Description="ALT frequency">')
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_sample("S1")
    rows = [
        (100, "A", "T", 0.1, (0, 1)),
        (200, "A", "T", 0.1, (1, 1)),
        (300, "C", "G", 0.45, (1, 1)),
        (400, "G", "T", 0.2, (None, None)),
    ]
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for pos, ref, alt, af, gt in rows:
            rec = out.new_record(contig="chr1", start=pos - 1, alleles=(ref, alt))
            rec.info["AF"] = (af,)
            rec.samples["S1"]["GT"] = gt
            out.write(rec)
    return path


def test_ambiguous_snps_resolved_by_allele_frequency(tmp_path: Path) -> None:
    vcf = _af_vcf(tmp_path / "af.vcf")
    score = tmp_path / "score.txt"
    score.write_text(
        "#pgs_id=PGS000000\n#genome_build=NR\n"
        "chr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\tallelefrequency_effect\n"
        "1\t100\tA\tT\t1.0\t0.85\n"  # effect A common in both: forward, A = REF, 0/1 -> 1 copy
        "1\t200\tA\tT\t2.0\t0.15\n"  # effect A rare in the score, REF A common: flipped -> T, 1/1
        "1\t300\tC\tG\t4.0\t0.30\n"  # VCF AF 0.45: too close to 0.5, skipped
        "1\t400\tG\tT\t8.0\t\n"  # missing GT
    )
    default = polygenic_score(score, vcf)
    assert default.issue_counts == {"ambiguous": 3, "missing_genotype": 1}
    assert default.score == 0.0
    result = polygenic_score(score, vcf, ambiguous_max_maf=0.4)
    assert result.score == pytest.approx(1.0 * 1 + 2.0 * 2)
    assert [m.strand for m in result.matches] == ["inferred-forward", "inferred-flipped"]
    assert result.issue_counts == {"ambiguous": 1, "missing_genotype": 1}
    assert result.genome_build is None
    with pytest.raises(ConfigError, match="ambiguous_max_maf"):
        polygenic_score(score, vcf, ambiguous_max_maf=0.7)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("chr_name\tchr_position\teffect_allele\n1\t5\tA\n",
         r"missing column\(s\) \['effect_weight'\]"),
        ("chr_name\tchr_position\teffect_allele\teffect_weight\n1\t5\tA\tbig\n",
         r"line 3, column effect_weight: expected a number, got 'big'"),
        ("chr_name\tchr_position\teffect_allele\teffect_weight\tdosage_0_weight\n1\t5\tA\t1\t0\n",
         "non-additive"),
        ("chr_name\tchr_position\teffect_allele\teffect_weight\tis_recessive\n1\t5\tA\t1\tTrue\n",
         "line 3, column is_recessive: only additive"),
    ],
)  # fmt: skip
def test_malformed_scoring_files(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("#pgs_id=X\n" + body)
    with pytest.raises(DataFormatError, match=message):
        read_scoring_file(path)


def test_absent_scoring_file_and_unknown_sample(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="scoring file not found"):
        read_scoring_file(tmp_path / "none.txt")
    with pytest.raises(DataFormatError, match=r"sample\(s\) \['NOPE'\] not in the VCF"):
        polygenic_score(_write_score(tmp_path / "s.txt"), require_path(VCF), sample="NOPE")


def test_cli_prs_in_a_fresh_process_gives_the_hand_computed_score(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    expected = 1 * 0.5 + 2 * 0.3 + 1 * -0.4 + 2 * 0.1 + 0 * 0.25 + 1 * 0.05
    score = _write_score(tmp_path / "PGS999999.txt")
    cmd = [sys.executable, "-c", "from precisionmed.cli.main import main; main()", "genomics",
           "prs", "--vcf", str(require_path(VCF)), "--score", str(score), "--fasta",
           str(require_path(FASTA)), "--vcf-build", "hg19", "--out", str(tmp_path / "o"),
           "--json"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(done.stdout)
    assert record["score"] == pytest.approx(expected)
    assert record["n_matched"] == 6
    assert json.loads((tmp_path / "o" / "prs.json").read_text())["score"] == pytest.approx(expected)
    # a build that disagrees with the score's is one line, not a traceback
    bad = subprocess.run(
        [*cmd[:-5], "--vcf-build", "GRCh38"], capture_output=True, text=True, env=os.environ
    )
    assert bad.returncode != 0
    assert "Traceback" not in bad.stderr
    assert "GRCh" in bad.stderr
    typo = subprocess.run([*cmd, "--rename-contigs", "chr"], capture_output=True, text=True)
    assert typo.returncode != 0
    assert "--rename-contigs: expected add-chr, strip-chr or auto; got 'chr'" in typo.stderr
