"""Render jobs through the API without a worker: creation only records the selection (the fan-out is the
workers'), idempotency, and the error answers. Fan-out, counts, cancel and retry: see test_worker.py."""

from __future__ import annotations

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
