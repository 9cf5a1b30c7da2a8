"""A polygenic score as a model directory (``genomics prs-model``), reloaded with
``precisionmed.load``: the hand-made scoring file and the GIAB chr20 VCF of ``test_prs``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from precisionmed import load
from precisionmed.errors import ArtifactError, ConfigError
from precisionmed.genomics.prs import polygenic_score
from precisionmed.genomics.prs_predictor import save_prs_model
from precisionmed.predict import VcfInputSpec, input_spec_from_dict
from tests.conftest import require_path
from tests.genomics.test_prs import FASTA, VCF, _write_score


def test_reloaded_model_gives_the_score_of_polygenic_score(tmp_path: Path) -> None:
    score = _write_score(tmp_path / "PGS999999.txt.gz")
    model = save_prs_model(score, tmp_path / "m", reference_mean=1.0, reference_sd=0.5)
    pred = load(model)
    assert pred.kind == "polygenic-score"
    assert pred.input_spec == VcfInputSpec(genome_build="GRCh37")
    assert input_spec_from_dict(pred.input_spec.to_dict()) == pred.input_spec
    assert pred.model_name == "polygenic score PGS999999 (Test trait)"
    # the scoring file is inside, under the manifest: the version changes with it
    assert "score/PGS999999.txt.gz" in pred.artifact.files
    vcf, fasta = require_path(VCF), require_path(FASTA)
    direct = polygenic_score(score, vcf, reference=fasta, reference_mean=1.0, reference_sd=0.5)
    (record,) = pred.predict(vcf, fasta=fasta, vcf_build="hg19")
    assert record.prediction == direct.score
    assert record.values == {
        "score": direct.score,
        "z_score": direct.z_score,
        "variant_coverage": direct.variant_coverage,
        "weight_coverage": direct.weight_coverage,
    }
    assert direct.z_score == pytest.approx((direct.score - 1.0) / 0.5)
    assert record.model_version == pred.model_version
    assert (record.details["n_matched"], record.details["n_variants"]) == (6, 9)
    assert record.details["pgs_id"] == "PGS999999"
    assert record.details["trait"] == "Test trait"
    assert len(record.warnings) == 3
    assert any("not scored (ambiguous)" in w and "10000598" in w for w in record.warnings)
    # a VCF on another build is refused before scoring
    with pytest.raises(ConfigError, match="GRCh38"):
        pred.predict(vcf, vcf_build="hg38")
    # an edited scoring file is caught by the manifest
    (model / "score" / "PGS999999.txt.gz").write_bytes(b"changed")
    with pytest.raises(ArtifactError, match="PGS999999"):
        load(model)


def test_bad_options_are_refused_before_writing(tmp_path: Path) -> None:
    score = _write_score(tmp_path / "PGS999999.txt")
    with pytest.raises(ConfigError, match="GRCh37, --genome-build says GRCh38"):
        save_prs_model(score, tmp_path / "a", genome_build="hg38")
    with pytest.raises(ConfigError, match="both the reference mean and sd"):
        save_prs_model(score, tmp_path / "b", reference_mean=1.0)
    with pytest.raises(ConfigError, match="ambiguous_max_maf"):
        save_prs_model(score, tmp_path / "c", ambiguous_max_maf=0.7)
    assert not any((tmp_path / d).exists() for d in "abc")


def test_cli_prs_model_in_a_fresh_process(tmp_path: Path) -> None:
    score = _write_score(tmp_path / "PGS999999.txt")
    cmd = [sys.executable, "-c", "from precisionmed.cli.main import main; main()", "genomics",
           "prs-model", "--score", str(score), "--out", str(tmp_path / "m"),
           "--reference-mean", "0.5", "--reference-sd", "0.25", "--json"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert (out["pgs_id"], out["genome_build"], out["n_variants"]) == ("PGS999999", "GRCh37", 9)
    (record,) = load(tmp_path / "m").predict(require_path(VCF))
    assert record.values["z_score"] == pytest.approx((0.95 - 0.5) / 0.25)
    again = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, timeout=120)
    assert again.returncode != 0
    assert "Traceback" not in again.stderr
