"""Render jobs: a selection of garments x model photos, fanned out into previews by the workers.

Creating a job only stores its selection, so that 10,000 previews answer at once. A fan-out step
turns the next chunk of pairs into previews (re-using any live preview with the same content key),
records its progress, and hands the rest to another step: so a job honours cancel between chunks and a
redelivered step repeats no work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice, product

from celery import Celery
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from api.db import utcnow
from api.dispatch import enqueue_fanout, enqueue_render
from api.errors import ApiError, not_found
from api.models import (
    ApiKey,
    AssetStatus,
    Garment,
    JobStatus,
    ModelPhoto,
    Preview,
    PreviewStatus,
    Queue,
    RenderJob,
    RenderJobItem,
)
from api.services import catalog, previews

STALL_AFTER = dt.timedelta(minutes=2)
ESTIMATE_SAMPLE = 200  # recent render batches the time estimate is based on


def create_job(session: Session, key: ApiKey, selection: dict, size: str, fmt: str) -> RenderJob:
    has_garments = selection.get("garment_ids") is not None or selection.get("garment_filter") is not None
    has_photos = selection.get("model_photo_ids") is not None or selection.get("model_photo_filter") is not None
    if not has_garments or not has_photos:
        raise ApiError(
            422,
            "selection_incomplete",
            "select garments (garment_ids or garment_filter) and model photos (model_photo_ids or model_photo_filter)",
        )
    if selection.get("garment_ids"):
        wanted = [uuid.UUID(str(i)) for i in selection["garment_ids"]]
        found = session.scalars(select(Garment).where(Garment.id.in_(wanted))).all()
        missing = sorted(set(map(str, selection["garment_ids"])) - {str(g.id) for g in found})
        if missing:
            raise ApiError(422, "garment_not_found", f"unknown garment(s): {', '.join(missing)}")
        unrendered = sorted({g.category.value for g in found} - catalog.rendered_categories(session))
        if unrendered:
            raise ApiError(422, "category_not_rendered", f"no active model version renders {', '.join(unrendered)}")
    job = RenderJob(owner_id=key.id, selection=selection, size=size, format=fmt, status=JobStatus.queued, counts={})
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: uuid.UUID) -> RenderJob:
    """The job, its row locked until the transaction ends (see lock_job)."""
    job = lock_job(session, job_id)
    if job is None:
        raise not_found("render_job", job_id)
    return job


def lock_job(session: Session, job_id: uuid.UUID) -> RenderJob | None:
    """Load the job fresh and lock its row (SELECT ... FOR UPDATE) for the rest of the transaction.

    Every read-modify-write of a job (fan-out, recount, cancel, retry) goes through here: on PostgreSQL two of
    them would otherwise interleave, and a worker's recount that read the job before a cancel would write its
    stale status back over "canceled". SQLite needs no row lock: its writers take the database lock at BEGIN."""
    return session.get(RenderJob, job_id, with_for_update=True, populate_existing=True)


def list_jobs(session: Session, limit: int, offset: int) -> tuple[Sequence[RenderJob], int]:
    """Render jobs, newest first, with their stored counts (the workers keep them current)."""
    return catalog._page(session, select(RenderJob), RenderJob.created_at, limit, offset)


def _resolve(session: Session, selection: dict) -> tuple[list[str], list[str]]:
    """The selection's garment and photo ids, fixed once so that every chunk sees the same pairs."""
    garments = select(Garment.id).where(Garment.status == AssetStatus.ready)
    if selection.get("garment_ids") is not None:
        garments = garments.where(Garment.id.in_([uuid.UUID(str(i)) for i in selection["garment_ids"]]))
    flt = selection.get("garment_filter") or {}
    if flt.get("category"):
        garments = garments.where(Garment.category == flt["category"])
    if flt.get("published") is not None:
        garments = garments.where(Garment.published.is_(flt["published"]))
    if flt.get("sku_prefix"):
        garments = garments.where(Garment.sku.startswith(flt["sku_prefix"]))
    garments = garments.where(Garment.category.in_(sorted(catalog.rendered_categories(session))))
    photos = select(ModelPhoto.id).where(ModelPhoto.status == AssetStatus.ready)
    if selection.get("model_photo_ids") is not None:
        photos = photos.where(ModelPhoto.id.in_([uuid.UUID(str(i)) for i in selection["model_photo_ids"]]))
    pflt = selection.get("model_photo_filter") or {}
    if pflt.get("name_contains"):
        photos = photos.where(ModelPhoto.name.ilike(f"%{pflt['name_contains']}%"))
    return (
        sorted(str(i) for i in session.scalars(garments)),
        sorted(str(i) for i in session.scalars(photos)),
    )


@dataclass
class Estimate:
    """What a render job on a selection would do, told before it starts."""

    garments: int
    model_photos: int
    previews: int
    queued_ahead: int  # bulk previews queued or running now, rendered before these
    seconds_per_preview: float | None  # None: no render to learn from yet

    @property
    def seconds(self) -> float | None:
        """Time until the job is done, at the recent pace; None when there is no pace to go by."""
        if self.seconds_per_preview is None:
            return None
        return (self.previews + self.queued_ahead) * self.seconds_per_preview if self.previews else 0.0


def estimate(session: Session, selection: dict, size: str) -> Estimate:
    """Count the pairs a job on ``selection`` would render and estimate its time from recent renders.

    The count is an upper bound: a pair whose preview is already rendered is reused, not rendered again.
    """
    garment_ids, photo_ids = _resolve(session, selection)
    ahead = session.scalar(
        select(func.count())
        .select_from(Preview)
        .where(Preview.queue == Queue.bulk, Preview.status.in_((PreviewStatus.queued, PreviewStatus.running)))
    )
    return Estimate(
        garments=len(garment_ids),
        model_photos=len(photo_ids),
        previews=len(garment_ids) * len(photo_ids),
        queued_ahead=ahead or 0,
        seconds_per_preview=seconds_per_preview(session, size),
    )


def seconds_per_preview(session: Session, size: str) -> float | None:
    """Recent render time per preview at ``size`` (from batches at other sizes, scaled by pixels, if none).

    Previews rendered together share ``started_at`` and their batch's ``render_ms``, which counts the
    rendering alone: a worker's one-off start (importing torch, loading the checkpoint) is left out.
    """
    rows = session.execute(
        select(Preview.size, Preview.started_at, func.max(Preview.render_ms), func.count())
        .where(
            Preview.status == PreviewStatus.succeeded,
            Preview.started_at.is_not(None),
            Preview.render_ms.is_not(None),
        )
        .group_by(Preview.size, Preview.started_at)
        .order_by(Preview.started_at.desc())
        .limit(ESTIMATE_SAMPLE)
    ).all()
    seconds: dict[str, float] = {}
    counted: dict[str, int] = {}
    for batch_size, _started, render_ms, count in rows:
        seconds[batch_size] = seconds.get(batch_size, 0.0) + render_ms / 1000
        counted[batch_size] = counted.get(batch_size, 0) + count
    if size in seconds:
        return seconds[size] / counted[size]
    if not seconds:
        return None
    # Rendering time grows about with the pixel count: scale the other sizes' pace to this one.
    pixels = _pixels(size)
    scaled = sum(seconds[s] * pixels / _pixels(s) for s in seconds)
    return scaled / sum(counted.values())


def _pixels(size: str) -> int:
    height, width = previews.parse_size(size)
    return height * width


def fanout_step(session: Session, app: Celery, job_id: uuid.UUID, chunk_size: int) -> dict:
    """Create the previews of the job's next chunk of pairs and enqueue their renders."""
    job = lock_job(session, job_id)
    if job is None or job.status in (JobStatus.canceled, JobStatus.succeeded, JobStatus.failed):
        return {"created": 0}
    if job.total is None:
        garment_ids, photo_ids = _resolve(session, job.selection)
        job.selection = {**job.selection, "resolved": {"garment_ids": garment_ids, "model_photo_ids": photo_ids}}
        job.total = len(garment_ids) * len(photo_ids)
        job.status = JobStatus.running
    resolved = job.selection["resolved"]
    start = job.fanout_done
    pairs = list(islice(product(resolved["garment_ids"], resolved["model_photo_ids"]), start, start + chunk_size))
    to_enqueue = _previews_for_pairs(session, job, pairs)
    # The row lock makes this read-modify-write safe: a redelivered step, or a cancel, waits for this one
    # and then sees fanout_done and the status it leaves.
    job.fanout_done = start + len(pairs)
    session.commit()
    # The next step goes first: it then runs before this chunk's renders, so a job is fanned out
    # quickly even on a busy bulk queue.
    if start + len(pairs) < job.total:
        enqueue_fanout(app, job.id)
    for preview_id in to_enqueue:
        enqueue_render(app, preview_id, Queue.bulk)
    if start + len(pairs) >= job.total:
        refresh(session, lock_job(session, job.id))
        session.commit()
    return {"created": len(pairs)}


def _previews_for_pairs(session: Session, job: RenderJob, pairs: Sequence[tuple[str, str]]) -> list[uuid.UUID]:
    garments = {
        str(g.id): g for g in session.scalars(select(Garment).where(Garment.id.in_({uuid.UUID(g) for g, _ in pairs})))
    }
    photos = {
        str(p.id): p
        for p in session.scalars(select(ModelPhoto).where(ModelPhoto.id.in_({uuid.UUID(p) for _, p in pairs})))
    }
    linked = set(session.scalars(select(RenderJobItem.preview_id).where(RenderJobItem.job_id == job.id)))
    to_enqueue = []
    for garment_id, photo_id in pairs:
        found = _preview_for(session, job, garments.get(garment_id), photos.get(photo_id))
        if found is None:
            continue
        preview, created = found
        if created:
            to_enqueue.append(preview.id)
        if preview.id not in linked:
            session.add(RenderJobItem(job_id=job.id, preview_id=preview.id))
            linked.add(preview.id)
    session.flush()
    return to_enqueue


def _preview_for(
    session: Session, job: RenderJob, garment: Garment | None, photo: ModelPhoto | None
) -> tuple[Preview, bool] | None:
    """The live preview of the garment on the photo at the job's size and format, or a new queued one
    (``created`` True); None when either is gone, not ready (sent back to the annotators since the job
    started) or no active model version renders the garment."""
    if garment is None or photo is None or {garment.status, photo.status} != {AssetStatus.ready}:
        return None
    try:
        version = catalog.version_for(session, [garment.category.value])
    except ApiError:
        return None
    params = {"size": job.size, "format": job.format}
    key = previews.content_key(photo, [garment], version, params)
    request = previews.PreviewRequest(photo, [garment], version, None, params, key)
    return previews.get_or_create(session, request, Queue.bulk, job.owner_id)


def counts(session: Session, job_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(
        select(Preview.status, func.count())
        .join(RenderJobItem, RenderJobItem.preview_id == Preview.id)
        .where(RenderJobItem.job_id == job_id)
        .group_by(Preview.status)
    ).all()
    found = {status.value if hasattr(status, "value") else status: n for status, n in rows}
    return {status.value: found.get(status.value, 0) for status in PreviewStatus}


def refresh(session: Session, job: RenderJob) -> RenderJob:
    """Recount the job's previews by status and derive its status from them."""
    job.counts = counts(session, job.id)
    if job.status in (JobStatus.canceled, JobStatus.queued):
        return job
    fanned_out = job.total is not None and job.fanout_done >= job.total
    pending = job.counts["queued"] + job.counts["running"]
    if fanned_out and not pending:
        job.status = JobStatus.failed if job.counts["failed"] else JobStatus.succeeded
        job.finished_at = job.finished_at or utcnow()
    else:
        job.status, job.finished_at = JobStatus.running, None
    session.flush()
    return job


def refresh_jobs_of(session: Session, preview_ids: Sequence[uuid.UUID]) -> None:
    if not preview_ids:
        return
    job_ids = set(session.scalars(select(RenderJobItem.job_id).where(RenderJobItem.preview_id.in_(preview_ids))))
    for job_id in sorted(job_ids):  # one lock order for all workers: no deadlock between two recounts
        job = lock_job(session, job_id)
        if job is not None:  # deleted meanwhile
            refresh(session, job)


def cancel(session: Session, job: RenderJob) -> RenderJob:
    """Stop the fan-out and cancel the job's queued previews; running renders finish."""
    if job.status in (JobStatus.succeeded, JobStatus.failed, JobStatus.canceled):
        raise ApiError(409, "job_finished", f"render job {job.id} is already {job.status}")
    job.status = JobStatus.canceled
    job.finished_at = utcnow()
    items = select(RenderJobItem.preview_id).where(RenderJobItem.job_id == job.id)
    session.execute(
        update(Preview)
        .where(Preview.id.in_(items), Preview.status == PreviewStatus.queued, Preview.queue == Queue.bulk)
        .values(
            status=PreviewStatus.canceled,
            finished_at=utcnow(),
            error_code="canceled",
            error_message="the render job was canceled",
        )
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return refresh(session, job)


def retry_failed(session: Session, job: RenderJob) -> tuple[RenderJob, list[tuple[uuid.UUID, Queue]]]:
    """Queue the job's failed previews again (attempts reset); returns the previews to enqueue.

    A preview that failed because its photo's or garment's annotations changed would only fail again: the job
    takes the preview of the current annotations in its place."""
    if job.status == JobStatus.canceled:
        raise ApiError(409, "job_canceled", f"render job {job.id} was canceled")
    items = select(RenderJobItem.preview_id).where(RenderJobItem.job_id == job.id)
    failed = session.scalars(select(Preview).where(Preview.id.in_(items), Preview.status == PreviewStatus.failed)).all()
    again = []
    for preview in failed:
        if preview.error_code == previews.INPUTS_CHANGED:
            again += _replace_changed(session, job, preview)
            continue
        if previews.live_preview(session, preview.content_key) is not None:
            continue  # an identical preview was requested since: it will serve
        preview.status, preview.attempts = PreviewStatus.queued, 0
        preview.error_code = preview.error_message = None
        preview.finished_at, preview.enqueued_at = None, utcnow()
        session.flush()
        again.append((preview.id, preview.queue))
    if again:
        job.status, job.finished_at = JobStatus.running, None
    return refresh(session, job), again


def _replace_changed(session: Session, job: RenderJob, stale: Preview) -> list[tuple[uuid.UUID, Queue]]:
    """Link the job to the preview of the stale one's garment and photo as they are now; [] or the new one to
    enqueue. The stale preview stays (failed, as history) but leaves the job, unless an asset is not ready."""
    ids = stale.garment_ids  # a job's previews show one garment each (none once it was deleted)
    garment = session.get(Garment, ids[0]) if ids else None
    found = _preview_for(session, job, garment, session.get(ModelPhoto, stale.model_photo_id))
    if found is None:
        return []  # it stays failed with its reason
    preview, created = found
    session.execute(delete(RenderJobItem).where(RenderJobItem.job_id == job.id, RenderJobItem.preview_id == stale.id))
    if session.get(RenderJobItem, (job.id, preview.id)) is None:
        session.add(RenderJobItem(job_id=job.id, preview_id=preview.id))
    session.flush()
    return [(preview.id, preview.queue)] if created else []


def stalled_fanouts(session: Session, now: dt.datetime) -> list[uuid.UUID]:
    """Jobs whose fan-out has not moved for a while (its message was lost with a killed worker)."""
    rows = session.scalars(
        select(RenderJob).where(
            RenderJob.status.in_((JobStatus.queued, JobStatus.running)), RenderJob.updated_at < now - STALL_AFTER
        )
    ).all()
    return [job.id for job in rows if job.total is None or job.fanout_done < job.total]


def resume_fanout(app: Celery, job_id: uuid.UUID) -> None:
    enqueue_fanout(app, job_id)
