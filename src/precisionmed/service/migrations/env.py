"""Alembic environment of the service database.

The URL comes from the Alembic config (set by :func:`precisionmed.service.db.upgrade_database`)
or, when Alembic is run by hand (``alembic -c ... upgrade head``), from the service settings
(``PRECISIONMED_DATABASE_URL``, else SQLite in ``PRECISIONMED_DATA_DIR``).
"""

from __future__ import annotations

from alembic import context

from precisionmed.service.db import make_engine
from precisionmed.service.models import Base


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from precisionmed.service.config import DatabaseSettings

    return DatabaseSettings().resolved_database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
