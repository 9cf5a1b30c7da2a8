"""Durability: feedback acknowledged with a 2xx survives the server being SIGKILLed mid-stream.

``precisionmed serve`` runs as a real subprocess (uvicorn, the console entry point) on the test's
database; a stream of feedback submissions is cut by SIGKILL from another thread; after a
restart every feedback that got a 201 is there.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.service.conftest import PASSWORD, SECRET

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(
    port: int,
    data_dir: Path,
    database_url: str,
    models_dir: Path,
    log: Path,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen:
    env = {
        **os.environ,
        **(extra_env or {}),
        "PYTHONPATH": str(REPO / "src"),
        "PRECISIONMED_SECRET_KEY": SECRET,
        "PYTHONUNBUFFERED": "1",
        "PRECISIONMED_RATE_LIMIT_BURST": "100000",  # the stream is not to be rate-limited
    }
    command = [
        sys.executable,
        "-m",
        "precisionmed.cli.main",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--db",
        database_url,
        "--models",
        str(models_dir),
    ]
    with open(log, "w") as out:  # the child keeps its own handle
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_healthy(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("serve did not answer /health in time")


def _token(base: str, username: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/auth/token", data={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _seed(database_url: str, record: dict[str, Any] | None) -> int | None:
    """Migrate the database, add the clinician "doc" and (with ``record``) a case of theirs; the
    case's id."""
    from precisionmed.service.accounts import add_user
    from precisionmed.service.db import make_engine, session_factory, upgrade_database
    from precisionmed.service.models import Case

    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            user, _ = add_user(session, "doc", "clinician", PASSWORD)
            if record is None:
                return None
            case = Case(
                owner_id=user.id,
                input_kind="record",
                input_format="json",
                record=record,
                sha256="0" * 64,
                deidentified=False,
            )
            session.add(case)
            session.commit()
            return case.id
    finally:
        engine.dispose()


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_every_acknowledged_feedback_survives_a_sigkill(
    tmp_path: Path, database_url: str, models_dir: Path, gbsg2_record: dict[str, Any]
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    first_log, second_log = tmp_path / "serve-1.log", tmp_path / "serve-2.log"
    case_id = _seed(database_url, gbsg2_record)  # a clinician "doc" and one case of theirs
    assert case_id is not None
    server = _serve(port, data_dir, database_url, models_dir, first_log)
    try:
        _wait_healthy(base, server)
        match = re.search(r"one-time password: (\S+)", first_log.read_text())
        assert match, first_log.read_text()
        _token(base, "admin", match.group(1))
        doc = _token(base, "doc", PASSWORD)

        acknowledged: list[str] = []
        killer = threading.Timer(1.5, lambda: os.kill(server.pid, signal.SIGKILL))
        killer.start()
        with httpx.Client(base_url=base, headers=doc, timeout=5) as client:
            for i in range(10_000):
                comment = f"stream {i}"
                body = {"verdict": "corrected", "label": "low", "comment": comment}
                try:
                    response = client.post(f"/cases/{case_id}/feedback", json=body)
                except httpx.TransportError:
                    break  # the server is gone
                if response.status_code == 201:
                    acknowledged.append(comment)
        killer.join()
        assert server.wait(timeout=10) == -signal.SIGKILL
        assert len(acknowledged) >= 5, "the stream was too short to test anything"

        server = _serve(port, data_dir, database_url, models_dir, second_log)
        _wait_healthy(base, server)
        doc = _token(base, "doc", PASSWORD)
        stored = httpx.get(f"{base}/cases/{case_id}", headers=doc)
        assert stored.status_code == 200
        comments = {f["comment"] for f in stored.json()["feedback"]}
        assert set(acknowledged) <= comments
        assert len(comments - set(acknowledged)) <= 1  # at most the one in flight at the kill
    finally:
        _stop(server)
    assert "one-time password" not in second_log.read_text()  # printed on the first start only


def test_every_acknowledged_case_survives_a_sigkill_with_its_stored_file(
    tmp_path: Path, database_url: str, models_dir: Path, onnx_cache_dir: Path
) -> None:
    """A stream of image cases cut by SIGKILL: every case answered 201 is there after a restart,
    its predictions with it and its stored file whole (sha256 as recorded). On SQLite the
    server runs with ``synchronous=normal`` (no fsync per commit): a kill must not lose an
    acknowledged case even so (only a power cut may lose its last commits); the default, full,
    fsyncs more and keeps at least as much."""
    import hashlib

    from PIL import Image

    png = tmp_path / "image.png"
    Image.fromarray(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)).save(png)
    data = png.read_bytes()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    _seed(database_url, None)
    env = {  # ONNX export: the test session's cache (each model version is exported once)
        "PRECISIONMED_SQLITE_SYNCHRONOUS": "normal",
        "PRECISIONMED_ONNX_CACHE_DIR": str(onnx_cache_dir),
    }
    server = _serve(port, data_dir, database_url, models_dir, tmp_path / "serve-1.log", env)
    try:
        _wait_healthy(base, server)
        doc = _token(base, "doc", PASSWORD)
        acknowledged: dict[int, str] = {}
        killer: threading.Timer | None = None
        with httpx.Client(base_url=base, headers=doc, timeout=60) as client:
            for i in range(10_000):
                try:
                    response = client.post("/cases", files={"file": (f"{i}.png", data)})
                except httpx.TransportError:
                    break  # the server is gone
                if response.status_code == 201:
                    case = response.json()
                    acknowledged[case["id"]] = case["predictions"][0]["prediction"]
                if killer is None:  # the first case loaded the model: cut the stream soon
                    killer = threading.Timer(1.0, lambda: os.kill(server.pid, signal.SIGKILL))
                    killer.start()
        assert killer is not None
        killer.join()
        assert server.wait(timeout=10) == -signal.SIGKILL
        assert len(acknowledged) >= 5, "the stream was too short to test anything"

        server = _serve(port, data_dir, database_url, models_dir, tmp_path / "serve-2.log", env)
        _wait_healthy(base, server)
        doc = _token(base, "doc", PASSWORD)
        with httpx.Client(base_url=base, headers=doc, timeout=30) as client:
            for case_id, prediction in acknowledged.items():
                stored = client.get(f"/cases/{case_id}")
                assert stored.status_code == 200, stored.text
                assert stored.json()["predictions"][0]["prediction"] == prediction
        from sqlalchemy import select

        from precisionmed.service.db import make_engine, session_factory
        from precisionmed.service.models import Case

        engine = make_engine(database_url)
        try:
            with session_factory(engine)() as session:
                rows = session.execute(
                    select(Case.id, Case.stored_path, Case.sha256).where(
                        Case.id.in_(list(acknowledged))
                    )
                ).all()
        finally:
            engine.dispose()
        assert len(rows) == len(acknowledged)
        for _, stored_path, sha256 in rows:
            assert hashlib.sha256(Path(stored_path).read_bytes()).hexdigest() == sha256
    finally:
        _stop(server)
