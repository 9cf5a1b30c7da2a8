"""Engines, sessions and migrations of the service database.

SQLite is the embedded default: WAL journal (readers never block the writer) with
``synchronous=FULL`` by default (a committed transaction survives the process being killed, and
a power cut), foreign keys on, and a busy timeout so that several workers can share the file.
``synchronous=NORMAL`` (``PRECISIONMED_SQLITE_SYNCHRONOUS=normal``) skips the fsync of each
commit: a commit still survives the process being killed (SIGKILL: the WAL is in the operating
system's page cache) but the last transactions may be lost in a power cut or a kernel crash.
PostgreSQL is used by URL (``postgresql+psycopg://...``). The schema is made by the Alembic
migrations shipped in :mod:`precisionmed.service.migrations` (``upgrade_database``).

:class:`WriteLock` serialises the request paths' write transactions on a SQLite file (one writer
at a time, across threads and worker processes): a second writer then waits exactly as long as
the first holds the lock, instead of polling in SQLite's busy handler, whose sleeps (1, 2, 5,
10... ms) made the tail of the service's latency.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from precisionmed.errors import ConfigError
from precisionmed.jsonable import finite_or_null

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


Synchronous = Literal["full", "normal"]


def make_engine(url: str, *, sqlite_synchronous: Synchronous = "full") -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and the sync mode.

    Parameters
    ----------
    url : str
        ``sqlite:///path.db`` (the folder is created) or ``postgresql+psycopg://...``.
    sqlite_synchronous : {"full", "normal"}
        SQLite's ``PRAGMA synchronous`` (see the module docstring); ignored for PostgreSQL.
    """
    if sqlite_synchronous not in ("full", "normal"):
        raise ConfigError(
            f"sqlite_synchronous: expected 'full' or 'normal'; got {sqlite_synchronous!r}"
        )
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            # readable by the owner only (it holds password hashes); SQLite gives its -wal
            # and -shm files the same mode
            os.close(os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
        )
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_synchronous.upper()))
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=json_text)


def json_text(value: Any) -> str:
    """JSON columns' text: a NaN or infinite float (an undefined interval bound, say) is
    stored as null, since JSON has no such numbers and PostgreSQL refuses them; the API shows
    them as null too."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(finite_or_null(value), allow_nan=False)


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return on_connect


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite ``url`` (None for PostgreSQL or an in-memory database)."""
    if not url.startswith("sqlite"):
        return None
    db_path = url.split("///", 1)[-1]
    return Path(db_path) if db_path and db_path != ":memory:" else None


class WriteLock:
    """One writer at a time on a SQLite file: a thread lock and an ``flock`` on ``PATH.lock``.

    Hand-written because SQLite's own lock is taken by polling (the busy handler sleeps 1, 2,
    5, 10... ms between tries), which cost the service tens of milliseconds at the tail when two
    requests wrote at once; the thread lock and ``flock`` wake the next writer as soon as the
    first one releases them. For PostgreSQL (``path`` None) it does nothing: the server orders
    concurrent transactions itself.

    Parameters
    ----------
    path : Path or None
        The SQLite database file; None for a database that needs no lock.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the enclosed write transaction (its commit included)."""
        if self.path is None:
            yield
            return
        import fcntl

        with self._lock:
            if self._fd is None:
                self._fd = os.open(f"{self.path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # other worker processes of the same file
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (the lock must not be held)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str) -> Any:
    """An Alembic ``Config`` for the shipped migrations and the database at ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' is ConfigParser's interpolation character: a password may contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (``alembic upgrade head``)."""
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def current_revision(url: str) -> str | None:
    """The schema revision the database at ``url`` is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
