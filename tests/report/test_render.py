"""The report renders in headless Chromium (Debian's ``chromium`` driven by Playwright) with no
missing image; the screenshot is kept under ``PRECISIONMED_TEST_ARTIFACTS`` (CI keeps that folder)
or the test's tmp_path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from precisionmed.report import write_report
from tests.report.conftest import write_bundle

CHROMIUM = os.environ.get("PRECISIONMED_CHROMIUM", "/usr/bin/chromium")


def _browser_or_skip() -> None:
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (pip install playwright; the dev extra)"
    if reason is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must render the report: {reason}")
        pytest.skip(reason)


def test_the_report_renders_in_chromium_with_every_image(models_dir: Path, tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report"
    write_report(write_bundle(tmp_path), models_dir, out)
    keep = Path(os.environ.get("PRECISIONMED_TEST_ARTIFACTS") or tmp_path)
    keep.mkdir(parents=True, exist_ok=True)
    shot = keep / "report-screenshot.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            failed: list[str] = []
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.goto((out / "report.html").as_uri(), wait_until="load")
            widths = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            title = page.title()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(widths) >= 3
    assert all(complete and width > 0 for _alt, complete, width in widths), widths
    assert failed == []
    assert title.startswith("precisionmed report")
    assert shot.read_bytes()[:4] == b"\x89PNG"
