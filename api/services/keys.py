"""API keys: create (the secret is returned once), list, revoke; the first admin key at first start."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import utcnow
from api.errors import ApiError, not_found
from api.models import ApiKey, Role
from api.security import new_api_key


def create_key(session: Session, name: str, role: Role) -> tuple[ApiKey, str]:
    row, secret = new_api_key(name, role)
    session.add(row)
    session.flush()
    return row, secret


def list_keys(session: Session, include_revoked: bool) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, key_id: uuid.UUID, caller: ApiKey) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise not_found("api_key", key_id)
    if row.id == caller.id:
        raise ApiError(409, "cannot_revoke_self", "an admin cannot revoke the key it is using")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return row


def ensure_first_admin(session: Session) -> str | None:
    """Create an admin key when the catalog has no key at all; returns its secret (else None)."""
    if session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    _row, secret = create_key(session, "first admin", Role.admin)
    return secret
