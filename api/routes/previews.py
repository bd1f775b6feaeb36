"""Previews: request (200 cached / 202 queued), read, list, image, approvals."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import JSONResponse

from api.deps import AppState, Merchandiser, SessionDep, StateDep, StorageDep, Storefront
from api.dispatch import enqueue_render
from api.errors import ApiError, error_responses
from api.http import IMAGE_RESPONSES, blob_response, prefer_wait
from api.models import ApiKey, Approval, PreviewStatus, Queue
from api.schemas import BulkApproval, Decision, Page, PreviewIn, PreviewOut
from api.services import idempotency, previews, webhooks

router = APIRouter(prefix="/v1/previews", tags=["previews"])

_EXAMPLE = {
    "id": "6d1c3a52-4f7e-4b8a-9c0d-1e2f3a4b5c6d",
    "status": "succeeded",
    "approval": "draft",
    "rejection_reason": None,
    "content_key": "9f2c...e1",
    "model_photo_id": "0f9d6c7e-8a3b-4c1d-9e2f-3a4b5c6d7e8f",
    "garment_ids": ["5b2f0f8e-3c55-4a8e-9d7e-0c6f1b0b2a11"],
    "outfit_id": None,
    "model_version_id": "1a2b3c4d-0000-4000-8000-000000000001",
    "size": "512x384",
    "format": "webp",
    "image_url": "/v1/previews/6d1c3a52-4f7e-4b8a-9c0d-1e2f3a4b5c6d/image",
    "thumbnail_url": "/v1/previews/6d1c3a52-4f7e-4b8a-9c0d-1e2f3a4b5c6d/image?variant=thumbnail",
    "error": None,
    "attempts": 1,
    "created_at": "2026-11-24T10:00:00+00:00",
    "started_at": "2026-11-24T10:00:00.050000+00:00",
    "finished_at": "2026-11-24T10:00:00.400000+00:00",
    "render_ms": 340,
}


def _request_preview(state: AppState, session, key: ApiKey, body: PreviewIn) -> tuple[int, dict]:
    request = previews.resolve_request(
        session,
        key,
        model_photo_id=body.model_photo_id,
        garment_id=body.garment_id,
        outfit_id=body.outfit_id,
        size=body.size,
        fmt=body.format,
    )
    preview, created = previews.get_or_create(session, request, Queue.interactive, key.id)
    events = []
    if body.webhook_url is not None:
        previews.subscribe(session, preview, key, str(body.webhook_url))
        if preview.status == PreviewStatus.succeeded:
            events = webhooks.events_for(session, preview)
    session.commit()
    if created:
        enqueue_render(state.celery, preview.id, preview.queue)
    for event_id in events:
        webhooks.enqueue(state.celery, event_id)
    return (200 if preview.status == PreviewStatus.succeeded else 202), previews.to_dict(preview)


def _wait_for(state: AppState, preview_id: uuid.UUID, seconds: float) -> dict | None:
    """Poll the catalog (short transactions) until the preview is finished or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
        with state.read_sessions() as session:
            preview = session.get(previews.Preview, preview_id)
            finished = preview is not None and preview.status in previews.FINISHED
            payload = previews.to_dict(preview) if finished else None
            session.commit()
        if payload is not None:
            return payload
    return None


@router.post(
    "",
    response_model=PreviewOut,
    status_code=202,
    responses={
        200: {
            "model": PreviewOut,
            "description": "Already rendered: the cached preview.",
            "content": {"application/json": {"example": _EXAMPLE}},
        },
        202: {
            "model": PreviewOut,
            "description": "Queued (or running): poll GET /v1/previews/{id}.",
            "content": {
                "application/json": {
                    "example": {
                        **_EXAMPLE,
                        "status": "queued",
                        "image_url": None,
                        "thumbnail_url": None,
                        "finished_at": None,
                    }
                }
            },
        },
        **error_responses(401, 403, 404, 409, 422, 429),
    },
    summary="Request a preview",
)
def create_preview(
    body: PreviewIn,
    state: StateDep,
    session: SessionDep,
    key: Storefront,
    idempotency_key: Annotated[str | None, Header(max_length=255, description="Replays the first answer.")] = None,
    prefer: Annotated[str | None, Header(description="`wait=N`: wait up to N seconds for the result.")] = None,
) -> JSONResponse:
    """The content key hashes the model photo, the garments, the model version and the params: an
    identical succeeded preview answers 200 at once; otherwise 202 with the queued preview."""
    digest = idempotency.request_hash("POST", "/v1/previews", body.model_dump(mode="json"))
    record = idempotency.lookup(session, key.id, idempotency_key, digest) if idempotency_key else None
    if record is not None:
        status, payload = record.status_code, record.body
        replayed = True
    else:
        status, payload = _request_preview(state, session, key, body)
        replayed = False
        if idempotency_key:
            record = idempotency.store(session, key.id, idempotency_key, digest, status, payload)
            status, payload = record.status_code, record.body
            session.commit()
    wait = prefer_wait(prefer, state.settings.max_wait_seconds)
    if status == 202 and wait > 0:
        finished = _wait_for(state, uuid.UUID(payload["id"]), wait)
        if finished is not None:
            payload = finished
            status = 200 if finished["status"] == PreviewStatus.succeeded.value else 202
    headers = {"Location": f"/v1/previews/{payload['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(payload, status_code=status, headers=headers)


@router.get("", response_model=Page[PreviewOut], responses=error_responses(401, 403, 422, 429))
def list_previews(
    session: SessionDep,
    _key: Storefront,
    status: PreviewStatus | None = None,
    approval: Approval | None = None,
    model_photo_id: uuid.UUID | None = None,
    garment_id: uuid.UUID | None = None,
    model_version_id: uuid.UUID | None = None,
    size: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[PreviewOut]:
    rows, total = previews.list_previews(
        session,
        status=status,
        approval=approval,
        model_photo_id=model_photo_id,
        garment_id=garment_id,
        model_version_id=model_version_id,
        size=size,
        limit=limit,
        offset=offset,
    )
    return Page(
        items=[PreviewOut.model_validate(previews.to_dict(p)) for p in rows], total=total, limit=limit, offset=offset
    )


@router.post("/approvals", response_model=list[PreviewOut], responses=error_responses(401, 403, 404, 409, 422, 429))
def judge_previews(body: BulkApproval, session: SessionDep, _key: Merchandiser) -> list[PreviewOut]:
    """Approve or reject many previews at once (all or none)."""
    done = previews.decide(session, body.preview_ids, Approval(body.decision), body.reason)
    return [PreviewOut.model_validate(previews.to_dict(p)) for p in done]


@router.get("/{preview_id}", response_model=PreviewOut, responses=error_responses(401, 403, 404, 429))
def get_preview(preview_id: uuid.UUID, session: SessionDep, _key: Storefront) -> PreviewOut:
    return PreviewOut.model_validate(previews.to_dict(previews.get_preview(session, preview_id)))


@router.get(
    "/{preview_id}/image",
    responses={**IMAGE_RESPONSES, **error_responses(401, 403, 404, 409, 429)},
    summary="The rendered image (strong ETag, immutable, 304 on If-None-Match)",
)
def preview_image(
    preview_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    _key: Storefront,
    variant: Annotated[Literal["full", "thumbnail"], Query()] = "full",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    preview = previews.get_preview(session, preview_id)
    if preview.status != PreviewStatus.succeeded:
        raise ApiError(409, "preview_not_ready", f"preview {preview.id} is {preview.status}")
    key = preview.image_keys.get("thumbnail" if variant == "thumbnail" else preview.size)
    return blob_response(storage, key, if_none_match)


@router.post("/{preview_id}/approve", response_model=PreviewOut, responses=error_responses(401, 403, 404, 409, 429))
def approve_preview(preview_id: uuid.UUID, session: SessionDep, _key: Merchandiser) -> PreviewOut:
    [preview] = previews.decide(session, [preview_id], Approval.approved, None)
    return PreviewOut.model_validate(previews.to_dict(preview))


@router.post("/{preview_id}/reject", response_model=PreviewOut, responses=error_responses(401, 403, 404, 409, 422, 429))
def reject_preview(preview_id: uuid.UUID, body: Decision, session: SessionDep, _key: Merchandiser) -> PreviewOut:
    [preview] = previews.decide(session, [preview_id], Approval.rejected, body.reason)
    return PreviewOut.model_validate(previews.to_dict(preview))
