"""API keys (admin): create (secret shown once), list, revoke."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import Admin, SessionDep
from api.errors import error_responses
from api.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from api.services import keys

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


@router.post("", status_code=201, response_model=ApiKeyCreated, responses=error_responses(401, 403, 422, 429))
def create_api_key(body: ApiKeyIn, session: SessionDep, _key: Admin) -> ApiKeyCreated:
    """The `key` and `webhook_secret` are in this answer only: store them now."""
    row, secret = keys.create_key(session, body.name, body.role)
    return ApiKeyCreated.model_validate(
        {**ApiKeyOut.model_validate(row).model_dump(), "key": secret, "webhook_secret": row.webhook_secret}
    )


@router.get("", response_model=list[ApiKeyOut], responses=error_responses(401, 403, 429))
def list_api_keys(session: SessionDep, _key: Admin, include_revoked: bool = False) -> list[ApiKeyOut]:
    return [ApiKeyOut.model_validate(k) for k in keys.list_keys(session, include_revoked)]


@router.post("/{key_id}/revoke", response_model=ApiKeyOut, responses=error_responses(401, 403, 404, 409, 429))
def revoke_api_key(key_id: uuid.UUID, session: SessionDep, key: Admin) -> ApiKeyOut:
    return ApiKeyOut.model_validate(keys.revoke_key(session, key_id, key))
