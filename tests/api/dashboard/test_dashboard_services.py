"""The service functions the dashboard added: a render job's count and time estimate before it starts and the
list of jobs (api/services/jobs.py), a job's previews (api/services/previews.py), and the system's queues,
activity, workers and recent errors (api/services/system.py). On SQLite and PostgreSQL; no worker: render
attempts are driven directly.

The pace test comes first: it must be the first to finish previews in its module's database.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, update

from api.db import session_scope, utcnow
from api.models import (
    ApiKey,
    AssetStatus,
    JobStatus,
    ModelPhoto,
    Preview,
    PreviewStatus,
    Queue,
    RenderJob,
    RenderJobItem,
    WebhookEvent,
    WebhookSubscription,
)
from api.services import jobs, system
from api.services import previews as svc


def queue_preview(api, size: str = "256x192", queue: Queue = Queue.interactive) -> uuid.UUID:
    photo, garment = api.photo(), api.garment()
    with session_scope(api.app.state.tryon.sessions) as session:
        key = session.scalars(select(ApiKey)).first()
        request = svc.resolve_request(
            session,
            key,
            model_photo_id=uuid.UUID(photo["id"]),
            garment_id=uuid.UUID(garment["id"]),
            outfit_id=None,
            size=size,
            fmt="png",
        )
        preview, _ = svc.get_or_create(session, request, queue, None)
        return preview.id


def finish_batch(api, ids: list[uuid.UUID], started: dt.datetime, render_ms: int) -> None:
    """Claim ``ids`` as one batch and finish them, rendered together in ``render_ms``."""
    with session_scope(api.app.state.tryon.sessions) as session:
        token, claimed = svc.claim_batch(session, ids[0], len(ids), 60, 3)
        assert sorted(claimed) == sorted(ids)
        for pid in ids:
            assert svc.finish(session, pid, token, {"thumbnail": "x.png"}, render_ms)
        session.execute(update(Preview).where(Preview.id.in_(ids)).values(started_at=started, finished_at=started))


def fail(api, preview_id: uuid.UUID, code: str = "render_failed", message: str = "boom") -> None:
    with session_scope(api.app.state.tryon.sessions) as session:
        token, claimed = svc.claim_batch(session, preview_id, 1, 60, 3)
        assert claimed == [preview_id]
        assert svc.fail_attempt(session, preview_id, token, code, message, False, 3) == "failed"


def test_pace_comes_from_recent_batches_and_scales_with_pixels(api):
    with session_scope(api.app.state.tryon.read_sessions) as session:
        assert jobs.seconds_per_preview(session, "512x384") is None  # nothing rendered yet
    started = utcnow() - dt.timedelta(hours=3)  # out of the system's last hour (see test_queue_depths...)
    batch = [queue_preview(api, "1024x768") for _ in range(2)]
    finish_batch(api, batch, started, 3000)  # one batch: 3 s for 2 previews
    finish_batch(api, [queue_preview(api, "1024x768")], started + dt.timedelta(minutes=1), 1500)
    with session_scope(api.app.state.tryon.read_sessions) as session:
        assert jobs.seconds_per_preview(session, "1024x768") == pytest.approx(4.5 / 3)
        # No 512x384 render yet: the 1024x768 pace, scaled to a quarter of the pixels.
        assert jobs.seconds_per_preview(session, "512x384") == pytest.approx(4.5 / 3 / 4)


def test_estimate_counts_the_selection_and_the_work_queued_ahead(api):
    garments = [api.garment(sku=f"EST-{uuid.uuid4().hex[:6]}")["id"] for _ in range(3)]
    photos = [api.photo(name="estimate studio")["id"] for _ in range(2)]
    ahead = queue_preview(api, queue=Queue.bulk)
    selection = {"garment_ids": garments, "model_photo_filter": {"name_contains": "estimate studio"}}
    with session_scope(api.app.state.tryon.read_sessions) as session:
        estimate = jobs.estimate(session, selection, "1024x768")
        pace = jobs.seconds_per_preview(session, "1024x768")
        by_filter = {"garment_filter": {"sku_prefix": "EST-"}, "model_photo_ids": photos}
        filtered = jobs.estimate(session, by_filter, "1024x768")
        none_match = {"garment_ids": garments, "model_photo_filter": {"name_contains": "zz"}}
        nothing = jobs.estimate(session, none_match, "1024x768")
    assert (estimate.garments, estimate.model_photos, estimate.previews) == (3, 2, 6)
    assert estimate.queued_ahead >= 1
    expected = None if pace is None else pytest.approx((6 + estimate.queued_ahead) * pace)
    assert estimate.seconds == expected
    assert (filtered.garments, filtered.previews) == (3, 6)
    assert nothing.previews == 0 and nothing.seconds in (0.0, None)
    with session_scope(api.app.state.tryon.sessions) as session:  # the queued-ahead preview leaves the queue
        session.execute(update(Preview).where(Preview.id == ahead).values(status=PreviewStatus.canceled))


def job_previews(session, job_id, status=None):
    return svc.list_previews(
        session,
        job_id=job_id,
        status=status,
        approval=None,
        model_photo_id=None,
        garment_id=None,
        model_version_id=None,
        size=None,
        limit=50,
        offset=0,
    )


def test_a_jobs_previews_and_the_list_of_jobs(api):
    state = api.app.state.tryon
    garments, photo = [api.garment()["id"] for _ in range(2)], api.photo()
    with session_scope(state.sessions) as session:
        key = session.scalars(select(ApiKey)).first()
        selection = {"garment_ids": garments, "model_photo_ids": [photo["id"]]}
        job_id = jobs.create_job(session, key, selection, "256x192", "png").id
    other = queue_preview(api)  # not the job's
    with session_scope(state.sessions) as session:
        jobs.fanout_step(session, state.celery, job_id, 10)  # the worker's first step, run here
    with session_scope(state.read_sessions) as session:
        items = set(session.scalars(select(RenderJobItem.preview_id).where(RenderJobItem.job_id == job_id)))
        rows, total = job_previews(session, job_id)
        assert {p.id for p in rows} == items and total == 2 and other not in items
        assert job_previews(session, job_id, PreviewStatus.failed) == ([], 0)
    failing = sorted(items)[0]
    fail(api, failing, "input_missing", "the model photo was deleted")
    with session_scope(state.read_sessions) as session:
        failed, failed_total = job_previews(session, job_id, PreviewStatus.failed)
        listed, count = jobs.list_jobs(session, 50, 0)
    assert failed_total == 1 and failed[0].id == failing and failed[0].error_message == "the model photo was deleted"
    assert listed[0].id == job_id and count >= 1


def test_queue_depths_and_activity(api):
    state = api.app.state.tryon
    with session_scope(state.read_sessions) as session:
        before = {d.queue: d for d in system.queue_depths(session, {"interactive": 4})}
    queued, running = queue_preview(api), queue_preview(api, queue=Queue.bulk)
    with session_scope(state.sessions) as session:
        svc.claim_batch(session, running, 1, 60, 3)
    with session_scope(state.read_sessions) as session:
        depths = {d.queue: d for d in system.queue_depths(session, {"interactive": 4})}
        activity = system.activity(session, utcnow())
    assert depths["interactive"].queued == before["interactive"].queued + 1
    assert depths["bulk"].running == before["bulk"].running + 1
    assert depths["interactive"].messages == 4 and depths["bulk"].messages is None
    assert activity.rendering_now >= 1
    finish_batch(api, [queued], utcnow(), 10)
    with session_scope(state.read_sessions) as session:
        after = system.activity(session, utcnow() + dt.timedelta(seconds=1))
    assert after.finished_last_hour >= activity.finished_last_hour + 1 and after.mean_render_ms == pytest.approx(10)
    assert after.last_finished_at is not None


def test_recent_errors_gather_previews_jobs_and_webhooks_newest_first(api):
    state = api.app.state.tryon
    preview_id = queue_preview(api)
    fail(api, preview_id, "render_failed", "CUDA out of memory")
    with session_scope(state.sessions) as session:
        job = RenderJob(selection={}, size="256x192", format="png", status=JobStatus.failed, total=4)
        job.counts = {"failed": 1}
        job.finished_at = utcnow() + dt.timedelta(seconds=5)
        session.add(job)
        key = session.scalars(select(ApiKey)).first()
        subscription = WebhookSubscription(preview_id=preview_id, api_key_id=key.id, url="https://shop.example/hook")
        session.add(subscription)
        session.flush()
        event = WebhookEvent(
            subscription_id=subscription.id,
            event_type="preview.failed",
            payload={},
            status="failed",
            attempts=6,
            last_error="HTTP 500",
            created_at=utcnow() + dt.timedelta(seconds=2),
        )
        session.add(event)
        session.flush()
        job_id, event_id = job.id, event.id
    with session_scope(state.read_sessions) as session:
        errors = system.recent_errors(session, limit=5)
    assert [(e.kind, e.subject_id) for e in errors[:3]] == [
        ("render job", job_id),
        ("webhook", event_id),
        ("preview", preview_id),
    ]
    assert errors[0].message == "1 of 4 previews failed"
    assert (errors[1].code, errors[1].message) == ("preview.failed", "HTTP 500")
    assert (errors[2].code, errors[2].message) == ("render_failed", "CUDA out of memory")
    assert len(errors) <= 5


def test_recent_errors_name_failed_annotations_with_their_reason(api):
    state = api.app.state.tryon
    photo_id = uuid.UUID(api.photo()["id"])
    failed_at = utcnow() + dt.timedelta(minutes=5)  # newer than every other error in the module's database
    with session_scope(state.sessions) as session:
        session.execute(
            update(ModelPhoto)
            .where(ModelPhoto.id == photo_id)
            .values(
                status=AssetStatus.failed,
                status_reason="no_person",
                status_message="no person found",
                updated_at=failed_at,
            )
        )
    with session_scope(state.read_sessions) as session:
        newest = system.recent_errors(session, limit=3)[0]
    assert (newest.kind, newest.subject_id, newest.code, newest.message) == (
        "model photo",
        photo_id,
        "no_person",
        "no person found",
    )


def test_live_workers_need_a_broker_with_remote_control(api, monkeypatch):
    celery = api.app.state.tryon.celery
    assert system.live_workers(celery) is None  # the embedded filesystem broker

    class Inspect:
        def active(self):
            return {"celery@gpu-2": [{"id": "t1"}], "celery@gpu-1": []}

    monkeypatch.setitem(celery.conf, "worker_enable_remote_control", True)
    monkeypatch.setattr(celery.control, "inspect", lambda timeout: Inspect())
    workers = system.live_workers(celery)
    assert [(w.name, w.active_tasks) for w in workers] == [("celery@gpu-1", 0), ("celery@gpu-2", 1)]
