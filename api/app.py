"""The app factory: ``create_app(settings)`` builds the FastAPI app; migrations run when it starts."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api import dashboard, migrate
from api.db import make_engine, make_session_factory
from api.deps import AppState
from api.errors import install_error_handlers
from api.metrics import install_metrics
from api.ratelimit import RateLimiter
from api.routes import garments, health, keys, model_photos, model_versions, outfits, previews, render_jobs
from api.settings import Settings, get_settings
from api.storage import make_storage
from api.worker import create_celery

DESCRIPTION = """
Virtual try-on previews: upload garments and model photos, request previews, render in bulk.

Authenticate with `Authorization: Bearer <key>` (or `X-API-Key`). Roles: **storefront** (published
catalog, previews), **merchandiser** (catalog writes, render jobs, approvals), **admin** (everything).
Every error answers `{"error": {"code": "...", "message": "..."}}`.
"""


def build_state(settings: Settings) -> AppState:
    engine = make_engine(settings.database_url)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        read_sessions=make_session_factory(engine, read_only=True),
        storage=make_storage(settings.storage_url, settings.s3_endpoint_url, settings.s3_region),
        celery=create_celery(settings),
        limiter=RateLimiter(settings.rate_limit_per_minute),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if settings.migrate_on_start:
            await run_in_threadpool(migrate.upgrade, state.engine)
        yield
        state.engine.dispose()

    app = FastAPI(title="tryon", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.tryon = state
    install_error_handlers(app)
    app.state.metrics = install_metrics(app, state)
    for module in (garments, model_photos, outfits, model_versions, previews, render_jobs, keys, health):
        app.include_router(module.router)
    dashboard.install(app)  # the merchandisers' and admins' pages under /admin
    return app
