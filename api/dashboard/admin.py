"""Model versions (everyone sees them; admins register and activate) and API keys (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy import select

from api.db import session_scope
from api.errors import ApiError
from api.models import Category, ModelVersion, Role
from api.services import catalog, keys

from . import auth
from .web import PREFIX, DashboardRoute, redirect, render

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)

Viewer = Annotated[auth.Viewer, Depends(auth.viewer_of())]
AdminViewer = Annotated[auth.Viewer, Depends(auth.viewer_of(Role.admin))]
AdminActor = Annotated[auth.Viewer, Depends(auth.actor_of(Role.admin))]


# --- model versions -------------------------------------------------------------------------------


def _versions_page(request: Request, viewer: auth.Viewer, form: dict, status: int = 200):
    with session_scope(request.app.state.tryon.read_sessions) as session:
        versions = session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc())).all()
    return render(
        request,
        "dashboard/models.html",
        status,
        viewer=viewer,
        section="models",
        versions=versions,
        categories=list(Category),
        form=form,
    )


@router.get("/models")
def versions_page(request: Request, viewer: Viewer):
    """As GET /v1/model-versions: merchandisers see the list; the forms are for admins."""
    return _versions_page(request, viewer, {})


@router.post("/models")
def register_version(
    request: Request,
    viewer: AdminActor,
    name: Annotated[str, Form(max_length=200)] = "",
    checkpoint: Annotated[str, Form(max_length=1000)] = "",
    categories: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies form defaults)
    activate: Annotated[bool, Form()] = False,
):
    form = {"name": name.strip(), "checkpoint": checkpoint.strip(), "categories": categories, "activate": activate}
    try:
        if not form["name"] or not form["checkpoint"] or not categories:
            raise ApiError(422, "missing_fields", "Give a name, a checkpoint and at least one category.")
        unknown = set(categories) - {c.value for c in Category}
        if unknown:
            raise ApiError(422, "invalid_category", f"Unknown categories: {', '.join(sorted(unknown))}.")
        with session_scope(request.app.state.tryon.sessions) as session:
            catalog.create_model_version(
                session, name=form["name"], checkpoint=form["checkpoint"], categories=categories, activate=activate
            )
    except ApiError as error:
        return _versions_page(request, viewer, {**form, "error": error.message}, error.status)
    return redirect(request, "/models", f"Model version {form['name']} registered{' and active' if activate else ''}.")


@router.post("/models/{version_id}/activate")
def activate_version(request: Request, version_id: uuid.UUID, _viewer: AdminActor):
    with session_scope(request.app.state.tryon.sessions) as session:
        version = catalog.activate_model_version(session, catalog.get_model_version(session, version_id))
        name = version.name
    return redirect(request, "/models", f"{name} is active; versions it replaces for its categories stepped down.")


# --- API keys ----------------------------------------------------------------------------------------


def _keys_page(request: Request, viewer: auth.Viewer, show_revoked: bool, created=None, form=None, status=200):
    with session_scope(request.app.state.tryon.read_sessions) as session:
        rows = keys.list_keys(session, include_revoked=show_revoked)
    return render(
        request,
        "dashboard/keys.html",
        status,
        viewer=viewer,
        section="keys",
        keys=rows,
        roles=list(Role),
        show_revoked=show_revoked,
        created=created,
        form=form or {},
    )


@router.get("/keys")
def keys_page(request: Request, viewer: AdminViewer, revoked: bool = False):
    return _keys_page(request, viewer, revoked)


@router.post("/keys")
def create_key(
    request: Request,
    viewer: AdminActor,
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form()] = "",
):
    """Answers the page itself, not a redirect: the secret is in this answer only (never stored, never cached)."""
    if not name.strip() or role not in {r.value for r in Role}:
        form = {"name": name, "role": role, "error": "Give the key a name and a role."}
        return _keys_page(request, viewer, False, form=form, status=422)
    with session_scope(request.app.state.tryon.sessions) as session:
        row, secret = keys.create_key(session, name.strip(), Role(role))
        created = {"name": row.name, "role": row.role, "key": secret, "webhook_secret": row.webhook_secret}
    return _keys_page(request, viewer, False, created=created)


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: uuid.UUID, viewer: AdminActor):
    try:
        with session_scope(request.app.state.tryon.sessions) as session:
            row = keys.revoke_key(session, key_id, viewer.key)
            name = row.name
    except ApiError as error:
        return redirect(request, "/keys", error.message, "error")
    return redirect(request, "/keys", f"Key {name} revoked: it stops working at once.")
