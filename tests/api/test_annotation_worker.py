"""Raw uploads through a real worker process (`celery worker --pool=solo`) with tiny random annotator
checkpoints that accept any photo, on the filesystem broker with SQLite and on Redis with PostgreSQL:
a photo without pose and parse, and a garment without a mask, become ready and render; a plain white
garment fails with `no_garment`; a redelivered message annotates nothing twice; lost annotations recover;
a failed photo annotated again (POST .../annotate) becomes ready."""

from __future__ import annotations

import io
import uuid
from contextlib import ExitStack

import numpy as np
import pytest
from api_support import Api, annotator_checkpoints, database, image_bytes, png, redis_prefix, wait_until, worker_process
from conftest import make_keys, make_settings, register_version
from fastapi.testclient import TestClient
from PIL import Image

from api.db import session_scope
from api.dispatch import enqueue_annotation
from api.models import ModelPhoto, StatusReason
from api.services import annotation, catalog
from tryon.data.synthetic import make_figure

FIGURE = make_figure(4, (96, 72))  # a drawn person (96x72: not the networks' 64x48) and the garment it wears
WAIT = {"Prefer": "wait=60"}


def lost_photo(api: Api, name: str) -> uuid.UUID:
    """A raw model photo whose message was never sent (as if lost with a killed worker)."""
    state = api.app.state.tryon
    with session_scope(state.sessions) as session:
        photo = catalog.create_model_photo(
            session, state.storage, state.settings, name=name, image_bytes=png(FIGURE.person)
        )
        return photo.id


@pytest.fixture(scope="module", params=["filesystem+sqlite", "redis+postgresql"])
def live(request, tmp_path_factory):
    from api.app import create_app
    from tryon.checkpoint import create_random_checkpoint

    broker, db_kind = request.param.split("+")
    tmp = tmp_path_factory.mktemp(f"annotation-{broker}")
    with ExitStack() as stack:
        url = stack.enter_context(database(db_kind, tmp))
        parser, pose = annotator_checkpoints(tmp / "annotators")
        overrides = {"recovery_interval": 1.0, "parser_checkpoint": parser, "pose_checkpoint": pose}
        if broker == "redis":
            from api_support import REDIS_URL

            overrides |= {"broker_url": REDIS_URL, "broker_key_prefix": stack.enter_context(redis_prefix())}
        settings = make_settings(tmp, url, **overrides)
        app = create_app(settings)
        api = Api(stack.enter_context(TestClient(app)), make_keys(settings))
        api.app, api.settings, api.log = app, settings, tmp / "worker.log"
        api.version = register_version(api, checkpoint=str(create_random_checkpoint(tmp / "ckpt", height=64, width=48)))

        # Waiting before the worker starts: an annotation whose message was lost, and one whose worker died.
        api.lost, api.crashed = lost_photo(api, "lost"), lost_photo(api, "crashed")
        with session_scope(app.state.tryon.sessions) as session:
            assert annotation.claim(session, "model_photo", api.crashed, -1, settings.max_attempts)  # lease ran out

        stack.enter_context(worker_process(settings, api.log))
        yield api


def settled(live: Api, path: str, pending=("annotating",), timeout: float = 120.0) -> dict:
    """The asset (or preview) at ``path`` once its status is no longer one of ``pending``."""

    def done():
        body = live.call("GET", path).json()
        return body if body["status"] not in pending else None

    try:
        return wait_until(done, timeout)
    except AssertionError:
        raise AssertionError(live.log.read_text()[-3000:]) from None


def raw_photo(live: Api, name: str = "raw", headers=None) -> dict:
    image = ("person.png", png(FIGURE.person), "image/png")
    return live.photo(name=name, image=image, pose=None, parse=None, headers=headers)


def raw_garment(live: Api, headers=None) -> dict:
    return live.garment(image=("tee.png", png(FIGURE.cloth), "image/png"), mask=None, headers=headers)


def stored(live: Api, url: str) -> Image.Image:
    return Image.open(io.BytesIO(live.call("GET", url).content))


def test_a_raw_photo_and_a_raw_garment_are_annotated_then_rendered(live):
    photo, garment = raw_photo(live, headers=WAIT), raw_garment(live, headers=WAIT)
    # The first uploads may outlast their wait (the worker is still importing torch): then keep polling.
    photo = settled(live, f"/v1/model-photos/{photo['id']}")
    garment = settled(live, f"/v1/garments/{garment['id']}")

    assert photo["status"] == "ready" and photo["status_reason"] is None and photo["status_message"] is None
    keypoints = np.asarray(photo["keypoints"])
    visible = keypoints[:, 2] > 0
    assert keypoints.shape == (18, 3) and (keypoints[~visible] == 0).all()
    assert (keypoints[visible, 0] <= 71).all() and (keypoints[visible, 1] <= 95).all()
    parse = stored(live, photo["parse_url"])
    assert parse.mode == "L" and parse.size == (72, 96) and np.asarray(parse).max() < 20

    assert garment["status"] == "ready" and garment["mask_derived"] is True
    mask = np.asarray(stored(live, garment["mask_url"])) > 127
    assert mask.shape == (96, 72) and (mask == FIGURE.cloth_mask).mean() > 0.98

    body = {"model_photo_id": photo["id"], "garment_id": garment["id"], "size": "256x192"}
    preview = live.call("POST", "/v1/previews", json=body, headers=WAIT).json()
    assert settled(live, f"/v1/previews/{preview['id']}", pending=("queued", "running"))["status"] == "succeeded"


def test_a_plain_white_garment_fails_with_no_garment_in_the_upload_answer(live):
    raw_garment(live, headers=WAIT)  # the worker is warm after this one
    white = ("white.png", image_bytes(72, 96, (255, 255, 255)), "image/png")
    garment = live.garment(image=white, mask=None, headers=WAIT)  # 201: the upload itself succeeded
    assert garment["status"] == "failed" and garment["status_reason"] == "no_garment", live.log.read_text()[-3000:]
    assert "nothing stands out from the background" in garment["status_message"] and garment["mask_url"] is None


def photo_row(live: Api, photo_id) -> tuple:
    with session_scope(live.app.state.tryon.sessions) as session:
        row = session.get(ModelPhoto, uuid.UUID(str(photo_id)))
        return row.status, row.keypoints, row.parse_key, row.annotation_attempts, row.updated_at


def test_a_redelivered_message_annotates_nothing_twice(live):
    photo = settled(live, f"/v1/model-photos/{raw_photo(live)['id']}")
    before = photo_row(live, photo["id"])
    for _ in range(2):
        enqueue_annotation(live.app.state.tryon.celery, "model_photo", photo["id"])
    # A later message on the same queue settling means the duplicates were handled before it.
    assert settled(live, f"/v1/garments/{raw_garment(live)['id']}")["status"] == "ready"
    assert photo_row(live, photo["id"]) == before
    assert live.call("GET", f"/v1/model-photos/{photo['id']}").json() == photo


def test_lost_and_crashed_annotations_are_recovered(live):
    for photo_id in (live.lost, live.crashed):
        assert settled(live, f"/v1/model-photos/{photo_id}")["status"] == "ready"
    assert photo_row(live, live.lost)[3] == 1
    assert photo_row(live, live.crashed)[3] == 2  # the dead attempt counted


def test_a_failed_photo_annotated_again_becomes_ready(live):
    state = live.app.state.tryon
    with session_scope(state.sessions) as session:  # failed as when the annotators were missing: no message sent
        photo = catalog.create_model_photo(
            session, state.storage, state.settings, name="retried", image_bytes=png(FIGURE.person)
        )
        annotation.fail(session, "model_photo", photo.id, StatusReason.annotator_unavailable, "no checkpoint")
        session.get(ModelPhoto, photo.id).annotation_attempts = 3
    response = live.call("POST", f"/v1/model-photos/{photo.id}/annotate", headers=WAIT)
    assert response.status_code == 200, (response.text, live.log.read_text()[-3000:])  # settled within the wait
    body = response.json()
    assert body["status"] == "ready" and body["status_reason"] is None and len(body["keypoints"]) == 18
    assert body["parse_url"] and photo_row(live, photo.id)[3] == 1  # attempts counted afresh
