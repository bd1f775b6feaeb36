"""Previews: the content key, requests (200 cached / 202 queued), claims and results of render attempts.

The catalog row is the source of truth. A render attempt first *claims* previews (queued -> running with
a fresh claim token and a lease), and may write a result only while its token is still the preview's:
so a redelivered or late task neither duplicates a preview nor overwrites a newer result.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db import utcnow
from api.errors import ApiError, not_found
from api.models import (
    ApiKey,
    Approval,
    AssetStatus,
    Garment,
    ModelPhoto,
    ModelVersion,
    Preview,
    PreviewGarment,
    PreviewStatus,
    Queue,
    RenderJobItem,
    WebhookSubscription,
)
from api.services import annotation, catalog

# Rendering order of an outfit's garments: tops, then bottoms, then one-pieces (stable within a category).
CATEGORY_ORDER = {"tops": 0, "bottoms": 1, "one-pieces": 2}
LIVE = (PreviewStatus.queued, PreviewStatus.running, PreviewStatus.succeeded)
FINISHED = (PreviewStatus.succeeded, PreviewStatus.failed, PreviewStatus.canceled)


# The error code of a preview whose photo's or garments' annotations were replaced after it was requested.
INPUTS_CHANGED = "inputs_changed"


def parse_size(size: str) -> tuple[int, int]:
    height, width = size.split("x")
    return int(height), int(width)


def content_key(photo: ModelPhoto, garments: Sequence[Garment], version: ModelVersion, params: dict) -> str:
    """SHA-256 of everything that decides the pixels: photo, garments (in order), model version, params."""
    keypoints = hashlib.sha256(json.dumps(photo.keypoints).encode()).hexdigest()
    material = {
        "model_photo": [str(photo.id), photo.image_key, photo.parse_key, keypoints],
        "garments": [[str(g.id), g.image_key, g.mask_key] for g in garments],
        "model_version": [str(version.id), version.checkpoint],
        "params": params,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def render_order(garments: Sequence[Garment]) -> list[Garment]:
    return sorted(garments, key=lambda g: CATEGORY_ORDER[g.category.value])


@dataclass
class PreviewRequest:
    photo: ModelPhoto
    garments: list[Garment]
    version: ModelVersion
    outfit_id: uuid.UUID | None
    params: dict[str, Any]
    key: str


def resolve_request(
    session: Session,
    key: ApiKey,
    *,
    model_photo_id: uuid.UUID,
    garment_id: uuid.UUID | None,
    outfit_id: uuid.UUID | None,
    size: str,
    fmt: str,
) -> PreviewRequest:
    """Check a preview request against the catalog and compute its content key."""
    if (garment_id is None) == (outfit_id is None):
        raise ApiError(422, "garment_or_outfit", "give exactly one of garment_id and outfit_id")
    photo = catalog.get_model_photo(session, model_photo_id)
    if photo.status != AssetStatus.ready:
        raise ApiError(409, "model_photo_not_ready", annotation.not_ready(photo))
    if garment_id is not None:
        garments = [catalog.get_garment(session, garment_id, key)]
    else:
        outfit = catalog.get_outfit(session, outfit_id)
        garments = [catalog.get_garment(session, g, key) for g in outfit.garment_ids]
    for garment in garments:
        if garment.status != AssetStatus.ready:
            raise ApiError(409, "garment_not_ready", annotation.not_ready(garment))
    garments = render_order(garments)
    version = catalog.version_for(session, [g.category.value for g in garments])
    params = {"size": size, "format": fmt}
    return PreviewRequest(photo, garments, version, outfit_id, params, content_key(photo, garments, version, params))


def live_preview(session: Session, key: str) -> Preview | None:
    return session.scalar(select(Preview).where(Preview.content_key == key, Preview.status.in_(LIVE)))


def new_preview(request: PreviewRequest, queue: Queue, requested_by: uuid.UUID | None) -> Preview:
    preview = Preview(
        content_key=request.key,
        model_photo_id=request.photo.id,
        outfit_id=request.outfit_id,
        model_version_id=request.version.id,
        params=request.params,
        size=request.params["size"],
        format=request.params["format"],
        queue=queue,
        status=PreviewStatus.queued,
        approval=Approval.draft,
        image_keys={},
        attempts=0,
        requested_by=requested_by,
        enqueued_at=utcnow(),
    )
    preview.items = [PreviewGarment(position=i, garment_id=g.id) for i, g in enumerate(request.garments)]
    return preview


def get_or_create(session: Session, request: PreviewRequest, queue: Queue, requested_by) -> tuple[Preview, bool]:
    """The live preview for the request's key, or a new queued one; ``created`` tells which (race-safe)."""
    existing = live_preview(session, request.key)
    if existing is not None:
        return existing, False
    preview = new_preview(request, queue, requested_by)
    try:
        with session.begin_nested():
            session.add(preview)
    except IntegrityError:
        # Another request inserted the same key between our read and our write: theirs wins.
        existing = live_preview(session, request.key)
        if existing is None:
            raise
        return existing, False
    return preview, True


def subscribe(session: Session, preview: Preview, key: ApiKey, url: str) -> None:
    exists = session.scalar(
        select(WebhookSubscription.id).where(
            WebhookSubscription.preview_id == preview.id,
            WebhookSubscription.api_key_id == key.id,
            WebhookSubscription.url == url,
        )
    )
    if exists is None:
        session.add(WebhookSubscription(preview_id=preview.id, api_key_id=key.id, url=url))
        session.flush()


def get_preview(session: Session, preview_id: uuid.UUID) -> Preview:
    preview = session.get(Preview, preview_id)
    if preview is None:
        raise not_found("preview", preview_id)
    return preview


def list_previews(
    session: Session,
    *,
    status: PreviewStatus | None,
    approval: Approval | None,
    model_photo_id: uuid.UUID | None,
    garment_id: uuid.UUID | None,
    model_version_id: uuid.UUID | None,
    size: str | None,
    limit: int,
    offset: int,
    job_id: uuid.UUID | None = None,
):
    query = select(Preview)
    if status is not None:
        query = query.where(Preview.status == status)
    if approval is not None:
        query = query.where(Preview.approval == approval)
    if model_photo_id is not None:
        query = query.where(Preview.model_photo_id == model_photo_id)
    if garment_id is not None:
        query = query.where(
            Preview.id.in_(select(PreviewGarment.preview_id).where(PreviewGarment.garment_id == garment_id))
        )
    if model_version_id is not None:
        query = query.where(Preview.model_version_id == model_version_id)
    if size is not None:
        query = query.where(Preview.size == size)
    if job_id is not None:
        query = query.where(Preview.id.in_(select(RenderJobItem.preview_id).where(RenderJobItem.job_id == job_id)))
    return catalog._page(session, query, Preview.created_at, limit, offset)


def to_dict(preview: Preview) -> dict[str, Any]:
    """The API's representation (also the ``data`` of webhook events)."""
    done = preview.status == PreviewStatus.succeeded
    base = f"/v1/previews/{preview.id}/image"
    return {
        "id": str(preview.id),
        "status": preview.status.value,
        "approval": preview.approval.value,
        "rejection_reason": preview.rejection_reason,
        "content_key": preview.content_key,
        "model_photo_id": str(preview.model_photo_id),
        "garment_ids": [str(g) for g in preview.garment_ids],
        "outfit_id": str(preview.outfit_id) if preview.outfit_id else None,
        "model_version_id": str(preview.model_version_id),
        "size": preview.size,
        "format": preview.format,
        "image_url": base if done else None,
        "thumbnail_url": f"{base}?variant=thumbnail" if done else None,
        "error": {"code": preview.error_code, "message": preview.error_message or ""} if preview.error_code else None,
        "attempts": preview.attempts,
        "created_at": _iso(preview.created_at),
        "started_at": _iso(preview.started_at),
        "finished_at": _iso(preview.finished_at),
        "render_ms": preview.render_ms,
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def decide(session: Session, preview_ids: Sequence[uuid.UUID], decision: Approval, reason: str | None) -> list[Preview]:
    """Approve or reject previews (all or none): each must exist and have succeeded."""
    if decision == Approval.rejected and not (reason and reason.strip()):
        raise ApiError(422, "reason_required", "a rejection needs a reason")
    previews = session.scalars(select(Preview).where(Preview.id.in_(preview_ids))).all()
    found = {p.id for p in previews}
    missing = [str(i) for i in preview_ids if i not in found]
    if missing:
        raise ApiError(404, "preview_not_found", f"unknown preview(s): {', '.join(missing)}")
    not_done = [str(p.id) for p in previews if p.status != PreviewStatus.succeeded]
    if not_done:
        raise ApiError(409, "preview_not_succeeded", f"only succeeded previews can be judged: {', '.join(not_done)}")
    for preview in previews:
        preview.approval = decision
        preview.rejection_reason = reason if decision == Approval.rejected else None
    session.flush()
    order = {pid: i for i, pid in enumerate(preview_ids)}
    return sorted(previews, key=lambda p: order[p.id])


# --- render attempts (worker side) -----------------------------------------------------------------


def _claimable(now: dt.datetime):
    expired = and_(Preview.status == PreviewStatus.running, Preview.lease_expires_at < now)
    return or_(Preview.status == PreviewStatus.queued, expired)


def claim_batch(
    session: Session, preview_id: uuid.UUID, batch_size: int, lease_seconds: float, max_attempts: int
) -> tuple[str, list[uuid.UUID]]:
    """Claim ``preview_id`` and up to ``batch_size - 1`` queued previews like it (same queue, size, version).

    Returns the claim token and the claimed ids (empty when there is nothing to do: the preview is
    gone, finished, or held by a live attempt). A preview already tried ``max_attempts`` times is failed
    here, so that a poison preview that kills its worker cannot loop forever.
    """
    now = utcnow()
    token = str(uuid.uuid4())
    target = session.scalar(select(Preview).where(Preview.id == preview_id, _claimable(now)))
    if target is None:
        return token, []
    if target.attempts >= max_attempts:
        give_up(session, target, now, max_attempts)
        return token, []
    others = session.scalars(
        select(Preview.id)
        .where(
            _claimable(now),
            Preview.id != target.id,
            Preview.queue == target.queue,
            Preview.size == target.size,
            Preview.model_version_id == target.model_version_id,
            Preview.attempts < max_attempts,
        )
        .order_by(Preview.created_at)
        .limit(max(0, batch_size - 1))
    ).all()
    claimed = []
    lease = now + dt.timedelta(seconds=lease_seconds)
    for candidate in [target.id, *others]:
        result = session.execute(
            update(Preview)
            .where(Preview.id == candidate, _claimable(now))
            .values(
                status=PreviewStatus.running,
                claim_token=token,
                lease_expires_at=lease,
                attempts=Preview.attempts + 1,
                started_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            claimed.append(candidate)
    return token, claimed


def give_up(session: Session, preview: Preview, now: dt.datetime, max_attempts: int) -> None:
    last = f" (last error: {preview.error_message})" if preview.error_message else ""
    session.execute(
        update(Preview)
        .where(Preview.id == preview.id)
        .values(
            status=PreviewStatus.failed,
            error_code="too_many_attempts",
            error_message=f"gave up after {preview.attempts} of {max_attempts} attempts{last}",
            claim_token=None,
            lease_expires_at=None,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def finish(session: Session, preview_id: uuid.UUID, token: str, image_keys: dict[str, str], render_ms: int) -> bool:
    """Record a success, only if this attempt still holds the preview; True when written."""
    result = session.execute(
        update(Preview)
        .where(Preview.id == preview_id, Preview.claim_token == token, Preview.status == PreviewStatus.running)
        .values(
            status=PreviewStatus.succeeded,
            image_keys=image_keys,
            render_ms=render_ms,
            finished_at=utcnow(),
            error_code=None,
            error_message=None,
            claim_token=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def fail_attempt(
    session: Session, preview_id: uuid.UUID, token: str, code: str, message: str, retry: bool, max_attempts: int
) -> str | None:
    """Record a failed attempt: back to queued while attempts remain (and ``retry``), else failed.

    Returns the new status, or None when this attempt no longer holds the preview.
    """
    preview = session.scalar(
        select(Preview).where(
            Preview.id == preview_id, Preview.claim_token == token, Preview.status == PreviewStatus.running
        )
    )
    if preview is None:
        return None
    now = utcnow()
    again = retry and preview.attempts < max_attempts
    session.execute(
        update(Preview)
        .where(Preview.id == preview_id, Preview.claim_token == token)
        .values(
            status=PreviewStatus.queued if again else PreviewStatus.failed,
            error_code=code,
            error_message=message[:2000],
            claim_token=None,
            lease_expires_at=None,
            enqueued_at=now if again else preview.enqueued_at,
            finished_at=None if again else now,
        )
        .execution_options(synchronize_session=False)
    )
    return PreviewStatus.queued.value if again else PreviewStatus.failed.value


def orphans(
    session: Session,
    now: dt.datetime,
    idle_queues: Sequence[Queue],
    queued_before: dt.datetime,
    running_before: dt.datetime | None = None,
) -> Sequence[Preview]:
    """Previews that no live task will finish.

    Running ones whose lease expired (or, when the caller is the only worker, every one claimed before
    ``running_before``, the time it started), and queued ones of a queue whose broker queue is empty
    (``idle_queues``): their message was lost with a killed worker, since neither embedded transport
    redelivers.
    """
    expired = Preview.lease_expires_at < now
    if running_before is not None:
        expired = or_(expired, Preview.started_at < running_before)
    running = and_(Preview.status == PreviewStatus.running, expired)
    conditions = [running]
    if idle_queues:
        conditions.append(
            and_(
                Preview.status == PreviewStatus.queued,
                Preview.queue.in_(list(idle_queues)),
                Preview.enqueued_at < queued_before,
            )
        )
    return session.scalars(select(Preview).where(or_(*conditions)).order_by(Preview.created_at)).all()


def requeue(session: Session, preview: Preview, now: dt.datetime) -> bool:
    result = session.execute(
        update(Preview)
        .where(Preview.id == preview.id, Preview.status.in_((PreviewStatus.queued, PreviewStatus.running)))
        .where(
            Preview.claim_token.is_(None) if preview.claim_token is None else Preview.claim_token == preview.claim_token
        )
        .values(status=PreviewStatus.queued, claim_token=None, lease_expires_at=None, enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
