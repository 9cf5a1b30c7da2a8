"""Service test set-up: tiny real models, a database per test (SQLite, and PostgreSQL when
``PRECISIONMED_TEST_POSTGRES_URL`` names a server), apps and signed-in clients.

The models are trained once per session on real data of the mirror (a 1-epoch CNN on 48
BreastMNIST images, a Cox model on GBSG2) and served from a models directory like production.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_dataset

with warnings.catch_warnings():
    # starlette asks for the httpx2 package, not installed in the stack; httpx works
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

SECRET = "test-secret-key-" + "k" * 32
POSTGRES_ENV = "PRECISIONMED_TEST_POSTGRES_URL"
PASSWORD = "correct horse battery"


def _backends() -> list[Any]:
    backends: list[Any] = ["sqlite"]
    if os.environ.get(POSTGRES_ENV):
        backends.append("postgresql")
    return backends


BACKENDS = _backends()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with an image classifier ("breast") and a survival model ("gbsg2")."""
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset
    from precisionmed.imaging import train_image_classifier
    from precisionmed.train import TrainConfig

    require_dataset("breastmnist")
    require_dataset("gbsg2")
    root = tmp_path_factory.mktemp("models")
    train_image_classifier(
        "breastmnist",
        "reference-cnn",
        out_dir=root / "breast",
        config=TrainConfig(max_epochs=1, batch_size=16, seed=0, progress=False),
        subset=48,
        n_boot=10,
    )
    train_clinical_model(
        load_dataset("gbsg2"), "coxph", root / "gbsg2", interval_models=0, n_boot=10, explain=False
    )
    return root


@pytest.fixture(scope="session")
def gbsg2_record() -> dict[str, Any]:
    """One GBSG2 patient's fields, as a clinician's JSON would give them."""
    from precisionmed.data import load_dataset

    row = load_dataset("gbsg2").X.iloc[0]
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(os.environ[POSTGRES_ENV])
    name = f"pm_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_app(database_url: str, models_dir: Path, tmp_path: Path) -> Callable[..., Any]:
    """``make_app(**settings)``: a fresh app on this test's database and the session's models."""
    from precisionmed.service import ServiceSettings, create_app

    def build(**overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "secret_key": SECRET,
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "models_dir": models_dir,
            **overrides,
        }
        return create_app(ServiceSettings(**fields))

    return build


class Api:
    """A test client and helpers to add users and sign in."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = TestClient(app)

    def add_user(self, username: str, role: str) -> dict[str, str]:
        """Add a user directly in the database; returns its Authorization header."""
        from precisionmed.service.accounts import add_user

        with self.app.state.sessions() as session:
            add_user(session, username, role, PASSWORD)
        return self.sign_in(username)

    def sign_in(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.client.post(
            "/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def audit_rows(self) -> list[tuple[Any, ...]]:
        """(user_id, action, object_type, object_id) of every audit row, in order."""
        from sqlalchemy import select

        from precisionmed.service.models import AuditEntry

        with self.app.state.sessions() as session:
            rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            return [(r.user_id, r.action, r.object_type, r.object_id) for r in rows]


@pytest.fixture
def api(make_app: Callable[..., Any]) -> Iterator[Api]:
    """An :class:`Api` on a default app."""
    app = make_app()
    yield Api(app)
    app.state.engine.dispose()


def upload(name: str, data: bytes) -> dict[str, Any]:
    """The ``files=`` argument of one upload (the name is what a browser would send)."""
    return {"file": (name, data, "application/octet-stream")}
