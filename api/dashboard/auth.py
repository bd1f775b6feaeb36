"""Signing in to the dashboard: the API key lives in an httpOnly cookie, never in a page or its scripts.

Every request checks the cookie's key with the API's own :func:`api.deps.current_key` (unknown or
revoked keys, rate limit) and its role with :func:`api.deps.require`, so a page allows exactly what the
key's role allows in the API. Forms that change state carry a CSRF token: an HMAC of the session's key,
which a page of another site can neither read nor compute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool

from api.db import session_scope
from api.deps import AppState, current_key, require
from api.errors import ApiError
from api.models import ApiKey, Role
from api.ratelimit import RateLimiter
from api.security import role_allows

from .web import SignInRequired, base_path

SESSION_COOKIE = "tryon_session"
LOGIN_CSRF_COOKIE = "tryon_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
DASHBOARD_ROLE = Role.merchandiser  # the lowest role that may sign in
UNMETERED = RateLimiter(0)


class CsrfError(ApiError):
    def __init__(self) -> None:
        super().__init__(
            403, "csrf_failed", "This form has expired or came from another site. Reload the page and try again."
        )


def csrf_token_for(secret: str) -> str:
    return hmac.new(secret.encode(), b"tryon-dashboard-csrf", hashlib.sha256).hexdigest()


@dataclass
class Viewer:
    """The signed-in key and the CSRF token of its session."""

    key: ApiKey
    csrf_token: str

    def can(self, role: Role | str) -> bool:
        return role_allows(self.key.role, Role(role))


def lookup(state: AppState, request: Request, presented: str, metered: bool = True) -> ApiKey:
    """The key's row, checked by the API's own rules; ApiError 401 when unknown or revoked, 429 past the limit.

    ``metered=False`` (images of a page) skips the rate limit: a gallery page loads dozens of thumbnails.
    """
    checked_state = state if metered else dataclasses.replace(state, limiter=UNMETERED)
    with session_scope(state.read_sessions) as session:
        return current_key(request, checked_state, session, authorization=f"Bearer {presented}", x_api_key=None)


def authenticate(request: Request, state: AppState, role: Role, metered: bool = True) -> Viewer:
    presented = request.cookies.get(SESSION_COOKIE)
    if not presented:
        raise SignInRequired()
    try:
        key = lookup(state, request, presented, metered)
    except ApiError as error:
        if error.status == 401:
            raise SignInRequired("Your key is unknown or has been revoked: sign in again.") from None
        raise
    viewer = Viewer(key=key, csrf_token=csrf_token_for(presented))
    request.state.dashboard_viewer = viewer
    require(role)(key)  # the API's check: 403 below ``role``
    return viewer


def viewer_of(role: Role = DASHBOARD_ROLE, metered: bool = True):
    """Dependency of a page that needs ``role``."""

    def dependency(request: Request) -> Viewer:
        return authenticate(request, request.app.state.tryon, role, metered)

    return dependency


def actor_of(role: Role = DASHBOARD_ROLE):
    """Dependency of a form that changes state: ``role`` and a valid CSRF token."""

    async def dependency(request: Request) -> Viewer:
        viewer = await run_in_threadpool(authenticate, request, request.app.state.tryon, role)
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            sent = (await request.form()).get(CSRF_FIELD)
        if not isinstance(sent, str) or not hmac.compare_digest(sent, viewer.csrf_token):
            raise CsrfError()
        return viewer

    return dependency


# --- the session cookie ----------------------------------------------------------------------------


def start_session(response: Response, request: Request, presented: str) -> None:
    """A browser-session cookie (no expiry), sent only to the dashboard, never readable by scripts."""
    response.set_cookie(
        SESSION_COOKIE,
        presented,
        path=base_path(request),
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path=base_path(request), httponly=True, samesite="lax")


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def set_login_token(response: Response, request: Request, token: str) -> None:
    """The sign-in form's double-submit token (there is no session yet to derive one from)."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=base_path(request) + "/login",
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


def login_token_ok(request: Request, sent: str | None) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(expected and sent) and hmac.compare_digest(expected, sent)
