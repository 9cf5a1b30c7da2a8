"""Variant effect and haplotype scoring on the GIAB chr20 files, with a tiny CNN trained once."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest

import precisionmed
from precisionmed.data import load_dataset
from precisionmed.errors import ConfigError
from precisionmed.genomics.haplotype_effect import score_haplotypes
from precisionmed.genomics.haplotypes import variant_windows
from precisionmed.genomics.training import train_sequence_model
from precisionmed.genomics.variant_effect import score_variants
from precisionmed.genomics.vcf import read_variants
from tests.conftest import require_dataset, require_path

GIAB = "genomics/giab_chr20"
VCF = f"{GIAB}/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
FASTA = f"{GIAB}/ucsc.hg19.chr20.unittest.fasta.gz"
BED = f"{GIAB}/test_nist.b37_chr20_100kbp_at_10mb.bed"
CHR20_LENGTH = 63025520


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_dataset("gue-tf0")
    out = tmp_path_factory.mktemp("varscore") / "model"
    data = load_dataset("gue-tf0").subset(200)
    params = {"channels": 8, "max_epochs": 1}
    train_sequence_model(data, "cnn", out, params=params, n_boot=20, progress=False)
    return out


@pytest.fixture(scope="module")
def predictor(model_dir: Path):
    return precisionmed.load(model_dir)


@pytest.fixture(scope="module")
def reference() -> pysam.FastaFile:
    return pysam.FastaFile(str(require_path(FASTA)))


def _base(reference: pysam.FastaFile, pos: int, n: int = 1) -> str:
    return reference.fetch("chr20", pos - 1, pos - 1 + n).upper()


def _centred(reference: pysam.FastaFile, pos: int, ref: str, alt: str, length: int) -> str:
    """Independent expectation: edit a wide stretch of chr20, then cut ``length`` bases with the
    ALT allele in the middle (``(length - len(alt)) // 2`` bases on its left)."""
    flank = 2 * length
    start = pos - 1 - flank
    stretch = reference.fetch("chr20", start, pos - 1 + len(ref) + flank).upper()
    assert stretch[flank : flank + len(ref)] == ref
    edited = stretch[:flank] + alt + stretch[flank + len(ref) :]
    left = (length - len(alt)) // 2
    return edited[flank - left : flank - left + length]


def test_ref_and_alt_scores_equal_a_direct_prediction_on_the_edited_sequence(
    predictor, reference: pysam.FastaFile
) -> None:
    result = score_variants(predictor, require_path(VCF), require_path(FASTA))
    length = predictor.input_spec.length
    assert result.window == length == 101
    assert result.ref.shape == result.alt.shape == (len(result.variants), 1)
    cases = {(10000117, "C", "T"), (10001436, "A", "AAGGCT"), (10004769, "TAAAACTATGC", "T")}
    found = {(v.pos, v.ref, v.alt): i for i, v in enumerate(result.variants)}
    assert cases <= set(found)
    for pos, ref, alt in cases:
        windows = [_centred(reference, pos, ref, allele, length) for allele in (ref, alt)]
        direct = predictor.predict_sequences(windows)
        i = found[(pos, ref, alt)]
        np.testing.assert_allclose(result.ref[i], direct[0], rtol=1e-6)
        np.testing.assert_allclose(result.alt[i], direct[1], rtol=1e-6)
        p, q = float(direct[0, 0]), float(direct[1, 0])
        expected_log_odds = np.log(q / (1 - q)) - np.log(p / (1 - p))
        assert result.diff[i, 0] == pytest.approx(q - p, abs=1e-7)
        assert result.log_odds[i, 0] == pytest.approx(expected_log_odds, rel=1e-4, abs=1e-7)


def _write_vcf(path: Path, rows: list[tuple[str, int, str, tuple[str, ...]]]) -> Path:
    header = pysam.VariantHeader()
    header.contigs.add("chr20", length=CHR20_LENGTH)
    header.contigs.add("20", length=CHR20_LENGTH)
    header.add_line('##INFO=<ID=END,Number=1,Type=Integer,Description="End of the record">')
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for contig, pos, ref, alts in rows:
            stop = pos - 1 + len(ref)  # explicit: pysam cannot infer it for a symbolic ALT
            out.write(out.new_record(contig=contig, start=pos - 1, stop=stop, alleles=(ref, *alts)))
    return path


def test_wrong_ref_and_contig_are_reported_per_variant_and_the_rest_is_scored(
    predictor, reference: pysam.FastaFile, tmp_path: Path
) -> None:
    wrong = "A" if _base(reference, 10000211) != "A" else "G"
    rows = [
        ("chr20", 10000117, "C", ("T",)),
        ("chr20", 10000211, wrong, ("T",)),  # REF does not match the FASTA
        ("chr20", 10004223, "A", ("AA", "<DEL>")),  # a symbolic ALT beside a scorable one
        ("20", 10000439, "T", ("G",)),  # contig named as in GRCh37, not hg19
    ]
    vcf = _write_vcf(tmp_path / "mixed.vcf", rows)
    result = score_variants(predictor, vcf, require_path(FASTA))
    assert [(v.pos, v.alt) for v in result.variants] == [(10000117, "T"), (10004223, "AA")]
    kinds = {(i.pos, i.kind) for i in result.issues}
    assert {(10000211, "ref_mismatch"), (10000439, "unknown_contig")} <= kinds
    assert (10004223, "symbolic_allele") in kinds

    out = result.write_vcf(tmp_path / "scored.vcf.gz")
    assert Path(f"{out}.tbi").is_file()
    with pysam.VariantFile(str(out)) as scored:
        for key in ("PM_REF", "PM_ALT", "PM_DIFF", "PM_LOGODDS"):
            assert scored.header.info[key].number == "A"
            assert scored.header.info[key].type == "Float"
        records = list(scored)
    assert [(r.contig, r.pos) for r in records] == [(c, p) for c, p, _, _ in rows]
    assert records[0].info["PM_DIFF"][0] == pytest.approx(result.diff[0, 0], abs=1e-6)
    assert "PM_REF" not in records[1].info
    assert "PM_REF" not in records[3].info
    assert records[2].info["PM_ALT"][0] == pytest.approx(result.alt[1, 0], abs=1e-6)
    assert records[2].info["PM_ALT"][1] is None  # the <DEL> is not scored

    with result.write_tsv(tmp_path / "scored.tsv").open() as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    issue = {int(r["pos"]): r["issue"] for r in table}
    assert issue[10000211].startswith("ref_mismatch")
    assert issue[10000117] == ""
    assert issue[10000439].startswith("unknown_contig")

    renamed = score_variants(predictor, vcf, require_path(FASTA), rename_contigs="auto")
    assert (10000439, "G") in [(v.pos, v.alt) for v in renamed.variants]


def test_output_vcf_keeps_every_record_of_the_giab_file(predictor, tmp_path: Path) -> None:
    result = score_variants(predictor, require_path(VCF), require_path(FASTA))
    out = result.write_vcf(tmp_path / "giab.vcf.gz")
    with pysam.VariantFile(str(require_path(VCF))) as source:
        expected = [(r.pos, r.ref, r.alts) for r in source]
    with pysam.VariantFile(str(out)) as scored:
        records = list(scored)
    assert [(r.pos, r.ref, r.alts) for r in records] == expected
    assert all(len(r.info["PM_DIFF"]) == len(r.alts) for r in records)
    assert result.n_records == len(records) == 221


def _phased_vcf(path: Path, rows: list[tuple[int, str, str, tuple, bool]]) -> Path:
    header = pysam.VariantHeader()
    header.contigs.add("chr20", length=CHR20_LENGTH)
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_sample("P1")
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for pos, ref, alt, gt, phased in rows:
            rec = out.new_record(contig="chr20", start=pos - 1, alleles=(ref, alt))
            rec.samples["P1"]["GT"] = gt
            rec.samples["P1"].phased = phased
            out.write(rec)
    return path


def test_haplotypes_scored_against_the_reference_and_unphased_alleles_alone(
    predictor, reference: pysam.FastaFile, tmp_path: Path
) -> None:
    snv, deletion, unphased = 10000140, 10000160, 10000170
    other = {b: "A" if b != "A" else "C" for b in "ACGTN"}
    rows = [
        (snv, _base(reference, snv), other[_base(reference, snv)], (0, 1), True),
        (deletion, _base(reference, deletion, 4), _base(reference, deletion), (1, 0), True),
        (unphased, _base(reference, unphased), other[_base(reference, unphased)], (0, 1), False),
    ]
    vcf = _phased_vcf(tmp_path / "phased.vcf", rows)
    bed = tmp_path / "genes.bed"
    bed.write_text("chr20\t10000130\t10000190\tGENE1\n")  # 60 bp: one 101-bp centred window
    result = score_haplotypes(predictor, vcf, require_path(FASTA), bed)
    (region,) = result.regions
    ws = 10000130 + 30 - 50
    assert region["windows"] == [ws]
    ref_window = reference.fetch("chr20", ws, ws + 101).upper()
    hap2 = list(ref_window)
    hap2[snv - 1 - ws] = rows[0][2]
    expected = predictor.predict_sequences([ref_window, "".join(hap2)])
    h1, h2 = region["haplotypes"]
    assert h2["variants"] == [f"chr20:{snv}:{rows[0][1]}>{rows[0][2]}"]
    assert h2["diff"] == pytest.approx(float(expected[1, 0] - expected[0, 0]), abs=1e-6)
    assert h1["variants"] == [f"chr20:{deletion}:{rows[1][1]}>{rows[1][2]}"]
    # the 3-base deletion's window: 101 haplotype bases centred on the reference window's span
    # (98 bases there), so it starts one base before the reference window
    stretch = reference.fetch("chr20", ws - 1, ws + 104).upper()
    at = deletion - (ws - 1)
    hap1 = (stretch[:at] + stretch[at + 3 :])[:101]
    direct_h1 = predictor.predict_sequences([hap1])[0, 0] - expected[0, 0]
    assert h1["max_abs_diff"] == pytest.approx(abs(float(direct_h1)), abs=1e-6)
    (single,) = region["unphased"]
    assert single["flag"] == "unphased"
    assert single["variant"].startswith(f"chr20:{unphased}:")
    variant = next(v for v in read_variants(vcf, require_path(FASTA)).variants if v.pos == unphased)
    w = variant_windows(variant, require_path(FASTA), 101)
    direct = predictor.predict_sequences([w.ref, w.alt])
    assert single["diff"] == pytest.approx(float(direct[1, 0] - direct[0, 0]), abs=1e-6)

    json_path, tsv_path = result.write(tmp_path / "out")
    assert json.loads(json_path.read_text())["sample"] == "P1"
    with tsv_path.open() as handle:
        phased = [r["phased"] for r in csv.DictReader(handle, delimiter="\t")]
    assert phased == ["yes", "yes", "no (unphased)"]


CLI = [sys.executable, "-m", "precisionmed.cli.main", "genomics"]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_score_variants_and_haplotypes_commands_write_their_files(
    model_dir: Path, tmp_path: Path
) -> None:
    common = ["--vcf", str(require_path(VCF)), "--fasta", str(require_path(FASTA))]
    out, tsv = tmp_path / "scored.vcf.gz", tmp_path / "scored.tsv"
    args = ["score-variants", str(model_dir), *common, "--out", str(out), "--tsv", str(tsv)]
    summary = json.loads(_run([*args, "--json"]).stdout)
    assert summary["records"] == 221
    assert summary["window"] == 101
    with pysam.VariantFile(str(out)) as scored:
        assert sum(1 for r in scored if "PM_LOGODDS" in r.info) == 221
    assert tsv.read_text().startswith("chrom\tpos\tid\tref\talt\toutput\tref_prob\talt_prob")

    regions = tmp_path / "three.bed"
    regions.write_text("".join(require_path(BED).read_text().splitlines(True)[:3]))
    args = ["haplotypes", str(model_dir), *common, "--regions", str(regions)]
    report = json.loads(_run([*args, "--out", str(tmp_path / "hap"), "--json"]).stdout)
    assert report["sample"] == "INTEGRATION"
    assert len(report["regions"]) == 3
    assert (tmp_path / "hap" / "haplotypes.tsv").is_file()


def test_score_variants_refuses_an_out_inside_the_model_dir(model_dir: Path) -> None:
    from typer.testing import CliRunner

    from precisionmed.cli.main import app

    args = ["genomics", "score-variants", str(model_dir), "--vcf", str(require_path(VCF))]
    args += ["--fasta", str(require_path(FASTA)), "--out", str(model_dir / "x.vcf.gz")]
    done = CliRunner().invoke(app, args)
    assert isinstance(done.exception, ConfigError)
    assert "inside the model directory" in str(done.exception)
    assert not (model_dir / "x.vcf.gz").exists()


def test_multi_class_model_writes_four_info_fields_per_class(tmp_path: Path) -> None:
    require_dataset("uci-splice")
    data = load_dataset("uci-splice").subset(150)
    train_sequence_model(
        data, "cnn", tmp_path / "m", params={"channels": 8, "max_epochs": 1}, n_boot=20,
        progress=False,
    )  # fmt: skip
    splice = precisionmed.load(tmp_path / "m")
    classes = splice.class_names
    assert len(classes) == 3
    rows = [("chr20", 10000117, "C", ("T",)), ("chr20", 10004223, "A", ("AA", "AG"))]
    result = score_variants(splice, _write_vcf(tmp_path / "two.vcf", rows), require_path(FASTA))
    assert result.window == splice.input_spec.length
    assert result.diff.shape == (3, 3)
    np.testing.assert_allclose(result.ref.sum(axis=1), 1, atol=1e-5)  # softmax over classes
    with pysam.VariantFile(str(result.write_vcf(tmp_path / "s.vcf.gz"))) as scored:
        declared = set(scored.header.info)
        second = list(scored)[1]
    for c in classes:
        assert {f"PM_REF_{c}", f"PM_ALT_{c}", f"PM_DIFF_{c}", f"PM_LOGODDS_{c}"} <= declared
    assert second.info[f"PM_DIFF_{classes[2]}"] == pytest.approx(result.diff[1:, 2], abs=1e-6)
    table = result.rows()
    assert [r["output"] for r in table[:3]] == classes


def test_saturation_mutagenesis_equals_direct_predictions_and_draws_a_logo(
    predictor, model_dir: Path, tmp_path: Path
) -> None:
    from precisionmed.genomics.mutagenesis import saturation_mutagenesis

    line = require_path("genomics/gue/tf/0/test.csv").read_text().splitlines()[1]
    seq = line.split(",")[0]
    result = saturation_mutagenesis(predictor, seq)
    assert result.effects.shape == (len(seq), 4, 1)
    own = ["ACGT".index(b) for b in seq]
    assert np.all(result.effects[np.arange(len(seq)), own, 0] == 0)
    mutants = [seq[:10] + "A" + seq[11:], seq[:50] + "T" + seq[51:]]
    direct = predictor.predict_sequences([seq, *mutants])
    assert result.effects[10, 0, 0] == pytest.approx(direct[1, 0] - direct[0, 0], abs=1e-6)
    assert result.effects[50, 3, 0] == pytest.approx(direct[2, 0] - direct[0, 0], abs=1e-6)
    assert result.importance()[10] == pytest.approx(-result.effects[10, :, 0].sum() / 3)

    png = tmp_path / "logo.png"
    args = ["mutagenesis", str(model_dir), "--sequence", seq, "--out", str(png), "--json"]
    report = json.loads(_run(args).stdout)
    assert report["importance"] == pytest.approx(result.importance().tolist(), abs=1e-6)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(png.with_suffix(".json").read_text())["sequence"] == seq


def test_score_variants_refuses_a_wrong_output_name_before_any_work(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "score-variants", str(tmp_path / "no-model"), "--vcf", "x.vcf.gz",
         "--fasta", "ref.fa", "--out", str(tmp_path / "scored.vcf")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "name it *.vcf.gz" in done.stderr  # not "no model directory": checked first
