"""Fixtures of the service tests: one app per module and database kind (SQLite and PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_support import Api, database  # noqa: E402


def make_settings(tmp: Path, database_url: str, **overrides):
    from api.settings import Settings

    values = {
        "data_dir": tmp,
        "database_url": database_url,
        "broker_url": "filesystem://",
        "storage_url": f"file://{tmp / 'storage'}",
        "rate_limit_per_minute": 0,
        **overrides,
    }
    return Settings(**values)


def make_keys(settings) -> dict[str, str]:
    from api.db import make_engine, make_session_factory, session_scope
    from api.models import Role
    from api.services import keys

    engine = make_engine(settings.database_url)
    secrets = {}
    with session_scope(make_session_factory(engine)) as session:
        for role in Role:
            _row, secrets[role.value] = keys.create_key(session, f"test {role.value}", role)
    engine.dispose()
    return secrets


def register_version(api: Api, checkpoint: str = "demo", categories=("tops",), name: str | None = None) -> dict:
    import uuid

    body = {
        "name": name or f"v-{uuid.uuid4().hex[:6]}",
        "checkpoint": checkpoint,
        "categories": list(categories),
        "activate": True,
    }
    response = api.call("POST", "/v1/model-versions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_kind(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def api(db_kind, tmp_path_factory):
    """A migrated app on SQLite or PostgreSQL, with a key per role and an active model version for tops."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    tmp = tmp_path_factory.mktemp(f"api-{db_kind}")
    with database(db_kind, tmp) as url:
        settings = make_settings(tmp, url)
        app = create_app(settings)
        with TestClient(app) as client:
            api = Api(client, make_keys(settings))
            api.settings = settings
            api.app = app
            api.version = register_version(api)
            yield api
        app.state.tryon.engine.dispose()
