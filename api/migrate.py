"""Alembic, driven from code: the migrations are found inside the installed ``migrations`` package."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

# Any constant: serialises concurrent upgrades of several API processes on PostgreSQL.
_PG_LOCK_ID = 7_316_270_001


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    return config


def _run(engine: Engine, action, *args) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        config.attributes["connection"] = connection
        action(config, *args)


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "-1") -> None:
    _run(engine, command.downgrade, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
