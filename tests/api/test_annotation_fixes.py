"""Fixing an asset's annotations, on SQLite and PostgreSQL (no worker): given by hand (PUT a garment's mask, a
photo's pose and parse) in any status, or automatic again (POST .../annotate); bad input changes nothing;
previews of new annotations get a new content key, and a preview requested before the change is not rendered
from the new ones under its old key."""

from __future__ import annotations

import io
import uuid

import pytest
from api_support import garment_mask_png, image_bytes, parse_png, pose_json
from PIL import Image
from sqlalchemy import select, update

from api import tasks
from api.db import session_scope, utcnow
from api.dispatch import ANNOTATE_TASKS
from api.models import Garment, ModelPhoto, ModelVersion, Preview, PreviewStatus, RenderJobItem, StatusReason
from api.services import annotation, jobs, previews

OTHER_MASK = image_bytes(color=255, mode="L")  # all garment: not garment_mask_png()


def error_code(response) -> str:
    return response.json()["error"]["code"]


def failed(api, kind: str, reason: StatusReason = StatusReason.no_garment) -> dict:
    """A raw upload whose annotation failed, as a worker records it."""
    asset = api.garment(mask=None) if kind == "garment" else api.photo(pose=None, parse=None)
    with session_scope(api.app.state.tryon.sessions) as session:
        assert annotation.fail(session, kind, uuid.UUID(asset["id"]), reason, f"{reason.value} (test)")
    return asset


def put_mask(api, garment_id: str, mask: bytes, role: str = "merchandiser"):
    return api.call("PUT", f"/v1/garments/{garment_id}/mask", role=role, files={"mask": ("m.png", mask, "image/png")})


def put_annotations(api, photo_id: str, **parts: bytes | None):
    """PUT a pose and a parse (the api_support ones unless given; None leaves a part out)."""
    parts = {"pose": pose_json(), "parse": parse_png(), **parts}
    upload = {name: (name, data) for name, data in parts.items() if data is not None}
    return api.call("PUT", f"/v1/model-photos/{photo_id}/annotations", role="merchandiser", files=upload)


def row(api, model, asset_id) -> dict:
    with session_scope(api.app.state.tryon.sessions) as session:
        found = session.get(model, uuid.UUID(str(asset_id)))
        return {c.key: getattr(found, c.key) for c in model.__table__.columns}


@pytest.fixture
def sent(api, monkeypatch) -> list[tuple[str, list]]:
    """The tasks the API sends to the workers during a test."""
    calls = []
    celery = api.app.state.tryon.celery
    monkeypatch.setattr(celery, "send_task", lambda name, args=None, **_kw: calls.append((name, args)))
    return calls


# --- by hand --------------------------------------------------------------------------------------------


def test_a_mask_by_hand_makes_a_failed_garment_ready(api):
    garment = failed(api, "garment")
    response = put_mask(api, garment["id"], garment_mask_png())
    assert response.status_code == 200, response.text
    fixed = response.json()
    assert fixed["status"] == "ready" and fixed["status_reason"] is None and fixed["status_message"] is None
    assert fixed["mask_derived"] is False and fixed["mask_url"] == f"/v1/garments/{garment['id']}/mask"
    stored = Image.open(io.BytesIO(api.call("GET", fixed["mask_url"]).content))
    assert stored.mode == "L" and stored.size == (48, 64) and stored.getpixel((0, 0)) == 0
    assert api.call("GET", f"/v1/garments/{garment['id']}").json() == fixed


def test_a_mask_by_hand_replaces_one_being_extracted_and_the_late_worker_result_is_dropped(api):
    garment = api.garment(mask=None)
    ident = uuid.UUID(garment["id"])
    with session_scope(api.app.state.tryon.sessions) as session:
        assert annotation.claim(session, "garment", ident, 60, 3) is not None  # a worker is on it
    assert put_mask(api, garment["id"], OTHER_MASK).json()["status"] == "ready"
    by_hand = row(api, Garment, ident)
    with session_scope(api.app.state.tryon.sessions) as session:
        assert not annotation.finish(session, "garment", ident, {"mask_key": "derived-late"})
    assert (
        row(api, Garment, ident)["mask_key"] == by_hand["mask_key"] and by_hand["annotation_lease_expires_at"] is None
    )


def test_a_bad_mask_is_a_typed_error_and_changes_nothing(api):
    ready, broken = api.garment(), failed(api, "garment")
    for garment in (ready, broken):
        before = row(api, Garment, garment["id"])
        wrong_size = put_mask(api, garment["id"], image_bytes(10, 10, color=255, mode="L"))
        assert wrong_size.status_code == 422 and error_code(wrong_size) == "mask_size_mismatch"
        gif = api.call("PUT", f"/v1/garments/{garment['id']}/mask", files={"mask": ("m.gif", b"GIF89a...")})
        assert gif.status_code == 415 and error_code(gif) == "unsupported_media_type"
        missing = api.call("PUT", f"/v1/garments/{garment['id']}/mask")
        assert missing.status_code == 422 and error_code(missing) == "validation_error"
        assert row(api, Garment, garment["id"]) == before
    assert put_mask(api, str(uuid.uuid4()), OTHER_MASK).status_code == 404
    assert put_mask(api, ready["id"], OTHER_MASK, role="storefront").status_code == 403


def test_pose_and_parse_by_hand_make_a_failed_photo_ready(api):
    photo = failed(api, "model_photo", StatusReason.annotator_unavailable)
    response = put_annotations(api, photo["id"])
    assert response.status_code == 200, response.text
    fixed = response.json()
    assert fixed["status"] == "ready" and fixed["status_reason"] is None and fixed["status_message"] is None
    assert len(fixed["keypoints"]) == 18 and fixed["parse_url"] == f"/v1/model-photos/{photo['id']}/parse"
    parse = Image.open(io.BytesIO(api.call("GET", fixed["parse_url"]).content))
    assert parse.size == (48, 64) and parse.getpixel((24, 2)) == 13


def test_bad_pose_or_parse_is_a_typed_error_and_changes_nothing(api):
    for photo in (api.photo(), failed(api, "model_photo", StatusReason.no_person)):
        before = row(api, ModelPhoto, photo["id"])
        answers = {
            "validation_error": put_annotations(api, photo["id"], parse=None),
            "pose_invalid": put_annotations(api, photo["id"], pose=b"{not json"),
            "parse_size_mismatch": put_annotations(api, photo["id"], parse=parse_png(10, 10)),
            "unsupported_media_type": put_annotations(api, photo["id"], parse=image_bytes(fmt="JPEG")),
        }
        for code, response in answers.items():
            assert response.status_code in (415, 422) and error_code(response) == code, response.text
        assert row(api, ModelPhoto, photo["id"]) == before


# --- automatic again -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["garment", "model_photo"])
def test_annotate_again_resets_attempts_clears_the_reason_and_enqueues(api, sent, kind):
    asset = failed(api, kind, StatusReason.too_many_attempts)
    sent.clear()  # the upload's own message
    ident = uuid.UUID(asset["id"])
    with session_scope(api.app.state.tryon.sessions) as session:
        session.get(annotation.KINDS[kind], ident).annotation_attempts = 3
    path = f"/v1/{'garments' if kind == 'garment' else 'model-photos'}/{asset['id']}"
    response = api.call("POST", f"{path}/annotate", role="merchandiser", headers={"Prefer": "wait=0.2"})
    assert response.status_code == 202, response.text  # no worker here: still annotating after the wait
    body = response.json()
    assert body["status"] == "annotating" and body["status_reason"] is None and body["status_message"] is None
    stored = row(api, annotation.KINDS[kind], ident)
    assert stored["annotation_attempts"] == 0 and stored["annotation_lease_expires_at"] is None
    assert sent == [(ANNOTATE_TASKS[kind], [asset["id"]])]

    again = api.call("POST", f"{path}/annotate", role="merchandiser")
    assert again.status_code == 409 and error_code(again) == "already_annotating"
    assert len(sent) == 1 and row(api, annotation.KINDS[kind], ident) == stored
    assert api.call("POST", f"{path}/annotate", role="storefront").status_code == 403


def test_annotate_again_clears_annotations_given_by_hand(api, sent):
    garment, photo = api.garment(), api.photo()
    redone = api.call("POST", f"/v1/garments/{garment['id']}/annotate").json()
    assert redone["status"] == "annotating" and redone["mask_url"] is None and redone["mask_derived"] is True
    redone = api.call("POST", f"/v1/model-photos/{photo['id']}/annotate").json()
    assert redone["status"] == "annotating" and redone["keypoints"] is None and redone["parse_url"] is None
    with session_scope(api.app.state.tryon.read_sessions) as session:  # SQL NULL, as an unannotated upload has
        ident = uuid.UUID(photo["id"])
        assert session.scalar(select(ModelPhoto.id).where(ModelPhoto.id == ident, ModelPhoto.keypoints.is_(None)))
    assert len(sent) == 2
    body = {"model_photo_id": photo["id"], "garment_id": garment["id"], "size": "256x192"}
    refused = api.call("POST", "/v1/previews", json=body)
    assert refused.status_code == 409 and error_code(refused) == "model_photo_not_ready"
    assert put_annotations(api, photo["id"]).json()["status"] == "ready"  # by hand while annotating: fine too


# --- previews of new annotations ------------------------------------------------------------------------


def request_preview(api, photo: dict, garment: dict) -> dict:
    body = {"model_photo_id": photo["id"], "garment_id": garment["id"], "size": "256x192", "format": "png"}
    response = api.call("POST", "/v1/previews", json=body)
    assert response.status_code in (200, 202), response.text
    return response.json()


def test_new_annotations_get_new_previews_and_the_same_ones_the_same(api):
    photo, garment = api.photo(), api.garment()
    first = request_preview(api, photo, garment)
    assert request_preview(api, photo, garment)["id"] == first["id"]  # asked again: the same preview

    put_mask(api, garment["id"], OTHER_MASK)
    new_mask = request_preview(api, photo, garment)
    assert new_mask["id"] != first["id"] and new_mask["content_key"] != first["content_key"]
    put_annotations(api, photo["id"], pose=pose_json(points=25))
    new_pose = request_preview(api, photo, garment)
    assert new_pose["content_key"] not in (first["content_key"], new_mask["content_key"])

    # Back to the first inputs (content-addressed: the same stored keys): the first preview is right again.
    put_mask(api, garment["id"], garment_mask_png())
    put_annotations(api, photo["id"])
    assert request_preview(api, photo, garment)["id"] == first["id"]


def test_a_preview_requested_before_new_annotations_is_not_rendered_from_them(api):
    photo, garment = api.photo(), api.garment()
    kept, changed = request_preview(api, photo, api.garment()), request_preview(api, photo, garment)
    put_mask(api, garment["id"], OTHER_MASK)
    with session_scope(api.app.state.tryon.sessions) as session:
        stale = session.get(Preview, uuid.UUID(changed["id"]))
        version = session.get(ModelVersion, stale.model_version_id)
        with pytest.raises(tasks.InputsChanged, match="annotations changed") as raised:
            tasks._load_item(session, api.app.state.tryon.storage, stale, version)
        assert raised.value.code == "inputs_changed"
        unchanged = session.get(Preview, uuid.UUID(kept["id"]))  # what the worker checks, for one still current
        photo_row = session.get(ModelPhoto, unchanged.model_photo_id)
        garments = [session.get(Garment, g) for g in unchanged.garment_ids]
        assert previews.content_key(photo_row, garments, version, unchanged.params) == unchanged.content_key


def test_a_render_job_skips_assets_sent_back_to_the_annotators(api, sent):
    garment, photos = api.garment(), [api.photo() for _ in range(2)]
    body = {"garment_ids": [garment["id"]], "model_photo_ids": [p["id"] for p in photos], "size": "256x192"}
    job = api.call("POST", "/v1/render-jobs", json=body, role="merchandiser").json()
    state = api.app.state.tryon
    with session_scope(state.sessions) as session:
        assert jobs.fanout_step(session, state.celery, uuid.UUID(job["id"]), 1) == {"created": 1}
    second = sorted(p["id"] for p in photos)[1]  # the selection is resolved in id order
    assert api.call("POST", f"/v1/model-photos/{second}/annotate").status_code == 202
    with session_scope(state.sessions) as session:
        jobs.fanout_step(session, state.celery, uuid.UUID(job["id"]), 1)
    listed = api.call("GET", "/v1/previews", params={"garment_id": garment["id"]}).json()["items"]
    assert [p["model_photo_id"] for p in listed] == [sorted(p["id"] for p in photos)[0]]


def job_previews(api, job_id: str) -> list[Preview]:
    with session_scope(api.app.state.tryon.sessions) as session:
        items = select(RenderJobItem.preview_id).where(RenderJobItem.job_id == uuid.UUID(job_id))
        found = session.scalars(select(Preview).where(Preview.id.in_(items))).all()
        session.expunge_all()
        return list(found)


def fail_as_changed(api, preview_id: uuid.UUID) -> None:
    """What the worker records for a preview whose inputs changed after it was queued."""
    with session_scope(api.app.state.tryon.sessions) as session:
        session.execute(
            update(Preview)
            .where(Preview.id == preview_id)
            .values(status=PreviewStatus.failed, error_code="inputs_changed", finished_at=utcnow())
        )


def test_retrying_a_job_renders_the_current_annotations_in_place_of_changed_ones(api, sent):
    garment, photos = api.garment(), [api.photo() for _ in range(2)]
    body = {"garment_ids": [garment["id"]], "model_photo_ids": [p["id"] for p in photos], "size": "256x192"}
    job = api.call("POST", "/v1/render-jobs", json=body, role="merchandiser").json()
    state = api.app.state.tryon
    with session_scope(state.sessions) as session:
        jobs.fanout_step(session, state.celery, uuid.UUID(job["id"]), 10)
    first = {p.model_photo_id: p for p in job_previews(api, job["id"])}
    changed_photo, reannotated = (uuid.UUID(p["id"]) for p in sorted(photos, key=lambda p: p["id"]))
    put_annotations(api, str(changed_photo), pose=pose_json(points=25))  # changed while queued
    fail_as_changed(api, first[changed_photo].id)
    fail_as_changed(api, first[reannotated].id)
    assert api.call("POST", f"/v1/model-photos/{reannotated}/annotate").status_code == 202  # annotating now
    sent.clear()

    retried = api.call("POST", f"/v1/render-jobs/{job['id']}/retry", role="merchandiser")
    assert retried.status_code == 200, retried.text
    now = {p.model_photo_id: p for p in job_previews(api, job["id"])}
    replacement = now[changed_photo]
    assert replacement.id != first[changed_photo].id and replacement.status == PreviewStatus.queued
    assert replacement.content_key != first[changed_photo].content_key
    assert ("tryon.render_preview", [str(replacement.id)]) in [(name, args) for name, args in sent]
    # A photo back at the annotators keeps its failed preview (and its reason) until it is ready.
    assert now[reannotated].id == first[reannotated].id and now[reannotated].status == PreviewStatus.failed
    # The stale preview is kept, failed, outside the job.
    assert row(api, Preview, first[changed_photo].id)["error_code"] == "inputs_changed"
