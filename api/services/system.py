"""What the system is doing, for the dashboard: queue depths, render activity, live workers, recent errors.

The catalog is the source of truth (as for the metrics): queue depths and activity are counted from the
previews. Live workers can only be asked over a broker with remote control (Redis, RabbitMQ); the
embedded filesystem broker has none, and then the catalog's activity is all there is to show.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.models import (
    AssetStatus,
    Garment,
    JobStatus,
    ModelPhoto,
    Preview,
    PreviewStatus,
    Queue,
    RenderJob,
    WebhookEvent,
)


@dataclass
class QueueDepth:
    queue: str
    queued: int  # previews waiting in the catalog
    running: int  # previews claimed by a worker now
    messages: int | None  # messages waiting in the broker; None when it cannot tell


@dataclass
class Activity:
    rendering_now: int  # previews claimed under a live lease
    finished_last_hour: int
    failed_last_hour: int
    mean_render_ms: float | None  # of the previews that succeeded in the last hour
    last_finished_at: dt.datetime | None


@dataclass
class WorkerInfo:
    name: str
    active_tasks: int


@dataclass
class RecentError:
    at: dt.datetime
    kind: str  # "preview", "render job", "webhook", "garment" or "model photo"
    subject_id: uuid.UUID
    code: str
    message: str


def queue_depths(session: Session, broker_messages: dict[str, int | None]) -> list[QueueDepth]:
    """Previews queued and running per queue, beside the broker's own count of waiting messages."""
    counts = {
        (queue, status): n
        for queue, status, n in session.execute(
            select(Preview.queue, Preview.status, func.count())
            .where(Preview.status.in_((PreviewStatus.queued, PreviewStatus.running)))
            .group_by(Preview.queue, Preview.status)
        )
    }
    return [
        QueueDepth(
            queue=queue.value,
            queued=counts.get((queue, PreviewStatus.queued), 0),
            running=counts.get((queue, PreviewStatus.running), 0),
            messages=broker_messages.get(queue.value),
        )
        for queue in Queue
    ]


def activity(session: Session, now: dt.datetime) -> Activity:
    hour_ago = now - dt.timedelta(hours=1)
    rendering = session.scalar(
        select(func.count())
        .select_from(Preview)
        .where(Preview.status == PreviewStatus.running, Preview.lease_expires_at >= now)
    )
    finished = dict(
        session.execute(
            select(Preview.status, func.count())
            .where(Preview.finished_at >= hour_ago, Preview.status.in_((PreviewStatus.succeeded, PreviewStatus.failed)))
            .group_by(Preview.status)
        ).all()
    )
    mean_ms = session.scalar(
        select(func.avg(Preview.render_ms)).where(
            Preview.status == PreviewStatus.succeeded, Preview.finished_at >= hour_ago
        )
    )
    last = session.scalar(select(func.max(Preview.finished_at)).where(Preview.status == PreviewStatus.succeeded))
    return Activity(
        rendering_now=rendering or 0,
        finished_last_hour=finished.get(PreviewStatus.succeeded, 0),
        failed_last_hour=finished.get(PreviewStatus.failed, 0),
        mean_render_ms=float(mean_ms) if mean_ms is not None else None,
        last_finished_at=last,
    )


def live_workers(celery: Celery, timeout: float = 1.0) -> list[WorkerInfo] | None:
    """The workers that answer a broadcast within ``timeout``; None when the broker has no remote control.

    Raises what the broker raises when it cannot be reached.
    """
    if not celery.conf.worker_enable_remote_control:
        return None
    replies = celery.control.inspect(timeout=timeout).active() or {}
    return [WorkerInfo(name=name, active_tasks=len(tasks or [])) for name, tasks in sorted(replies.items())]


def recent_errors(session: Session, limit: int = 20) -> list[RecentError]:
    """The latest failed previews, render jobs and annotations, and undeliverable webhooks, newest first."""
    found: list[RecentError] = failed_annotations(session, limit)
    for preview in session.scalars(
        select(Preview)
        .where(Preview.status == PreviewStatus.failed, Preview.finished_at.is_not(None))
        .order_by(Preview.finished_at.desc())
        .limit(limit)
    ):
        code = preview.error_code or "failed"
        found.append(RecentError(preview.finished_at, "preview", preview.id, code, preview.error_message or ""))
    for job in session.scalars(
        select(RenderJob)
        .where(RenderJob.status == JobStatus.failed, RenderJob.finished_at.is_not(None))
        .order_by(RenderJob.finished_at.desc())
        .limit(limit)
    ):
        failed = (job.counts or {}).get("failed", 0)
        message = job.error_message or f"{failed} of {job.total} previews failed"
        found.append(RecentError(job.finished_at, "render job", job.id, "job_failed", message))
    for event in session.scalars(
        select(WebhookEvent)
        .where(WebhookEvent.status == "failed")
        .order_by(WebhookEvent.created_at.desc())
        .limit(limit)
    ):
        message = event.last_error or f"gave up after {event.attempts} deliveries"
        found.append(RecentError(event.created_at, "webhook", event.id, event.event_type, message))
    found.sort(key=lambda error: error.at, reverse=True)
    return found[:limit]


def failed_annotations(session: Session, limit: int) -> list[RecentError]:
    """Garments and model photos whose annotation failed (no person, unreadable image, ...), newest first."""
    found = []
    for model, kind in ((Garment, "garment"), (ModelPhoto, "model photo")):
        for asset in session.scalars(
            select(model).where(model.status == AssetStatus.failed).order_by(model.updated_at.desc()).limit(limit)
        ):
            code = asset.status_reason or "annotation_failed"
            found.append(RecentError(asset.updated_at, kind, asset.id, code, asset.status_message or ""))
    return found
