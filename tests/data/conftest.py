"""Fixtures of the data-layer tests: a per-test cache and a throw-away HTTP server on 127.0.0.1.

The server (:mod:`tests.data.fileserver`) is a real ``http.server.ThreadingHTTPServer`` on an
ephemeral port, run in a thread and shut down at teardown.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_path
from tests.data.fileserver import FileServer


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache for this test only (``PRECISIONMED_CACHE``)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("PRECISIONMED_CACHE", str(root))
    return root


@pytest.fixture(scope="session")
def breast_bytes() -> bytes:
    """The real BreastMNIST file (MedMNIST v2, 28 px) from the shared data mirror."""
    return require_path("imaging/medmnist/breastmnist.npz").read_bytes()
