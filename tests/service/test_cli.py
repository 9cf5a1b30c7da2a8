"""``precisionmed users`` in fresh subprocesses (the console entry point), and the migrations."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from precisionmed.errors import ConfigError
from tests.service.conftest import Api

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "precisionmed.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_users_add_list_disable_from_the_command_line(database_url: str, make_app) -> None:
    added = _cli("users", "add", "doc", "--role", "clinician", "--db", database_url)
    assert added.returncode == 0, added.stderr
    password = re.search(r"One-time password: (\S+)", added.stdout).group(1)
    api = Api(make_app())  # the same database
    api.sign_in("doc", password)

    again = _cli("users", "add", "doc", "--role", "admin", "--db", database_url)
    assert again.returncode == 1
    assert again.stderr.strip() == "error: username: a user 'doc' already exists"

    assert _cli("users", "disable", "doc", "--db", database_url).returncode == 0
    response = api.client.post("/auth/token", data={"username": "doc", "password": password})
    assert response.status_code == 401
    listed = json.loads(_cli("users", "list", "--json", "--db", database_url).stdout)
    assert [(r["username"], r["role"], r["active"]) for r in listed] == [
        ("doc", "clinician", False)
    ]


def test_users_add_reads_a_password_from_stdin(database_url: str, make_app) -> None:
    from typer.testing import CliRunner

    from precisionmed.cli.main import app

    runner = CliRunner()
    args = ["users", "add", "res", "--role", "researcher", "--password-stdin", "--db", database_url]
    result = runner.invoke(app, args, input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert "One-time password" not in result.output
    Api(make_app()).sign_in("res", "a long enough password")


@pytest.mark.parametrize(
    ("username", "role", "password", "message"),
    [
        ("x", "nurse", None, "role: expected one of clinician, researcher, admin; got 'nurse'"),
        ("y", "admin", "short", "password: expected at least 12 characters; got 5"),
    ],
)
def test_bad_users_are_refused_with_a_message_naming_the_field(
    api: Api, username: str, role: str, password: str | None, message: str
) -> None:
    from precisionmed.service.accounts import add_user, disable_user

    with api.app.state.sessions() as session:
        with pytest.raises(ConfigError) as info:
            add_user(session, username, role, password)
        assert str(info.value) == message
        with pytest.raises(ConfigError, match="no user 'nobody'"):
            disable_user(session, "nobody")


def test_the_migrations_make_exactly_the_schema_of_the_models(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from precisionmed.service.db import current_revision, make_engine, upgrade_database
    from precisionmed.service.models import Base

    upgrade_database(database_url)
    assert current_revision(database_url) == "0003"
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert differences == []
