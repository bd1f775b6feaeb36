"""Alembic environment: runs on the connection that ``api.migrate`` hands over (never reads a URL itself)."""

from __future__ import annotations

from alembic import context

import api.models  # noqa: F401  (registers the tables on Base.metadata)
from api.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tryon db ...` or api.migrate, which pass a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
