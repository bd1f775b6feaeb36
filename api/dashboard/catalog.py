"""Catalog: garments and model photos as thumbnails, uploads (drag and drop), annotation status, publishing."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from api.db import session_scope
from api.errors import ApiError
from api.http import read_upload
from api.models import AssetStatus, Category, Garment, ModelPhoto
from api.services import annotation, catalog

from . import auth
from .web import PREFIX, DashboardRoute, local_path, redirect, render

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)
PAGE = 24

Viewer = Annotated[auth.Viewer, Depends(auth.viewer_of())]
Actor = Annotated[auth.Viewer, Depends(auth.actor_of())]


NO_FILTERS = {"category": None, "published": None, "q": "", "photo_q": "", "offset": 0, "photo_offset": 0}


def _catalog_page(request: Request, viewer: auth.Viewer, filters: dict, status: int = 200, **forms):
    state = request.app.state.tryon
    filters = {**NO_FILTERS, **filters}
    with session_scope(state.read_sessions) as session:
        garments, garments_total = catalog.list_garments(
            session,
            viewer.key,
            category=filters.get("category"),
            status=None,
            published=filters.get("published"),
            sku=None,
            q=filters.get("q") or None,
            limit=PAGE,
            offset=filters.get("offset", 0),
        )
        photos, photos_total = catalog.list_model_photos(
            session, status=None, q=filters.get("photo_q") or None, limit=PAGE, offset=filters.get("photo_offset", 0)
        )
        rendered = catalog.rendered_categories(session)
    return render(
        request,
        "dashboard/catalog.html",
        status,
        viewer=viewer,
        section="catalog",
        garments=garments,
        garments_total=garments_total,
        photos=photos,
        photos_total=photos_total,
        rendered=rendered,
        categories=list(Category),
        filters=filters,
        page_size=PAGE,
        garment_form=forms.get("garment_form", {}),
        photo_form=forms.get("photo_form", {}),
    )


@router.get("/catalog")
def catalog_page(
    request: Request,
    viewer: Viewer,
    category: Category | None = None,
    published: Annotated[str | None, Query(pattern="^(|true|false)$")] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    photo_q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    photo_offset: Annotated[int, Query(ge=0)] = 0,
):
    filters = {
        "category": category,
        "published": {"true": True, "false": False}.get(published or ""),
        "q": q or "",
        "photo_q": photo_q or "",
        "offset": offset,
        "photo_offset": photo_offset,
    }
    return _catalog_page(request, viewer, filters)


async def _upload(
    request: Request, viewer: auth.Viewer, form: str, values: dict, required: dict, uploads: dict, create
):
    """Check the form, then store the asset with ``create(session, files)`` (see _write_asset). On an error, show
    the catalog again with the message and what was typed."""
    state = request.app.state.tryon
    try:
        missing = [label for label, given in required.items() if not given]
        if missing:
            raise ApiError(422, "missing_fields", f"Fill in: {', '.join(missing)}.")
        asset = await _write_asset(state, uploads, create)
    except ApiError as error:
        forms = {form: {**values, "error": error.message}}
        return await run_in_threadpool(_catalog_page, request, viewer, {}, error.status, **forms)
    return redirect(request, "/catalog", _uploaded(asset))


async def _write_asset(state, uploads: dict[str, UploadFile | None], write) -> Garment | ModelPhoto:
    """Read the chosen files within the upload limit (None for an input left empty), run ``write(session,
    files)`` (returns the asset) off the event loop in its own transaction; once committed, an asset left
    annotating goes to the workers. Errors are ApiErrors, and leave the catalog as it was."""
    limit = state.settings.max_upload_bytes
    files = {
        field: await read_upload(upload, field, limit) if _has_file(upload) else None
        for field, upload in uploads.items()
    }

    def run():
        with session_scope(state.sessions) as session:
            return write(session, files)

    asset = await run_in_threadpool(run)
    annotation.enqueue_if_annotating(state.celery, asset)
    return asset


def _named(asset: Garment | ModelPhoto) -> str:
    return f"Garment {asset.sku}" if isinstance(asset, Garment) else f"Model photo {asset.name}"


def _uploaded(asset) -> str:
    what = _named(asset)
    if asset.status != AssetStatus.annotating:
        return f"{what} uploaded."
    return f"{what} uploaded. A worker is annotating it: its status below turns ready (or failed, with the reason)."


@router.post("/garments")
async def upload_garment(
    request: Request,
    viewer: Actor,
    sku: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    category: Annotated[str, Form()] = "",
    published: Annotated[bool, Form()] = False,
    image: Annotated[UploadFile | None, File()] = None,
    mask: Annotated[UploadFile | None, File()] = None,
):
    state = request.app.state.tryon
    values = {"sku": sku.strip(), "name": name.strip(), "category": category, "published": published}
    required = {
        "SKU": values["sku"],
        "Name": values["name"],
        "Category": category in {c.value for c in Category},
        "Garment image": _has_file(image),
    }

    def create(session, files) -> Garment:
        return catalog.create_garment(
            session,
            state.storage,
            state.settings,
            sku=values["sku"],
            name=values["name"],
            category=Category(category),
            published=published,
            image_bytes=files["image"],
            mask_bytes=files["mask"],
        )

    uploads = {"image": image, "mask": mask}
    return await _upload(request, viewer, "garment_form", values, required, uploads, create)


@router.post("/model-photos")
async def upload_model_photo(
    request: Request,
    viewer: Actor,
    name: Annotated[str, Form(max_length=200)] = "",
    image: Annotated[UploadFile | None, File()] = None,
    pose: Annotated[UploadFile | None, File()] = None,
    parse: Annotated[UploadFile | None, File()] = None,
):
    state = request.app.state.tryon
    values = {"name": name.strip()}
    required = {"Name": values["name"], "Photo": _has_file(image)}

    def create(session, files) -> ModelPhoto:
        return catalog.create_model_photo(
            session,
            state.storage,
            state.settings,
            name=values["name"],
            image_bytes=files["image"],
            pose_bytes=files["pose"],
            parse_bytes=files["parse"],
        )

    uploads = {"image": image, "pose": pose, "parse": parse}
    return await _upload(request, viewer, "photo_form", values, required, uploads, create)


@router.post("/garments/{garment_id}/publish")
def publish_garment(
    request: Request,
    garment_id: uuid.UUID,
    viewer: Actor,
    published: Annotated[bool, Form()] = False,
    back: Annotated[str, Form(max_length=2000)] = "",
):
    with session_scope(request.app.state.tryon.sessions) as session:
        garment = catalog.get_garment(session, garment_id, viewer.key)
        catalog.update_garment(session, garment, {"published": published})
        sku = garment.sku
    done = f"{sku} is {'published' if published else 'unpublished'}."
    return redirect(request, local_path(back, "/catalog"), done)


# --- fixing an asset's annotations: by hand, or by annotating it again -----------------------------------


async def _fix(request: Request, back: str, uploads: dict[str, UploadFile | None], change) -> RedirectResponse:
    """With every file chosen, store the change with ``change(session, files)`` (see _write_asset) and go back to the
    catalog saying what happened. An error (a missing or bad file, an asset already annotating) is said the same
    way and leaves the asset as it was."""
    target = local_path(back, "/catalog")
    try:
        missing = [field for field, upload in uploads.items() if not _has_file(upload)]
        if missing:
            raise ApiError(422, "missing_fields", f"Choose a file for: {', '.join(missing)}.")
        asset = await _write_asset(request.app.state.tryon, uploads, change)
    except ApiError as error:
        return redirect(request, target, error.message, "error")
    return redirect(request, target, _fixed(asset))


def _fixed(asset) -> str:
    what = _named(asset)
    if asset.status == AssetStatus.annotating:
        return f"{what} is being annotated again: its status below turns ready (or failed, with the reason)."
    return f"{what} is ready with the annotations given."


@router.post("/garments/{garment_id}/mask")
async def upload_garment_mask(
    request: Request,
    garment_id: uuid.UUID,
    viewer: Actor,
    mask: Annotated[UploadFile | None, File()] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
):
    state = request.app.state.tryon

    def change(session, files) -> Garment:
        garment = catalog.get_garment(session, garment_id, viewer.key)
        return catalog.set_garment_mask(session, state.storage, state.settings, garment, files["mask"])

    return await _fix(request, back, {"mask": mask}, change)


@router.post("/model-photos/{photo_id}/annotations")
async def upload_model_photo_annotations(
    request: Request,
    photo_id: uuid.UUID,
    viewer: Actor,
    pose: Annotated[UploadFile | None, File()] = None,
    parse: Annotated[UploadFile | None, File()] = None,
    back: Annotated[str, Form(max_length=2000)] = "",
):
    state = request.app.state.tryon

    def change(session, files) -> ModelPhoto:
        photo = catalog.get_model_photo(session, photo_id)
        return catalog.set_model_photo_annotations(
            session, state.storage, state.settings, photo, files["pose"], files["parse"]
        )

    return await _fix(request, back, {"pose": pose, "parse": parse}, change)


@router.post("/garments/{garment_id}/annotate")
async def annotate_garment(
    request: Request, garment_id: uuid.UUID, viewer: Actor, back: Annotated[str, Form(max_length=2000)] = ""
):
    def change(session, _files) -> Garment:
        garment = catalog.get_garment(session, garment_id, viewer.key)
        annotation.restart(session, garment)
        return garment

    return await _fix(request, back, {}, change)


@router.post("/model-photos/{photo_id}/annotate")
async def annotate_model_photo(
    request: Request, photo_id: uuid.UUID, viewer: Actor, back: Annotated[str, Form(max_length=2000)] = ""
):
    def change(session, _files) -> ModelPhoto:
        photo = catalog.get_model_photo(session, photo_id)
        annotation.restart(session, photo)
        return photo

    return await _fix(request, back, {}, change)


def _has_file(upload: UploadFile | None) -> bool:
    """A file input left empty still sends a part, with no file name."""
    return upload is not None and bool(upload.filename)
