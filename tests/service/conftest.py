"""Service test set-up: tiny real models, a database per test (SQLite, and PostgreSQL when
``PRECISIONMED_TEST_POSTGRES_URL`` names a server), apps and signed-in clients.

The models are trained once per session on real data of the mirror (a 1-epoch CNN on 48
BreastMNIST images, a Cox model on GBSG2) and served from a models directory like production.
"""

from __future__ import annotations

import functools
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


def _postgres_admin_dsn() -> tuple[Any, str]:
    from sqlalchemy.engine import make_url

    server = make_url(os.environ[POSTGRES_ENV])
    return server, server.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Databases migrated once per session, copied for each test (migrating each is slow)."""
    from precisionmed.service.db import upgrade_database

    sqlite_file = tmp_path_factory.mktemp("template") / "service.db"
    upgrade_database(f"sqlite:///{sqlite_file}")
    templates = {"sqlite": str(sqlite_file)}
    if "postgresql" not in BACKENDS:
        yield templates
        return
    import psycopg

    server, admin_dsn = _postgres_admin_dsn()
    name = f"pm_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade_database(server.set(database=name).render_as_string(hide_password=False))
    templates["postgresql"] = name
    yield templates
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: dict[str, str]
) -> Iterator[str]:
    """A fresh database at the newest schema: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        import shutil

        shutil.copyfile(migrated_templates["sqlite"], tmp_path / "service.db")
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    import psycopg

    server, admin_dsn = _postgres_admin_dsn()
    name = f"pm_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_templates["postgresql"]}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@functools.cache
def password_hash() -> str:
    """The argon2 hash of :data:`PASSWORD`, computed once (hashing is slow on purpose)."""
    from precisionmed.service.security import hash_password

    return hash_password(PASSWORD)


@pytest.fixture(scope="session")
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of exported networks for the session (each model version is exported once)."""
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture
def make_app(
    database_url: str, models_dir: Path, tmp_path: Path, onnx_cache_dir: Path
) -> Iterator[Callable[..., Any]]:
    """``make_app(**settings)``: a fresh app on this test's database and the session's models
    (their database connections are closed after the test)."""
    from precisionmed.service import ServiceSettings, create_app

    apps: list[Any] = []

    def build(**overrides: Any) -> Any:
        fields: dict[str, Any] = {
            "secret_key": SECRET,
            "data_dir": tmp_path / "data",
            "database_url": database_url,
            "models_dir": models_dir,
            "onnx_cache_dir": onnx_cache_dir,
            **overrides,
        }
        apps.append(create_app(ServiceSettings(**fields)))
        return apps[-1]

    yield build
    for app in apps:
        app.state.engine.dispose()


class Api:
    """A test client and helpers to add users and sign in."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = TestClient(app)

    def add_user(self, username: str, role: str) -> dict[str, str]:
        """Add a user (password :data:`PASSWORD`) in the database; its Authorization header.

        The token is made as ``POST /auth/token`` makes it, without the slow password check
        (the tests of ``/auth/token`` sign in for real with :meth:`sign_in`).
        """
        from precisionmed.service.models import User
        from precisionmed.service.security import create_token

        with self.app.state.sessions() as session:
            session.add(User(username=username, role=role, password_hash=password_hash()))
            session.commit()
        token = create_token(username, role, SECRET, expire_minutes=5)
        return {"Authorization": f"Bearer {token}"}

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
def api(make_app: Callable[..., Any]) -> Api:
    """An :class:`Api` on a default app."""
    return Api(make_app())


def upload(name: str, data: bytes) -> dict[str, Any]:
    """The ``files=`` argument of one upload (the name is what a browser would send)."""
    return {"file": (name, data, "application/octet-stream")}
