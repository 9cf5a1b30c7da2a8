"""Cases: submission runs the production models, clinicians see only their own cases, every
read is audited, DICOM uploads are stored de-identified, feedback is stored."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_path
from tests.service.conftest import Api, upload

CT = "imaging/dicom/ct/CT_small.dcm"
# identifiers in that file: PatientName, PatientID (= StudyID), the institution
IDENTIFIERS = (b"CompressedSamples", b"1CT1", b"JFK IMAGING")


def _submit_record(api: Api, headers: dict[str, str], record: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(
        "/cases", headers=headers, files=upload("patient.json", json.dumps(record).encode())
    )
    assert response.status_code == 201, response.text
    return response.json()


def _stored_path(api: Api, case_id: int) -> str | None:
    from precisionmed.service.models import Case

    with api.app.state.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.stored_path


def test_a_record_is_predicted_by_the_table_model_and_keeps_only_its_fields(
    api: Api, gbsg2_record: dict[str, Any]
) -> None:
    doc = api.add_user("doc", "clinician")
    case = _submit_record(api, doc, {**gbsg2_record, "name": "Jane Roe", "mrn": "12345"})
    assert case["input_kind"] == "record"
    assert sorted(case["dropped_fields"]) == ["mrn", "name"]
    assert set(case["record"]) == set(gbsg2_record)
    (prediction,) = case["predictions"]
    assert prediction["model_name"] == "gbsg2"
    assert prediction["model_kind"] == "clinical-model"
    assert isinstance(prediction["prediction"], float)  # the risk score
    assert prediction["record"]["input"] == f"case {case['id']}"
    stored = api.client.get(f"/cases/{case['id']}", headers=doc).json()
    assert "Jane Roe" not in json.dumps(stored)


def test_a_clinician_cannot_read_another_clinicians_case_but_a_researcher_can(
    api: Api, gbsg2_record: dict[str, Any]
) -> None:
    alice = api.add_user("alice", "clinician")
    bob = api.add_user("bob", "clinician")
    researcher = api.add_user("res", "researcher")
    case_id = _submit_record(api, alice, gbsg2_record)["id"]

    assert api.client.get(f"/cases/{case_id}", headers=alice).status_code == 200
    response = api.client.get(f"/cases/{case_id}", headers=bob)
    assert response.status_code == 404  # not 403: another's case id reveals nothing
    assert api.client.get("/cases", headers=bob).json() == []
    feedback = {"verdict": "confirmed", "label": "x"}
    assert (
        api.client.post(f"/cases/{case_id}/feedback", headers=bob, json=feedback).status_code == 404
    )
    assert api.client.get(f"/cases/{case_id}", headers=researcher).status_code == 200
    assert [c["id"] for c in api.client.get("/cases", headers=alice).json()] == [case_id]
    assert (2, "denied", "case", case_id) in api.audit_rows()


def test_every_read_and_change_of_a_case_and_its_predictions_has_an_audit_row(
    api: Api, gbsg2_record: dict[str, Any]
) -> None:
    doc = api.add_user("doc", "clinician")  # user 1
    res = api.add_user("res", "researcher")  # user 2
    case = _submit_record(api, doc, gbsg2_record)
    case_id, prediction_id = case["id"], case["predictions"][0]["id"]
    created = api.audit_rows()
    assert (1, "create", "case", case_id) in created
    assert (1, "create", "prediction", prediction_id) in created

    api.client.get(f"/cases/{case_id}", headers=doc)
    api.client.get(f"/cases/{case_id}", headers=res)
    api.client.get("/cases", headers=res)
    fb = api.client.post(
        f"/cases/{case_id}/feedback", headers=doc, json={"verdict": "confirmed", "label": "high"}
    ).json()
    rows = api.audit_rows()[len(created) :]
    assert rows == [
        (1, "read", "case", case_id),
        (1, "read", "prediction", prediction_id),
        (2, "read", "case", case_id),
        (2, "read", "prediction", prediction_id),
        (2, "read", "case", case_id),
        (2, "read", "prediction", prediction_id),
        (1, "create", "feedback", fb["id"]),
    ]


def test_the_audit_log_refuses_updates_and_deletes(api: Api) -> None:
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DBAPIError

    from precisionmed.service.audit import audit
    from precisionmed.service.models import AuditEntry

    with api.app.state.sessions() as session:
        audit(session, None, "read", "case", 1)
        session.commit()
        for statement in (update(AuditEntry).values(action="nothing"), delete(AuditEntry)):
            with pytest.raises(DBAPIError, match="append-only"):
                session.execute(statement)
            session.rollback()
    assert api.audit_rows() == [(None, "read", "case", 1)]


def test_feedback_is_stored_with_its_prediction_and_checked(
    api: Api, gbsg2_record: dict[str, Any]
) -> None:
    doc = api.add_user("doc", "clinician")
    case = _submit_record(api, doc, gbsg2_record)
    url = f"/cases/{case['id']}/feedback"
    body = {"verdict": "corrected", "label": "low risk", "comment": "relapse-free at 5 years"}
    response = api.client.post(url, headers=doc, json=body)
    assert response.status_code == 201
    assert response.json()["prediction_id"] == case["predictions"][0]["id"]
    stored = api.client.get(f"/cases/{case['id']}", headers=doc).json()["feedback"]
    assert [(f["verdict"], f["label"], f["comment"]) for f in stored] == [
        ("corrected", "low risk", "relapse-free at 5 years")
    ]
    wrong = api.client.post(url, headers=doc, json={**body, "prediction_id": 999})
    assert wrong.status_code == 422
    assert "no prediction 999" in wrong.json()["detail"]
    bad_verdict = api.client.post(url, headers=doc, json={**body, "verdict": "maybe"})
    assert bad_verdict.status_code == 422


def test_an_uploaded_dicom_is_stored_de_identified_and_no_identifier_is_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    import pydicom

    raw = require_path(CT).read_bytes()
    assert all(token in raw for token in IDENTIFIERS)
    doc = api.add_user("doc", "clinician")
    with caplog.at_level(logging.DEBUG):
        response = api.client.post("/cases", headers=doc, files=upload("CT1_patient.dcm", raw))
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["deidentified"] is True
    (prediction,) = case["predictions"]
    assert prediction["model_name"] == "breast"
    assert set(prediction["record"]["values"]) == {"malignant", "normal, benign"}
    assert abs(sum(prediction["record"]["values"].values()) - 1) < 1e-6

    stored_files = [p for p in api.app.state.settings.uploads_dir.rglob("*") if p.is_file()]
    assert len(stored_files) == 1
    assert str(stored_files[0]) == _stored_path(api, case["id"])  # the case names its file
    assert stored_files[0].stat().st_mode & 0o077 == 0  # readable by the service's user only
    stored = stored_files[0].read_bytes()
    for token in IDENTIFIERS:
        assert token not in stored
    ds = pydicom.dcmread(stored_files[0])
    original = pydicom.dcmread(require_path(CT))
    assert str(ds.PatientName) == ""
    assert ds.PatientID == ""
    assert ds.PatientBirthDate == ""
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert "InstitutionName" not in ds
    assert ds.StudyDate == ""  # type 2: kept, emptied
    assert not any(elem.tag.is_private for elem in ds)
    assert ds.SOPInstanceUID != original.SOPInstanceUID
    assert (ds.pixel_array == original.pixel_array).all()
    assert "CT1_patient" not in stored_files[0].name
    for token in (*IDENTIFIERS, b"CT1_patient"):
        assert token.decode() not in caplog.text
    assert f"case {case['id']} created" in caplog.text


def test_de_identification_keeps_a_studys_files_linked(tmp_path: Path) -> None:
    import io

    import pydicom

    from precisionmed.service.deid import deidentify_dicom

    series = sorted(require_path("imaging/dicom/mr_series_prostate_adc").glob("*.dcm"))[:2]
    clean = [
        pydicom.dcmread(io.BytesIO(deidentify_dicom(p.read_bytes(), "k" * 40))) for p in series
    ]
    originals = [pydicom.dcmread(p) for p in series]
    assert clean[0].StudyInstanceUID == clean[1].StudyInstanceUID != originals[0].StudyInstanceUID
    assert clean[0].SOPInstanceUID != clean[1].SOPInstanceUID
    other_key = pydicom.dcmread(io.BytesIO(deidentify_dicom(series[0].read_bytes(), "j" * 40)))
    assert other_key.StudyInstanceUID != clean[0].StudyInstanceUID


def test_models_lists_the_served_models_and_records_their_versions(api: Api) -> None:
    from sqlalchemy import select

    from precisionmed.service.models import ModelVersion

    doc = api.add_user("doc", "clinician")
    models = {m["name"]: m for m in api.client.get("/models", headers=doc).json()}
    assert set(models) == {"breast", "gbsg2"}
    assert models["breast"]["input_kind"] == "image"
    assert "age" in models["gbsg2"]["input_columns"]
    assert len(models["gbsg2"]["version"]) == 64
    with api.app.state.sessions() as session:
        rows = {(r.name, r.version, r.stage) for r in session.scalars(select(ModelVersion))}
    assert rows == {(m["name"], m["version"], "production") for m in models.values()}


def test_metrics_count_requests_for_admins(api: Api) -> None:
    admin = api.add_user("boss", "admin")
    api.client.get("/health")
    text = api.client.get("/metrics", headers=admin).text
    assert 'precisionmed_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    assert "precisionmed_http_request_duration_seconds_bucket" in text
