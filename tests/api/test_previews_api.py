"""Previews through the API (content key, 200/202, Idempotency-Key, Prefer: wait, images, approvals) and the
claim/finish rules that make render attempts idempotent. No worker here: attempts are driven directly."""

from __future__ import annotations

import io
import time
import uuid

from PIL import Image

from api.db import session_scope
from api.images import encode
from api.services import previews as svc


def request(api, photo, garment, role="storefront", headers=None, **extra):
    body = {"model_photo_id": photo["id"], "garment_id": garment["id"], "size": "256x192", "format": "png", **extra}
    return api.call("POST", "/v1/previews", role=role, json=body, headers=headers)


def complete(api, preview_id: str, color=(10, 200, 10)) -> None:
    """Do what a worker does: claim, store an image and its thumbnail, finish."""
    state = api.app.state.tryon
    with session_scope(state.sessions) as session:
        token, claimed = svc.claim_batch(session, uuid.UUID(preview_id), 1, 60, 3)
        assert claimed == [uuid.UUID(preview_id)]
        image = Image.new("RGB", (192, 256), color)
        keys = {
            "256x192": state.storage.put(encode(image, "png"), "png"),
            "thumbnail": state.storage.put(encode(image.resize((96, 128)), "png"), "png"),
        }
        assert svc.finish(session, uuid.UUID(preview_id), token, keys, 12)


def test_new_preview_is_202_then_the_same_request_is_the_same_preview(api):
    photo, garment = api.photo(), api.garment()
    first = request(api, photo, garment)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert first.headers["location"] == f"/v1/previews/{first.json()['id']}"
    second = request(api, photo, garment)
    assert second.status_code == 202 and second.json()["id"] == first.json()["id"]
    other_format = request(api, photo, garment, format="webp")
    assert other_format.json()["content_key"] != first.json()["content_key"]
    assert first.json()["model_version_id"] == api.version["id"]


def test_succeeded_preview_is_200_at_once_with_image(api):
    photo, garment = api.photo(), api.garment()
    queued = request(api, photo, garment).json()
    complete(api, queued["id"])
    cached = request(api, photo, garment)
    assert cached.status_code == 200 and cached.json()["id"] == queued["id"]
    body = cached.json()
    assert body["status"] == "succeeded" and body["image_url"] and body["render_ms"] == 12
    image = api.call("GET", body["image_url"], role="storefront")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(image.content)).size == (192, 256)
    etag = image.headers["etag"]
    not_modified = api.call("GET", body["image_url"], role="storefront", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.headers["etag"] == etag
    weak = api.call("GET", body["image_url"], role="storefront", headers={"If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    changed = api.call("GET", body["image_url"], role="storefront", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    thumb = api.call("GET", body["thumbnail_url"], role="storefront")
    assert Image.open(io.BytesIO(thumb.content)).size == (96, 128) and thumb.headers["etag"] != etag


def test_image_of_unfinished_preview_is_409(api):
    queued = request(api, api.photo(), api.garment()).json()
    response = api.call("GET", f"/v1/previews/{queued['id']}/image")
    assert response.status_code == 409 and response.json()["error"]["code"] == "preview_not_ready"


def test_idempotency_key_replays_the_first_answer(api):
    photo, garment = api.photo(), api.garment()
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = request(api, photo, garment, headers=key)
    again = request(api, photo, garment, headers=key)
    assert again.json() == first.json() and again.status_code == first.status_code
    assert again.headers["idempotent-replayed"] == "true"
    listed = api.call("GET", "/v1/previews", params={"model_photo_id": photo["id"]}).json()
    assert listed["total"] == 1
    reused = request(api, photo, garment, headers=key, format="webp")
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"


def test_prefer_wait_waits_then_answers_202(api):
    photo, garment = api.photo(), api.garment()
    started = time.monotonic()
    response = request(api, photo, garment, headers={"Prefer": "wait=1"})
    assert response.status_code == 202 and time.monotonic() - started >= 0.9


def test_preview_request_errors(api):
    photo, garment = api.photo(), api.garment()
    hidden = api.garment(published=False)
    both = request(api, photo, garment, outfit_id=str(uuid.uuid4()))
    assert both.status_code == 422 and both.json()["error"]["code"] == "garment_or_outfit"
    neither = api.call("POST", "/v1/previews", json={"model_photo_id": photo["id"]})
    assert neither.json()["error"]["code"] == "garment_or_outfit"
    assert request(api, {"id": str(uuid.uuid4())}, garment).json()["error"]["code"] == "model_photo_not_found"
    assert request(api, photo, {"id": str(uuid.uuid4())}).json()["error"]["code"] == "garment_not_found"
    assert request(api, photo, hidden).status_code == 404  # unpublished: invisible to a storefront
    assert request(api, photo, hidden, role="merchandiser").status_code == 202
    bad_size = request(api, photo, garment, size="100x100")
    assert bad_size.status_code == 422 and bad_size.json()["error"]["code"] == "validation_error"
    bad_format = request(api, photo, garment, format="gif")
    assert bad_format.status_code == 422
    bad_url = request(api, photo, garment, webhook_url="not a url")
    assert bad_url.status_code == 422
    bottoms = api.garment(category="bottoms")
    unrendered = request(api, photo, bottoms)
    assert unrendered.status_code == 422 and unrendered.json()["error"]["code"] == "category_not_rendered"
    assert api.call("GET", f"/v1/previews/{uuid.uuid4()}").status_code == 404


def test_outfit_preview_orders_garments_tops_first(api):
    photo = api.photo()
    first, second = api.garment(), api.garment()
    outfit = api.call("POST", "/v1/outfits", json={"name": "o", "garment_ids": [first["id"], second["id"]]}).json()
    body = {"model_photo_id": photo["id"], "outfit_id": outfit["id"], "size": "256x192", "format": "jpeg"}
    response = api.call("POST", "/v1/previews", role="storefront", json=body)
    assert response.status_code == 202
    assert response.json()["garment_ids"] == [first["id"], second["id"]]
    assert response.json()["outfit_id"] == outfit["id"]


def test_list_previews_with_filters(api):
    photo, garment = api.photo(), api.garment()
    done = request(api, photo, garment).json()
    complete(api, done["id"])
    queued = request(api, photo, garment, format="webp").json()
    by_photo = api.call("GET", "/v1/previews", params={"model_photo_id": photo["id"]}).json()
    assert by_photo["total"] == 2
    succeeded = api.call("GET", "/v1/previews", params={"model_photo_id": photo["id"], "status": "succeeded"})
    assert [p["id"] for p in succeeded.json()["items"]] == [done["id"]]
    by_garment = api.call("GET", "/v1/previews", params={"garment_id": garment["id"], "status": "queued"}).json()
    assert [p["id"] for p in by_garment["items"]] == [queued["id"]]
    assert api.call("GET", "/v1/previews", params={"status": "nope"}).status_code == 422


def test_approvals_one_and_many(api):
    photo = api.photo()
    ids = []
    for _ in range(3):
        preview = request(api, photo, api.garment()).json()
        complete(api, preview["id"])
        ids.append(preview["id"])
    approved = api.call("POST", f"/v1/previews/{ids[0]}/approve", role="merchandiser")
    assert approved.status_code == 200 and approved.json()["approval"] == "approved"
    rejected = api.call("POST", f"/v1/previews/{ids[1]}/reject", role="merchandiser", json={"reason": "seam"})
    assert rejected.json()["approval"] == "rejected" and rejected.json()["rejection_reason"] == "seam"
    no_reason = api.call("POST", f"/v1/previews/{ids[2]}/reject", role="merchandiser", json={})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["code"] == "reason_required"
    bulk = api.call(
        "POST",
        "/v1/previews/approvals",
        role="merchandiser",
        json={"preview_ids": ids, "decision": "rejected", "reason": "batch"},
    )
    assert [p["approval"] for p in bulk.json()] == ["rejected"] * 3
    queued = request(api, photo, api.garment()).json()
    not_done = api.call(
        "POST",
        "/v1/previews/approvals",
        role="merchandiser",
        json={"preview_ids": [ids[0], queued["id"]], "decision": "approved"},
    )
    assert not_done.status_code == 409 and not_done.json()["error"]["code"] == "preview_not_succeeded"
    assert api.call("GET", f"/v1/previews/{ids[0]}").json()["approval"] == "rejected"  # all or none
    unknown = api.call("POST", f"/v1/previews/{uuid.uuid4()}/approve", role="merchandiser")
    assert unknown.status_code == 404
    filtered = api.call("GET", "/v1/previews", params={"approval": "rejected", "model_photo_id": photo["id"]})
    assert filtered.json()["total"] == 3


# --- render attempts: claims, batching, stale results, poison previews --------------------------------


def queued_ids(api, count: int) -> list[uuid.UUID]:
    photo = api.photo()
    return [uuid.UUID(request(api, photo, api.garment()).json()["id"]) for _ in range(count)]


def test_claim_takes_queued_previews_of_the_same_size_as_one_batch(api):
    ids = queued_ids(api, 3)
    sessions = api.app.state.tryon.sessions
    with session_scope(sessions) as session:
        token, claimed = svc.claim_batch(session, ids[0], 1000, 60, 3)
    assert claimed[0] == ids[0] and set(ids) <= set(claimed)
    with session_scope(sessions) as session:
        _token, again = svc.claim_batch(session, ids[1], 1000, 60, 3)  # a redelivered message: nothing to do
    assert again == []
    with session_scope(sessions) as session:
        for pid in claimed:
            svc.finish(session, pid, token, {"256x192": "k", "thumbnail": "t"}, 1)


def test_a_stale_attempt_cannot_overwrite_a_newer_result(api):
    [pid] = queued_ids(api, 1)
    sessions = api.app.state.tryon.sessions
    with session_scope(sessions) as session:
        old_token, _ = svc.claim_batch(session, pid, 1, -1, 3)  # a lease that has already run out
    with session_scope(sessions) as session:
        new_token, claimed = svc.claim_batch(session, pid, 1, 60, 3)  # recovery gave it to a new attempt
    assert claimed == [pid]
    with session_scope(sessions) as session:
        assert svc.finish(session, pid, new_token, {"256x192": "new"}, 1)
        assert not svc.finish(session, pid, old_token, {"256x192": "old"}, 1)
        assert svc.fail_attempt(session, pid, old_token, "x", "late", True, 3) is None
    assert api.call("GET", f"/v1/previews/{pid}").json()["status"] == "succeeded"
    with session_scope(sessions) as session:
        assert session.get(svc.Preview, pid).image_keys == {"256x192": "new"}


def test_failed_attempts_retry_then_fail_and_a_poison_preview_stops(api):
    [pid] = queued_ids(api, 1)
    sessions = api.app.state.tryon.sessions
    for _attempt in (1, 2):
        with session_scope(sessions) as session:
            token, claimed = svc.claim_batch(session, pid, 1, 60, 3)
            assert claimed == [pid]
            assert svc.fail_attempt(session, pid, token, "render_failed", "boom", True, 3) == "queued"
    with session_scope(sessions) as session:
        token, _ = svc.claim_batch(session, pid, 1, 60, 3)
        assert svc.fail_attempt(session, pid, token, "render_failed", "boom", True, 3) == "failed"
    failed = api.call("GET", f"/v1/previews/{pid}").json()
    assert failed["status"] == "failed" and failed["attempts"] == 3 and failed["error"]["code"] == "render_failed"

    [poison] = queued_ids(api, 1)
    for _ in range(3):  # three attempts whose worker died mid-render: leases ran out, nothing recorded
        with session_scope(sessions) as session:
            svc.claim_batch(session, poison, 1, -1, 3)
    with session_scope(sessions) as session:
        _token, claimed = svc.claim_batch(session, poison, 1, 60, 3)
    assert claimed == []
    stopped = api.call("GET", f"/v1/previews/{poison}").json()
    assert stopped["status"] == "failed" and stopped["error"]["code"] == "too_many_attempts"
    assert "3 of 3 attempts" in stopped["error"]["message"]


def test_a_failed_preview_frees_its_content_key(api):
    photo, garment = api.photo(), api.garment()
    first = request(api, photo, garment).json()
    sessions = api.app.state.tryon.sessions
    with session_scope(sessions) as session:
        token, _ = svc.claim_batch(session, uuid.UUID(first["id"]), 1, 60, 1)
        svc.fail_attempt(session, uuid.UUID(first["id"]), token, "render_failed", "x", False, 1)
    again = request(api, photo, garment)
    assert again.status_code == 202 and again.json()["id"] != first["id"]


def test_garment_delete_removes_its_previews(api):
    photo, garment = api.photo(), api.garment()
    preview = request(api, photo, garment).json()
    assert api.call("DELETE", f"/v1/garments/{garment['id']}").status_code == 204
    assert api.call("GET", f"/v1/previews/{preview['id']}").status_code == 404


def test_orphans_are_running_past_their_lease_or_claimed_before_a_sole_worker_started(api):
    from api.db import utcnow
    from api.models import Queue

    fresh, stale = queued_ids(api, 2)
    sessions = api.app.state.tryon.sessions
    with session_scope(sessions) as session:
        svc.claim_batch(session, fresh, 1, 60, 3)
        svc.claim_batch(session, stale, 1, -1, 3)
    later = utcnow()
    with session_scope(sessions) as session:
        now = utcnow()
        by_lease = {p.id for p in svc.orphans(session, now, [], now)}
        by_start = {p.id for p in svc.orphans(session, now, [], now, running_before=later)}
        idle = {p.id for p in svc.orphans(session, now, [Queue.interactive], now)}
    assert stale in by_lease and fresh not in by_lease
    assert {fresh, stale} <= by_start
    assert fresh not in idle and stale in idle
    with session_scope(sessions) as session:  # leave nothing running for the other tests
        for pid in (fresh, stale):
            svc.fail_attempt(session, pid, session.get(svc.Preview, pid).claim_token, "x", "test", False, 3)
