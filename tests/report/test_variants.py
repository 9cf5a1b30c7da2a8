"""Variant scoring in the report: a DNA sequence model on the case's VCF against its reference
genome (GIAB chr20 slice), through the predictor's ``score_variants``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app
from precisionmed.report import write_report
from tests.conftest import require_dataset, require_path

GIAB = "genomics/giab_chr20/"


@pytest.fixture(scope="module")
def dna_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding one 1-epoch sequence model (101 bp human TF binding, GUE)."""
    require_dataset("gue-tf0")
    root = tmp_path_factory.mktemp("dna-models")
    result = CliRunner().invoke(app, [
        "genomics", "train", "--dataset", "gue-tf0", "--max-epochs", "1", "--subset", "200",
        "--n-boot", "20", "--seed", "0", "--out", str(root / "tf0"),
    ])  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    return root


def test_the_case_vcf_is_scored_against_its_reference(dna_models: Path, tmp_path: Path) -> None:
    require_path(GIAB + "ucsc.hg19.chr20.unittest.fasta.gz")
    case = tmp_path / "case.yaml"
    case.write_text(
        "kind: case\nprovenance: GIAB\n"
        f"vcf: mirror:{GIAB}test_nist.b37_chr20_100kbp_at_10mb.vcf.gz\n"
        f"reference: mirror:{GIAB}ucsc.hg19.chr20.unittest.fasta.gz\n"
    )
    report = write_report(case, dna_models, tmp_path / "out")
    section = next(s for s in report["sections"] if s["key"] == "variants")
    (finding,) = section["findings"]
    (record,) = finding["records"]
    # 221 VCF records, one multi-allelic split in two: 222 variants, 10 largest listed
    assert record["details"]["variants_scored"] == 222
    assert record["details"]["vcf_records"] == 221
    changes = list(record["values"].values())
    assert len(changes) == 10
    assert [abs(c) for c in changes] == sorted((abs(c) for c in changes), reverse=True)
    assert record["prediction"] == next(iter(record["values"]))
    assert any("split" in w for w in record["warnings"])
    assert Path(finding["figures"][0]["png"]).is_file()


def test_without_a_reference_the_model_is_not_run(dna_models: Path, tmp_path: Path) -> None:
    require_path(GIAB + "test_nist.b37_chr20_100kbp_at_10mb.vcf.gz")
    case = tmp_path / "case.yaml"
    case.write_text(f"kind: case\nvcf: mirror:{GIAB}test_nist.b37_chr20_100kbp_at_10mb.vcf.gz\n")
    report = write_report(case, dna_models, tmp_path / "out")
    section = next(s for s in report["sections"] if s["key"] == "variants")
    assert section["status"] == "not assessed"
    (reason,) = section["reasons"]
    assert "the case has no reference genome (FASTA)" in reason
