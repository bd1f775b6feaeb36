"""Render jobs through the API without a worker: creation only records the selection (the fan-out is the
workers'), idempotency, the error answers, and a recount racing a cancel. Fan-out, counts, cancel and retry end
to end: see test_worker.py."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select

from api.models import Preview


def preview_count(api) -> int:
    with api.app.state.tryon.sessions() as session:
        return session.scalar(select(func.count()).select_from(Preview))


def test_creating_a_job_creates_no_preview_itself(api):
    for _ in range(3):
        api.garment()
    api.photo()
    before = preview_count(api)
    body = {"garment_filter": {"category": "tops"}, "model_photo_filter": {}, "size": "1024x768", "format": "webp"}
    created = api.call("POST", "/v1/render-jobs", role="merchandiser", json=body)
    assert created.status_code == 202
    job = created.json()
    assert (
        job["status"] == "queued" and job["total"] is None and job["selection"]["garment_filter"]["category"] == "tops"
    )
    assert preview_count(api) == before  # the 10,000-preview case answers at once: nothing fanned out yet
    again = api.call("GET", f"/v1/render-jobs/{job['id']}", role="merchandiser").json()
    assert again["status"] == "queued" and again["counts"]["queued"] == 0


def test_job_creation_honours_idempotency_key(api):
    body = {"garment_ids": [api.garment()["id"]], "model_photo_ids": [api.photo()["id"]]}
    headers = {"Idempotency-Key": f"job-{uuid.uuid4()}"}
    first = api.call("POST", "/v1/render-jobs", role="merchandiser", json=body, headers=headers)
    second = api.call("POST", "/v1/render-jobs", role="merchandiser", json=body, headers=headers)
    assert second.json()["id"] == first.json()["id"] and second.headers["idempotent-replayed"] == "true"


def test_job_errors(api):
    def post(body):
        return api.call("POST", "/v1/render-jobs", role="merchandiser", json=body)

    assert post({"model_photo_filter": {}}).json()["error"]["code"] == "selection_incomplete"
    bottoms = api.garment(category="bottoms")
    unrendered = post({"garment_ids": [bottoms["id"]], "model_photo_filter": {}})
    assert unrendered.status_code == 422 and unrendered.json()["error"]["code"] == "category_not_rendered"
    assert post({"garment_filter": {"colour": "red"}, "model_photo_filter": {}}).status_code == 422
    assert post({"garment_filter": {}, "model_photo_filter": {}, "size": "10x10"}).status_code == 422
    for action in ("cancel", "retry"):
        response = api.call("POST", f"/v1/render-jobs/{uuid.uuid4()}/{action}", role="merchandiser")
        assert response.status_code == 404 and response.json()["error"]["code"] == "render_job_not_found"


def test_a_recount_racing_a_cancel_keeps_the_job_canceled(api):
    """A worker's recount that starts while a cancel is in flight must not write its stale status back."""
    from api.db import session_scope
    from api.models import JobStatus, PreviewStatus, RenderJob, RenderJobItem
    from api.services import jobs

    state = api.app.state.tryon
    body = {"garment_ids": [api.garment()["id"]], "model_photo_ids": [api.photo()["id"]], "size": "256x192"}
    job_id = uuid.UUID(api.call("POST", "/v1/render-jobs", role="merchandiser", json=body).json()["id"])
    with session_scope(state.sessions) as session:
        assert jobs.fanout_step(session, state.celery, job_id, chunk_size=10)["created"] == 1
        preview_id = session.scalar(select(RenderJobItem.preview_id).where(RenderJobItem.job_id == job_id))
        preview = session.get(Preview, preview_id)
        preview.status = PreviewStatus.succeeded  # all rendered: a recount would now call the job succeeded

    canceling = state.sessions()
    jobs.cancel(canceling, jobs.get_job(canceling, job_id))  # flushed, not committed: the cancel is in flight
    recount = threading.Thread(target=_recount, args=(state.sessions, preview_id))
    recount.start()
    _wait_for_a_blocked_writer(api, recount)
    canceling.commit()
    canceling.close()
    recount.join(timeout=30)
    assert not recount.is_alive()
    with state.sessions() as session:
        assert session.get(RenderJob, job_id).status == JobStatus.canceled


def _recount(sessions, preview_id) -> None:
    from api.db import session_scope
    from api.services import jobs

    with session_scope(sessions) as session:
        jobs.refresh_jobs_of(session, [preview_id])


def _wait_for_a_blocked_writer(api, thread: threading.Thread) -> None:
    """Until the recount waits on the cancel's lock (PostgreSQL: a backend waiting on a row lock; SQLite: the
    database lock, which gives no sign, so a short pause)."""
    if not api.settings.database_url.startswith("postgresql"):
        thread.join(timeout=0.3)
        return
    from sqlalchemy import text

    engine = api.app.state.tryon.engine
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    for _ in range(300):
        with engine.connect() as connection:
            if connection.scalar(query):
                return
        thread.join(timeout=0.05)
    raise AssertionError("the recount never waited on the cancel's lock")
