"""System: workers, queue depths and recent errors."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.db import session_scope, utcnow
from api.services import system
from api.tasks import broker_queue_sizes

from . import auth
from .web import PREFIX, DashboardRoute, render

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)
log = logging.getLogger(__name__)

Viewer = Annotated[auth.Viewer, Depends(auth.viewer_of())]


def _broker(state) -> tuple[dict, list | None, str | None]:
    """Waiting messages per queue and the live workers, or why the broker could not tell."""
    try:
        return broker_queue_sizes(state.celery), system.live_workers(state.celery), None
    except Exception as error:  # the page still shows what the catalog knows
        log.warning("broker unreachable from the dashboard: %s", error)
        return {}, None, f"{type(error).__name__}: {error}"


@router.get("/system")
def system_page(request: Request, viewer: Viewer):
    state = request.app.state.tryon
    messages, workers, broker_error = _broker(state)
    with session_scope(state.read_sessions) as session:
        depths = system.queue_depths(session, messages)
        activity = system.activity(session, utcnow())
        errors = system.recent_errors(session)
    return render(
        request,
        "dashboard/system.html",
        viewer=viewer,
        section="system",
        depths=depths,
        activity=activity,
        errors=errors,
        workers=workers,
        remote_control=bool(state.celery.conf.worker_enable_remote_control),
        broker_error=broker_error,
        broker_url=_redacted(state.settings.broker_url),
    )


def _redacted(url: str) -> str:
    """The broker URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        rest = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    return f"{scheme}{sep}{rest}"
