"""Images for the pages (an <img> cannot send an Authorization header): the session cookie authenticates.

Thumbnails are made on demand from the stored full images, at the height the pages show them (the stored
preview thumbnail is smaller), and kept in a small memory cache. Every answer has a strong ETag (keys are
content hashes) and may be cached privately for good.
"""

from __future__ import annotations

import io
import uuid
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request, Response
from PIL import Image

from api import images
from api.db import session_scope
from api.errors import ApiError
from api.http import blob_response, etag_for
from api.models import PreviewStatus
from api.services import catalog, previews
from api.storage import Storage, StorageError

from . import auth
from .web import PREFIX, DashboardRoute

router = APIRouter(prefix=f"{PREFIX}/media", route_class=DashboardRoute, include_in_schema=False)
THUMB_HEIGHT = 256
PRIVATE = "private, max-age=31536000, immutable"

Viewer = Annotated[auth.Viewer, Depends(auth.viewer_of(metered=False))]
Variant = Literal["thumb", "full"]


@lru_cache(maxsize=512)
def _thumbnail_bytes(storage: Storage, key: str, height: int) -> bytes:
    image = Image.open(io.BytesIO(storage.get(key)))
    image.load()
    small = images.thumbnail(image, min(height, image.height))
    return images.encode(small if small.mode in ("RGB", "L") else small.convert("RGB"), "webp")


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = PRIVATE  # behind a session: no shared cache may keep it
    return response


def _image(request: Request, key: str | None, variant: Variant, if_none_match: str | None) -> Response:
    storage = request.app.state.tryon.storage
    if variant == "full" or key is None:
        return _private(blob_response(storage, key, if_none_match))
    etag = etag_for(key)[:-1] + f'-t{THUMB_HEIGHT}"'
    if if_none_match and etag in if_none_match:
        return _private(Response(status_code=304, headers={"ETag": etag}))
    try:
        data = _thumbnail_bytes(storage, key, THUMB_HEIGHT)
    except StorageError as error:
        raise ApiError(503, "storage_unavailable", str(error)) from error
    return _private(Response(data, media_type="image/webp", headers={"ETag": etag}))


@router.get("/garments/{garment_id}/{what}")
def garment_image(
    request: Request,
    garment_id: uuid.UUID,
    what: Literal["image", "mask"],
    viewer: Viewer,
    variant: Variant = "thumb",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    with session_scope(request.app.state.tryon.read_sessions) as session:
        garment = catalog.get_garment(session, garment_id, viewer.key)
        key = garment.image_key if what == "image" else garment.mask_key
    return _image(request, key, variant, if_none_match)


@router.get("/model-photos/{photo_id}/image")
def model_photo_image(
    request: Request,
    photo_id: uuid.UUID,
    viewer: Viewer,
    variant: Variant = "thumb",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    with session_scope(request.app.state.tryon.read_sessions) as session:
        key = catalog.get_model_photo(session, photo_id).image_key
    return _image(request, key, variant, if_none_match)


@router.get("/previews/{preview_id}")
def preview_image(
    request: Request,
    preview_id: uuid.UUID,
    viewer: Viewer,
    variant: Variant = "thumb",
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    with session_scope(request.app.state.tryon.read_sessions) as session:
        preview = previews.get_preview(session, preview_id)
        if preview.status != PreviewStatus.succeeded:
            raise ApiError(409, "preview_not_ready", f"preview {preview.id} is {preview.status}")
        key = preview.image_keys.get(preview.size)
    return _image(request, key, variant, if_none_match)
