"""Shared HTTP helpers: reading uploads within the byte limit, serving blobs with strong ETags, `Prefer: wait`."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import TypeVar

from fastapi import Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api.deps import AppState
from api.errors import ApiError
from api.images import MEDIA_TYPES
from api.models import AssetStatus, Garment, ModelPhoto
from api.services import annotation
from api.storage import Storage, StorageError

IMMUTABLE = "public, max-age=31536000, immutable"
LIMIT_QUERY = {"ge": 1, "le": 200}
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+(?:\.\d+)?)")
T = TypeVar("T")


def prefer_wait(prefer: str | None, limit: float) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), at most ``limit``; 0 without it."""
    match = _WAIT.search(prefer or "")
    return min(float(match.group(1)), limit) if match else 0.0


async def poll(check: Callable[[], T | None], seconds: float, interval: float = 0.05) -> T | None:
    """Call ``check`` (blocking: it runs in a thread) until it answers something or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(interval)
        found = await run_in_threadpool(check)
        if found is not None:
            return found
    return None


async def settled(state: AppState, asset: Garment | ModelPhoto, prefer: str | None) -> Garment | ModelPhoto:
    """An uploaded ``asset`` re-read once ready or failed, if the client asked to wait and it is annotating."""
    seconds = prefer_wait(prefer, state.settings.max_wait_seconds)
    if asset.status != AssetStatus.annotating or seconds <= 0:
        return asset
    kind = annotation.kind_of(asset)
    later = await poll(lambda: annotation.settled(state.read_sessions, kind, asset.id), seconds)
    return later or asset


async def reannotate(
    state: AppState, session: Session, asset: Garment | ModelPhoto, prefer: str | None, response: Response
) -> Garment | ModelPhoto:
    """Send a ready or failed asset back to the annotators (409 while annotating): 202 while it annotates,
    200 when it settled within ``Prefer: wait``."""
    annotation.restart(session, asset)
    session.commit()  # before the worker looks for it
    annotation.enqueue_if_annotating(state.celery, asset)
    asset = await settled(state, asset, prefer)
    response.status_code = 202 if asset.status == AssetStatus.annotating else 200
    return asset


async def read_upload(upload: UploadFile | None, field: str, max_bytes: int) -> bytes | None:
    """The upload's bytes; 413 ``file_too_large`` past ``max_bytes`` (never reads more than that + 1)."""
    if upload is None:
        return None
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "file_too_large", f"{field}: larger than the limit of {max_bytes} bytes")
    return data


def etag_for(key: str) -> str:
    # Keys are content hashes: the key itself is a strong validator.
    return '"' + key.rsplit("/", 1)[-1].split(".")[0] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    # If-None-Match uses the weak comparison: W/"x" matches "x".
    candidates = [c.strip().removeprefix("W/") for c in if_none_match.split(",")]
    return etag in candidates


def blob_response(storage: Storage, key: str | None, if_none_match: str | None) -> Response:
    if key is None:
        raise ApiError(404, "image_not_found", "this image does not exist (yet)")
    etag = etag_for(key)
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
        data = storage.get(key)
    except StorageError as error:
        raise ApiError(503, "storage_unavailable", str(error)) from error
    extension = key.rsplit(".", 1)[-1]
    return Response(content=data, media_type=MEDIA_TYPES.get(extension, "application/octet-stream"), headers=headers)


IMAGE_RESPONSES = {
    200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}, "description": "The image bytes."},
    304: {"description": "Not modified (If-None-Match matched the ETag)."},
}
