"""FHIR R4 input (io/fhir.py): Bundles validated with fhir.resources R4B, references checked,
clear errors naming the file, resource and reference; Synthea's bulk NDJSON grouped per patient."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from precisionmed.errors import DataFormatError
from precisionmed.io.fhir import group_by_patient, read_bundle, read_ndjson, read_ndjson_patients
from tests.conftest import require_path

PATIENT = "urn:uuid:11111111-0000-4000-8000-000000000001"


def bundle(*resources: dict, urls: list[str] | None = None) -> dict:
    """A collection Bundle: a Patient first, then ``resources``."""
    entries = [
        {
            "fullUrl": PATIENT,
            "resource": {
                "resourceType": "Patient",
                "id": "p1",
                "gender": "female",
                "birthDate": "1960-01-02",
            },
        }
    ]
    for i, r in enumerate(resources):
        url = urls[i] if urls else f"urn:uuid:11111111-0000-4000-8000-0000000001{i:02d}"
        entries.append({"fullUrl": url, "resource": r})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def observation(subject: str = PATIENT, **extra: object) -> dict:
    return {
        "resourceType": "Observation",
        "id": "hr",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72, "unit": "/min", "code": "/min"},
        **extra,
    }


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(data))
    return path


def test_a_bundle_reads_with_r4b_models(tmp_path: Path) -> None:
    path = write(tmp_path, bundle(observation()))
    read = read_bundle(path)
    assert [r.get_resource_type() for r in read.resources] == ["Patient", "Observation"]
    assert type(read.resources[0]).__module__.startswith("fhir.resources.R4B")
    assert read.resolve(PATIENT).id == "p1"
    assert read.resolve("Patient/p1").id == "p1"


def test_a_broken_reference_names_the_file_the_resource_and_the_reference(tmp_path: Path) -> None:
    path = write(tmp_path, bundle(observation(subject="urn:uuid:not-in-the-bundle")))
    with pytest.raises(DataFormatError) as err:
        read_bundle(path)
    message = str(err.value)
    assert str(path) in message
    assert "Observation/hr" in message
    assert "urn:uuid:not-in-the-bundle" in message
    assert "subject" in message


def test_a_relative_reference_to_a_type_the_bundle_holds_must_resolve(tmp_path: Path) -> None:
    other = observation()
    other["hasMember"] = [{"reference": "Observation/missing"}]
    other["performer"] = [{"reference": "Practitioner?identifier=npi|1"}]  # a server's: allowed
    with pytest.raises(
        DataFormatError, match=r"Observation/hr field 'hasMember'.*Observation/missing"
    ):
        read_bundle(write(tmp_path, bundle(other)))


def test_an_unknown_resource_type_names_the_entry_and_the_type(tmp_path: Path) -> None:
    path = write(tmp_path, bundle({"resourceType": "Observashun", "id": "x"}))
    with pytest.raises(DataFormatError) as err:
        read_bundle(path)
    assert f"{path}: entry 1" in str(err.value)
    assert "'Observashun'" in str(err.value)
    assert "not a FHIR R4B resource type" in str(err.value)


def test_an_invalid_resource_names_its_field(tmp_path: Path) -> None:
    bad = observation()
    bad["status"] = 12
    with pytest.raises(
        DataFormatError,
        match=r"entry 1: Observation/hr is not a valid FHIR R4B "
        r"Observation \(field status",
    ):
        read_bundle(write(tmp_path, bad_bundle := bundle(bad)))
    assert bad_bundle["entry"][1]["resource"]["status"] == 12


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="expected a FHIR Bundle"):
        read_bundle(write(tmp_path, observation()))


def test_synthea_ndjson_is_grouped_per_patient() -> None:
    folder = require_path("clinical/synthea_fhir")
    files = sorted(f for f in folder.glob("*.ndjson") if not f.name.startswith("log."))
    resources = [r for f in files for r in read_ndjson(f)]
    grouped = group_by_patient(resources, source=str(folder))
    lines = (folder / "Patient.000.ndjson").read_text().splitlines()
    assert list(grouped) == [json.loads(line)["id"] for line in lines]
    # known answer, counted from the raw lines: each patient's resources name it as subject/patient
    expected: Counter[str] = Counter()
    for f in files:
        for line in f.read_text().splitlines():
            r = json.loads(line)
            ref = (r.get("subject") or r.get("patient") or {}).get("reference", "")
            expected[r["id"] if r["resourceType"] == "Patient" else ref.split("/")[-1]] += 1
    assert {pid: len(b["entry"]) for pid, b in grouped.items()} == dict(expected)
    # one patient's Bundle validated with the R4B models (Encounter references resolve in it)
    pid = "6a4160eb-a793-2f86-2302-378626f46cce"
    (b,) = read_ndjson_patients(folder, pid).values()
    assert len(b.resources) == expected[pid]
    assert b.resources[0].get_resource_type() == "Patient"
    assert b.resources[0].id == pid
    assert b.source.endswith(f"#Patient/{pid}")
    assert {"Condition", "Encounter", "MedicationRequest"} <= {
        r.get_resource_type() for r in b.resources
    }


def test_ndjson_an_unknown_patient() -> None:
    folder = require_path("clinical/synthea_fhir")
    with pytest.raises(DataFormatError, match="no Patient/nobody in the export"):
        read_ndjson_patients(folder, "nobody")


def test_ndjson_resource_of_an_absent_patient(tmp_path: Path) -> None:
    (tmp_path / "Observation.000.ndjson").write_text(
        json.dumps(observation("Patient/ghost")) + "\n"
    )
    with pytest.raises(DataFormatError, match="Observation/hr refers to Patient/ghost"):
        read_ndjson_patients(tmp_path)
