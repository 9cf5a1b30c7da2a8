"""``precisionmed report``: a FHIR case through every applicable model to HTML, JSON and FHIR.

One report is written in a fresh process (the console script's path) and checked from every side;
the other cases run in-process.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app
from precisionmed.errors import ConfigError, DataFormatError
from precisionmed.report import SECTIONS, write_report
from tests.report.conftest import write_bundle


@pytest.fixture(scope="module")
def written(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The report of a FHIR Bundle, written by ``python -m precisionmed.cli.main report``."""
    folder = tmp_path_factory.mktemp("case")
    case = write_bundle(folder)
    out = folder / "report"
    cmd = [sys.executable, "-m", "precisionmed.cli.main", "report", str(case),
           "--models", str(models_dir), "--out", str(out), "--json"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


def _section(report: dict, key: str) -> dict:
    return next(s for s in report["sections"] if s["key"] == key)


def test_every_section_is_reported_and_nothing_is_invented(written: tuple[Path, dict]) -> None:
    out, report = written
    assert [s["key"] for s in report["sections"]] == list(SECTIONS)
    assert json.loads((out / "report.json").read_text())["sections"] == report["sections"]
    assessed = {s["key"] for s in report["sections"] if s["status"] == "assessed"}
    assert assessed == {"imaging", "survival", "prs"}
    # the VCF is there but no variant model: said so, no values
    variants = _section(report, "variants")
    assert variants["findings"] == []
    assert variants["reasons"] == ["No variant-effect model in the models folder."]
    assert report["case"]["vcf"]["path"].endswith("test_nist.b37_chr20_100kbp_at_10mb.vcf.gz")
    # the recommender needs smokeyrs, which the Bundle lacks: not assessed, the column named
    (reason,) = _section(report, "treatment")["reasons"]
    assert "'smokeyrs' is missing" in reason
    assert "Built from public data" in report["provenance"]


def test_imaging_finding_has_gradcam_and_calibrated_probabilities(
    written: tuple[Path, dict], models_dir: Path
) -> None:
    from precisionmed import load

    _out, report = written
    (finding,) = _section(report, "imaging")["findings"]
    (record,) = finding["records"]
    model = load(models_dir / "imaging")
    assert finding["model_version"] == model.model_version
    assert set(record["values"]) == {"malignant", "normal, benign"}
    assert sum(record["values"].values()) == pytest.approx(1.0)
    assert record["calibration"]["method"].startswith(("temperature scaling", "none"))
    gradcam = finding["figures"][0]
    assert gradcam["title"].startswith("Grad-CAM of ")
    assert Path(gradcam["png"]).read_bytes()[:4] == b"\x89PNG"


def test_survival_inputs_come_from_loinc_snomed_and_the_patient(written: tuple[Path, dict]) -> None:
    _out, report = written
    (finding,) = _section(report, "survival")["findings"]
    inputs = finding["inputs"]
    assert inputs["values"]["sysbp"] == 135.0
    assert inputs["values"]["afb"] == "1"  # confirmed atrial fibrillation
    assert inputs["values"]["chf"] == "0"  # refuted
    assert inputs["values"]["gender"] == "1"  # WHAS500: 1 = female
    assert inputs["values"]["age"] == pytest.approx(74.0, abs=0.1)  # at the latest observation
    assert sorted(inputs["missing"]) == ["av3", "cvd", "los", "miord", "mitype"]
    (record,) = finding["records"]
    for column in inputs["missing"]:
        assert any(f"column '{column}': missing; imputed" in w for w in record["warnings"])
    assert record["interval_level"] == pytest.approx(4 / 6)  # 5 refits: their range
    assert record["details"]["survival"][0] >= record["details"]["survival"][-1]


def test_polygenic_score_of_the_case_vcf(written: tuple[Path, dict], models_dir: Path) -> None:
    from precisionmed import load
    from precisionmed.genomics.prs import polygenic_score

    _out, report = written
    (finding,) = _section(report, "prs")["findings"]
    model = load(models_dir / "prs")
    assert (finding["model"], finding["model_version"]) == (model.model_name, model.model_version)
    assert finding["kind"] == "polygenic-score"
    (record,) = finding["records"]
    assert record["model_version"] == model.model_version
    direct = polygenic_score(model.scoring, record["input"], reference_mean=0.5, reference_sd=0.25)
    assert record["values"]["score"] == pytest.approx(direct.score)
    assert record["values"]["z_score"] == pytest.approx((direct.score - 0.5) / 0.25)
    assert record["values"]["variant_coverage"] == pytest.approx(6 / 9)
    assert (record["details"]["pgs_id"], record["details"]["trait"]) == ("PGS999999", "Test trait")
    assert len(record["warnings"]) == 3  # ambiguous, missing, allele mismatch


def test_html_is_self_contained_and_every_figure_names_model_calibration_interval(
    written: tuple[Path, dict],
) -> None:
    out, report = written
    html = (out / "report.html").read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', html)
    n_figures = sum(len(f["figures"]) for s in report["sections"] for f in s["findings"])
    assert len(sources) == n_figures >= 3
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r'(src|href)="(http|file|/)', html)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    assert len(captions) == n_figures
    for text in captions:
        assert "(version " in text
        assert "calibration: " in text
        assert "interval: " in text
    assert html.count("not assessed</span>") == 4
    assert "Model <b>polygenic score PGS999999 (Test trait)</b>, version " in html
    assert "Built from public data" in html


def test_fhir_outputs_validate_with_r4b(written: tuple[Path, dict]) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    out, report = written
    risks = sorted((out / "fhir").glob("RiskAssessment-*.json"))
    assert len(risks) == 2  # one per record: the image, the survival curve
    parsed = [
        get_fhir_model_class("RiskAssessment").model_validate_json(p.read_text()) for p in risks
    ]
    assert {r.subject.reference for r in parsed} == {report["case"]["patient"]}
    (survival,) = [r for r in parsed if r.prediction[0].outcome.text.startswith("event by")]
    (record,) = _section(report, "survival")["findings"][0]["records"]
    times, curve = record["details"]["times"], record["details"]["survival"]
    i = min(range(len(times)), key=lambda j: abs(times[j] - 365))
    assert float(survival.prediction[0].probabilityDecimal) == pytest.approx(1 - curve[i], abs=1e-5)
    assert any("interval" in n.text for n in survival.note)
    text = (out / "fhir" / "DiagnosticReport.json").read_text()
    diag = get_fhir_model_class("DiagnosticReport").model_validate_json(text)
    form = json.loads(text)["presentedForm"][0]
    assert form["contentType"] == "text/html"
    assert base64.b64decode(form["data"]).decode() == (out / "report.html").read_text()
    assert "Genomics: variant scoring: not assessed" in diag.conclusion


def test_a_case_file_with_the_missing_covariate_gets_a_treatment_ranking(
    models_dir: Path, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path)
    case = tmp_path / "case.yaml"
    case.write_text(f"kind: case\nfhir: {bundle.name}\ninputs:\n  smokeyrs: 30\n"
                    "provenance: test case\n")  # fmt: skip
    report = write_report(case, models_dir, tmp_path / "out")
    (finding,) = _section(report, "treatment")["findings"]
    inputs = finding["inputs"]
    assert inputs["values"]["wt71"] == pytest.approx(150 * 0.45359237)
    assert inputs["values"]["smokeintensity"] == pytest.approx(10.0)
    assert inputs["values"]["sex"] == 1.0  # NHEFS: 1 = female
    (record,) = finding["records"]
    assert set(record["interval"]) >= {"outcome[kept smoking]", "outcome[quit smoking]"}
    if record["abstained"]:
        assert record["details"]["recommendation"] == "no confident recommendation"
    else:
        assert record["prediction"] in ("kept smoking", "quit smoking")
    conclusion = json.loads((tmp_path / "out" / "fhir" / "DiagnosticReport.json").read_text())
    assert "Treatment (" in conclusion["conclusion"]


def test_a_case_with_no_data_is_not_assessed_everywhere(models_dir: Path, tmp_path: Path) -> None:
    case = tmp_path / "empty.yaml"
    case.write_text("kind: case\npatient: {id: nobody, sex: male}\n")
    report = write_report(case, models_dir, tmp_path / "out")
    assert all(s["status"] == "not assessed" and s["reasons"] for s in report["sections"])
    assert "does not state where its data come from" in report["provenance"]
    assert list((tmp_path / "out" / "fhir").glob("RiskAssessment-*")) == []
    imaging = _section(report, "imaging")["reasons"]
    assert imaging == ["reference-cnn on breastmnist: the case has no image."]
    prs = _section(report, "prs")["reasons"]
    assert prs == ["polygenic score PGS999999 (Test trait): not run, the case has no VCF."]


def test_errors_name_the_file_and_output_inside_a_model_is_refused(
    models_dir: Path, tmp_path: Path
) -> None:
    bundle = json.loads(write_bundle(tmp_path).read_text())
    bundle["entry"][3]["resource"]["subject"]["reference"] = "urn:uuid:gone"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(bundle))
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(broken), "--models", str(models_dir),
                                 "--out", str(tmp_path / "r")])  # fmt: skip
    assert isinstance(result.exception, DataFormatError)
    assert "urn:uuid:gone" in str(result.exception)
    assert str(broken) in str(result.exception)
    inside_model = str(models_dir / "imaging" / "r")
    inside = runner.invoke(app, ["report", str(tmp_path / "case.json"), "--models",
                                 str(models_dir), "--out", inside_model])  # fmt: skip
    assert isinstance(inside.exception, ConfigError)
