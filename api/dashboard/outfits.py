"""Outfits: the list, and a builder that picks garments (new outfits and edits of existing ones)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

from api.db import session_scope
from api.errors import ApiError
from api.models import Category
from api.services import catalog

from . import auth
from .previews import PICKER_LIMIT, recent_garments
from .web import PREFIX, DashboardRoute, redirect, render

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

Viewer = Annotated[auth.Viewer, Depends(auth.viewer_of())]
Actor = Annotated[auth.Viewer, Depends(auth.actor_of())]


def _outfits_page(request: Request, viewer: auth.Viewer, editing: uuid.UUID | None, form: dict, status: int = 200):
    with session_scope(request.app.state.tryon.read_sessions) as session:
        outfits, total = catalog.list_outfits(session, PICKER_LIMIT, 0)
        garments = recent_garments(session, viewer)
        rendered = catalog.rendered_categories(session)
        outfit = catalog.get_outfit(session, editing) if editing else None
    if outfit is not None and not form:
        form = {"name": outfit.name, "garment_ids": [str(g) for g in outfit.garment_ids]}
    by_id = {g.id: g for g in garments}
    return render(
        request,
        "dashboard/outfits.html",
        status,
        viewer=viewer,
        section="outfits",
        outfits=outfits,
        total=total,
        garments=garments,
        by_id=by_id,
        categories=list(Category),
        rendered=rendered,
        editing=outfit,
        form=form,
    )


@router.get("/outfits")
def outfits_page(request: Request, viewer: Viewer, edit: uuid.UUID | None = None):
    return _outfits_page(request, viewer, edit, {})


def _save(request: Request, viewer, outfit_id: uuid.UUID | None, name: str, garment_ids: list[str]):
    form = {"name": name.strip(), "garment_ids": garment_ids}
    try:
        if not form["name"] or not garment_ids:
            raise ApiError(422, "missing_fields", "Give the outfit a name and pick at least one garment.")
        try:
            ids = [uuid.UUID(g) for g in garment_ids]
        except ValueError:
            raise ApiError(422, "invalid_id", "A picked garment has an invalid id.") from None
        with session_scope(request.app.state.tryon.sessions) as session:
            if outfit_id is None:
                catalog.create_outfit(session, form["name"], ids)
            else:
                catalog.update_outfit(session, catalog.get_outfit(session, outfit_id), form["name"], ids)
    except ApiError as error:
        form["error"] = error.message
        return _outfits_page(request, viewer, outfit_id, form, error.status)
    return redirect(request, "/outfits", f"Outfit {form['name']} saved.")


@router.post("/outfits")
def create_outfit(
    request: Request,
    viewer: Actor,
    name: Annotated[str, Form(max_length=200)] = "",
    garment_ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies form defaults)
):
    return _save(request, viewer, None, name, garment_ids)


@router.post("/outfits/{outfit_id}")
def update_outfit(
    request: Request,
    outfit_id: uuid.UUID,
    viewer: Actor,
    name: Annotated[str, Form(max_length=200)] = "",
    garment_ids: Annotated[list[str], Form()] = [],  # noqa: B006
):
    return _save(request, viewer, outfit_id, name, garment_ids)


@router.post("/outfits/{outfit_id}/delete")
def delete_outfit(request: Request, outfit_id: uuid.UUID, _viewer: Actor):
    with session_scope(request.app.state.tryon.sessions) as session:
        outfit = catalog.get_outfit(session, outfit_id)
        name = outfit.name
        session.delete(outfit)  # as DELETE /v1/outfits/{id} does
    return redirect(request, "/outfits", f"Outfit {name} deleted.")
