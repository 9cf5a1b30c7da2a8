"""``precisionmed serve`` and ``precisionmed users``: run the telemedicine service, manage users.

``serve`` is a command of the main app and ``users`` a group of it (both top level), added by
:func:`register`. Heavy imports (FastAPI, SQLAlchemy, uvicorn) happen inside the commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from precisionmed.cli.state import console, print_json

users_app = typer.Typer(help="Users of the service: add, list, disable.", no_args_is_help=True)

DB = typer.Option(
    None,
    "--db",
    help="Database URL: sqlite:///path.db or postgresql+psycopg://user@host:port/db "
    "(default: PRECISIONMED_DATABASE_URL, else SQLite in the data folder).",
)
DATA_DIR = typer.Option(
    None,
    "--data-dir",
    help="Folder of the embedded database, uploads and secret key "
    "(default: PRECISIONMED_DATA_DIR, else ~/.local/share/precisionmed/service).",
)


def _database_url(db: str | None, data_dir: Path | None) -> str:
    from precisionmed.service.config import DatabaseSettings

    overrides: dict[str, object] = {}
    if db:
        overrides["database_url"] = db
    if data_dir:
        overrides["data_dir"] = data_dir
    return DatabaseSettings(**overrides).resolved_database_url  # type: ignore[arg-type]


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (uvicorn)."),
    db: str | None = DB,
    models: Path | None = typer.Option(
        None, "--models", help="Folder of production model directories (one per sub-folder)."
    ),
    data_dir: Path | None = DATA_DIR,
    sqlite_synchronous: str | None = typer.Option(
        None,
        "--sqlite-synchronous",
        help="SQLite only: 'full' (default; every commit fsynced, survives a power cut) or "
        "'normal' (faster commits; survives the server being killed, but the last commits "
        "may be lost in a power cut). Default: PRECISIONMED_SQLITE_SYNCHRONOUS, else full.",
    ),
) -> None:
    """Run the telemedicine service (API docs at /docs).

    The database is migrated first. On the first start an 'admin' user is created and its
    one-time password printed once. Without PRECISIONMED_SECRET_KEY a random key is kept in
    the data folder.
    """
    import uvicorn

    from precisionmed.service.accounts import ensure_admin
    from precisionmed.service.config import load_service_settings, stored_secret_key
    from precisionmed.service.db import make_engine, session_factory, upgrade_database

    # The workers are separate processes that read their settings from the environment.
    if db:
        os.environ["PRECISIONMED_DATABASE_URL"] = db
    if data_dir:
        os.environ["PRECISIONMED_DATA_DIR"] = str(data_dir.expanduser().resolve())
    if models:
        os.environ["PRECISIONMED_MODELS_DIR"] = str(models.expanduser().resolve())
    if sqlite_synchronous:
        os.environ["PRECISIONMED_SQLITE_SYNCHRONOUS"] = sqlite_synchronous
    if not os.environ.get("PRECISIONMED_SECRET_KEY"):
        from precisionmed.service.config import DatabaseSettings

        os.environ["PRECISIONMED_SECRET_KEY"] = stored_secret_key(DatabaseSettings().data_dir)
    settings = load_service_settings()
    url = settings.resolved_database_url
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            password = ensure_admin(session)
    finally:
        engine.dispose()
    if password is not None:
        typer.echo(
            f"Created the first admin user 'admin' with the one-time password: {password}\n"
            "It is shown only now; change it with POST /users/me/password."
        )
        sys.stdout.flush()
    if workers > 1:  # the workers' metrics (drift included) are merged from a shared folder
        from precisionmed.service.drift import prepare_multiprocess_dir

        prepare_multiprocess_dir(settings.data_dir)
    uvicorn.run(
        "precisionmed.service.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="The new user's name."),
    role: str = typer.Option(..., help="clinician, researcher or admin."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from stdin (else one is generated)."
    ),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Add a user; a generated password is printed once."""
    from precisionmed.service import accounts
    from precisionmed.service.db import make_engine, session_factory, upgrade_database

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    url = _database_url(db, data_dir)
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            user, generated = accounts.add_user(session, username, role, password)
    finally:
        engine.dispose()
    console.print(f"Added {user.role} {user.username!r} (id {user.id}).")
    if generated:
        typer.echo(f"One-time password: {generated}")


@users_app.command("list")
def users_list(
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List the users."""
    from precisionmed.service import accounts
    from precisionmed.service.db import make_engine, session_factory, upgrade_database

    url = _database_url(db, data_dir)
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            rows = [
                {"id": u.id, "username": u.username, "role": u.role, "active": u.is_active}
                for u in accounts.list_users(session)
            ]
    finally:
        engine.dispose()
    if as_json:
        print_json(rows)
        return
    table = Table("id", "username", "role", "active")
    for r in rows:
        table.add_row(
            str(r["id"]), str(r["username"]), str(r["role"]), "yes" if r["active"] else "no"
        )
    console.print(table)


@users_app.command("disable")
def users_disable(
    username: str = typer.Argument(..., help="The user to disable."),
    db: str | None = DB,
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Disable a user: sign-in and their existing tokens stop working."""
    from precisionmed.service import accounts
    from precisionmed.service.db import make_engine, session_factory, upgrade_database

    url = _database_url(db, data_dir)
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            accounts.disable_user(session, username)
    finally:
        engine.dispose()
    console.print(f"Disabled {username!r}.")


def register(app: typer.Typer) -> None:
    """Add ``serve`` (a command) and ``users`` (a group) to the top-level ``app``."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
