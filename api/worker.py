"""The Celery app, built from settings by :func:`create_celery`; tasks are thin wrappers of ``api.tasks``.

Run a worker with ``celery -A api.worker:celery_app worker -Q interactive,bulk``: ``celery_app`` is made
on first access from the environment (never at import). JSON only, late acks, prefetch 1, time limits.
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from kombu import Exchange
from kombu import Queue as KombuQueue

from api.db import utcnow
from api.dispatch import ANNOTATE_GARMENT_TASK, ANNOTATE_PHOTO_TASK, FANOUT_TASK, RENDER_TASK, WEBHOOK_TASK
from api.models import Queue
from api.settings import Settings, get_settings

log = logging.getLogger(__name__)


def _transport_options(settings: Settings) -> dict:
    if settings.broker_url.startswith(("redis", "rediss")) and settings.broker_key_prefix:
        return {"global_keyprefix": settings.broker_key_prefix}
    if not settings.broker_url.startswith("filesystem"):
        return {}
    root = settings.broker_dir
    queue_dir, processed, control = root / "queue", root / "processed", root / "control"
    for folder in (queue_dir, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    # Producer and consumer share one folder; 50 ms polling gives about 50 ms from send to start.
    return {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "processed_folder": str(processed),
        "store_processed": False,
        "control_folder": str(control),
        "polling_interval": 0.05,
    }


def create_celery(settings: Settings) -> Celery:
    app = Celery("tryon", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_accept_content=["json"],
        task_ignore_result=True,  # results live in the catalog, not in a result backend
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # Each queue its own direct exchange and routing key: a message reaches exactly one queue.
        task_queues=tuple(KombuQueue(q.value, Exchange(q.value, type="direct"), routing_key=q.value) for q in Queue),
        task_default_queue=Queue.interactive.value,
        task_default_exchange=Queue.interactive.value,
        task_default_routing_key=Queue.interactive.value,
        task_routes={
            FANOUT_TASK: {"queue": Queue.bulk.value},
            WEBHOOK_TASK: {"queue": Queue.interactive.value},
            ANNOTATE_PHOTO_TASK: {"queue": Queue.interactive.value},
            ANNOTATE_GARMENT_TASK: {"queue": Queue.interactive.value},
        },
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_enable_remote_control=not settings.broker_url.startswith("filesystem"),
    )
    app.tryon_settings = settings
    app.tryon_started_at = utcnow()  # a sole worker re-queues what was running before it started
    _register_tasks(app)
    _connect_recovery(app)
    return app


def _register_tasks(app: Celery) -> None:
    # shared=False: a shared task would be copied into every Celery app the process creates later (tests
    # create many), and each later app would warn that the name is taken.
    from api import tasks

    @app.task(name=RENDER_TASK, bind=True, shared=False)
    def render_preview(self, preview_id: str) -> dict:
        return tasks.render_preview(tasks.context(self.app), self.app, preview_id)

    @app.task(name=FANOUT_TASK, bind=True, shared=False)
    def fanout_render_job(self, job_id: str) -> dict:
        return tasks.fanout_render_job(tasks.context(self.app), self.app, job_id)

    @app.task(name=WEBHOOK_TASK, bind=True, shared=False)
    def deliver_webhook(self, event_id: str) -> dict:
        return tasks.deliver_webhook(tasks.context(self.app), self.app, event_id)

    @app.task(name=ANNOTATE_PHOTO_TASK, bind=True, shared=False)
    def annotate_model_photo(self, photo_id: str) -> dict:
        return tasks.annotate_asset(tasks.context(self.app), "model_photo", photo_id)

    @app.task(name=ANNOTATE_GARMENT_TASK, bind=True, shared=False)
    def annotate_garment(self, garment_id: str) -> dict:
        return tasks.annotate_asset(tasks.context(self.app), "garment", garment_id)


def _connect_recovery(app: Celery) -> None:
    """At worker start, and then every ``recovery_interval`` seconds, re-queue orphaned previews and annotations."""
    stop = threading.Event()

    def _loop() -> None:
        from api import tasks

        first = True
        while not stop.is_set():
            try:
                tasks.recover_orphans(tasks.context(app), app, at_start=first)
            except Exception:  # a sweep must never kill the worker; the next one tries again
                log.exception("orphan sweep failed")
            first = False
            stop.wait(app.tryon_settings.recovery_interval)

    @worker_ready.connect(weak=False)
    def _start(sender=None, **_kwargs) -> None:
        if getattr(sender, "app", None) is app:
            threading.Thread(target=_loop, name="tryon-recovery", daemon=True).start()

    @worker_shutting_down.connect(weak=False)
    def _stop(**_kwargs) -> None:
        stop.set()


_default_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    """``api.worker.celery_app``: built from the environment on first access, for ``celery -A``."""
    global _default_app
    if name != "celery_app":
        raise AttributeError(name)
    if _default_app is None:
        _default_app = create_celery(get_settings())
    return _default_app


def worker_command(settings: Settings, pool: str = "solo", concurrency: int = 1) -> list[str]:
    """The command line of a worker process consuming both queues."""
    import sys

    return [
        sys.executable, "-m", "celery", "-A", "api.worker:celery_app", "worker",
        "-Q", f"{Queue.interactive.value},{Queue.bulk.value}",
        f"--pool={pool}", f"--concurrency={concurrency}",
        "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel=INFO",
    ]  # fmt: skip
