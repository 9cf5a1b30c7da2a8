"""The feedback loop end to end in headless Chromium: clinicians submit cases and corrections on
their page, an admin reviews them on the admin page, ``precisionmed retrain`` runs from the command
line, and the admin page shows the candidate, the gate's decision and both models' figures. A
poisoned batch (one user flipping labels) is stopped by the per-user cap. Screenshots are kept
under ``PRECISIONMED_TEST_ARTIFACTS`` (else the test's temporary folder)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.service import test_web
from tests.service.conftest import PASSWORD, Api
from tests.service.test_feedback_loop import _png, _run_cli, _user_id

# the clinicians' page test's fixtures: the app served by uvicorn, headless Chromium
live_server = test_web.live_server
browser = test_web.browser


@pytest.fixture
def api(make_app: Any) -> Api:
    """The app with a rate limit this test cannot reach: its admin clicks through the review
    faster than a person, and the 30-request burst ran out on a fast machine (429 on a review).
    The limiter has its own tests (test_auth.py)."""
    return Api(make_app(rate_limit_burst=10_000))


def _sign_in(page: Any, base: str, path: str, username: str) -> None:
    page.goto(base + path)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button")
    page.wait_for_selector("#status.ok")


def _submit_cases(chromium: Any, base: str, username: str, cases: list[tuple[Path, str]]) -> None:
    """On the clinicians' page: upload each image and confirm or correct it with its label."""
    page = chromium.new_page()
    _sign_in(page, base, "/", username)
    for path, label in cases:
        page.set_input_files("#case-file", str(path))
        page.click("#case-form button")
        page.wait_for_selector("#status.ok:has-text('analysed')", timeout=60_000)
        predicted = page.input_value("#label")  # the page fills in the model's label
        page.select_option("#verdict", "confirmed" if predicted == label else "corrected")
        page.fill("#label", label)
        page.fill("#comment", f"{username}'s reading")
        page.click("#feedback-form button")
        page.wait_for_selector("#status.ok:has-text('Feedback saved')")
    page.close()


def _accept_on_page(page: Any, username: str) -> int:
    """Click Accept on every pending row of ``username``; the number accepted."""
    page.select_option("#feedback-status", "pending")
    ids = page.eval_on_selector_all(
        f"#feedback-table tr[data-user='{username}']", "rows => rows.map(r => r.id)"
    )
    for row_id in ids:
        page.click(f"#{row_id} button.accept")
        try:
            page.wait_for_selector(f"#{row_id}", state="detached")
        except Exception as exc:  # say what the page said (a refused review, a failed read)
            status = page.inner_text("#status")
            raise AssertionError(f"{row_id} stayed; the page's status: {status!r}") from exc
    return len(ids)


def _percent(text: str) -> float:
    return float(re.fullmatch(r"([\d.]+) %", text.strip()).group(1)) / 100


def _production(api: Api, name: str) -> str:
    from precisionmed.service import registry

    with api.app.state.sessions() as session:
        return registry.production(session, name).version


def test_feedback_is_reviewed_retrained_and_gated_on_the_admin_page(
    api: Api,
    live_server: str,
    browser: Any,
    database_url: str,
    tmp_path: Path,
) -> None:
    from precisionmed.errors import ConfigError
    from precisionmed.imaging import load_classification_data
    from precisionmed.service.retrain import retrain_classifier

    screens = Path(os.environ.get("PRECISIONMED_TEST_ARTIFACTS") or tmp_path) / "admin-page"
    screens.mkdir(parents=True, exist_ok=True)
    for name in ("doc", "doc2", "mallory"):
        api.add_user(name, "clinician")
    api.add_user("root", "admin")
    data = load_classification_data("breastmnist", subset=64)
    x, y = data.arrays["val"]  # images the model was not trained on
    truth = [data.labels[int(v)] for v in np.asarray(y).reshape(-1)]
    files = []
    for i, image in enumerate(x[:16]):
        files.append(tmp_path / f"image-{i}.png")
        files[-1].write_bytes(_png(image))
    flipped = [data.labels[1 - data.labels.index(t)] for t in truth]
    _submit_cases(browser, live_server, "doc", list(zip(files[:3], truth[:3], strict=True)))
    _submit_cases(browser, live_server, "doc2", list(zip(files[3:6], truth[3:6], strict=True)))
    _submit_cases(browser, live_server, "mallory", list(zip(files[6:], flipped[6:16], strict=True)))
    production = _production(api, "breast")

    admin = browser.new_page(viewport={"width": 1400, "height": 1000})
    _sign_in(admin, live_server, "/admin", "root")
    admin.wait_for_selector("#console:not([hidden])")
    admin.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#feedback-table img.thumbnail')];"
        " return imgs.length === 16 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )
    rows = admin.locator("#feedback-table tbody tr")
    assert rows.count() == 16
    labels = admin.locator("#feedback-table tr[data-user='mallory'] td.label")
    assert labels.all_text_contents() == flipped[6:16]
    drift = admin.text_content("#drift-breast-intensity_mean")
    assert "first-inputs (16)" in drift  # every upload so far is in the running baseline
    admin.screenshot(path=screens / "1-pending-feedback.png", full_page=True)

    # the poisoned batch alone: the admin accepts it, and the cap leaves nothing to train on
    assert _accept_on_page(admin, "mallory") == 10
    with api.app.state.sessions() as session, pytest.raises(ConfigError) as refused:
        retrain_classifier(session, "breast", out_root=tmp_path / "refused", cap=0.4)
    assert "10 usable accepted feedback rows, 0 after the per-user cap of 40%" in str(refused.value)
    assert not (tmp_path / "refused").exists()  # nothing was trained
    assert _production(api, "breast") == production
    admin.click("#refresh")
    admin.wait_for_selector("#model-breast >> text=Never retrained.")
    assert admin.locator("#model-breast table.versions tbody tr").count() == 1

    # the honest feedback too: retrain makes a candidate, the page shows the gate's report
    assert _accept_on_page(admin, "doc") + _accept_on_page(admin, "doc2") == 6
    admin.screenshot(path=screens / "2-accepted.png", full_page=True)
    cli = ("--max-epochs", "1", "--n-boot", "50", "--db", database_url,
           "--data-dir", str(tmp_path / "cli"))  # fmt: skip
    retrained = _run_cli("retrain", "breast", *cli, PRECISIONMED_FEEDBACK_CAP_PER_USER="0.4")
    assert retrained.returncode == 0, retrained.stderr
    row = json.loads(retrained.stdout)
    evaluation = row["evaluation"]
    assert row["stage"] == "candidate"
    assert _production(api, "breast") == production  # nothing is promoted without the gate

    admin.click("#refresh")
    gate = admin.locator("#gate-breast")
    gate.wait_for()
    admin.screenshot(path=screens / "3-gate-report.png", full_page=True)
    candidate_row = admin.locator(f"#version-{row['version'][:12]}")
    assert candidate_row.locator("td.stage").text_content() == "candidate"
    passed = evaluation["gate"]["passed"]
    assert gate.locator(".decision").text_content() == ("PASSED" if passed else "REFUSED")
    assert gate.locator("ul.reasons li").count() == len(evaluation["gate"]["reasons"])
    test, hold = evaluation["locked_test_accuracy"], evaluation["holdout_accuracy"]
    for css, figures in (("tr.locked-test", test), ("tr.holdout", hold)):
        for model in ("candidate", "production"):
            shown = _percent(gate.locator(f"{css} td.{model}").text_content())
            assert shown == pytest.approx(figures[model], abs=0.0005 + 1e-9)
    assert "(n 48)" in gate.locator("tr.locked-test th").text_content()  # the locked test set
    assert f"(n {hold['n']})" in gate.locator("tr.holdout th").text_content()
    diff = test["difference"]
    shown = gate.locator("tr.difference td").text_content()
    low, high = map(float, re.search(r"\[([-+.\d]+), ([-+.\d]+)\]", shown).groups())
    assert low == pytest.approx(diff["low"], abs=0.0005 + 1e-9)
    assert high == pytest.approx(diff["high"], abs=0.0005 + 1e-9)
    mallory = _user_id(api, "mallory")
    cap_line = gate.locator("p.cap").text_content()
    assert f"mallory (#{mallory}) 6" in cap_line  # 10 flipped labels, 4 kept under the cap
    assert "cap 40.0 % per user" in cap_line
    assert evaluation["locked_test"]["sha256"][:12] in gate.locator("p.locked").text_content()

    # promotion through the page: the gate decides
    candidate_row.locator("button.promote").click()
    if passed:
        admin.wait_for_selector("#status.ok:has-text('is now production')")
        assert _production(api, "breast") == row["version"]
    else:
        admin.wait_for_selector("#status.error:has-text('the gate refused it')")
        assert _production(api, "breast") == production
    admin.screenshot(path=screens / "4-after-promote.png", full_page=True)
    admin.close()


def test_the_admin_page_needs_an_admin_and_its_data_routes_refuse_others(api: Api) -> None:
    page = api.client.get("/admin")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert '<script src="/static/admin.js"' in page.text
    script = api.client.get("/static/admin.js").text
    assert "innerHTML" not in script
    doc = api.add_user("doc", "clinician")
    for path in ("/admin/feedback", "/admin/drift"):
        assert api.client.get(path).status_code == 401
        assert api.client.get(path, headers=doc).status_code == 403
