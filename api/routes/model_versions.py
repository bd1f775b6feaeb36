"""Model versions: register a checkpoint, list, activate (admin)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import Admin, Merchandiser, SessionDep
from api.errors import error_responses
from api.models import ModelVersion
from api.schemas import ModelVersionIn, ModelVersionOut
from api.services import catalog

router = APIRouter(prefix="/v1/model-versions", tags=["model versions"])


@router.post("", status_code=201, response_model=ModelVersionOut, responses=error_responses(401, 403, 409, 422, 429))
def register_model_version(body: ModelVersionIn, session: SessionDep, _key: Admin) -> ModelVersionOut:
    """Register a checkpoint directory (as the workers see it) or "demo", and optionally activate it.

    Activating a version deactivates any active version that renders one of the same categories.
    """
    version = catalog.create_model_version(
        session,
        name=body.name,
        checkpoint=body.checkpoint,
        categories=[c.value for c in body.categories],
        activate=body.activate,
    )
    return ModelVersionOut.model_validate(version)


@router.get("", response_model=list[ModelVersionOut], responses=error_responses(401, 403, 429))
def list_model_versions(session: SessionDep, _key: Merchandiser) -> list[ModelVersionOut]:
    rows = session.scalars(select(ModelVersion).order_by(ModelVersion.created_at)).all()
    return [ModelVersionOut.model_validate(v) for v in rows]


@router.get("/{version_id}", response_model=ModelVersionOut, responses=error_responses(401, 403, 404, 429))
def get_model_version(version_id: uuid.UUID, session: SessionDep, _key: Merchandiser) -> ModelVersionOut:
    return ModelVersionOut.model_validate(catalog.get_model_version(session, version_id))


@router.post("/{version_id}/activate", response_model=ModelVersionOut, responses=error_responses(401, 403, 404, 429))
def activate_model_version(version_id: uuid.UUID, session: SessionDep, _key: Admin) -> ModelVersionOut:
    version = catalog.activate_model_version(session, catalog.get_model_version(session, version_id))
    return ModelVersionOut.model_validate(version)
