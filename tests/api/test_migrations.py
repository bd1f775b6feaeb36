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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0002_keeps_the_catalog_and_its_previews_both_ways(kind, tmp_path):
    """0002 adds and drops its columns in place: the rows, and the previews that would cascade, survive."""
    import sqlalchemy as sa

    with database(kind, tmp_path) as url:
        engine = make_engine(url)
        migrate.upgrade(engine, "0001")
        garment_id, photo_id = "0" * 31 + "1", "0" * 31 + "2"
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO garments (id, sku, name, category, image_key, mask_derived, width, height, status, "
                    "published, created_at, updated_at) VALUES (:id, 'S', 'n', 'tops', 'k', false, 1, 1, 'ready', "
                    "true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": garment_id},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO model_photos (id, name, image_key, width, height, status, created_at, updated_at) "
                    "VALUES (:id, 'p', 'k', 1, 1, 'ready', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": photo_id},
            )
        _add_preview(engine, garment_id, photo_id)  # its garment row has a cascade that a table copy would fire
        migrate.upgrade(engine, "0002")
        with engine.connect() as connection:
            row = connection.execute(sa.text("SELECT status, status_reason, annotation_attempts FROM garments")).one()
        assert tuple(row) == ("ready", None, 0)
        migrate.downgrade(engine, "0001")
        columns = {c["name"] for c in inspect(engine).get_columns("model_photos")}
        assert "status_reason" not in columns and "annotation_lease_expires_at" not in columns
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM garments")).scalar() == 1
            assert connection.execute(sa.text("SELECT count(*) FROM model_photos")).scalar() == 1
            assert connection.execute(sa.text("SELECT count(*) FROM preview_garments")).scalar() == 1
        engine.dispose()


def _add_preview(engine, garment_id: str, photo_id: str) -> None:
    """A preview of the garment on the photo (these tables are the same in 0001 and in the models)."""
    import uuid

    from api.db import make_session_factory, session_scope
    from api.models import ModelVersion, Preview, PreviewGarment

    with session_scope(make_session_factory(engine)) as session:
        version = ModelVersion(name="v", checkpoint="demo", categories=["tops"], active=True)
        session.add(version)
        session.flush()
        preview = Preview(
            content_key="c", model_photo_id=uuid.UUID(photo_id), model_version_id=version.id, params={},
            size="256x192", format="png", image_keys={}, attempts=0, status="queued",
        )  # fmt: skip
        preview.items = [PreviewGarment(position=0, garment_id=uuid.UUID(garment_id))]
        session.add(preview)
