"""Full case reports through the API: a case file in, the report package's report.json and HTML
out over the production models, stored as the submitter's case, audited; bad case files and file
references that would read the server's disk are refused with 4xx naming the field."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_dataset, require_path
from tests.service.conftest import PASSWORD, Api, upload


def case_file(gbsg2_record: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A case file: a BreastMNIST test image and a GBSG2 patient's fields."""
    require_dataset("breastmnist")
    return {
        "kind": "case",
        "patient": {"id": "demo-1", "sex": "female", "age": gbsg2_record["age"]},
        "date": "2024-03-01",
        "images": ["dataset:breastmnist/test/0"],
        "inputs": dict(gbsg2_record),
        **extra,
    }


def _post(api: Api, headers: dict[str, str], name: str, data: bytes) -> Any:
    return api.client.post("/reports", headers=headers, files=upload(name, data))


def test_a_case_file_gives_the_report_over_the_production_models(
    api: Api, gbsg2_record: dict[str, Any]
) -> None:
    doc = api.add_user("doc", "clinician")  # user 1
    text = yaml.safe_dump(case_file(gbsg2_record)).encode()
    response = _post(api, doc, "case.yaml", text)
    assert response.status_code == 201, response.text
    body = response.json()
    case_id = body["case_id"]
    report = body["report"]
    assert report["case"]["patient"] == "demo-1"
    assert report["case"]["source"] == "case file"  # not the server's temporary path
    sections = {s["key"]: s for s in report["sections"]}
    (imaging,) = sections["imaging"]["findings"]
    (survival,) = sections["survival"]["findings"]
    assert (imaging["kind"], survival["kind"]) == ("image-classifier", "clinical-model")
    assert any(f["title"].startswith("Grad-CAM of") for f in imaging["figures"])
    assert {m["model_dir"] for m in report["models"]} == {"models/breast", "models/gbsg2"}
    # the same survival model the service serves predicts the same risk for these inputs
    case = api.client.post(
        "/cases", headers=doc, files=upload("p.json", json.dumps(gbsg2_record).encode())
    ).json()
    served_risk = case["predictions"][0]["record"]["values"]["risk"]
    assert survival["records"][0]["values"]["risk"] == pytest.approx(served_risk)

    again = api.client.get(f"/reports/{case_id}", headers=doc)
    assert again.status_code == 200
    assert again.json()["report"] == report
    html = api.client.get(body["html_url"], headers=doc)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "script-src" not in html.headers["Content-Security-Policy"]
    assert "demo-1" in html.text
    assert "data:image/png;base64," in html.text  # Grad-CAM and curve figures inlined
    stored = api.client.get(f"/cases/{case_id}", headers=doc).json()
    assert (stored["input_kind"], stored["input_format"]) == ("report", "case-file")
    rows = api.audit_rows()
    assert (1, "create", "case", case_id) in rows
    assert rows.count((1, "read", "case", case_id)) == 3  # report.json, report.html, the case


def test_a_fhir_bundle_is_read_as_precisionmed_report_reads_it(api: Api) -> None:
    require_dataset("breastmnist")
    doc = api.add_user("doc", "clinician")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female"}},
            {
                "resource": {
                    "resourceType": "Media",
                    "id": "m1",
                    "status": "completed",
                    "subject": {"reference": "Patient/p1"},
                    "content": {"contentType": "image/png", "url": "dataset:breastmnist/test/1"},
                }
            },
        ],
    }
    response = _post(api, doc, "bundle.json", json.dumps(bundle).encode())
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["case"]["patient"] == "Patient/p1"
    sections = {s["key"]: s for s in report["sections"]}
    assert len(sections["imaging"]["findings"]) == 1
    assert sections["survival"]["findings"] == []  # no inputs for it: not assessed, with why
    assert "gbsg2" in " ".join(sections["survival"]["reasons"])


def test_reports_need_a_clinician_and_hide_another_clinicians_report(
    api: Api, gbsg2_record: dict[str, Any]
) -> None:
    alice = api.add_user("alice", "clinician")  # user 1
    bob = api.add_user("bob", "clinician")  # user 2
    researcher = api.add_user("res", "researcher")  # user 3
    text = json.dumps(case_file(gbsg2_record)).encode()
    assert _post(api, {}, "case.json", text).status_code == 401
    refused = _post(api, researcher, "case.json", text)
    assert refused.status_code == 403
    assert (3, "denied", "endpoint", None) in api.audit_rows()
    case_id = _post(api, alice, "case.json", text).json()["case_id"]
    for url in (f"/reports/{case_id}", f"/reports/{case_id}/html"):
        assert api.client.get(url).status_code == 401
        assert api.client.get(url, headers=bob).status_code == 404
        assert api.client.get(url, headers=researcher).status_code == 200
    assert (2, "denied", "case", case_id) in api.audit_rows()
    record_case = api.client.post(
        "/cases", headers=alice, files=upload("p.json", json.dumps(gbsg2_record).encode())
    ).json()["id"]
    assert api.client.get(f"/reports/{record_case}", headers=alice).status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"kind": "patient"}, 422, "kind: expected 'case'"),
        ({"colour": "blue"}, 422, "unknown field 'colour'"),
        ({"date": "yesterday"}, 422, "case file: date: expected a date YYYY-MM-DD"),
        ({"images": ["/etc/hostname"]}, 422, "images[0]: expected a dataset:NAME/SPLIT/INDEX"),
        ({"images": ["mirror:../../etc/hostname"]}, 422, "images[0]: expected a path inside"),
        ({"fhir": "other_patient.json"}, 422, "fhir: expected a dataset:NAME/SPLIT/INDEX"),
        ({"images": ["dataset:breastmnist/test/99999"]}, 422, "images[0]: 'dataset:breast"),
    ],
)
def test_a_bad_case_file_is_refused_naming_the_field(
    api: Api, gbsg2_record: dict[str, Any], change: dict[str, Any], status: int, message: str
) -> None:
    doc = api.add_user("doc", "clinician")
    response = _post(
        api, doc, "case.yaml", yaml.safe_dump(case_file(gbsg2_record, **change)).encode()
    )
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    assert "/tmp" not in response.json()["detail"]  # no server path in the message
    assert api.client.get("/cases", headers=doc).json() == []  # nothing stored
    uploads = api.app.state.settings.uploads_dir
    assert not uploads.exists() or list(uploads.iterdir()) == []  # no half-built report


def test_an_unreadable_upload_is_refused(api: Api) -> None:
    doc = api.add_user("doc", "clinician")
    for data, message in (
        (b"\x89PNG\r\n\x1a\n\x00\xff", "expected UTF-8 text"),
        (b"kind: [case", "not valid JSON or YAML"),
        (b"[1, 2]", "expected a mapping"),
    ):
        response = _post(api, doc, "case.yaml", data)
        assert response.status_code == 422
        assert message in response.json()["detail"]


@pytest.mark.slow  # a server process of its own: about 40 s on 2 busy cores
def test_precisionmed_serve_in_a_subprocess_draws_the_overlay_and_the_report(
    tmp_path: Path, database_url: str, models_dir: Path, gbsg2_record: dict[str, Any]
) -> None:
    """The console path: ``python -m precisionmed.cli.main serve`` (its own app factory) answers
    the explanation and report endpoints as the in-process app does."""
    import httpx

    from tests.service.test_durability import _free_port, _seed, _serve, _token, _wait_healthy
    from tests.service.test_explain import breast_png

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    _seed(database_url, gbsg2_record)  # the clinician "doc"
    server = _serve(port, tmp_path / "data", database_url, models_dir, tmp_path / "serve.log")
    try:
        _wait_healthy(base, server)
        doc = _token(base, "doc", PASSWORD)
        with httpx.Client(base_url=base, headers=doc, timeout=60) as client:
            case = client.post("/cases", files=upload("scan.png", breast_png()))
            assert case.status_code == 201, case.text
            overlay = client.get(f"/cases/{case.json()['id']}/explanation")
            assert overlay.status_code == 200, overlay.text
            assert overlay.content.startswith(b"\x89PNG")
            text = yaml.safe_dump(case_file(gbsg2_record)).encode()
            report = client.post("/reports", files=upload("case.yaml", text))
            assert report.status_code == 201, report.text
            html = client.get(report.json()["html_url"])
            assert "demo-1" in html.text
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_example_fhir_bundle_is_accepted_as_precisionmed_report_takes_it(api: Api) -> None:
    """examples/cases/chest_xray_bundle.json names its files by dataset: and mirror: only."""
    require_dataset("pneumoniamnist")
    require_path("genomics/giab_chr20/test_nist.b37_chr20_100kbp_at_10mb.vcf.gz")
    example = Path(__file__).resolve().parents[2] / "examples" / "cases" / "chest_xray_bundle.json"
    doc = api.add_user("doc", "clinician")
    response = _post(api, doc, "chest_xray_bundle.json", example.read_bytes())
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["case"]["format"] == "fhir-bundle"
    assert report["case"]["vcf"]["reference"].startswith("mirror:genomics/")
    sections = {s["key"]: s for s in report["sections"]}
    assert len(sections["imaging"]["findings"]) == 1  # the X-ray, by the served classifier
