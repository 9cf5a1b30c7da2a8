"""The web page end to end in headless Chromium: sign in, upload a DICOM, see the prediction with
its confidence, send feedback; upload a PNG and see its Grad-CAM overlay, a patient record and its
survival curve, a case file and its report. Screenshots are kept under
``PRECISIONMED_TEST_ARTIFACTS`` (CI keeps that folder), else the test's temporary folder."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_path
from tests.service.conftest import PASSWORD, Api

CHROMIUM = "/usr/bin/chromium"


def screenshots(tmp_path: Path, test: str) -> Path:
    """Where a test's screenshots go."""
    keep = Path(os.environ.get("PRECISIONMED_TEST_ARTIFACTS") or tmp_path)
    folder = keep / "service_web" / test
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on a free port, in a thread; its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_server(api: Api) -> Iterator[str]:
    """The test's app served by uvicorn on a free port, in a thread."""
    with serving(api.app) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def test_a_clinician_signs_in_uploads_a_dicom_sees_the_prediction_and_corrects_it(
    api: Api, live_server: str, browser: Any, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from precisionmed.service.models import Feedback

    dicom = tmp_path / "upload.dcm"
    shutil.copyfile(require_path("imaging/dicom/ct/CT_small.dcm"), dicom)
    api.add_user("doc", "clinician")
    screens = screenshots(tmp_path, "dicom_feedback")
    page = browser.new_page()
    page.goto(live_server + "/")

    page.fill("#username", "doc")
    page.fill("#password", "a wrong password")
    page.click("#signin-form button")
    page.wait_for_selector("#status.error")
    assert "Wrong user name or password" in page.text_content("#status")

    page.fill("#password", PASSWORD)
    page.click("#signin-form button")
    page.wait_for_selector("#submit:not([hidden])")
    page.screenshot(path=screens / "1-signed-in.png")

    page.set_input_files("#case-file", str(dicom))
    page.click("#case-form button")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    page.screenshot(path=screens / "2-prediction.png", full_page=True)
    heading = page.text_content(".prediction h3")
    assert heading == f"breast: {page.input_value('#label')}"  # the label field starts as it
    rows = page.locator(".prediction tr.value")
    assert rows.count() == 2  # the two classes, each with its calibrated probability
    shown = [rows.nth(i).text_content() for i in range(2)]
    assert all("%" in text for text in shown)
    case = api.client.get("/cases", headers=api.add_user("res", "researcher")).json()[0]
    values = case["predictions"][0]["record"]["values"]
    expected = {f"{label}{100 * p:.1f} %" for label, p in values.items()}
    assert {text.strip() for text in shown} == expected
    assert page.text_content(".calibration").startswith("Calibration:")
    bar_width = page.eval_on_selector(".bar", "el => el.getBoundingClientRect().width")
    assert bar_width > 50  # the style sheet applies (an inline <style> would be blocked by CSP)

    page.select_option("#verdict", "corrected")
    page.fill("#label", "malignant")
    page.fill("#comment", "biopsy-proven")
    page.click("#feedback-form button")
    page.wait_for_selector("#status.ok >> text=Feedback saved")
    page.screenshot(path=screens / "3-feedback.png")
    with api.app.state.sessions() as session:
        saved = session.scalars(select(Feedback)).all()
    assert [(f.case_id, f.verdict, f.label, f.comment) for f in saved] == [
        (case["id"], "corrected", "malignant", "biopsy-proven")
    ]
    assert all((screens / name).stat().st_size > 0 for name in os.listdir(screens))


def test_a_clinician_sees_the_gradcam_overlay_the_survival_curve_and_the_report(
    api: Api, live_server: str, browser: Any, tmp_path: Path, gbsg2_record: dict[str, Any]
) -> None:
    from tests.service.test_explain import breast_png
    from tests.service.test_reports import case_file

    (tmp_path / "scan.png").write_bytes(breast_png())
    (tmp_path / "patient.json").write_text(json.dumps(gbsg2_record))
    (tmp_path / "case.yaml").write_text(yaml.safe_dump(case_file(gbsg2_record)))
    api.add_user("doc", "clinician")
    screens = screenshots(tmp_path, "overlay_curve_report")
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(live_server + "/")
    page.fill("#username", "doc")
    page.fill("#password", PASSWORD)
    page.click("#signin-form button")
    page.wait_for_selector("#submit:not([hidden])")

    page.set_input_files("#case-file", str(tmp_path / "scan.png"))
    page.click("#case-form button")
    page.wait_for_selector("img.gradcam", timeout=60_000)
    page.wait_for_function("document.querySelector('img.gradcam').complete", timeout=30_000)
    page.screenshot(path=screens / "1-gradcam.png", full_page=True)
    for img in ("img.gradcam", "img.upload"):
        width = page.eval_on_selector(img, "el => el.naturalWidth")
        assert width == 28, img  # the overlay is drawn at the upload's own size
    case = api.client.get("/cases", headers=api.add_user("res", "researcher")).json()[0]
    prediction = case["predictions"][0]
    confidence = page.text_content(".confidence")
    assert f"{100 * prediction['confidence']:.1f} %" in confidence
    assert prediction["prediction"] in confidence

    page.set_input_files("#case-file", str(tmp_path / "patient.json"))
    page.click("#case-form button")
    page.wait_for_selector("svg.survival-curve path.curve", timeout=60_000)
    page.screenshot(path=screens / "2-survival.png", full_page=True)
    assert page.locator("img.gradcam").count() == 0  # a record has no image
    box = page.eval_on_selector("svg.survival-curve", "el => el.getBoundingClientRect().width")
    assert box > 200
    steps = page.get_attribute("svg.survival-curve path.curve", "d")
    case = api.client.get("/cases", headers=api.add_user("res2", "researcher")).json()[0]
    curve = case["predictions"][0]["survival_curve"]
    assert steps.count("V") == sum(v is not None for v in curve["survival"])  # one step a time

    page.set_input_files("#report-file", str(tmp_path / "case.yaml"))
    page.click("#report-form button")
    page.wait_for_selector("#report:not([hidden])", timeout=120_000)
    frame = page.frame_locator("#report-frame")
    frame.locator("text=demo-1").first.wait_for(timeout=30_000)
    page.screenshot(path=screens / "3-report.png", full_page=True)
    page.locator("#report-frame").scroll_into_view_if_needed()
    page.locator("#report-frame").screenshot(path=screens / "4-report-frame.png")
    assert "Survival" in page.text_content("#report-sections")
    assert page.locator("#report-sections li.assessed").count() == 2  # imaging and survival
    with page.expect_download() as download:
        page.click("#report-download")
    saved = tmp_path / "downloaded.html"
    download.value.save_as(saved)
    assert "demo-1" in saved.read_text()
    assert not errors, errors  # nothing blocked by the CSP, no script error
    assert all((screens / name).stat().st_size > 0 for name in os.listdir(screens))


@pytest.fixture(scope="module")
def models_with_intervals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.service.test_explain import train_models_with_intervals

    return train_models_with_intervals(tmp_path_factory.mktemp("intervalmodels"))


def test_a_clinical_risk_shows_its_interval_and_a_survival_curve_its_band(
    make_app: Any, models_with_intervals: Path, browser: Any, tmp_path: Path,
    gbsg2_record: dict[str, Any],
) -> None:  # fmt: skip
    from precisionmed.data import load_dataset

    api = Api(make_app(models_dir=models_with_intervals))
    api.add_user("doc", "clinician")
    row = load_dataset("breast-cancer-wisconsin").X.iloc[0]
    wdbc = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    (tmp_path / "wdbc.json").write_text(json.dumps(wdbc))
    (tmp_path / "gbsg2.json").write_text(json.dumps(gbsg2_record))
    screens = screenshots(tmp_path, "intervals")
    with serving(api.app) as base:
        page = browser.new_page()
        page.goto(base + "/")
        page.fill("#username", "doc")
        page.fill("#password", PASSWORD)
        page.click("#signin-form button")
        page.wait_for_selector("#submit:not([hidden])")

        page.set_input_files("#case-file", str(tmp_path / "wdbc.json"))
        page.click("#case-form button")
        page.wait_for_selector(".prediction .interval", timeout=60_000)
        page.screenshot(path=screens / "1-risk.png", full_page=True)
        case = api.client.get("/cases", headers=api.add_user("r1", "researcher")).json()[0]
        record = case["predictions"][0]["record"]
        low, high = record["interval"]["probability"]
        level = f"{100 * record['interval_level']:.0f}%"
        shown = page.text_content(".prediction .interval")
        # "#.4g": 4 significant digits, trailing zeros kept, as JavaScript's toPrecision(4)
        assert shown.startswith(f"probability: {level} interval {low:#.4g} to {high:#.4g}")
        value = record["values"]["probability"]
        assert ("unstable under resampling" in shown) == (not low <= value <= high)
        assert page.text_content(".prediction h3").startswith("wdbc: probability 0.")

        page.set_input_files("#case-file", str(tmp_path / "gbsg2.json"))
        page.click("#case-form button")
        page.wait_for_selector("svg.survival-curve path.band", timeout=60_000)
        page.screenshot(path=screens / "2-band.png", full_page=True)
        assert page.locator("svg.survival-curve path.band").count() == 2
        caption = page.text_content(".survival figcaption")
        case = api.client.get("/cases", headers=api.add_user("r2", "researcher")).json()[0]
        band = case["predictions"][0]["survival_curve"]["band_level"]
        assert f"band: {100 * band:.0f}% interval" in caption


def test_the_page_is_served_with_a_script_only_content_security_policy(api: Api) -> None:
    response = api.client.get("/")
    assert response.status_code == 200
    assert "script-src" not in response.headers["Content-Security-Policy"]  # falls back to self
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert '<script src="/static/app.js"' in response.text
    assert "<style" not in response.text  # the CSP allows no inline style...
    # ...but the report's own style block, by its hash (the report is shown in a frame)
    assert "style-src 'self' 'sha256-" in response.headers["Content-Security-Policy"]
    script = api.client.get("/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text
