"""The dashboard over HTTP (no browser): sign-in and its cookie, CSRF, the role matrix, and every page's
forms calling the services. No worker here: previews are finished directly, as a worker would."""

from __future__ import annotations

import re
import uuid

import pytest
from api_support import garment_mask_png, image_bytes
from dashboard_support import Dashboard, synthetic_uploads
from PIL import Image

from api.db import session_scope
from api.images import encode
from api.models import StatusReason
from api.services import annotation, jobs
from api.services import previews as svc

ID = str(uuid.uuid4())
SETTLES = "its status below turns ready (or failed, with the reason)."
ANNOTATING = f"A worker is annotating it: {SETTLES}"


def complete(api, preview_id: str) -> None:
    """Do what a worker does: claim, store an image and its thumbnail, finish."""
    state = api.app.state.tryon
    with session_scope(state.sessions) as session:
        token, claimed = svc.claim_batch(session, uuid.UUID(preview_id), 1, 60, 3)
        assert claimed == [uuid.UUID(preview_id)]
        image = Image.new("RGB", (192, 256), (20, 160, 60))
        keys = {
            "256x192": state.storage.put(encode(image, "png"), "png"),
            "thumbnail": state.storage.put(encode(image.resize((96, 128)), "png"), "png"),
        }
        assert svc.finish(session, uuid.UUID(preview_id), token, keys, 15)


def succeeded_preview(api) -> dict:
    photo, garment = api.photo(), api.garment()
    body = {"model_photo_id": photo["id"], "garment_id": garment["id"], "size": "256x192", "format": "png"}
    preview = api.call("POST", "/v1/previews", json=body).json()
    complete(api, preview["id"])
    return {**preview, "photo": photo, "garment": garment}


# --- signing in ----------------------------------------------------------------------------------------


def test_sign_in_keeps_the_key_in_an_httponly_cookie_that_no_page_shows(api):
    board = Dashboard(api.app)
    response = board.sign_in(api.keys["admin"])
    assert response.status_code == 303 and response.headers["location"] == "/admin/catalog"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("tryon_session="))
    assert "HttpOnly" in cookie and "Path=/admin" in cookie and "SameSite=lax" in cookie
    for path in ("/admin/catalog", "/admin/previews", "/admin/jobs", "/admin/keys", "/admin/system"):
        page = board.page(path)
        assert api.keys["admin"] not in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline: the CSP allows none


def test_sign_in_refuses_unknown_revoked_and_storefront_keys(api):
    board = Dashboard(api.app)
    unknown = board.sign_in("tryon_000000000000_not-a-key")
    assert unknown.status_code == 401 and "Unknown or revoked API key" in unknown.text
    storefront = board.sign_in(api.keys["storefront"])
    assert storefront.status_code == 403 and "cannot use the dashboard" in storefront.text
    assert "tryon_session" not in board.client.cookies
    forged = board.client.post("/admin/login", data={"key": api.keys["admin"], "csrf_token": "forged"})
    assert forged.status_code == 403 and "expired" in forged.text


def test_a_revoked_key_loses_its_session_at_once(api):
    created = api.call("POST", "/v1/api-keys", json={"name": "temp", "role": "merchandiser"}).json()
    board = Dashboard(api.app, created["key"])
    board.page("/admin/catalog")
    api.call("POST", f"/v1/api-keys/{created['id']}/revoke")
    response = board.get("/admin/catalog")
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/login")
    assert "revoked" in board.flash(response)


def test_without_a_session_pages_send_to_sign_in(api):
    board = Dashboard(api.app)
    response = board.get("/admin/previews?status=failed")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=/admin/previews"
    htmx = board.get("/admin/jobs", headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and htmx.headers["hx-redirect"].startswith("/admin/login")
    assert board.get("/admin/media/garments/" + ID + "/image").status_code == 303
    assert board.get("/admin").headers["location"] == "/admin/catalog"


def test_sign_in_returns_to_the_page_asked_for_and_nowhere_else(api):
    def sign_in(next_path):
        board = Dashboard(api.app)
        form = board.client.get("/admin/login", params={"next": next_path})
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        data = {"key": api.keys["merchandiser"], "csrf_token": token, "next": next_path}
        return board.client.post("/admin/login", data=data, follow_redirects=False).headers["location"]

    assert sign_in("/admin/jobs") == "/admin/jobs"
    assert sign_in("https://evil.example/admin/x") == "/admin/catalog"
    assert sign_in("//evil.example") == "/admin/catalog"


def test_sign_out_ends_the_session(api):
    board = Dashboard(api.app, api.keys["merchandiser"])
    response = board.post("/admin/logout")
    assert response.status_code == 303 and "Signed out" in board.flash(response)
    assert board.get("/admin/catalog").status_code == 303


# --- CSRF and roles --------------------------------------------------------------------------------------


def test_state_changing_forms_need_the_session_csrf_token(api, dash):
    board = dash["admin"]
    garment = api.garment(published=False)
    path = f"/admin/garments/{garment['id']}/publish"
    for token in ("", "0" * 64, Dashboard(api.app, api.keys["merchandiser"]).token):
        refused = board.post(path, {"published": "true"}, token=token)
        assert refused.status_code == 403 and "expired or came from another site" in refused.text
    assert api.call("GET", f"/v1/garments/{garment['id']}").json()["published"] is False
    by_header = board.client.post(
        path, data={"published": "true"}, headers={"X-CSRF-Token": board.token}, follow_redirects=False
    )
    assert by_header.status_code == 303
    assert api.call("GET", f"/v1/garments/{garment['id']}").json()["published"] is True


# (method, path, the lowest role allowed), as the API's own matrix: merchandisers see all but keys.
PAGES = [
    ("GET", "/admin/catalog", "merchandiser"),
    ("GET", "/admin/outfits", "merchandiser"),
    ("GET", "/admin/previews", "merchandiser"),
    ("GET", "/admin/jobs", "merchandiser"),
    ("GET", "/admin/models", "merchandiser"),
    ("GET", "/admin/system", "merchandiser"),
    ("GET", "/admin/keys", "admin"),
    ("POST", "/admin/keys", "admin"),
    ("POST", f"/admin/keys/{ID}/revoke", "admin"),
    ("POST", "/admin/models", "admin"),
    ("POST", f"/admin/models/{ID}/activate", "admin"),
    ("POST", "/admin/garments", "merchandiser"),
    ("POST", f"/admin/garments/{ID}/mask", "merchandiser"),
    ("POST", f"/admin/garments/{ID}/annotate", "merchandiser"),
    ("POST", f"/admin/model-photos/{ID}/annotations", "merchandiser"),
    ("POST", f"/admin/model-photos/{ID}/annotate", "merchandiser"),
    ("POST", "/admin/previews/approvals", "merchandiser"),
    ("POST", "/admin/jobs", "merchandiser"),
]


@pytest.mark.parametrize(("method", "path", "needed"), PAGES)
def test_role_matrix(api, dash, method, path, needed):
    for role, board in dash.items():
        response = board.get(path) if method == "GET" else board.post(path)
        if role == "merchandiser" and needed == "admin":
            assert response.status_code == 403 and "needs the admin role" in response.text, (role, path)
        else:
            assert response.status_code not in (401, 403), (role, path, response.text[:300])
    storefront = Dashboard(api.app)
    storefront.client.cookies.set("tryon_session", api.keys["storefront"], path="/admin")
    response = storefront.get(path) if method == "GET" else storefront.post(path)
    assert response.status_code == 403


def test_merchandisers_see_no_admin_controls(dash):
    merchandiser, admin = dash["merchandiser"], dash["admin"]
    assert "API keys" not in merchandiser.page("/admin/catalog").text
    assert "API keys" in admin.page("/admin/catalog").text
    versions = merchandiser.page("/admin/models").text
    assert "Register a version" not in versions and "Activate" not in versions
    assert "Register a version" in admin.page("/admin/models").text


# --- catalog ------------------------------------------------------------------------------------------


def test_upload_a_garment_and_a_model_photo(api, dash):
    board = dash["merchandiser"]
    files = synthetic_uploads(3)
    sku = f"DASH-{uuid.uuid4().hex[:6]}"
    data = {"sku": sku, "name": "Striped tee", "category": "tops", "published": "true"}
    garment = {"image": ("tee.png", files["garment"], "image/png"), "mask": ("mask.png", files["mask"], "image/png")}
    response = board.post("/admin/garments", data, files=garment)
    assert board.flash(response) == f"ok: Garment {sku} uploaded."
    found = api.call("GET", "/v1/garments", params={"sku": sku}).json()["items"]
    assert found[0]["published"] is True and found[0]["mask_derived"] is False and found[0]["status"] == "ready"
    photo = {
        "image": ("p.png", files["person"], "image/png"),
        "pose": ("p.json", files["pose"], "application/json"),
        "parse": ("parse.png", files["parse"], "image/png"),
    }
    name = f"Studio {uuid.uuid4().hex[:6]}"
    response = board.post("/admin/model-photos", {"name": name}, files=photo)
    assert board.flash(response) == f"ok: Model photo {name} uploaded."
    page = board.page("/admin/catalog").text
    assert sku in page and name in page and "/18 points · Parse: yes" in page


def test_upload_errors_keep_what_was_typed(api, dash):
    board = dash["merchandiser"]
    taken = api.garment()["sku"]
    data = {"sku": taken, "name": "Kept name", "category": "tops"}
    duplicate = board.post("/admin/garments", data, files={"image": ("g.png", synthetic_uploads(1)["garment"])})
    assert duplicate.status_code == 409 and "already in the catalog" in duplicate.text
    assert 'value="Kept name"' in duplicate.text
    not_image = board.post("/admin/garments", {**data, "sku": "NEW-1"}, files={"image": ("g.png", b"text")})
    assert not_image.status_code == 415 and "not a JPEG, PNG or WebP" in not_image.text
    missing = board.post("/admin/model-photos", {"name": "x"})
    assert missing.status_code == 422 and "Fill in: Photo." in missing.text
    files = synthetic_uploads(2)
    photo = {"image": ("p.png", files["person"], "image/png"), "pose": ("p.json", files["pose"], "application/json")}
    half = board.post("/admin/model-photos", {"name": "Half annotated"}, files=photo)
    assert half.status_code == 422 and "pose without parse: give both, or neither" in half.text
    assert 'value="Half annotated"' in half.text


def test_raw_uploads_show_annotating_live_then_the_reason_they_failed(api, dash):
    board = dash["merchandiser"]
    files = synthetic_uploads(6)
    sku, name = f"RAW-{uuid.uuid4().hex[:6]}", f"Raw {uuid.uuid4().hex[:6]}"
    data = {"sku": sku, "name": "Raw tee", "category": "tops"}
    garment = board.post("/admin/garments", data, files={"image": ("tee.png", files["garment"], "image/png")})
    assert board.flash(garment) == f"ok: Garment {sku} uploaded. {ANNOTATING}"
    photo = board.post("/admin/model-photos", {"name": name}, files={"image": ("p.png", files["person"], "image/png")})
    assert board.flash(photo) == f"ok: Model photo {name} uploaded. {ANNOTATING}"
    page = board.page("/admin/catalog").text
    assert "Mask: being extracted" in page and "Finding the pose and the parse" in page
    for tiles in ("garment-tiles", "photo-tiles"):  # the tiles refresh themselves while anything annotates
        assert re.search(rf'<div id="{tiles}" data-live-tiles hx-get="/admin/catalog" hx-trigger="every 2s"', page)

    photo_id = api.call("GET", "/v1/model-photos", params={"q": name}).json()["items"][0]["id"]
    with session_scope(api.app.state.tryon.sessions) as session:  # what the worker records for a photo of no one
        annotation.fail(session, "model_photo", uuid.UUID(photo_id), StatusReason.no_person, "no person found (...)")
    page = board.page(f"/admin/catalog?photo_q={name}").text
    assert '<p class="small failure" data-status-reason="no_person"><strong>No person</strong>: no person found' in page
    assert not re.search(r'<div id="photo-tiles"[^>]*hx-get', page)  # settled: no more refreshing


def failed_upload(api, kind: str, reason: StatusReason) -> dict:
    """A raw upload whose annotation failed, as the worker records it."""
    asset = api.garment(mask=None) if kind == "garment" else api.photo(pose=None, parse=None)
    with session_scope(api.app.state.tryon.sessions) as session:
        assert annotation.fail(session, kind, uuid.UUID(asset["id"]), reason, "(test)")
    return asset


def test_retry_annotation_on_a_failed_tile(api, dash):
    board = dash["merchandiser"]
    garment = failed_upload(api, "garment", StatusReason.annotator_unavailable)
    ready = api.garment()
    page = board.page("/admin/catalog?q=tee").text
    retry = f'action="/admin/garments/{garment["id"]}/annotate"'
    assert retry in page and f'action="/admin/garments/{ready["id"]}/annotate"' not in page
    form = page[page.index(retry) : page.index("</form>", page.index(retry))]
    assert 'name="back" value="/catalog?q=tee"' in form and 'name="csrf_token"' in form
    assert f'Retry annotation<span class="visually-hidden"> of {garment["sku"]}</span>' in page
    assert board.post(f"/admin/garments/{garment['id']}/annotate", token="").status_code == 403  # CSRF
    response = board.post(f"/admin/garments/{garment['id']}/annotate", {"back": "/catalog?q=tee"})
    assert response.headers["location"] == "/admin/catalog?q=tee"
    assert board.flash(response) == f"ok: Garment {garment['sku']} is being annotated again: {SETTLES}"
    body = api.call("GET", f"/v1/garments/{garment['id']}").json()
    assert body["status"] == "annotating" and body["status_reason"] is None
    again = board.flash(board.post(f"/admin/garments/{garment['id']}/annotate"))
    assert again.startswith("error: garment ") and "already annotating" in again

    photo = failed_upload(api, "model_photo", StatusReason.no_person)
    assert f'action="/admin/model-photos/{photo["id"]}/annotate"' in board.page("/admin/catalog").text
    assert "being annotated again" in board.flash(board.post(f"/admin/model-photos/{photo['id']}/annotate"))
    assert api.call("GET", f"/v1/model-photos/{photo['id']}").json()["status"] == "annotating"


def test_give_a_mask_or_a_pose_and_parse_by_hand(api, dash):
    board = dash["merchandiser"]
    files = synthetic_uploads(4)
    garment = failed_upload(api, "garment", StatusReason.no_garment)
    page = board.page("/admin/catalog").text
    assert f'<label for="mask-{garment["id"]}">' in page and f'id="mask-{garment["id"]}" name="mask"' in page
    path = f"/admin/garments/{garment['id']}/mask"
    before = api.call("GET", f"/v1/garments/{garment['id']}").json()
    assert board.flash(board.post(path)) == "error: Choose a file for: mask."
    wrong = board.flash(board.post(path, files={"mask": ("m.png", image_bytes(10, 10), "image/png")}))
    assert wrong == "error: mask: 10x10, image is 48x64"
    assert api.call("GET", f"/v1/garments/{garment['id']}").json() == before
    right = {"mask": ("m.png", garment_mask_png(), "image/png")}
    fixed = board.flash(board.post(path, files=right))
    assert fixed == f"ok: Garment {garment['sku']} is ready with the annotations given."
    after = api.call("GET", f"/v1/garments/{garment['id']}").json()
    assert after["status"] == "ready" and after["mask_derived"] is False and after["status_reason"] is None

    photo = api.photo(name="Fix me", image=("p.png", files["person"], "image/png"), pose=None, parse=None)
    path = f"/admin/model-photos/{photo['id']}/annotations"
    assert f'<label for="parse-{photo["id"]}">' in board.page("/admin/catalog").text
    only_pose = board.flash(board.post(path, files={"pose": ("p.json", files["pose"], "application/json")}))
    assert only_pose == "error: Choose a file for: parse."
    both = {"pose": ("p.json", files["pose"], "application/json"), "parse": ("p.png", files["parse"], "image/png")}
    assert board.flash(board.post(path, files=both)) == "ok: Model photo Fix me is ready with the annotations given."
    assert api.call("GET", f"/v1/model-photos/{photo['id']}").json()["status"] == "ready"


def test_publish_and_unpublish(api, dash):
    board = dash["merchandiser"]
    garment = api.garment(published=True)
    back = "/catalog?category=tops"
    response = board.post(f"/admin/garments/{garment['id']}/publish", {"published": "false", "back": back})
    assert response.headers["location"] == "/admin/catalog?category=tops"
    assert api.call("GET", f"/v1/garments/{garment['id']}").json()["published"] is False
    elsewhere = board.post(f"/admin/garments/{garment['id']}/publish", {"back": "https://evil.example"})
    assert elsewhere.headers["location"] == "/admin/catalog"


def test_catalog_images_need_a_session_and_stay_private(api, dash):
    garment = api.garment()
    thumb = dash["merchandiser"].get(f"/admin/media/garments/{garment['id']}/image")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert thumb.headers["cache-control"].startswith("private")
    again = dash["merchandiser"].get(
        f"/admin/media/garments/{garment['id']}/image", headers={"If-None-Match": thumb.headers["etag"]}
    )
    assert again.status_code == 304
    full = dash["merchandiser"].get(f"/admin/media/garments/{garment['id']}/mask?variant=full")
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"


# --- outfits ------------------------------------------------------------------------------------------


def test_outfit_builder_creates_edits_and_deletes(api, dash):
    board = dash["merchandiser"]
    top, other = api.garment(), api.garment()
    name = f"Look {uuid.uuid4().hex[:6]}"
    created = board.post("/admin/outfits", {"name": name, "garment_ids": [top["id"]]})
    assert board.flash(created) == f"ok: Outfit {name} saved."
    outfit = next(o for o in api.call("GET", "/v1/outfits", params={"limit": 200}).json()["items"] if o["name"] == name)
    edit = board.page(f"/admin/outfits?edit={outfit['id']}").text
    assert f"Edit outfit “{name}”" in edit and f'id="pick-{top["id"]}"' in edit
    board.post(f"/admin/outfits/{outfit['id']}", {"name": name, "garment_ids": [top["id"], other["id"]]})
    assert api.call("GET", f"/v1/outfits/{outfit['id']}").json()["garment_ids"] == [top["id"], other["id"]]
    board.post(f"/admin/outfits/{outfit['id']}/delete")
    assert api.call("GET", f"/v1/outfits/{outfit['id']}").status_code == 404


def test_outfit_builder_explains_refusals(api, dash):
    board = dash["merchandiser"]
    empty = board.post("/admin/outfits", {"name": "Nothing"})
    assert empty.status_code == 422 and "pick at least one garment" in empty.text
    skirt = api.garment(category="bottoms")
    unrendered = board.post("/admin/outfits", {"name": "Skirt look", "garment_ids": [skirt["id"]]})
    assert unrendered.status_code == 422 and "no active model version renders bottoms" in unrendered.text
    assert 'value="Skirt look"' in unrendered.text


# --- previews -----------------------------------------------------------------------------------------


def test_request_a_preview_from_the_gallery(api, dash):
    board = dash["merchandiser"]
    photo, garment = api.photo(), api.garment()
    form = {"model_photo_id": photo["id"], "subject": f"garment:{garment['id']}", "size": "256x192", "format": "png"}
    assert board.flash(board.post("/admin/previews", form)).startswith("ok: Preview queued")
    assert board.flash(board.post("/admin/previews", form)) == "ok: Same preview already queued."
    page = board.page(f"/admin/previews?garment_id={garment['id']}").text
    assert page.count('class="preview-card') == 1 and "Queued…" in page
    assert 'hx-trigger="every 2s"' in page  # a gallery with unfinished previews refreshes itself
    wrong = board.flash(board.post("/admin/previews", {**form, "subject": f"garment:{uuid.uuid4()}"}))
    assert wrong.startswith("error: garment ") and wrong.endswith("does not exist")


def test_gallery_filters_and_shows_each_preview_beside_its_inputs(api, dash):
    board = dash["merchandiser"]
    done = succeeded_preview(api)
    page = board.page(f"/admin/previews?model_photo_id={done['photo']['id']}&status=succeeded&approval=draft").text
    assert page.count('class="preview-card') == 1
    assert f"/admin/media/previews/{done['id']}" in page
    assert f"/admin/media/model-photos/{done['photo']['id']}/image" in page
    assert f"/admin/media/garments/{done['garment']['id']}/image" in page
    assert 'hx-trigger="every 2s"' not in page
    assert (
        board.page(f"/admin/previews?model_photo_id={done['photo']['id']}&approval=approved").text.count(
            'class="preview-card'
        )
        == 0
    )
    detail = board.page(f"/admin/previews/{done['id']}").text
    assert "Reason for rejecting" in detail and done["garment"]["sku"] in detail
    image = board.get(f"/admin/media/previews/{done['id']}?variant=full")
    assert image.status_code == 200 and Image.open(__import__("io").BytesIO(image.content)).size == (192, 256)


def test_approve_one_and_reject_many(api, dash):
    board = dash["merchandiser"]
    one, two, three = (succeeded_preview(api) for _ in range(3))
    approved = board.post(f"/admin/previews/{one['id']}/approve", {"back": "/previews?status=succeeded"})
    assert approved.headers["location"] == "/admin/previews?status=succeeded"
    assert board.flash(approved) == "ok: Approved 1 preview."
    ids = [two["id"], three["id"]]
    no_reason = board.post("/admin/previews/approvals", {"preview_ids": ids, "decision": "rejected"})
    assert board.flash(no_reason) == "error: a rejection needs a reason"
    rejected = board.post("/admin/previews/approvals", {"preview_ids": ids, "decision": "rejected", "reason": "blur"})
    assert board.flash(rejected) == "ok: Rejected 2 previews."
    states = [api.call("GET", f"/v1/previews/{p['id']}").json() for p in (one, two, three)]
    assert [s["approval"] for s in states] == ["approved", "rejected", "rejected"]
    assert states[1]["rejection_reason"] == "blur"
    nothing = board.post("/admin/previews/approvals", {"decision": "approved"})
    assert board.flash(nothing).startswith("error: Select previews first")


# --- render jobs ---------------------------------------------------------------------------------------


def test_review_shows_count_and_estimate_then_starts_the_job(api, dash):
    board = dash["merchandiser"]
    garments = [api.garment()["id"] for _ in range(2)]
    photos = [api.photo()["id"] for _ in range(3)]
    form = {"garment_ids": garments, "model_photo_ids": photos, "size": "512x384", "format": "webp"}
    review = board.post("/admin/jobs/review", form)
    assert review.status_code == 200
    text = re.sub(r"\s+", " ", review.text)
    assert "<strong>6</strong> previews" in text and "2 garments × 3 model photos" in text
    assert "Estimated time:" in text and "Start render job" in text
    live = board.get("/admin/jobs/estimate", params={**form, "photo_mode": "filter", "name_contains": "zzz-none"})
    assert "<strong>0</strong> previews" in live.text
    started = board.post("/admin/jobs", form)
    assert started.status_code == 303 and board.flash(started) == "ok: Render job started."
    job_id = started.headers["location"].rsplit("/", 1)[-1]
    job = api.call("GET", f"/v1/render-jobs/{job_id}", role="merchandiser").json()
    assert job["selection"] == {"garment_ids": garments, "model_photo_ids": photos} and job["size"] == "512x384"
    page = board.page(f"/admin/jobs/{job_id}").text
    assert "preparing…" in page and 'hx-trigger="every 1s"' in page
    with session_scope(api.app.state.tryon.sessions) as session:  # the worker's first fan-out step, run here
        jobs.fanout_step(session, api.app.state.tryon.celery, uuid.UUID(job_id), 10)
    gallery = board.page(f"/admin/previews?job_id={job_id}").text
    assert gallery.count('class="preview-card') == 6 and "Render job" in gallery
    fanned_out = board.page(f"/admin/jobs/{job_id}").text
    assert "data-progress-percent>0%<" in fanned_out and "0 of 6" in fanned_out and "Nothing rendered yet" in fanned_out
    failing = uuid.UUID(re.search(r'data-preview="([^"]+)"', gallery).group(1))
    with session_scope(api.app.state.tryon.sessions) as session:
        token, _ = svc.claim_batch(session, failing, 1, 60, 3)
        svc.fail_attempt(session, failing, token, "input_missing", "the garment was deleted", False, 3)
    with_failure = board.page(f"/admin/jobs/{job_id}").text
    assert "input_missing" in with_failure and "the garment was deleted" in with_failure
    assert board.flash(board.post(f"/admin/jobs/{job_id}/retry")) == "ok: Queued 1 failed preview again."
    assert api.call("GET", f"/v1/previews/{failing}").json()["status"] == "queued"
    canceled = board.post(f"/admin/jobs/{job_id}/cancel")
    assert board.flash(canceled).startswith("ok: Render job canceled")
    assert board.flash(board.post(f"/admin/jobs/{job_id}/cancel")).startswith("error: render job")


def test_job_form_explains_an_incomplete_selection(dash):
    board = dash["merchandiser"]
    response = board.post("/admin/jobs/review", {"model_photo_ids": [ID]})
    assert response.status_code == 422 and "Choose at least one garment" in response.text
    filtered = board.post("/admin/jobs/review", {"garment_mode": "filter", "category": "tops", "photo_mode": "filter"})
    assert filtered.status_code == 200 and "previews" in filtered.text


# --- model versions, keys, system ---------------------------------------------------------------------------


def test_register_and_activate_model_versions(api, dash):
    board = dash["admin"]
    name = f"v-{uuid.uuid4().hex[:6]}"
    form = {"name": name, "checkpoint": "demo", "categories": ["bottoms"]}
    assert board.flash(board.post("/admin/models", form)) == f"ok: Model version {name} registered."
    version = next(v for v in api.call("GET", "/v1/model-versions").json() if v["name"] == name)
    assert version["active"] is False and version["categories"] == ["bottoms"]
    again = board.post("/admin/models", form)
    assert again.status_code == 409 and "exists" in again.text
    board.post(f"/admin/models/{version['id']}/activate")
    assert api.call("GET", f"/v1/model-versions/{version['id']}").json()["active"] is True


def test_create_a_key_shows_its_secret_once_and_revoke_it(api, dash):
    board = dash["admin"]
    created = board.post("/admin/keys", {"name": "shop", "role": "storefront"})
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-key" readonly value="([^"]+)"', created.text).group(1)
    assert api.client.get("/v1/garments", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listing = board.page("/admin/keys").text
    assert secret not in listing and "shop" in listing
    key_ids = {k["prefix"]: k["id"] for k in api.call("GET", "/v1/api-keys").json()}
    key_id = key_ids[secret.split("_")[1]]
    assert board.flash(board.post(f"/admin/keys/{key_id}/revoke")) == "ok: Key shop revoked: it stops working at once."
    assert api.client.get("/v1/garments", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    own = key_ids[api.keys["admin"].split("_")[1]]
    assert board.flash(board.post(f"/admin/keys/{own}/revoke")) == "error: an admin cannot revoke the key it is using"


def test_system_shows_queues_activity_and_recent_errors(api, dash):
    photo, garment = api.photo(), api.garment()
    body = {"model_photo_id": photo["id"], "garment_id": garment["id"], "size": "1024x768", "format": "png"}
    failing = api.call("POST", "/v1/previews", json=body).json()["id"]
    with session_scope(api.app.state.tryon.sessions) as session:
        token, _ = svc.claim_batch(session, uuid.UUID(failing), 1, 60, 1)
        svc.fail_attempt(session, uuid.UUID(failing), token, "render_failed", "CUDA out of memory", False, 1)
    page = re.sub(r"\s+", " ", dash["merchandiser"].page("/admin/system").text)
    assert "interactive" in page and "bulk" in page and "Broker messages" in page
    assert "render_failed" in page and "CUDA out of memory" in page
    assert "has no remote control" in page  # the embedded filesystem broker


def test_static_files_and_the_vendored_licence_are_served(api):
    assert api.client.get("/admin/static/vendor/htmx.min.js").status_code == 200
    assert "Zero-Clause BSD" in api.client.get("/admin/static/vendor/htmx.LICENSE").text
    assert api.client.get("/admin/static/dashboard.css").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/admin")]
