"""Sending work to the Celery queues: the only place that names the tasks from the producer's side."""

from __future__ import annotations

from celery import Celery

from api.models import Queue

RENDER_TASK = "tryon.render_preview"
FANOUT_TASK = "tryon.fanout_render_job"
WEBHOOK_TASK = "tryon.deliver_webhook"
ANNOTATE_PHOTO_TASK = "tryon.annotate_model_photo"
ANNOTATE_GARMENT_TASK = "tryon.annotate_garment"
ANNOTATE_TASKS = {"model_photo": ANNOTATE_PHOTO_TASK, "garment": ANNOTATE_GARMENT_TASK}


def enqueue_render(celery: Celery, preview_id: object, queue: Queue | str, countdown: float | None = None) -> None:
    celery.send_task(RENDER_TASK, args=[str(preview_id)], queue=str(queue), countdown=countdown)


def enqueue_fanout(celery: Celery, job_id: object) -> None:
    celery.send_task(FANOUT_TASK, args=[str(job_id)], queue=Queue.bulk.value)


def enqueue_webhook(celery: Celery, event_id: object, countdown: float | None = None) -> None:
    celery.send_task(WEBHOOK_TASK, args=[str(event_id)], queue=Queue.interactive.value, countdown=countdown)


def enqueue_annotation(celery: Celery, kind: str, asset_id: object) -> None:
    """Annotate a garment (``kind`` "garment") or a model photo ("model_photo"): uploads wait on it, so interactive."""
    celery.send_task(ANNOTATE_TASKS[kind], args=[str(asset_id)], queue=Queue.interactive.value)
