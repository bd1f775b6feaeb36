"""FastAPI dependencies: the app's shared state, a session per request, the caller's key and role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, Request
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.db import session_scope
from api.errors import ApiError
from api.models import ApiKey, Role
from api.ratelimit import RateLimiter, retry_after_header
from api.security import key_matches, role_allows, split_prefix
from api.settings import Settings
from api.storage import Storage


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]  # for GET requests and polling: never write through these
    storage: Storage
    celery: Celery
    limiter: RateLimiter


def get_state(request: Request) -> AppState:
    return request.app.state.tryon


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(request: Request, state: StateDep) -> Iterator[Session]:
    factory = state.read_sessions if request.method in ("GET", "HEAD") else state.sessions
    with session_scope(factory) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_write_session(state: StateDep) -> Iterator[Session]:
    with session_scope(state.sessions) as session:
        yield session


# For the few GETs that write (a render job's counts are refreshed when read).
WriteSessionDep = Annotated[Session, Depends(get_write_session)]


def get_storage(state: StateDep) -> Storage:
    return state.storage


StorageDep = Annotated[Storage, Depends(get_storage)]


def _presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if x_api_key:
        return x_api_key.strip()
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def current_key(
    request: Request,
    state: StateDep,
    session: SessionDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ApiKey:
    """The caller's key from ``Authorization: Bearer <key>`` or ``X-API-Key``; rate-limited per key."""
    presented = _presented_key(authorization, x_api_key)
    if not presented:
        raise ApiError(
            401, "unauthorized", "an API key is required (Authorization: Bearer <key>)", {"WWW-Authenticate": "Bearer"}
        )
    prefix = split_prefix(presented)
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) if prefix else None
    if row is None or not key_matches(row, presented) or row.revoked_at is not None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", {"WWW-Authenticate": "Bearer"})
    wait = state.limiter.acquire(str(row.id))
    if wait > 0:
        raise ApiError(429, "rate_limited", "too many requests for this key", {"Retry-After": retry_after_header(wait)})
    request.state.api_key_id = row.id
    return row


def require(role: Role):
    """A dependency that answers 401 without a key and 403 when the key's role is below ``role``."""

    def _check(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if not role_allows(key.role, role):
            raise ApiError(403, "forbidden", f"this needs the {role.value} role; the key is {key.role}")
        return key

    return _check


Storefront = Annotated[ApiKey, Depends(require(Role.storefront))]
Merchandiser = Annotated[ApiKey, Depends(require(Role.merchandiser))]
Admin = Annotated[ApiKey, Depends(require(Role.admin))]
