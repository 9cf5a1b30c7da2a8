"""Tiny trained models (one per pillar the demo uses) and a FHIR case, shared by the report tests.

The models are real but small: a 1-epoch reference CNN on 96 BreastMNIST images, a Cox model on
WHAS500 with 5 bootstrap refits, a T-learner on NHEFS's complete cases with 5 bootstraps, and a
polygenic score made from the hand-made scoring file of ``tests/genomics/test_prs.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app
from tests.conftest import require_dataset, require_path

PATIENT = "urn:uuid:5e1f0000-0000-4000-8000-000000000001"


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder: an image classifier, a survival model, a treatment recommender and a
    polygenic score."""
    require_dataset("breastmnist")
    require_dataset("nhefs")
    root = tmp_path_factory.mktemp("report-models")
    _invoke(["imaging", "train", "--dataset", "breastmnist", "--model", "reference-cnn",
             "--max-epochs", "1", "--subset", "96", "--batch-size", "32", "--seed", "0",
             "--n-boot", "50", "--out", str(root / "imaging")])  # fmt: skip
    _invoke(["clinical", "train", "--dataset", "whas500", "--model", "coxph",
             "--interval-models", "5", "--n-boot", "20",
             "--out", str(root / "survival")])  # fmt: skip
    import pandas as pd

    from precisionmed.data import fetch_file, get_dataset

    nhefs = pd.read_csv(fetch_file(get_dataset("nhefs").files[0])).dropna(subset=["wt82_71"])
    nhefs["qsmk"] = nhefs["qsmk"].map({0: "kept smoking", 1: "quit smoking"})
    csv = root.parent / "nhefs-complete.csv"
    nhefs.head(600).to_csv(csv, index=False)
    _invoke(["treatment", "fit", "--csv", str(csv), "--treatment-column", "qsmk",
             "--treated-value", "quit smoking", "--outcome-column", "wt82_71", "--better",
             "lower", "--covariates", "age,sex,wt71,smokeintensity,smokeyrs",
             "--param", "n_bootstrap=5", "--out", str(root / "treatment")])  # fmt: skip
    from tests.genomics.test_prs import _write_score

    score = _write_score(root.parent / "PGS999999.txt")
    _invoke(["genomics", "prs-model", "--score", str(score), "--reference-mean", "0.5",
             "--reference-sd", "0.25", "--out", str(root / "prs")])  # fmt: skip
    return root


def _entry(n: int, resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:5e1f0000-0000-4000-8000-{n:012d}", "resource": resource}


def _quantity(rid: str, loinc: str, value: float, unit: str) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": PATIENT}, "effectiveDateTime": "2024-05-02",
            "valueQuantity": {"value": value, "unit": unit, "code": unit}}  # fmt: skip


def _condition(rid: str, snomed: str, status: str) -> dict:
    return {"resourceType": "Condition", "id": rid, "subject": {"reference": PATIENT},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": snomed}]},
            "verificationStatus": {"coding": [{"code": status}]}}  # fmt: skip


def _document(rid: str, content_type: str, url: str) -> dict:
    return {"resourceType": "DocumentReference", "id": rid, "status": "current",
            "subject": {"reference": PATIENT},
            "content": [{"attachment": {"contentType": content_type, "url": url}}]}  # fmt: skip


def write_bundle(folder: Path) -> Path:
    """A FHIR Bundle with a BreastMNIST image (PNG beside it), a VCF of the data mirror, vital
    signs, conditions and a medication; returns its path."""
    from PIL import Image

    from precisionmed.data import fetch_file, get_dataset

    require_path("genomics/giab_chr20/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz")
    with np.load(fetch_file(get_dataset("breastmnist").files[0])) as data:
        Image.fromarray(data["test_images"][0]).save(folder / "ultrasound.png")
    vcf = "mirror:genomics/giab_chr20/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz"
    resources = [
        {"resourceType": "Patient", "id": "t1", "gender": "female", "birthDate": "1950-05-02"},
        _quantity("sys", "8480-6", 135, "mm[Hg]"),
        _quantity("dia", "8462-4", 80, "mm[Hg]"),
        _quantity("hr", "8867-4", 70, "/min"),
        _quantity("bmi", "39156-5", 24.5, "kg/m2"),
        _quantity("wt", "29463-7", 150, "[lb_av]"),  # converted to kg for the recommender
        _quantity("packs", "8663-7", 0.5, "{pack}/d"),  # 10 cigarettes a day
        _condition("afib", "49436004", "confirmed"),
        _condition("chf", "42343007", "refuted"),
        _condition("shock", "89138009", "refuted"),
        {"resourceType": "MedicationStatement", "id": "m1", "status": "active",
         "subject": {"reference": PATIENT},
         "medicationCodeableConcept": {"text": "metoprolol 50 MG"}},
        _document("us", "image/png", "ultrasound.png"),
        _document("vcf", "text/vcf", vcf),
    ]  # fmt: skip
    bundle = {"resourceType": "Bundle", "type": "collection",
              "meta": {"tag": [{"code": "public-data", "display": "Built from public data "
                                "(test): BreastMNIST image 0, GIAB chr20 VCF."}]},
              "entry": [_entry(i + 1, r) for i, r in enumerate(resources)]}  # fmt: skip
    bundle["entry"][0]["fullUrl"] = PATIENT
    path = folder / "case.json"
    path.write_text(json.dumps(bundle, indent=1))
    return path
