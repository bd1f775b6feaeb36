"""Annotations of uploaded assets: the claims, results and recovery of the workers that annotate them.

A garment uploaded without a mask, or a model photo without pose and parse, is ``annotating``. A worker
*claims* it (one attempt more, a lease), annotates it and writes the result only while the asset is still
annotating: a redelivered message finds the lease held, or the asset finished, and does nothing. When a
worker dies mid-annotation its lease runs out and recovery re-queues the asset; the claim after
``max_attempts`` attempts fails it instead, so that a poison photo cannot loop forever.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from celery import Celery
from sqlalchemy import and_, null, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import utcnow
from api.dispatch import enqueue_annotation
from api.errors import ApiError
from api.models import AssetStatus, Garment, ModelPhoto, StatusReason

# The task of each kind is named in api.dispatch.ANNOTATE_TASKS.
KINDS: dict[str, type[Garment] | type[ModelPhoto]] = {"garment": Garment, "model_photo": ModelPhoto}
NAMES = {"garment": "garment", "model_photo": "model photo"}


def kind_of(asset: Garment | ModelPhoto) -> str:
    return "garment" if isinstance(asset, Garment) else "model_photo"


def pending() -> dict[str, Any]:
    """The columns of an asset uploaded without its annotations."""
    return {"status": AssetStatus.annotating, "annotation_enqueued_at": utcnow()}


def enqueue_if_annotating(celery: Celery, asset: Garment | ModelPhoto) -> None:
    """Send the asset to the workers; call it once its row is committed (a worker must find it)."""
    if asset.status == AssetStatus.annotating:
        enqueue_annotation(celery, kind_of(asset), asset.id)


# What a new automatic annotation starts from: no annotations, a garment's mask to be derived.
CLEARED: dict[str, dict[str, Any]] = {
    "garment": {"mask_key": None, "mask_derived": True},
    "model_photo": {"keypoints": null(), "parse_key": None},  # SQL NULL, not the JSON null that None would store
}


def _ready(results: dict[str, Any]) -> dict[str, Any]:
    """The columns of an asset ready with ``results``: any earlier failure reason cleared."""
    return {"status": AssetStatus.ready, "status_reason": None, "status_message": None, **results}


def by_hand(session: Session, asset: Garment | ModelPhoto, results: dict[str, Any]) -> None:
    """Record annotations given by hand (``results`` already checked and stored): ready, whatever the status.

    A worker still annotating the asset loses its result: finish() writes only while the asset is annotating.
    """
    for field, value in {**_ready(results), "annotation_lease_expires_at": None}.items():
        setattr(asset, field, value)
    session.flush()


def restart(session: Session, asset: Garment | ModelPhoto) -> None:
    """Annotate a ready or failed asset again from its image (new annotator weights, a transient failure):
    annotating, attempts reset, old annotations cleared; the caller enqueues it once committed.

    One conditional UPDATE, so that of two concurrent restarts one is a 409 rather than both enqueuing.
    """
    kind = kind_of(asset)
    model = KINDS[kind]
    result = session.execute(
        update(model)
        .where(model.id == asset.id, model.status != AssetStatus.annotating)
        .values(
            status=AssetStatus.annotating,
            status_reason=None,
            status_message=None,
            annotation_attempts=0,
            annotation_lease_expires_at=None,
            annotation_enqueued_at=utcnow(),
            **CLEARED[kind],
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ApiError(409, "already_annotating", f"{NAMES[kind]} {asset.id} is already annotating: wait for it")
    session.refresh(asset)


def not_ready(asset: Garment | ModelPhoto) -> str:
    """Why an asset cannot be rendered yet, for a 409's message."""
    name = f"{NAMES[kind_of(asset)]} {asset.id}"
    if asset.status == AssetStatus.annotating:
        return f"{name} is still annotating: ask again once its status is ready"
    return f"{name} failed annotation ({asset.status_reason or 'unknown'}): {asset.status_message or 'no message'}"


def settled(sessions: sessionmaker[Session], kind: str, asset_id: uuid.UUID) -> Garment | ModelPhoto | None:
    """The asset once it is no longer annotating (or deleted: None either way until then), read in a short
    read-only transaction; the object stays usable after its session closes."""
    with sessions() as session:
        asset = session.get(KINDS[kind], asset_id)
        session.commit()
    return asset if asset is not None and asset.status != AssetStatus.annotating else None


# --- worker side ---------------------------------------------------------------------------------------


def _claimable(model, now: dt.datetime):
    lease = model.annotation_lease_expires_at
    return and_(model.status == AssetStatus.annotating, or_(lease.is_(None), lease < now))


def claim(session: Session, kind: str, asset_id: uuid.UUID, lease_seconds: float, max_attempts: int) -> str | None:
    """Claim an annotating asset for one attempt; returns its image's storage key, or None when there is
    nothing to do (gone, finished, held by a live attempt, or failed here after ``max_attempts``)."""
    model, now = KINDS[kind], utcnow()
    asset = session.scalar(select(model).where(model.id == asset_id, _claimable(model, now)))
    if asset is None:
        return None
    if asset.annotation_attempts >= max_attempts:
        message = f"gave up after {asset.annotation_attempts} of {max_attempts} attempts (the worker stopped each time)"
        fail(session, kind, asset_id, StatusReason.too_many_attempts, message)
        return None
    result = session.execute(
        update(model)
        .where(model.id == asset_id, _claimable(model, now))
        .values(
            annotation_attempts=model.annotation_attempts + 1,
            annotation_lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )
    return asset.image_key if result.rowcount == 1 else None


def _settle(session: Session, kind: str, asset_id: uuid.UUID, values: dict[str, Any]) -> bool:
    """Write a result only while the asset is still annotating; True when written."""
    model = KINDS[kind]
    result = session.execute(
        update(model)
        .where(model.id == asset_id, model.status == AssetStatus.annotating)
        .values(annotation_lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def finish(session: Session, kind: str, asset_id: uuid.UUID, results: dict[str, Any]) -> bool:
    """Record the results (a photo's ``keypoints`` and ``parse_key``, a garment's ``mask_key``): ready."""
    return _settle(session, kind, asset_id, _ready(results))


def fail(session: Session, kind: str, asset_id: uuid.UUID, reason: StatusReason, message: str) -> bool:
    values = {"status": AssetStatus.failed, "status_reason": reason.value, "status_message": message[:2000]}
    return _settle(session, kind, asset_id, values)


def _orphaned(model, now: dt.datetime, queue_idle: bool, enqueued_before: dt.datetime, leased_before):
    """Annotating assets that no live task will finish: a lease that ran out (or, for a sole worker, one
    granted before it started), or no lease while the queue is empty (the message was lost)."""
    lease = model.annotation_lease_expires_at
    expired = lease < now if leased_before is None else or_(lease < now, lease < leased_before)
    conditions = [and_(lease.is_not(None), expired)]
    if queue_idle:
        waiting = or_(model.annotation_enqueued_at.is_(None), model.annotation_enqueued_at < enqueued_before)
        conditions.append(and_(lease.is_(None), waiting))
    return and_(model.status == AssetStatus.annotating, or_(*conditions))


def requeue_orphans(
    session: Session,
    now: dt.datetime,
    queue_idle: bool,
    enqueued_before: dt.datetime,
    lease_seconds: float,
    started_at: dt.datetime | None = None,
) -> list[tuple[str, uuid.UUID]]:
    """Free the orphaned annotations for a new message; returns (kind, id) of each to send.

    ``started_at``: when the caller is the only worker, the time it started; leases granted before then
    (they expire before ``started_at + lease_seconds``) belong to a dead process. Each row is updated
    under the same condition it was found by, so two sweeps never re-queue one asset twice.
    """
    leased_before = started_at + dt.timedelta(seconds=lease_seconds) if started_at is not None else None
    found = []
    for kind, model in KINDS.items():
        orphaned = _orphaned(model, now, queue_idle, enqueued_before, leased_before)
        for asset_id in session.scalars(select(model.id).where(orphaned).order_by(model.created_at)).all():
            result = session.execute(
                update(model)
                .where(model.id == asset_id, orphaned)
                .values(annotation_lease_expires_at=None, annotation_enqueued_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                found.append((kind, asset_id))
    return found
