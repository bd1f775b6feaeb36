"""Garments: multipart upload with metadata, list with filters, get, update, delete, image and mask."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import Merchandiser, SessionDep, StateDep, StorageDep, Storefront
from api.errors import error_responses
from api.http import IMAGE_RESPONSES, blob_response, read_upload, reannotate, settled
from api.models import AssetStatus, Category, Garment
from api.schemas import GarmentOut, GarmentUpdate, Page
from api.services import annotation, catalog

router = APIRouter(prefix="/v1/garments", tags=["garments"])


def garment_out(garment: Garment) -> GarmentOut:
    base = f"/v1/garments/{garment.id}"
    return GarmentOut.model_validate(
        {
            **{c: getattr(garment, c) for c in GarmentOut.model_fields if hasattr(garment, c)},
            "image_url": f"{base}/image",
            "mask_url": f"{base}/mask" if garment.mask_key else None,
        }
    )


UPLOAD_DESCRIPTION = """Multipart: `image` (JPEG, PNG or WebP) and an optional `mask` (same size; white = garment).

With a mask the garment is `ready` at once. Without one it is `annotating`: a worker extracts the mask
(product shots on a plain background; `mask_derived` is true) and the garment becomes `ready`, or `failed`
with a `status_reason` (`no_garment` when nothing stands out from the background, `unreadable_image`, ...)
and a `status_message`.

`Prefer: wait=N` waits up to N seconds (at most `TRYON_MAX_WAIT_SECONDS`) for the mask and answers with the
garment as it then is: 201 either way, since the upload itself succeeded."""


@router.post(
    "",
    status_code=201,
    response_model=GarmentOut,
    responses=error_responses(401, 403, 409, 413, 415, 422, 429),
    summary="Upload a garment",
    description=UPLOAD_DESCRIPTION,
)
async def create_garment(
    state: StateDep,
    session: SessionDep,
    storage: StorageDep,
    _key: Merchandiser,
    sku: Annotated[str, Form(min_length=1, max_length=100, examples=["TEE-0001-BLU"])],
    name: Annotated[str, Form(min_length=1, max_length=200, examples=["Blue tee"])],
    category: Annotated[Category, Form(examples=["tops"])],
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    mask: Annotated[UploadFile | None, File(description="Optional mask, white = garment")] = None,
    published: Annotated[bool, Form()] = False,
    prefer: Annotated[str | None, Header(description="`wait=N`: wait up to N seconds for the mask.")] = None,
) -> GarmentOut:
    limit = state.settings.max_upload_bytes
    image_bytes, mask_bytes = await read_upload(image, "image", limit), await read_upload(mask, "mask", limit)
    # Decoding and storing a large photo takes a while: off the event loop, so cached previews keep flowing.
    garment = await run_in_threadpool(
        catalog.create_garment,
        session,
        storage,
        state.settings,
        sku=sku,
        name=name,
        category=category,
        published=published,
        image_bytes=image_bytes,
        mask_bytes=mask_bytes,
    )
    session.commit()  # before the worker looks for it
    annotation.enqueue_if_annotating(state.celery, garment)
    return garment_out(await settled(state, garment, prefer))


@router.get("", response_model=Page[GarmentOut], responses=error_responses(401, 403, 422, 429))
def list_garments(
    session: SessionDep,
    key: Storefront,
    category: Category | None = None,
    status: AssetStatus | None = None,
    published: bool | None = None,
    sku: str | None = None,
    q: Annotated[str | None, Query(description="Name contains (case-insensitive).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[GarmentOut]:
    """Storefront keys see published garments only."""
    rows, total = catalog.list_garments(
        session, key, category=category, status=status, published=published, sku=sku, q=q, limit=limit, offset=offset
    )
    return Page(items=[garment_out(g) for g in rows], total=total, limit=limit, offset=offset)


@router.get("/{garment_id}", response_model=GarmentOut, responses=error_responses(401, 403, 404, 429))
def get_garment(garment_id: uuid.UUID, session: SessionDep, key: Storefront) -> GarmentOut:
    return garment_out(catalog.get_garment(session, garment_id, key))


@router.patch("/{garment_id}", response_model=GarmentOut, responses=error_responses(401, 403, 404, 409, 422, 429))
def update_garment(garment_id: uuid.UUID, body: GarmentUpdate, session: SessionDep, key: Merchandiser) -> GarmentOut:
    garment = catalog.get_garment(session, garment_id, key)
    return garment_out(catalog.update_garment(session, garment, body.model_dump(exclude_unset=True)))


@router.delete("/{garment_id}", status_code=204, responses=error_responses(401, 403, 404, 409, 429))
def delete_garment(garment_id: uuid.UUID, session: SessionDep, key: Merchandiser) -> Response:
    catalog.delete_garment(session, catalog.get_garment(session, garment_id, key))
    return Response(status_code=204)


@router.get("/{garment_id}/image", responses={**IMAGE_RESPONSES, **error_responses(401, 403, 404, 429)})
def garment_image(
    garment_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    key: Storefront,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return blob_response(storage, catalog.get_garment(session, garment_id, key).image_key, if_none_match)


MASK_DESCRIPTION = """Multipart `mask`: a mask of the garment's image size (white = garment), checked as an
upload's. It replaces the garment's mask whatever its status (a failed or still annotating garment too): the
garment is `ready`, `mask_derived` false, any failure reason cleared. A bad mask is a 4xx and changes nothing.

Previews are keyed by the mask among their inputs: a new mask gets new previews, never the old ones."""


@router.put(
    "/{garment_id}/mask",
    response_model=GarmentOut,
    responses=error_responses(401, 403, 404, 413, 415, 422, 429),
    summary="Replace the garment's mask",
    description=MASK_DESCRIPTION,
)
async def put_garment_mask(
    garment_id: uuid.UUID,
    state: StateDep,
    session: SessionDep,
    storage: StorageDep,
    key: Merchandiser,
    mask: Annotated[UploadFile, File(description="The mask, white = garment")],
) -> GarmentOut:
    garment = catalog.get_garment(session, garment_id, key)
    mask_bytes = await read_upload(mask, "mask", state.settings.max_upload_bytes)
    garment = await run_in_threadpool(catalog.set_garment_mask, session, storage, state.settings, garment, mask_bytes)
    return garment_out(garment)


ANNOTATE_DESCRIPTION = """Extract the garment's mask again, from its image (after new annotator weights, or a
failure such as `annotator_unavailable` or `too_many_attempts`): the garment is `annotating` with its attempts
reset and its mask cleared, then a worker sets it `ready` or `failed`. 202 with the garment; with `Prefer:
wait=N`, 200 once it has settled within N seconds. 409 `already_annotating` while it is annotating."""


@router.post(
    "/{garment_id}/annotate",
    status_code=202,
    response_model=GarmentOut,
    responses={200: {"model": GarmentOut, "description": "Settled within the wait."}}
    | error_responses(401, 403, 404, 409, 429),
    summary="Annotate the garment again",
    description=ANNOTATE_DESCRIPTION,
)
async def annotate_garment(
    garment_id: uuid.UUID,
    state: StateDep,
    session: SessionDep,
    key: Merchandiser,
    response: Response,
    prefer: Annotated[str | None, Header(description="`wait=N`: wait up to N seconds for the mask.")] = None,
) -> GarmentOut:
    garment = catalog.get_garment(session, garment_id, key)
    return garment_out(await reannotate(state, session, garment, prefer, response))


@router.get("/{garment_id}/mask", responses={**IMAGE_RESPONSES, **error_responses(401, 403, 404, 429)})
def garment_mask(
    garment_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    key: Storefront,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    garment = catalog.get_garment(session, garment_id, key)
    return blob_response(storage, garment.mask_key, if_none_match)
