"""The ``precisionmed`` entry point: one-line errors, exit codes, ``--debug``, ``--version``.

Most checks call :func:`precisionmed.cli.main.main` in-process; one runs the installed script to
check the real process (exit status, no traceback on stderr).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from precisionmed import __version__
from precisionmed.cli.main import main
from precisionmed.errors import DatasetNotFoundError
from tests.conftest import require_path

BREAST = "imaging/medmnist/breastmnist.npz"
SCRIPT = Path(sys.executable).with_name("precisionmed")


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["precisionmed", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def corrupt_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRECISIONMED_CACHE", str(tmp_path / "cache"))
    data = require_path(BREAST).read_bytes()
    cached = tmp_path / "cache" / BREAST
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:])
    return cached


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(monkeypatch, capsys, "--version")
    assert (code, out) == (0, f"precisionmed {__version__}\n")


def test_unknown_dataset_is_one_line_with_close_matches(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(monkeypatch, capsys, "data", "info", "breastmnst")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: Unknown dataset 'breastmnst'. Did you mean: ")
    assert "breastmnist" in err
    assert "Traceback" not in err


def test_debug_lets_the_exception_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["precisionmed", "--debug", "data", "info", "breastmnst"])
    with pytest.raises(DatasetNotFoundError, match="breastmnst"):
        main()


def test_verify_exit_status_reaches_the_process(
    corrupt_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A command's typer.Exit(1) must become the process's exit status (not 0).
    code, out, _ = run_main(monkeypatch, capsys, "data", "verify", "breastmnist")
    assert code == 1
    assert "md5 checksum mismatch" in out


def test_messages_with_brackets_print_verbatim(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(monkeypatch, capsys, "data", "info", "[bold]x[/bold]")
    assert code == 1
    assert "Unknown dataset '[bold]x[/bold]'" in err  # not eaten as rich markup


def test_usage_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(monkeypatch, capsys, "data", "fetch")
    assert code == 2
    assert "Missing argument" in err


def test_bad_settings_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRECISIONMED_DOWNLOAD_TIMEOUT", "soon")
    code, _, err = run_main(monkeypatch, capsys, "data", "fetch", "breastmnist")
    assert code == 1
    assert err.startswith("error: Invalid precisionmed settings in the environment: ")
    assert "PRECISIONMED_DOWNLOAD_TIMEOUT" in err
    assert "'soon'" in err


def test_installed_script_on_a_flipped_byte(corrupt_cache: Path) -> None:
    if not SCRIPT.exists():
        pytest.skip(f"the console script is not installed beside {sys.executable}")
    env = {**os.environ, "PRECISIONMED_CACHE": str(corrupt_cache.parents[2])}
    fetch = subprocess.run(
        [SCRIPT, "data", "fetch", "breastmnist"], capture_output=True, text=True, env=env
    )
    assert fetch.returncode == 1
    assert fetch.stderr.count("\n") == 1
    assert fetch.stderr.startswith(f"error: {corrupt_cache}: md5 checksum mismatch: expected ")
    assert "Traceback" not in fetch.stderr


@pytest.mark.slow
def test_installed_script_debug_shows_the_traceback(corrupt_cache: Path) -> None:
    if not SCRIPT.exists():
        pytest.skip(f"the console script is not installed beside {sys.executable}")
    env = {**os.environ, "PRECISIONMED_CACHE": str(corrupt_cache.parents[2])}
    debug = subprocess.run(
        [SCRIPT, "--debug", "data", "fetch", "breastmnist"], capture_output=True, text=True, env=env
    )
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ChecksumError" in debug.stderr
