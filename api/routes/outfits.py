"""Outfits: a name and ordered garments. Every garment's category must be rendered by an active version."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import Merchandiser, SessionDep, Storefront
from api.errors import error_responses
from api.schemas import OutfitIn, OutfitOut, OutfitUpdate, Page
from api.services import catalog

router = APIRouter(prefix="/v1/outfits", tags=["outfits"])


@router.post("", status_code=201, response_model=OutfitOut, responses=error_responses(401, 403, 422, 429))
def create_outfit(body: OutfitIn, session: SessionDep, _key: Merchandiser) -> OutfitOut:
    """A 422 ``category_not_rendered`` names any category that no active model version renders."""
    return OutfitOut.model_validate(catalog.create_outfit(session, body.name, body.garment_ids))


@router.get("", response_model=Page[OutfitOut], responses=error_responses(401, 403, 422, 429))
def list_outfits(
    session: SessionDep,
    _key: Storefront,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[OutfitOut]:
    rows, total = catalog.list_outfits(session, limit, offset)
    return Page(items=[OutfitOut.model_validate(o) for o in rows], total=total, limit=limit, offset=offset)


@router.get("/{outfit_id}", response_model=OutfitOut, responses=error_responses(401, 403, 404, 429))
def get_outfit(outfit_id: uuid.UUID, session: SessionDep, _key: Storefront) -> OutfitOut:
    return OutfitOut.model_validate(catalog.get_outfit(session, outfit_id))


@router.patch("/{outfit_id}", response_model=OutfitOut, responses=error_responses(401, 403, 404, 422, 429))
def update_outfit(outfit_id: uuid.UUID, body: OutfitUpdate, session: SessionDep, _key: Merchandiser) -> OutfitOut:
    outfit = catalog.get_outfit(session, outfit_id)
    return OutfitOut.model_validate(catalog.update_outfit(session, outfit, body.name, body.garment_ids))


@router.delete("/{outfit_id}", status_code=204, responses=error_responses(401, 403, 404, 429))
def delete_outfit(outfit_id: uuid.UUID, session: SessionDep, _key: Merchandiser) -> Response:
    session.delete(catalog.get_outfit(session, outfit_id))
    return Response(status_code=204)
