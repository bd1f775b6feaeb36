"""The dashboard of merchandisers and admins: server-rendered pages under ``/admin`` (Jinja2 and htmx).

Pages sign in with an API key kept in an httpOnly cookie, check roles with the API's own rules and call
the same services as the ``/v1`` routes: the dashboard holds no business logic of its own.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .web import PREFIX, STATIC_DIR


def install(app: FastAPI) -> None:
    """Mount the dashboard's pages and static files on ``app``."""
    from . import admin, catalog, jobs, media, outfits, previews, session, system

    for module in (session, catalog, outfits, previews, jobs, admin, system, media):
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="dashboard_static")
