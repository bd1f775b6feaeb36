"""What the Celery tasks do: receive ids, reload rows, call tryon, write results idempotently."""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass

from celery import Celery
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api import images
from api.db import make_engine, make_session_factory, session_scope, utcnow
from api.dispatch import enqueue_annotation, enqueue_render
from api.models import Garment, ModelPhoto, ModelVersion, Preview, PreviewStatus, Queue, StatusReason
from api.services import annotation, jobs, previews, webhooks
from api.settings import Settings
from api.storage import Storage, StorageError, make_storage

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage


_contexts: dict[tuple[int, int], WorkerContext] = {}


def context(app: Celery) -> WorkerContext:
    """The worker process's engine and storage, made on first use in *this* process (after any fork)."""
    key = (os.getpid(), id(app))
    if key not in _contexts:
        settings: Settings = app.tryon_settings
        engine = make_engine(settings.database_url)
        _contexts[key] = WorkerContext(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            storage=make_storage(settings.storage_url, settings.s3_endpoint_url, settings.s3_region),
        )
    return _contexts[key]


class InputError(Exception):
    """A preview's inputs cannot be loaded (a blob or row is gone): retrying will not help."""

    code = "input_missing"


class InputsChanged(InputError):
    """The photo's or a garment's annotations were replaced since the preview was requested."""

    code = previews.INPUTS_CHANGED


def _load_item(session: Session, storage: Storage, preview: Preview, version: ModelVersion):
    photo = session.get(ModelPhoto, preview.model_photo_id)
    garments = [session.get(Garment, g) for g in preview.garment_ids]
    if photo is None or any(g is None for g in garments) or not garments:
        raise InputError("the model photo or a garment was deleted")
    if photo.keypoints is None or photo.parse_key is None:
        raise InputError("the model photo has no pose or parse yet")
    # The content key names the annotations the preview was asked for. Rendering ones given since (by hand or
    # annotated again) under it would file their pixels under the old key, served again should those
    # annotations come back (keys are content hashes); a request made now gets the new key instead.
    if previews.content_key(photo, garments, version, preview.params) != preview.content_key:
        raise InputsChanged("the model photo's or a garment's annotations changed since the request: ask again")
    from api.rendering import RenderItem, open_image

    try:
        import numpy as np

        item = RenderItem(
            person=open_image(storage.get(photo.image_key)).convert("RGB"),
            keypoints=np.asarray(photo.keypoints, dtype=np.float32),
            parse=np.array(open_image(storage.get(photo.parse_key))),
        )
        for garment in garments:
            mask = open_image(storage.get(garment.mask_key)) if garment.mask_key else None
            item.garments.append((open_image(storage.get(garment.image_key)).convert("RGB"), mask))
    except (StorageError, OSError) as error:  # a missing blob, or one that no longer decodes
        raise InputError(str(error)) from error
    return item


def render_preview(ctx: WorkerContext, app: Celery, preview_id: str) -> dict:
    """Claim this preview and queued ones like it, render them in one batch, record each result."""
    # Import torch (via api.rendering) before any transaction opens: the first import takes seconds, and
    # holding a SQLite write lock through it blocks every other writer.
    import api.rendering  # noqa: F401

    settings = ctx.settings
    lease = lease_seconds(settings)
    with session_scope(ctx.sessions) as session:
        token, claimed = previews.claim_batch(
            session, uuid.UUID(preview_id), settings.batch_size, lease, settings.max_attempts
        )
    if not claimed:
        _after_finish(ctx, app, [uuid.UUID(preview_id)])  # a poison preview may just have been failed
        return {"claimed": 0}

    with session_scope(ctx.sessions) as session:
        rows = session.scalars(select(Preview).where(Preview.id.in_(claimed))).all()
        version = session.get(ModelVersion, rows[0].model_version_id)
        size = previews.parse_size(rows[0].size)
        items, failed = {}, []
        for row in rows:
            try:
                items[row.id] = (_load_item(session, ctx.storage, row, version), row.format)
            except InputError as error:
                failed.append((row.id, error.code, str(error), False))
    done = _render_items(ctx, version.checkpoint, items, size, failed)

    finished = []
    with session_scope(ctx.sessions) as session:
        for pid, keys, render_ms in done:
            if previews.finish(session, pid, token, keys, render_ms):
                finished.append(pid)
        for pid, code, message, retry in failed:
            status = previews.fail_attempt(session, pid, token, code, message, retry, settings.max_attempts)
            if status == PreviewStatus.queued.value:
                requeue = next(r for r in rows if r.id == pid)
                enqueue_render(app, pid, requeue.queue, countdown=min(60, 2**requeue.attempts))
            elif status is not None:
                finished.append(pid)
    _after_finish(ctx, app, finished)
    return {"claimed": len(claimed), "succeeded": len(done), "failed": len(failed)}


def _render_items(ctx: WorkerContext, checkpoint: str, items: dict, size, failed: list) -> list:
    """Render ``items`` (id -> (RenderItem, format)) in one batch; on a batch error, one by one.

    Appends (id, code, message, retryable) to ``failed`` and returns [(id, image keys, render ms)].
    """
    from api.rendering import pipeline_for, render_batch

    if not items:
        return []
    try:
        pipe = pipeline_for(checkpoint, ctx.settings.device)
    except (ValueError, OSError) as error:  # CheckpointError is a ValueError: no retry can fix it
        failed.extend((pid, "checkpoint_error", str(error), False) for pid in items)
        return []
    ids = list(items)
    started = time.perf_counter()
    try:
        results = render_batch(pipe, [items[i][0] for i in ids], size)
    except Exception as error:
        if len(ids) == 1:
            log.exception("render failed for preview %s", ids[0])
            failed.append((ids[0], "render_failed", f"{type(error).__name__}: {error}", True))
            return []
        done = []
        for pid in ids:  # one bad preview must not fail its batch-mates
            done.extend(_render_items(ctx, checkpoint, {pid: items[pid]}, size, failed))
        return done
    render_ms = round((time.perf_counter() - started) * 1000)
    done = []
    for pid, image in zip(ids, results, strict=True):
        fmt = items[pid][1]
        full = ctx.storage.put(images.encode(image, fmt), fmt)
        thumb = ctx.storage.put(images.encode(images.thumbnail(image, ctx.settings.thumbnail_height), fmt), fmt)
        done.append((pid, {f"{size[0]}x{size[1]}": full, "thumbnail": thumb}, render_ms))
    return done


def _after_finish(ctx: WorkerContext, app: Celery, preview_ids: list[uuid.UUID]) -> None:
    """Webhooks for previews that reached a final state; fresh counts for their render jobs."""
    if not preview_ids:
        return
    with session_scope(ctx.sessions) as session:
        final = session.scalars(
            select(Preview).where(
                Preview.id.in_(preview_ids), Preview.status.in_((PreviewStatus.succeeded, PreviewStatus.failed))
            )
        ).all()
        events = [e for preview in final for e in webhooks.events_for(session, preview)]
        jobs.refresh_jobs_of(session, [p.id for p in final])
    for event_id in events:
        webhooks.enqueue(app, event_id)


class AnnotationFailure(Exception):
    """An asset the annotators cannot use: ``reason`` is stored as its status_reason, ``message`` beside it."""

    def __init__(self, reason: StatusReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def annotate_asset(ctx: WorkerContext, kind: str, asset_id: str) -> dict:
    """Claim an annotating garment or model photo, annotate it, record the result or why it failed.

    Does nothing for an asset that is not annotating (a redelivered message) or held by a live attempt.
    """
    import api.annotating  # noqa: F401  (torch before any transaction: see render_preview)

    settings, ident = ctx.settings, uuid.UUID(asset_id)
    with session_scope(ctx.sessions) as session:
        image_key = annotation.claim(session, kind, ident, lease_seconds(settings), settings.max_attempts)
    if image_key is None:
        return {"annotated": False}
    try:
        results = ANNOTATE[kind](ctx, image_key, f"{annotation.NAMES[kind]} {asset_id}")
    except AnnotationFailure as failure:
        with session_scope(ctx.sessions) as session:
            annotation.fail(session, kind, ident, failure.reason, failure.message)
        return {"annotated": False, "reason": failure.reason.value}
    with session_scope(ctx.sessions) as session:
        return {"annotated": annotation.finish(session, kind, ident, results)}


def lease_seconds(settings: Settings) -> float:
    return settings.task_time_limit + 30


def _annotate_photo(ctx: WorkerContext, image_key: str, source: str) -> dict:
    """A stored photo -> ``keypoints`` (18, 3) and ``parse_key`` (a PNG of LIP labels of its size)."""
    from api.annotating import annotate_person, annotator_for

    settings = ctx.settings
    try:
        annotator = annotator_for(
            settings.parser_checkpoint,
            settings.pose_checkpoint,
            settings.annotator_device or settings.device,
            settings.max_image_pixels,
        )
    except (ValueError, OSError) as error:  # CheckpointError is a ValueError: missing or broken weights
        raise AnnotationFailure(StatusReason.annotator_unavailable, str(error)) from error
    keypoints, parse = _run_annotator(annotate_person, annotator, _stored_photo(ctx, image_key), source)
    return {"keypoints": keypoints, "parse_key": ctx.storage.put(images.encode(parse, "png"), "png")}


def _annotate_garment(ctx: WorkerContext, image_key: str, source: str) -> dict:
    """A stored product photo -> ``mask_key`` (a PNG, 255 = garment, of its size)."""
    from api.annotating import garment_mask

    photo = _stored_photo(ctx, image_key)
    mask = _run_annotator(garment_mask, photo, source, ctx.settings.max_image_pixels)
    return {"mask_key": ctx.storage.put(images.encode(mask, "png"), "png")}


ANNOTATE = {"model_photo": _annotate_photo, "garment": _annotate_garment}


def _stored_photo(ctx: WorkerContext, image_key: str):
    from api.annotating import open_rgb

    try:
        return open_rgb(ctx.storage.get(image_key))
    except (StorageError, OSError) as error:  # a missing blob, or one that no longer decodes
        raise AnnotationFailure(StatusReason.unreadable_image, str(error)) from error


def _run_annotator(function, *args):
    """``function(*args)``, its errors turned into AnnotationFailure with a reason."""
    from tryon.annotate.errors import AnnotationError, NoGarmentError, NoPersonError

    try:
        return function(*args)
    except NoPersonError as error:
        raise AnnotationFailure(StatusReason.no_person, error.problem) from error
    except NoGarmentError as error:
        raise AnnotationFailure(StatusReason.no_garment, error.problem) from error
    except AnnotationError as error:  # empty or too large
        raise AnnotationFailure(StatusReason.unreadable_image, error.problem) from error
    except Exception as error:  # a bug or a resource limit: record it rather than leave the asset annotating
        log.exception("annotation failed")
        raise AnnotationFailure(StatusReason.annotation_failed, f"{type(error).__name__}: {error}") from error


def fanout_render_job(ctx: WorkerContext, app: Celery, job_id: str) -> dict:
    with session_scope(ctx.sessions) as session:
        return jobs.fanout_step(session, app, uuid.UUID(job_id), ctx.settings.fanout_chunk_size)


def deliver_webhook(ctx: WorkerContext, app: Celery, event_id: str) -> dict:
    return webhooks.deliver(ctx.sessions, app, ctx.settings, uuid.UUID(event_id))


def broker_queue_sizes(app: Celery) -> dict[str, int | None]:
    """Messages waiting per queue (None when the broker cannot tell)."""
    sizes: dict[str, int | None] = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for queue in Queue:
            try:
                sizes[queue.value] = channel.queue_declare(queue=queue.value, passive=True).message_count
            except Exception as error:
                # A queue that does not exist holds no message: Redis drops an emptied queue's key entirely.
                sizes[queue.value] = 0 if "NOT_FOUND" in str(error) else None
    return sizes


def recover_orphans(ctx: WorkerContext, app: Celery, at_start: bool = False) -> int:
    """Re-queue previews and annotations that no live task will finish; returns how many (idempotent: a
    duplicate message finds nothing to claim)."""
    now = utcnow()
    sizes = broker_queue_sizes(app)
    idle = [Queue(name) for name, size in sizes.items() if size == 0]
    before = now - _seconds(0 if at_start else 5)
    started = app.tryon_started_at if ctx.settings.sole_worker else None
    with session_scope(ctx.sessions) as session:
        found = previews.orphans(session, now, idle, queued_before=before, running_before=started)
        requeued = [(p.id, p.queue) for p in found if previews.requeue(session, p, now)]
        assets = annotation.requeue_orphans(
            session, now, Queue.interactive in idle, before, lease_seconds(ctx.settings), started
        )
        jobs_to_resume = jobs.stalled_fanouts(session, now)
    for pid, queue in requeued:
        enqueue_render(app, pid, queue)
    for kind, asset_id in assets:
        enqueue_annotation(app, kind, asset_id)
    for job_id in jobs_to_resume:
        jobs.resume_fanout(app, job_id)
    if requeued or assets:
        log.warning("re-queued %d orphaned previews and %d annotations", len(requeued), len(assets))
    return len(requeued) + len(assets)


def _seconds(value: float):
    import datetime as dt

    return dt.timedelta(seconds=value)
