"""Model photos: multipart upload (image, optional pose JSON and parse PNG), list, get, update, delete, images."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import Merchandiser, SessionDep, StateDep, StorageDep, Storefront
from api.errors import error_responses
from api.http import IMAGE_RESPONSES, blob_response, read_upload, reannotate, settled
from api.models import AssetStatus, ModelPhoto
from api.schemas import ModelPhotoOut, ModelPhotoUpdate, Page
from api.services import annotation, catalog

router = APIRouter(prefix="/v1/model-photos", tags=["model photos"])


def photo_out(photo: ModelPhoto) -> ModelPhotoOut:
    base = f"/v1/model-photos/{photo.id}"
    return ModelPhotoOut.model_validate(
        {
            **{c: getattr(photo, c) for c in ModelPhotoOut.model_fields if hasattr(photo, c)},
            "image_url": f"{base}/image",
            "parse_url": f"{base}/parse" if photo.parse_key else None,
        }
    )


UPLOAD_DESCRIPTION = """Multipart: `image` (JPEG, PNG or WebP) and, optionally, its annotations: `pose` (OpenPose
JSON, COCO-18 or BODY_25, in pixels of the image as displayed, i.e. after EXIF orientation) and `parse`
(PNG of LIP labels 0..19, same size), both or neither (one alone is 422 `annotations_incomplete`).

With both, the photo is checked and `ready` at once. Without them it is `annotating`: a worker derives the
pose and the parse, and the photo becomes `ready`, or `failed` with a `status_reason` (`no_person`,
`unreadable_image`, `annotator_unavailable`, ...) and the annotator's `status_message`.

`Prefer: wait=N` waits up to N seconds (at most `TRYON_MAX_WAIT_SECONDS`) for the annotation and answers with
the photo as it then is. The answer is 201 either way: the upload succeeded even when the annotation failed
(`status` says so), and the failed photo stays in the catalog: give its pose and parse by hand (PUT
`/annotations`) or annotate it again (POST `/annotate`)."""


@router.post(
    "",
    status_code=201,
    response_model=ModelPhotoOut,
    responses=error_responses(401, 403, 413, 415, 422, 429),
    summary="Upload a model photo",
    description=UPLOAD_DESCRIPTION,
)
async def create_model_photo(
    state: StateDep,
    session: SessionDep,
    storage: StorageDep,
    _key: Merchandiser,
    name: Annotated[str, Form(min_length=1, max_length=200, examples=["Studio A, pose 1"])],
    image: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
    pose: Annotated[
        UploadFile | None, File(description='Optional OpenPose JSON: {"people": [{"pose_keypoints_2d": [...]}]}')
    ] = None,
    parse: Annotated[UploadFile | None, File(description="Optional PNG label map (LIP labels)")] = None,
    prefer: Annotated[str | None, Header(description="`wait=N`: wait up to N seconds for the annotation.")] = None,
) -> ModelPhotoOut:
    limit = state.settings.max_upload_bytes
    image_bytes = await read_upload(image, "image", limit)
    pose_bytes, parse_bytes = await read_upload(pose, "pose", limit), await read_upload(parse, "parse", limit)
    # Decoding and storing a large photo takes a while: off the event loop, so cached previews keep flowing.
    photo = await run_in_threadpool(
        catalog.create_model_photo,
        session,
        storage,
        state.settings,
        name=name,
        image_bytes=image_bytes,
        pose_bytes=pose_bytes,
        parse_bytes=parse_bytes,
    )
    session.commit()  # before the worker looks for it
    annotation.enqueue_if_annotating(state.celery, photo)
    return photo_out(await settled(state, photo, prefer))


@router.get("", response_model=Page[ModelPhotoOut], responses=error_responses(401, 403, 422, 429))
def list_model_photos(
    session: SessionDep,
    _key: Storefront,
    status: AssetStatus | None = None,
    q: Annotated[str | None, Query(description="Name contains (case-insensitive).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[ModelPhotoOut]:
    rows, total = catalog.list_model_photos(session, status=status, q=q, limit=limit, offset=offset)
    return Page(items=[photo_out(p) for p in rows], total=total, limit=limit, offset=offset)


@router.get("/{photo_id}", response_model=ModelPhotoOut, responses=error_responses(401, 403, 404, 429))
def get_model_photo(photo_id: uuid.UUID, session: SessionDep, _key: Storefront) -> ModelPhotoOut:
    return photo_out(catalog.get_model_photo(session, photo_id))


@router.patch("/{photo_id}", response_model=ModelPhotoOut, responses=error_responses(401, 403, 404, 422, 429))
def update_model_photo(
    photo_id: uuid.UUID, body: ModelPhotoUpdate, session: SessionDep, _key: Merchandiser
) -> ModelPhotoOut:
    photo = catalog.get_model_photo(session, photo_id)
    for field, value in body.model_dump(exclude_unset=True).items():
        setattr(photo, field, value)
    session.flush()
    return photo_out(photo)


@router.delete("/{photo_id}", status_code=204, responses=error_responses(401, 403, 404, 429))
def delete_model_photo(photo_id: uuid.UUID, session: SessionDep, _key: Merchandiser) -> Response:
    catalog.delete_model_photo(session, catalog.get_model_photo(session, photo_id))
    return Response(status_code=204)


@router.get("/{photo_id}/image", responses={**IMAGE_RESPONSES, **error_responses(401, 403, 404, 429)})
def model_photo_image(
    photo_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    _key: Storefront,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return blob_response(storage, catalog.get_model_photo(session, photo_id).image_key, if_none_match)


ANNOTATIONS_DESCRIPTION = """Multipart `pose` and `parse`, both, checked as an upload's (OpenPose JSON in the
photo's pixels; a PNG of LIP labels 0..19 of its size). They replace the photo's whatever its status (a failed
or still annotating photo too): the photo is `ready`, any failure reason cleared. Bad input is a 4xx and
changes nothing.

Previews are keyed by the pose and parse among their inputs: new ones get new previews, never the old ones."""


@router.put(
    "/{photo_id}/annotations",
    response_model=ModelPhotoOut,
    responses=error_responses(401, 403, 404, 413, 415, 422, 429),
    summary="Replace the photo's pose and parse",
    description=ANNOTATIONS_DESCRIPTION,
)
async def put_model_photo_annotations(
    photo_id: uuid.UUID,
    state: StateDep,
    session: SessionDep,
    storage: StorageDep,
    _key: Merchandiser,
    pose: Annotated[UploadFile, File(description='OpenPose JSON: {"people": [{"pose_keypoints_2d": [...]}]}')],
    parse: Annotated[UploadFile, File(description="PNG label map (LIP labels)")],
) -> ModelPhotoOut:
    photo = catalog.get_model_photo(session, photo_id)
    limit = state.settings.max_upload_bytes
    pose_bytes, parse_bytes = await read_upload(pose, "pose", limit), await read_upload(parse, "parse", limit)
    photo = await run_in_threadpool(
        catalog.set_model_photo_annotations, session, storage, state.settings, photo, pose_bytes, parse_bytes
    )
    return photo_out(photo)


ANNOTATE_DESCRIPTION = """Find the photo's pose and parse again, from its image (after new annotator weights, or
a failure such as `annotator_unavailable` or `too_many_attempts`): the photo is `annotating` with its attempts
reset and its pose and parse cleared, then a worker sets it `ready` or `failed`. 202 with the photo; with
`Prefer: wait=N`, 200 once it has settled within N seconds. 409 `already_annotating` while it is annotating."""


@router.post(
    "/{photo_id}/annotate",
    status_code=202,
    response_model=ModelPhotoOut,
    responses={200: {"model": ModelPhotoOut, "description": "Settled within the wait."}}
    | error_responses(401, 403, 404, 409, 429),
    summary="Annotate the photo again",
    description=ANNOTATE_DESCRIPTION,
)
async def annotate_model_photo(
    photo_id: uuid.UUID,
    state: StateDep,
    session: SessionDep,
    _key: Merchandiser,
    response: Response,
    prefer: Annotated[str | None, Header(description="`wait=N`: wait up to N seconds for the annotation.")] = None,
) -> ModelPhotoOut:
    photo = catalog.get_model_photo(session, photo_id)
    return photo_out(await reannotate(state, session, photo, prefer, response))


@router.get("/{photo_id}/parse", responses={**IMAGE_RESPONSES, **error_responses(401, 403, 404, 429)})
def model_photo_parse(
    photo_id: uuid.UUID,
    session: SessionDep,
    storage: StorageDep,
    _key: Merchandiser,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    photo = catalog.get_model_photo(session, photo_id)
    return blob_response(storage, photo.parse_key, if_none_match)
