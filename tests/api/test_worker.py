"""Real worker processes (`celery worker --pool=solo`) on the embedded filesystem broker with SQLite, and
on Redis with PostgreSQL: end to end, batching, orphan recovery, redelivery, webhooks, render jobs."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import io
import json
import threading
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from api_support import Api, database, redis_prefix, wait_until, worker_process
from conftest import make_keys, make_settings, register_version
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from api.db import session_scope
from api.dispatch import enqueue_render
from api.models import ApiKey, Preview, Queue
from api.services import catalog
from api.services import previews as svc


def direct_preview(api: Api, photo: dict, garment: dict, size="256x192", fmt="png", **changes) -> uuid.UUID:
    """A queued preview row whose message was never sent (as if lost with a killed worker)."""
    with session_scope(api.app.state.tryon.sessions) as session:
        key = session.scalars(select(ApiKey)).first()
        request = svc.resolve_request(
            session,
            key,
            model_photo_id=uuid.UUID(photo["id"]),
            garment_id=uuid.UUID(garment["id"]),
            outfit_id=None,
            size=size,
            fmt=fmt,
        )
        preview, _ = svc.get_or_create(session, request, Queue.interactive, None)
        for name, value in changes.items():
            setattr(preview, name, value)
        return preview.id


@pytest.fixture(scope="module", params=["filesystem+sqlite", "redis+postgresql"])
def live(request, tmp_path_factory):
    from api.app import create_app
    from tryon.checkpoint import create_random_checkpoint

    broker, db_kind = request.param.split("+")
    tmp = tmp_path_factory.mktemp(f"worker-{broker}")
    with ExitStack() as stack:
        url = stack.enter_context(database(db_kind, tmp))
        overrides = {"batch_size": 4, "recovery_interval": 1.0, "webhook_backoff_seconds": 0.2, "fanout_chunk_size": 2}
        if broker == "redis":
            from api_support import REDIS_URL

            overrides |= {"broker_url": REDIS_URL, "broker_key_prefix": stack.enter_context(redis_prefix())}
        settings = make_settings(tmp, url, **overrides)
        app = create_app(settings)
        client = stack.enter_context(TestClient(app))
        api = Api(client, make_keys(settings))
        api.app, api.settings = app, settings
        checkpoint = create_random_checkpoint(tmp / "ckpt", height=64, width=48)
        api.version = register_version(api, checkpoint=str(checkpoint))

        # Work waiting before the worker starts: a batch of three, and two orphans nobody will send.
        photo = api.photo()
        api.batch = [
            client.post(
                "/v1/previews",
                headers=api.headers(),
                json={
                    "model_photo_id": photo["id"],
                    "garment_id": api.garment()["id"],
                    "size": "512x384",
                    "format": "jpeg",
                },
            ).json()["id"]
            for _ in range(3)
        ]
        api.lost = direct_preview(api, photo, api.garment())
        api.crashed = direct_preview(api, photo, api.garment())
        with session_scope(app.state.tryon.sessions) as session:  # claimed by a worker that then died
            svc.claim_batch(session, api.crashed, 1, -1, settings.max_attempts)

        api.worker = stack.enter_context(worker_process(settings, tmp / "worker.log"))
        api.log = tmp / "worker.log"
        yield api


def preview(api: Api, pid) -> dict:
    return api.call("GET", f"/v1/previews/{pid}").json()


def finished(api: Api, pid, timeout: float = 90.0) -> dict:
    def done():
        body = preview(api, pid)
        return body if body["status"] in ("succeeded", "failed", "canceled") else None

    try:
        return wait_until(done, timeout)
    except AssertionError:
        raise AssertionError(api.log.read_text()[-3000:]) from None


def test_end_to_end_upload_preview_image(live):
    garment, photo = live.garment(), live.photo()
    body = {"model_photo_id": photo["id"], "garment_id": garment["id"], "size": "256x192", "format": "webp"}
    response = live.call("POST", "/v1/previews", role="storefront", json=body, headers={"Prefer": "wait=60"})
    if response.status_code == 202:  # the worker was still loading torch: keep polling
        finished(live, response.json()["id"])
        response = live.call("POST", "/v1/previews", role="storefront", json=body)
    assert response.status_code == 200, live.log.read_text()[-3000:]
    result = response.json()
    assert result["status"] == "succeeded" and result["model_version_id"] == live.version["id"]
    image = live.call("GET", result["image_url"], role="storefront")
    decoded = Image.open(io.BytesIO(image.content))
    decoded.load()
    assert decoded.format == "WEBP" and decoded.size == (192, 256)
    thumb = Image.open(io.BytesIO(live.call("GET", result["thumbnail_url"], role="storefront").content))
    assert thumb.height == live.settings.thumbnail_height


def test_queued_previews_of_one_size_render_as_one_batch(live):
    results = [finished(live, pid) for pid in live.batch]
    assert all(r["status"] == "succeeded" for r in results), results
    assert len({r["started_at"] for r in results}) == 1  # claimed together
    assert all(r["attempts"] == 1 for r in results)
    image = Image.open(io.BytesIO(live.call("GET", results[0]["image_url"]).content))
    assert image.size == (384, 512)


def test_orphaned_previews_are_recovered(live):
    lost, crashed = finished(live, live.lost), finished(live, live.crashed)
    assert lost["status"] == "succeeded" and crashed["status"] == "succeeded"
    assert crashed["attempts"] == 2  # the dead attempt counted


def test_a_redelivered_task_gives_one_image(live):
    first = finished(live, live.batch[0])
    with session_scope(live.app.state.tryon.sessions) as session:
        keys_before = session.get(Preview, uuid.UUID(first["id"])).image_keys
    for _ in range(2):
        enqueue_render(live.app.state.tryon.celery, first["id"], Queue.interactive)
    # A later preview on the same queue finishing means the duplicates were handled before it.
    marker = live.call(
        "POST",
        "/v1/previews",
        json={"model_photo_id": live.photo()["id"], "garment_id": live.garment()["id"], "size": "256x192"},
    ).json()
    assert finished(live, marker["id"])["status"] == "succeeded"
    after = preview(live, first["id"])
    assert after == first
    with session_scope(live.app.state.tryon.sessions) as session:
        assert session.get(Preview, uuid.UUID(first["id"])).image_keys == keys_before
        assert session.scalar(select(func.count()).where(Preview.content_key == first["content_key"])) == 1


def test_a_poison_preview_fails_with_a_reason(live):
    pid = direct_preview(live, live.photo(), live.garment(), attempts=live.settings.max_attempts)
    enqueue_render(live.app.state.tryon.celery, pid, Queue.interactive)
    result = finished(live, pid)
    assert result["status"] == "failed" and result["error"]["code"] == "too_many_attempts"


class Hook(http.server.BaseHTTPRequestHandler):
    received: list = []
    answers: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((dict(self.headers), body))
        self.send_response(Hook.answers.pop(0) if Hook.answers else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_is_signed_with_a_stable_event_id_and_retried(live):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.received, Hook.answers = [], [500]
    try:
        key = live.call("POST", "/v1/api-keys", json={"name": "shop", "role": "storefront"}).json()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        body = {"model_photo_id": live.photo()["id"], "garment_id": live.garment()["id"], "webhook_url": url}
        created = live.client.post("/v1/previews", json=body, headers={"Authorization": f"Bearer {key['key']}"})
        assert created.status_code == 202
        wait_until(lambda: len(Hook.received) >= 2, 60)
    finally:
        server.shutdown()
    (first_headers, first_body), (headers, raw) = Hook.received[:2]
    assert first_headers["Tryon-Event-Id"] == headers["Tryon-Event-Id"] and first_body == raw
    timestamp, signature = (part.split("=", 1)[1] for part in headers["Tryon-Signature"].split(","))
    expected = hmac.new(key["webhook_secret"].encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    event = json.loads(raw)
    assert event["id"] == headers["Tryon-Event-Id"] and event["type"] == "preview.succeeded"
    assert event["data"]["id"] == created.json()["id"] and event["data"]["status"] == "succeeded"


def job_when(live, job_id, predicate, timeout=90.0) -> dict:
    def check():
        job = live.call("GET", f"/v1/render-jobs/{job_id}", role="merchandiser").json()
        return job if predicate(job) else None

    try:
        return wait_until(check, timeout)
    except AssertionError:
        raise AssertionError(live.log.read_text()[-3000:]) from None


def test_render_job_fans_out_and_counts(live):
    garments = [live.garment()["id"] for _ in range(3)]
    photos = [live.photo()["id"] for _ in range(2)]
    body = {"garment_ids": garments, "model_photo_ids": photos, "size": "256x192", "format": "png"}
    created = live.call("POST", "/v1/render-jobs", role="merchandiser", json=body)
    assert created.status_code == 202 and created.json()["status"] == "queued"
    job = job_when(live, created.json()["id"], lambda j: j["status"] in ("succeeded", "failed"))
    assert job["status"] == "succeeded" and job["total"] == 6 and job["counts"]["succeeded"] == 6
    listed = live.call("GET", "/v1/previews", params={"garment_id": garments[0]}).json()
    assert listed["total"] == 2 and all(p["status"] == "succeeded" for p in listed["items"])


def test_render_job_cancel_stops_it(live):
    garments = [live.garment()["id"] for _ in range(4)]
    body = {"garment_ids": garments, "model_photo_filter": {}, "size": "1024x768", "format": "jpeg"}
    job = live.call("POST", "/v1/render-jobs", role="merchandiser", json=body).json()
    canceled = live.call("POST", f"/v1/render-jobs/{job['id']}/cancel", role="merchandiser")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    settled = job_when(live, job["id"], lambda j: j["counts"].get("queued", 0) + j["counts"].get("running", 0) == 0)
    assert settled["status"] == "canceled"
    assert live.call("POST", f"/v1/render-jobs/{job['id']}/cancel", role="merchandiser").status_code == 409
    assert live.call("POST", f"/v1/render-jobs/{job['id']}/retry", role="merchandiser").status_code == 409


def test_render_job_retries_its_failed_previews(live):
    photo = live.photo()
    with session_scope(live.app.state.tryon.sessions) as session:
        parse_key = catalog.get_model_photo(session, uuid.UUID(photo["id"])).parse_key
    blob = Path(live.settings.storage_url.removeprefix("file://")) / parse_key
    saved = blob.read_bytes()
    blob.write_bytes(b"not a png any more")  # the photo's parse is unreadable: renders fail
    body = {"garment_ids": [live.garment()["id"]], "model_photo_ids": [photo["id"]], "size": "256x192"}
    job = live.call("POST", "/v1/render-jobs", role="merchandiser", json=body).json()
    failed = job_when(live, job["id"], lambda j: j["status"] in ("succeeded", "failed"))
    assert failed["status"] == "failed" and failed["counts"]["failed"] == 1
    blob.write_bytes(saved)
    retried = live.call("POST", f"/v1/render-jobs/{job['id']}/retry", role="merchandiser")
    assert retried.status_code == 200 and retried.json()["status"] == "running"
    done = job_when(live, job["id"], lambda j: j["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded" and done["counts"]["succeeded"] == 1


def test_render_job_errors(live):
    incomplete = live.call("POST", "/v1/render-jobs", role="merchandiser", json={"garment_ids": []})
    assert incomplete.status_code == 422 and incomplete.json()["error"]["code"] == "selection_incomplete"
    unknown = live.call(
        "POST",
        "/v1/render-jobs",
        role="merchandiser",
        json={"garment_ids": [str(uuid.uuid4())], "model_photo_filter": {}},
    )
    assert unknown.json()["error"]["code"] == "garment_not_found"
    assert live.call("GET", f"/v1/render-jobs/{uuid.uuid4()}", role="merchandiser").status_code == 404


def test_metrics_count_renders(live):
    finished(live, live.batch[0])
    text = live.client.get("/metrics").text
    count = next(line for line in text.splitlines() if line.startswith("tryon_render_duration_seconds_count"))
    assert float(count.split()[-1]) >= 1
