"""One Alembic history: upgrades from empty, matches the models, downgrades to empty (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from api_support import database
from sqlalchemy import inspect
from typer import Typer
from typer.testing import CliRunner

from api import migrate
from api.cli import db_app
from api.db import Base, make_engine


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_upgrade_matches_models_and_downgrade_empties(kind, tmp_path):
    with database(kind, tmp_path) as url:
        engine = make_engine(url)
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)  # and back up again
        assert migrate.current_revision(engine) == migrate.head_revision()
        engine.dispose()


def test_migrations_are_found_inside_the_package_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert migrate.head_revision() is not None


def test_tryon_db_commands(tmp_path, monkeypatch):
    from api.settings import get_settings

    monkeypatch.setenv("TRYON_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    cli = Typer()
    cli.add_typer(db_app, name="db")
    runner = CliRunner()
    try:
        assert "current: base" in runner.invoke(cli, ["db", "current"]).output
        upgraded = runner.invoke(cli, ["db", "upgrade"])
        assert upgraded.exit_code == 0 and migrate.head_revision() in upgraded.output
        first = runner.invoke(cli, ["db", "bootstrap"])
        assert first.exit_code == 0 and "admin API key (shown once): tryon_" in first.output
        assert "nothing created" in runner.invoke(cli, ["db", "bootstrap"]).output
        downgraded = runner.invoke(cli, ["db", "downgrade", "base"])
        assert downgraded.exit_code == 0 and "database at base" in downgraded.output
    finally:
        get_settings.cache_clear()
    assert (tmp_path / "tryon.db").exists()
