"""Liveness, readiness and Prometheus metrics (no key needed: for load balancers and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict:
    return {"status": "ok"}


def _check(state) -> dict[str, str]:
    checks = {}
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"error: {type(error).__name__}"
    try:
        with state.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as error:
        checks["broker"] = f"error: {type(error).__name__}"
    try:
        state.storage.ping()
        checks["storage"] = "ok"
    except Exception as error:
        checks["storage"] = f"error: {type(error).__name__}"
    return checks


@router.get("/readyz", summary="Database, broker and storage are reachable")
async def readyz(state: StateDep) -> JSONResponse:
    checks = await run_in_threadpool(_check, state)
    ready = all(v == "ok" for v in checks.values())
    if ready:
        return JSONResponse({"status": "ready", "checks": checks})
    failing = ", ".join(k for k, v in checks.items() if v != "ok")
    return JSONResponse(
        {"error": {"code": "not_ready", "message": f"unreachable: {failing}"}, "checks": checks}, status_code=503
    )


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(generate_latest, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
