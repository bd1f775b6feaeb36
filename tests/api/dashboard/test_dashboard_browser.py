"""The dashboard end to end in real Chromium: Debian's `chromium` driven by Playwright's Python package with the
system executable (nothing downloads a browser), against a running service (uvicorn on 127.0.0.1) with a
real Celery worker process, SQLite and the filesystem broker.

The flow: sign in; upload a garment (dropped on its drop zone) and a model photo, without their annotations,
and watch the worker annotate them; render a preview and approve it from the keyboard; run a small render job
and watch its progress reach 100%. Then every page at 1280 px and at 390 px: nothing wider than the screen,
every input labelled, the keyboard reaches everything.
Each test saves a screenshot of each page it visits in its temporary directory; with
``TRYON_DASHBOARD_DOCS=<dir>`` a few of them are copied there too (that is how docs/dashboard/ is made).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import shutil
import socket
import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from api_support import Api, annotator_checkpoints, wait_until, worker_process
from conftest import make_keys, make_settings, register_version
from dashboard_support import synthetic_uploads
from sqlalchemy import create_engine, update

from api.db import utcnow
from api.models import AssetStatus, Garment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000  # a loaded 2-core machine: pages are quick, but not always
RENDER_TIMEOUT_MS = 180_000  # the worker first imports torch and loads the checkpoint
DOCS_SHOTS = {
    "login-1280",
    "catalog-1280",
    "previews-1280",
    "job-review-1280",
    "job-1280",
    "catalog-390",
    "previews-390",
}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` in a thread (its lifespan migrates the database)."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="dashboard-uvicorn", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=60)
        return self

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Site:
    url: str
    keys: dict[str, str]
    api: Api
    log: Path
    database_url: str


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    """The running service: API over HTTP, a worker process, a tiny random checkpoint for tops, tiny annotators
    that accept any photo, two garments."""
    from api.app import create_app
    from tryon.checkpoint import create_random_checkpoint

    tmp = tmp_path_factory.mktemp("dashboard-site")
    parser, pose = annotator_checkpoints(tmp / "annotators")
    settings = make_settings(
        tmp, f"sqlite:///{tmp / 'tryon.db'}", recovery_interval=5.0, parser_checkpoint=parser, pose_checkpoint=pose
    )
    port = free_port()
    with ExitStack() as stack:
        stack.enter_context(ServerThread(create_app(settings), port))
        url = f"http://127.0.0.1:{port}"
        api = Api(stack.enter_context(httpx.Client(base_url=url, timeout=60)), make_keys(settings))
        register_version(api, checkpoint=str(create_random_checkpoint(tmp / "checkpoint", height=64, width=48)))
        for seed, (sku, name) in enumerate([("TEE-STRIPE", "Striped tee"), ("TEE-CHECK", "Checked tee")], start=10):
            uploads = synthetic_uploads(seed, (256, 192))
            garment = api.garment(
                sku=sku, image=("g.png", uploads["garment"], "image/png"), mask=("m.png", uploads["mask"], "image/png")
            )
            api.call("PATCH", f"/v1/garments/{garment['id']}", json={"name": name})
        stack.enter_context(worker_process(settings, tmp / "worker.log"))
        yield Site(url, api.keys, api, tmp / "worker.log", settings.database_url)


class Shots:
    """Full-page screenshots into the test's directory (and a few into the docs, when asked)."""

    def __init__(self, folder: Path, width: int) -> None:
        self.folder, self.width, self.count = folder, width, 0
        self.docs = Path(os.environ["TRYON_DASHBOARD_DOCS"]) if os.environ.get("TRYON_DASHBOARD_DOCS") else None

    def take(self, page, name: str) -> Path:
        # Lazy images below the fold load only when scrolled to: scroll there and back first.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_load_state("networkidle")
        page.evaluate("window.scrollTo(0, 0)")
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}-{self.width}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled", caret="initial")
        if self.docs is not None and f"{name}-{self.width}" in DOCS_SHOTS:
            self.docs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.docs / f"{name}-{self.width}.png")
        return path


def new_page(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return context, page


def sign_in(page, url: str, key: str, next_path: str = "/admin/catalog") -> None:
    from playwright.sync_api import expect

    page.goto(url + next_path)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def drop_file(page, input_selector: str, data: bytes, name: str, mime: str) -> None:
    """Drag a file onto the drop zone that holds ``input_selector``, as a file manager would."""
    page.evaluate(
        """([selector, b64, name, mime]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: mime}));
            const zone = document.querySelector(selector).closest("[data-dropzone]");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
            }
        }""",
        [input_selector, base64.b64encode(data).decode(), name, mime],
    )


def assert_usable(page, width: int) -> None:
    """Nothing wider than the viewport, and every visible form control has a label."""
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"{page.url}: {overflow} px wide at a {width} px viewport"
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                          && !el.getAttribute("aria-labelledby"))
            .map(el => el.outerHTML.slice(0, 120))"""
    )
    assert unlabelled == [], f"{page.url}: inputs without a label: {unlabelled}"


def test_sign_in_upload_preview_approve_and_render_job(site, browser, tmp_path):
    from playwright.sync_api import expect

    shots = Shots(tmp_path, 1280)
    context, page = new_page(browser, 1280, 900)
    files = synthetic_uploads(4, (256, 192))
    sku, photo_name = f"TEE-{uuid.uuid4().hex[:4].upper()}", "Studio A, pose 1"

    # 1. Sign in: the session cookie exists but no script can read it.
    page.goto(site.url + "/admin/catalog")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    shots.take(page, "login")
    page.get_by_label("API key").fill(site.keys["merchandiser"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/catalog$"))
    expect(page.locator("#flash")).to_contain_text("Signed in as test merchandiser")
    assert "tryon_session" not in page.evaluate("document.cookie")
    assert any(c["name"] == "tryon_session" and c["httpOnly"] for c in context.cookies())

    # 2. Upload a garment (dropped on its zone) and a model photo (chosen with the file input), neither with
    #    its annotations: the worker extracts the mask, finds the pose and the parse; the tiles turn ready.
    garment_form = page.locator("form", has=page.locator("#garment-sku"))
    garment_form.get_by_label("SKU").fill(sku)
    garment_form.get_by_label("Name", exact=True).fill("Blue striped tee")
    garment_form.get_by_label("Category").select_option("tops")
    garment_form.get_by_label("Published (storefronts see it)").check()
    drop_file(page, "#garment-image", files["garment"], "blue-tee.png", "image/png")
    expect(garment_form.locator("[data-dropzone-file]").first).to_contain_text("blue-tee.png")
    expect(garment_form.locator("[data-dropzone-preview]").first).to_be_visible()
    garment_form.get_by_role("button", name="Upload garment").click()
    expect(page.locator("#flash")).to_contain_text(f"Garment {sku} uploaded.")

    photo_form = page.locator("form", has=page.locator("#photo-name"))
    photo_form.get_by_label("Name", exact=True).fill(photo_name)
    photo_form.get_by_label("Photo").set_input_files(
        files=[{"name": "model.png", "mimeType": "image/png", "buffer": files["person"]}]
    )
    photo_form.get_by_role("button", name="Upload model photo").click()
    expect(page.locator("#flash")).to_contain_text(f"Model photo {photo_name} uploaded. A worker is annotating it")
    expect(page.get_by_role("img", name=f"Blue striped tee ({sku})")).to_be_visible()
    expect(page.get_by_role("img", name=f"Model photo {photo_name}")).to_be_visible()
    for tile in (
        page.locator("#garment-tiles .tile", has_text=sku),
        page.locator("#photo-tiles .tile", has_text=photo_name),
    ):
        try:  # the tiles refresh themselves until the worker is done
            expect(tile.locator(".badge.status-ready")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
        except AssertionError:
            raise AssertionError(site.log.read_text()[-3000:]) from None
    expect(page.locator("#photo-tiles .tile", has_text=photo_name)).to_contain_text("/18 points · Parse: yes")
    page.wait_for_load_state("networkidle")
    shots.take(page, "catalog")

    # 3. Render a preview, wait for it (the gallery refreshes itself), approve it with the keyboard.
    page.get_by_role("link", name="Previews").click()
    request_form = page.locator("form", has=page.locator("#new-photo"))
    request_form.get_by_label("Model photo").select_option(label=photo_name)
    request_form.get_by_label("Garment or outfit").select_option(label=f"{sku} · Blue striped tee")
    request_form.get_by_label("Size").select_option("256x192")
    request_form.get_by_role("button", name="Render preview").click()
    expect(page.locator("#flash")).to_contain_text("Preview queued")
    card = page.locator(".preview-card").first
    try:
        expect(card.locator(".badge.status-succeeded")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    except AssertionError:
        raise AssertionError(site.log.read_text()[-3000:]) from None
    expect(card.get_by_role("img", name="Rendered preview")).to_be_visible()
    page.keyboard.press("j")
    expect(card).to_be_focused()
    page.keyboard.press("a")
    expect(page.locator("#flash")).to_contain_text("Approved 1 preview.")
    expect(page.locator(".preview-card").first.locator(".badge.approval-approved")).to_be_visible()
    expect(page.locator(".preview-card").first).to_be_focused()  # the refresh keeps the keyboard's place
    page.wait_for_load_state("networkidle")
    shots.take(page, "previews")

    # 4. A render job of two garments on the new photo: count and estimate first, then live progress.
    page.get_by_role("link", name="Render jobs").click()
    page.get_by_label(f"{sku} · Blue striped tee · tops").check()
    page.get_by_label("TEE-STRIPE").check()
    page.locator("ul[aria-label='Model photos to render on']").get_by_label(photo_name).check()
    page.get_by_label("Size").select_option("512x384")
    expect(page.locator("#estimate")).to_contain_text("2 previews")
    expect(page.locator("#estimate")).to_contain_text("Estimated time:")
    shots.take(page, "jobs")
    page.get_by_role("button", name="Review job").click()
    expect(page.get_by_role("heading", name="Review render job")).to_be_visible()
    expect(page.locator(".estimate")).to_contain_text("2 previews")
    shots.take(page, "job-review")
    page.get_by_role("button", name="Start render job").click()
    expect(page.locator("#flash")).to_contain_text("Render job started.")
    try:
        expect(page.locator("[data-progress-percent]")).to_have_text("100%", timeout=RENDER_TIMEOUT_MS)
    except AssertionError:
        raise AssertionError(site.log.read_text()[-3000:]) from None
    expect(page.locator(".counts")).to_contain_text(re.compile(r"succeeded\s*2"))
    expect(page.locator(".badge.status-succeeded").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    shots.take(page, "job")
    context.close()


PAGES = [
    ("catalog", "/admin/catalog"),
    ("outfits", "/admin/outfits"),
    ("previews", "/admin/previews"),
    ("jobs", "/admin/jobs"),
    ("models", "/admin/models"),
    ("keys", "/admin/keys"),
    ("system", "/admin/system"),
]


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_every_page_fits_has_labels_and_works_from_the_keyboard(site, browser, tmp_path, width, height):
    from playwright.sync_api import expect

    shots = Shots(tmp_path, width)
    context, page = new_page(browser, width, height)
    sign_in(page, site.url, site.keys["admin"])
    for name, path in PAGES:
        page.goto(site.url + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert_usable(page, width)
        shots.take(page, name)
    for name, link in (("preview", ".preview-card a[href*='/admin/previews/']"), ("job", ".job-row a")):
        page.goto(site.url + ("/admin/previews" if name == "preview" else "/admin/jobs"))
        if page.locator(link).count():
            page.locator(link).first.click()
            page.wait_for_load_state("networkidle")
            assert_usable(page, width)
            shots.take(page, name)

    # The keyboard alone: the skip link comes first, then every section of the dashboard is reachable.
    page.goto(site.url + "/admin/catalog")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    reached = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Catalog", "Outfits", "Previews", "Render jobs", "Model versions", "API keys", "System"} <= reached
    page.get_by_role("link", name="System").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/admin/system$"))
    context.close()


def set_garment_status(site: Site, garment_id: str, status: AssetStatus) -> None:
    """Write a garment's status straight into the catalog; an annotating one gets an hour-long lease, so that
    neither a worker nor the orphan sweep touches it."""
    lease = utcnow() + dt.timedelta(hours=1) if status == AssetStatus.annotating else None
    engine = create_engine(site.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(Garment)
                .where(Garment.id == uuid.UUID(garment_id))
                .values(status=status, annotation_lease_expires_at=lease)
            )
    finally:
        engine.dispose()


def test_an_open_fix_form_survives_the_tiles_refreshing(site, browser):
    from playwright.sync_api import expect

    held = site.api.garment(sku="TEE-HELD")
    set_garment_status(site, held["id"], AssetStatus.annotating)  # the tiles poll while it annotates
    context, page = new_page(browser, 1280, 900)
    try:
        sign_in(page, site.url, site.keys["merchandiser"])
        held_tile = page.locator("#garment-tiles .tile", has_text="TEE-HELD")
        expect(held_tile.locator(".badge.status-annotating")).to_be_visible()
        fix = page.locator("#garment-tiles .tile", has_text="TEE-CHECK").locator("details.fix")
        fix.locator("summary").click()
        expect(fix).to_have_attribute("open", "")
        polls = []
        page.on("request", lambda request: polls.append(request.url) if "/admin/catalog" in request.url else None)
        page.wait_for_timeout(5_000)  # two refresh periods and more
        expect(fix).to_have_attribute("open", "")
        assert polls == [], "the tiles refreshed under an open fix form"

        fix.locator("summary").click()  # closed: the refreshes resume and show the garment ready
        set_garment_status(site, held["id"], AssetStatus.ready)
        expect(held_tile.locator(".badge.status-ready")).to_be_visible()
    finally:
        set_garment_status(site, held["id"], AssetStatus.ready)
        context.close()
