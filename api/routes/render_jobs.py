"""Render jobs (bulk): create from a selection, read progress, cancel, retry the failed previews."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api.deps import Merchandiser, SessionDep, StateDep, WriteSessionDep
from api.dispatch import enqueue_fanout, enqueue_render
from api.errors import error_responses
from api.models import RenderJob
from api.schemas import RenderJobIn, RenderJobOut
from api.services import idempotency, jobs

router = APIRouter(prefix="/v1/render-jobs", tags=["render jobs"])


def job_out(job: RenderJob) -> dict:
    selection = {k: v for k, v in job.selection.items() if k != "resolved"}
    return RenderJobOut(
        id=job.id,
        status=job.status,
        selection=selection,
        size=job.size,
        format=job.format,
        total=job.total,
        counts=job.counts or {},
        owner_id=job.owner_id,
        error_message=job.error_message,
        created_at=job.created_at,
        finished_at=job.finished_at,
    ).model_dump(mode="json")


@router.post("", status_code=202, response_model=RenderJobOut, responses=error_responses(401, 403, 422, 429))
def create_render_job(
    body: RenderJobIn,
    state: StateDep,
    session: SessionDep,
    key: Merchandiser,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    """Answers at once: the selection is resolved and fanned out into previews by the workers, in chunks."""
    selection = body.model_dump(mode="json", exclude={"size", "format"}, exclude_none=True)
    digest = idempotency.request_hash("POST", "/v1/render-jobs", body.model_dump(mode="json"))
    record = idempotency.lookup(session, key.id, idempotency_key, digest) if idempotency_key else None
    if record is not None:
        return JSONResponse(record.body, status_code=record.status_code, headers={"Idempotent-Replayed": "true"})
    job = jobs.create_job(session, key, selection, body.size, body.format)
    payload = job_out(job)
    if idempotency_key:
        payload = idempotency.store(session, key.id, idempotency_key, digest, 202, payload).body
    session.commit()
    enqueue_fanout(state.celery, job.id)
    return JSONResponse(payload, status_code=202, headers={"Location": f"/v1/render-jobs/{payload['id']}"})


@router.get("/{job_id}", response_model=RenderJobOut, responses=error_responses(401, 403, 404, 429))
def get_render_job(job_id: uuid.UUID, session: WriteSessionDep, _key: Merchandiser) -> dict:
    """Progress: previews by status, counted now."""
    return job_out(jobs.refresh(session, jobs.get_job(session, job_id)))


@router.post("/{job_id}/cancel", response_model=RenderJobOut, responses=error_responses(401, 403, 404, 409, 429))
def cancel_render_job(job_id: uuid.UUID, session: SessionDep, _key: Merchandiser) -> dict:
    return job_out(jobs.cancel(session, jobs.get_job(session, job_id)))


@router.post("/{job_id}/retry", response_model=RenderJobOut, responses=error_responses(401, 403, 404, 409, 429))
def retry_render_job(job_id: uuid.UUID, state: StateDep, session: SessionDep, _key: Merchandiser) -> dict:
    """Queue the job's failed previews again, with fresh attempts."""
    job, again = jobs.retry_failed(session, jobs.get_job(session, job_id))
    payload = job_out(job)
    session.commit()
    for preview_id, queue in again:
        enqueue_render(state.celery, preview_id, queue)
    return payload
