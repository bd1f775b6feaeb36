"""`tryon serve` and `tryon db ...`, loaded by the lead's CLI through the "tryon.commands" entry points."""

from __future__ import annotations

import os
import subprocess
from typing import Annotated

import typer

db_app = typer.Typer(help="Catalog database migrations (TRYON_DATABASE_URL).", no_args_is_help=True)


def _engine():
    from api.db import make_engine
    from api.settings import get_settings

    settings = get_settings()
    if settings.database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.database_url)


@db_app.command()
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the migrations up to REVISION (default: the latest)."""
    from api import migrate

    migrate.upgrade(_engine(), revision)
    typer.echo(f"database at {migrate.current_revision(_engine())}")


@db_app.command()
def downgrade(revision: Annotated[str, typer.Argument(help="Target revision, or 'base'.")] = "-1") -> None:
    """Revert the migrations down to REVISION (default: one step)."""
    from api import migrate

    migrate.downgrade(_engine(), revision)
    typer.echo(f"database at {migrate.current_revision(_engine()) or 'base'}")


@db_app.command()
def current() -> None:
    """Print the database's revision and the latest one."""
    from api import migrate

    typer.echo(f"current: {migrate.current_revision(_engine()) or 'base'}  head: {migrate.head_revision()}")


@db_app.command()
def bootstrap() -> None:
    """Apply the migrations and, if the catalog has no API key yet, create an admin key and print it once."""
    from api import migrate
    from api.db import make_session_factory, session_scope
    from api.services import keys

    engine = _engine()
    migrate.upgrade(engine)
    with session_scope(make_session_factory(engine)) as session:
        secret = keys.ensure_first_admin(session)
    typer.echo(f"admin API key (shown once): {secret}" if secret else "API keys exist already: nothing created")


def prepare(settings) -> str | None:
    """Migrate, register the demo model if none is, create the first admin key; returns its secret."""
    from api import migrate
    from api.db import make_engine, make_session_factory, session_scope
    from api.services import catalog, keys

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    with session_scope(make_session_factory(engine)) as session:
        if catalog.session_has_no_versions(session):
            catalog.create_model_version(session, name="demo", checkpoint="demo", categories=["tops"], activate=True)
        secret = keys.ensure_first_admin(session)
    engine.dispose()
    return secret


def _die_with_parent() -> None:
    """In the worker child (Linux): get SIGTERM when `tryon serve` dies, however it dies.

    uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so serve's own clean-up may not run.
    """
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Also start a Celery worker process.")] = True,
    pool: Annotated[str, typer.Option(help="Worker pool: solo, or prefork (enforces time limits).")] = "solo",
) -> None:
    """Run the API and a real Celery worker process (embedded default: SQLite, local storage, no broker server)."""
    import uvicorn

    from api.app import create_app
    from api.settings import Settings
    from api.worker import worker_command

    settings = Settings(sole_worker=worker)
    secret = prepare(settings)
    if secret:
        typer.echo(f"\nFirst start: created an admin API key. It is shown once, keep it:\n\n    {secret}\n")
    process = None
    if worker:
        env = {**os.environ, **settings.as_environ()}
        process = subprocess.Popen(worker_command(settings, pool=pool), env=env, preexec_fn=_die_with_parent)
    try:
        uvicorn.run(create_app(settings), host=host, port=port)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
