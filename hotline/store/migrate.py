"""Programmatic Alembic setup (no alembic.ini): config, upgrade, revision checks.

New migrations: write `migrations/versions/NNNN_what.py` by hand, or draft one with
`alembic.command.revision(alembic_config(url), message="what", autogenerate=True,
rev_id="NNNN")` against a database at the current head, then review it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Any fixed 64-bit number; serialises concurrent migrations on PostgreSQL.
_PG_MIGRATION_LOCK = 0x486F746C696E65  # "Hotline"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic Config for the store's migrations, optionally bound to a URL or connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision id in migrations/versions."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database behind `connection` (inside its transaction) to `revision`."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    command.upgrade(alembic_config(connection=connection), revision)
