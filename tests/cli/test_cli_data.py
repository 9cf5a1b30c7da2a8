"""``precisionmed data list/info/fetch/verify``, with and without ``--json``.

(Named test_cli_data.py, not test_data.py: test folders have no __init__.py, so basenames must
be unique across tests/.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app
from tests.conftest import require_dataset, require_path

BREAST = "imaging/medmnist/breastmnist.npz"
BREAST_MD5 = "750601b1f35ba3300ea97c75c52ff8f6"

runner = CliRunner()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("PRECISIONMED_CACHE", str(root))
    return root


@pytest.fixture
def corrupt_cache(cache: Path) -> Path:
    """BreastMNIST in the cache with one byte flipped."""
    data = require_path(BREAST).read_bytes()
    cached = cache / BREAST
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:])
    return cached


def test_list_table_and_json() -> None:
    table = runner.invoke(app, ["data", "list"])
    assert table.exit_code == 0, table.output
    assert "breastmnist" in table.stdout
    rows = json.loads(runner.invoke(app, ["data", "list", "--json"]).stdout)
    breast = next(r for r in rows if r["name"] == "breastmnist")
    assert breast == {
        "name": "breastmnist",
        "modality": "ultrasound",
        "task": "binary-class",
        "files": 1,
        "size": None,
        "license": "CC BY 4.0",
    }
    only = json.loads(
        runner.invoke(app, ["data", "list", "--modality", "ultrasound", "--json"]).stdout
    )
    assert "breastmnist" in {r["name"] for r in only}
    assert {r["modality"] for r in only} == {"ultrasound"}


def test_info_json_and_text() -> None:
    require_dataset("breastmnist")
    record = json.loads(runner.invoke(app, ["data", "info", "breastmnist", "--json"]).stdout)
    assert record["license"] == "CC BY 4.0"
    assert "MedMNIST v2" in record["citation"]
    (f,) = record["files"]
    assert f["checksum"] == f"md5:{BREAST_MD5}"
    assert f["url"].startswith("https://zenodo.org/records/")
    assert f["local"] == str(require_path(BREAST))
    text = runner.invoke(app, ["data", "info", "BreastMNIST"])
    assert text.exit_code == 0
    assert f"md5:{BREAST_MD5}" in text.stdout
    assert f["url"] in text.stdout  # printed in full, copyable


def test_fetch_json_uses_the_local_mirror(cache: Path) -> None:
    require_dataset("breastmnist")
    result = runner.invoke(app, ["data", "fetch", "breastmnist", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "dataset": "breastmnist",
            "file": BREAST,
            "local": str(require_path(BREAST)),
            "status": "OK",
        }
    ]
    text = runner.invoke(app, ["data", "fetch", "breastmnist"])
    assert f"OK {BREAST} -> {require_path(BREAST)}" in text.stdout


def test_verify_reports_every_local_file_ok() -> None:
    require_dataset("breastmnist")
    result = runner.invoke(app, ["data", "verify", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    statuses = {r["status"] for r in rows}
    assert statuses <= {"OK", "ABSENT"}
    assert {"dataset": "breastmnist", "file": BREAST, "status": "OK"}.items() <= next(
        r for r in rows if r["dataset"] == "breastmnist"
    ).items()
    text = runner.invoke(app, ["data", "verify", "breastmnist"])
    assert text.exit_code == 0
    assert "1 OK, 0 BAD, 0 not on this machine" in text.stdout


def test_verify_flags_a_flipped_byte_with_exit_code_1(corrupt_cache: Path) -> None:
    result = runner.invoke(app, ["data", "verify", "breastmnist"])
    assert result.exit_code == 1
    assert f"BAD    {BREAST}  {corrupt_cache}: md5 checksum mismatch: expected {BREAST_MD5}" in (
        result.stdout
    )
    assert "0 OK, 1 BAD" in result.stdout
    rows = json.loads(runner.invoke(app, ["data", "verify", "breastmnist", "--json"]).stdout)
    assert rows[0]["status"] == "BAD"
    assert "checksum mismatch" in rows[0]["detail"]


def test_fetch_refuses_a_corrupt_cached_file_until_forced(corrupt_cache: Path) -> None:
    from precisionmed.errors import ChecksumError

    refused = runner.invoke(app, ["data", "fetch", "breastmnist"])
    assert refused.exit_code == 1
    assert isinstance(refused.exception, ChecksumError)
    assert corrupt_cache.exists()
    forced = runner.invoke(app, ["data", "fetch", "breastmnist", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)[0]["local"] == str(require_path(BREAST))
    assert not corrupt_cache.exists()  # the mirror serves it; the bad copy no longer shadows it
    assert runner.invoke(app, ["data", "verify", "breastmnist"]).exit_code == 0
