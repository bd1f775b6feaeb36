"""Previews gallery: filters, each preview beside its inputs, approve or reject one or many, new previews."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import session_scope
from api.dispatch import enqueue_render
from api.errors import ApiError
from api.models import Approval, Garment, ModelPhoto, ModelVersion, Preview, PreviewStatus, Queue
from api.schemas import SIZES
from api.services import catalog, previews

from . import auth
from .web import PREFIX, DashboardRoute, local_path, redirect, render

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)
PAGE = 24
PICKER_LIMIT = 200  # garments and photos offered in the pickers, newest first
FORMATS = ("jpeg", "webp", "png")

Viewer = Annotated[auth.Viewer, Depends(auth.viewer_of())]
Actor = Annotated[auth.Viewer, Depends(auth.actor_of())]


def inputs_of(session: Session, rows: list[Preview]) -> tuple[dict, dict]:
    """The garments and model photos that the previews were rendered from, by id (for names and images)."""
    garment_ids = {g for p in rows for g in p.garment_ids}
    photo_ids = {p.model_photo_id for p in rows}
    garments = {g.id: g for g in session.scalars(select(Garment).where(Garment.id.in_(garment_ids)))}
    photos = {p.id: p for p in session.scalars(select(ModelPhoto).where(ModelPhoto.id.in_(photo_ids)))}
    return garments, photos


def recent_garments(session: Session, viewer: auth.Viewer):
    """The garments a picker offers: the newest ``PICKER_LIMIT`` the key may see."""
    garments, _ = catalog.list_garments(
        session, viewer.key, category=None, status=None, published=None, sku=None, q=None, limit=PICKER_LIMIT, offset=0
    )
    return garments


def pickers(session: Session, viewer: auth.Viewer) -> dict:
    photos, _ = catalog.list_model_photos(session, status=None, q=None, limit=PICKER_LIMIT, offset=0)
    outfits, _ = catalog.list_outfits(session, PICKER_LIMIT, 0)
    return {"all_garments": recent_garments(session, viewer), "all_photos": photos, "all_outfits": outfits}


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        raise ApiError(422, "invalid_id", f"{value!r} is not an id") from None


@router.get("/previews")
def gallery(
    request: Request,
    viewer: Viewer,
    garment_id: str | None = None,
    model_photo_id: str | None = None,
    status: Annotated[str | None, Query(pattern="^(|queued|running|succeeded|failed|canceled)$")] = None,
    approval: Annotated[str | None, Query(pattern="^(|draft|approved|rejected)$")] = None,
    job_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    filters = {
        "garment_id": _uuid_or_none(garment_id),
        "model_photo_id": _uuid_or_none(model_photo_id),
        "status": PreviewStatus(status) if status else None,
        "approval": Approval(approval) if approval else None,
        "job_id": _uuid_or_none(job_id),
    }
    with session_scope(request.app.state.tryon.read_sessions) as session:
        rows, total = previews.list_previews(
            session, model_version_id=None, size=None, limit=PAGE, offset=offset, **filters
        )
        garments, photos = inputs_of(session, rows)
        choices = pickers(session, viewer)
    pending = any(p.status in (PreviewStatus.queued, PreviewStatus.running) for p in rows)
    return render(
        request,
        "dashboard/previews.html",
        viewer=viewer,
        section="previews",
        previews=rows,
        total=total,
        offset=offset,
        page_size=PAGE,
        garments=garments,
        photos=photos,
        filters=filters,
        pending=pending,
        sizes=SIZES,
        formats=FORMATS,
        statuses=list(PreviewStatus),
        approvals=list(Approval),
        **choices,
    )


@router.get("/previews/{preview_id}")
def preview_detail(request: Request, preview_id: uuid.UUID, viewer: Viewer):
    with session_scope(request.app.state.tryon.read_sessions) as session:
        preview = previews.get_preview(session, preview_id)
        garments, photos = inputs_of(session, [preview])
        version = session.get(ModelVersion, preview.model_version_id)
    return render(
        request,
        "dashboard/preview.html",
        viewer=viewer,
        section="previews",
        preview=preview,
        garments=garments,
        photo=photos.get(preview.model_photo_id),
        version=version,
        pending=preview.status in (PreviewStatus.queued, PreviewStatus.running),
    )


@router.post("/previews")
def request_preview(
    request: Request,
    viewer: Actor,
    model_photo_id: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    size: Annotated[str, Form()] = "512x384",
    format: Annotated[str, Form()] = "jpeg",
):
    """Like POST /v1/previews: the same content key, so an identical preview is reused, not rendered again."""
    kind, _, subject_id = subject.partition(":")
    if not model_photo_id or kind not in ("garment", "outfit") or size not in SIZES or format not in FORMATS:
        message = "Choose a model photo, a garment or outfit, a size and a format."
        return redirect(request, "/previews", message, "error")
    state = request.app.state.tryon
    try:
        with session_scope(state.sessions) as session:
            resolved = previews.resolve_request(
                session,
                viewer.key,
                model_photo_id=_uuid_or_none(model_photo_id),
                garment_id=_uuid_or_none(subject_id) if kind == "garment" else None,
                outfit_id=_uuid_or_none(subject_id) if kind == "outfit" else None,
                size=size,
                fmt=format,
            )
            preview, created = previews.get_or_create(session, resolved, Queue.interactive, viewer.key.id)
            session.commit()
            if created:
                enqueue_render(state.celery, preview.id, preview.queue)
            status = preview.status
    except ApiError as error:
        return redirect(request, "/previews", error.message, "error")
    message = "Preview queued: it appears below when rendered." if created else f"Same preview already {status}."
    return redirect(request, "/previews", message)


def _decide(request: Request, ids: list[uuid.UUID], decision: Approval, reason: str | None, back: str):
    try:
        with session_scope(request.app.state.tryon.sessions) as session:
            done = previews.decide(session, ids, decision, reason)
    except ApiError as error:
        return redirect(request, local_path(back, "/previews"), error.message, "error")
    verb = "Approved" if decision == Approval.approved else "Rejected"
    noun = "preview" if len(done) == 1 else "previews"
    return redirect(request, local_path(back, "/previews"), f"{verb} {len(done)} {noun}.")


@router.post("/previews/approvals")
def judge_many(
    request: Request,
    _viewer: Actor,
    preview_ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies form defaults)
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
):
    back = local_path(back, "/previews")
    if not preview_ids:
        return redirect(request, back, "Select previews first (x, or the checkboxes).", "error")
    if decision not in (Approval.approved.value, Approval.rejected.value):
        return redirect(request, back, "Choose approve or reject.", "error")
    ids = [_uuid_or_none(i) for i in preview_ids]
    return _decide(request, ids, Approval(decision), reason.strip() or None, back)


@router.post("/previews/{preview_id}/approve")
def approve(request: Request, preview_id: uuid.UUID, _viewer: Actor, back: Annotated[str, Form()] = ""):
    return _decide(request, [preview_id], Approval.approved, None, back)


@router.post("/previews/{preview_id}/reject")
def reject(
    request: Request,
    preview_id: uuid.UUID,
    _viewer: Actor,
    reason: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form()] = "",
):
    return _decide(request, [preview_id], Approval.rejected, reason.strip() or None, back)
