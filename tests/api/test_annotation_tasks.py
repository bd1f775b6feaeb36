"""The annotation task's rules, run in this process on SQLite and PostgreSQL: failures with a reason
(no person, missing checkpoints, unreadable images) and what a preview request then says; claims that
make redelivery harmless; poison assets; which annotations the orphan sweep re-queues."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from api_support import annotator_checkpoints, png
from sqlalchemy import update

from api import tasks
from api.db import session_scope, utcnow
from api.models import Garment, ModelPhoto, StatusReason
from api.services import annotation
from tryon.data.synthetic import make_figure

FIGURE = make_figure(5, (80, 60))


@pytest.fixture(scope="module")
def blind(tmp_path_factory) -> tuple[Path, Path]:
    """Annotator checkpoints that find no person in any photo."""
    return annotator_checkpoints(tmp_path_factory.mktemp("blind"), blind=True)


def run_task(api, kind: str, asset_id, **settings) -> dict:
    """The worker's task, run here, with these settings changed (a worker started with them)."""
    state = api.app.state.tryon
    ctx = tasks.WorkerContext(api.settings.model_copy(update=settings), state.engine, state.sessions, state.storage)
    return tasks.annotate_asset(ctx, kind, str(asset_id))


def raw_photo(api) -> dict:
    return api.photo(name="raw", image=("p.png", png(FIGURE.person), "image/png"), pose=None, parse=None)


def error_of(response) -> dict:
    return response.json()["error"]


def test_no_person_fails_the_photo_and_a_preview_request_says_why(api, blind):
    photo = raw_photo(api)
    parser, pose = blind
    assert run_task(api, "model_photo", photo["id"], parser_checkpoint=parser, pose_checkpoint=pose) == {
        "annotated": False,
        "reason": "no_person",
    }
    failed = api.call("GET", f"/v1/model-photos/{photo['id']}").json()
    assert failed["status"] == "failed" and failed["status_reason"] == "no_person"
    assert failed["status_message"].startswith("no person found (0.0% of the pixels look like a person")
    assert failed["keypoints"] is None and failed["parse_url"] is None
    listed = api.call("GET", "/v1/model-photos", params={"status": "failed", "limit": 200}).json()["items"]
    assert photo["id"] in [p["id"] for p in listed]

    body = {"model_photo_id": photo["id"], "garment_id": api.garment()["id"], "size": "256x192"}
    refused = api.call("POST", "/v1/previews", json=body)
    assert refused.status_code == 409 and error_of(refused)["code"] == "model_photo_not_ready"
    assert "failed annotation (no_person): no person found" in error_of(refused)["message"]
    # A redelivered message finds nothing to annotate: the failure stays as it was.
    assert run_task(api, "model_photo", photo["id"]) == {"annotated": False}
    assert api.call("GET", f"/v1/model-photos/{photo['id']}").json() == failed


def test_missing_checkpoints_fail_with_annotator_unavailable(api, tmp_path):
    photo = raw_photo(api)
    result = run_task(api, "model_photo", photo["id"], parser_checkpoint=tmp_path / "nothing-here")
    assert result["reason"] == "annotator_unavailable"
    failed = api.call("GET", f"/v1/model-photos/{photo['id']}").json()
    assert failed["status"] == "failed" and failed["status_reason"] == "annotator_unavailable"
    assert "nothing-here: parser checkpoint directory not found" in failed["status_message"]


def test_an_image_that_no_longer_decodes_fails_with_unreadable_image(api):
    garment = api.garment(mask=None)
    with session_scope(api.app.state.tryon.sessions) as session:
        image_key = session.get(Garment, uuid.UUID(garment["id"])).image_key
    blob = Path(api.settings.storage_url.removeprefix("file://")) / image_key
    saved = blob.read_bytes()
    blob.write_bytes(b"not a png any more")
    try:
        assert run_task(api, "garment", garment["id"])["reason"] == "unreadable_image"
    finally:
        blob.write_bytes(saved)  # content-addressed: other garments may share this blob
    failed = api.call("GET", f"/v1/garments/{garment['id']}").json()
    assert failed["status"] == "failed" and failed["status_reason"] == "unreadable_image" and failed["mask_url"] is None


def test_a_claim_held_by_a_live_attempt_turns_a_duplicate_away(api):
    garment = api.garment(mask=None)
    ident, sessions = uuid.UUID(garment["id"]), api.app.state.tryon.sessions
    with session_scope(sessions) as session:
        assert annotation.claim(session, "garment", ident, 60, 3) is not None
    assert run_task(api, "garment", ident) == {"annotated": False}  # the lease is held: nothing done
    with session_scope(sessions) as session:
        assert annotation.finish(session, "garment", ident, {"mask_key": "k"})
        assert not annotation.fail(session, "garment", ident, StatusReason.no_garment, "late")
    assert api.call("GET", f"/v1/garments/{garment['id']}").json()["status"] == "ready"


def test_a_poison_asset_fails_after_max_attempts(api):
    photo = raw_photo(api)
    ident, sessions = uuid.UUID(photo["id"]), api.app.state.tryon.sessions
    for _ in range(3):  # three attempts whose worker died: the leases ran out, nothing recorded
        with session_scope(sessions) as session:
            assert annotation.claim(session, "model_photo", ident, -1, 3) is not None
    with session_scope(sessions) as session:
        assert annotation.claim(session, "model_photo", ident, 60, 3) is None
    failed = api.call("GET", f"/v1/model-photos/{photo['id']}").json()
    assert failed["status"] == "failed" and failed["status_reason"] == "too_many_attempts"
    assert "3 of 3 attempts" in failed["status_message"]


def test_the_sweep_requeues_lost_messages_expired_leases_and_a_sole_workers_predecessors(api):
    waiting, fresh, stale = (uuid.UUID(raw_photo(api)["id"]) for _ in range(3))
    sessions = api.app.state.tryon.sessions
    with session_scope(sessions) as session:
        annotation.claim(session, "model_photo", fresh, 60, 3)
        annotation.claim(session, "model_photo", stale, -1, 3)
        session.execute(
            update(ModelPhoto)
            .where(ModelPhoto.id == waiting)
            .values(annotation_enqueued_at=utcnow() - dt.timedelta(minutes=1))
        )
    started = utcnow()
    now = started + dt.timedelta(seconds=1)
    before = now - dt.timedelta(seconds=5)

    def sweep(queue_idle: bool, started_at=None, keep: bool = False) -> set[uuid.UUID]:
        with session_scope(sessions) as session:
            found = annotation.requeue_orphans(session, now, queue_idle, before, 60, started_at)
            if not keep:
                session.rollback()  # only look: the next sweep sees the same rows
        return {asset_id for kind, asset_id in found if kind == "model_photo"}

    assert stale in sweep(False) and not {waiting, fresh} & sweep(False)
    assert {waiting, stale} <= sweep(True) and fresh not in sweep(True)
    assert {fresh, stale} <= sweep(False, started_at=started + dt.timedelta(seconds=1))
    assert {waiting, stale} <= sweep(True, keep=True)
    assert not {waiting, stale, fresh} & sweep(True)  # re-queued once: a second sweep leaves them alone
    with session_scope(sessions) as session:  # leave nothing annotating for the other tests
        for ident in (waiting, fresh, stale):
            annotation.fail(session, "model_photo", ident, StatusReason.annotation_failed, "test")
