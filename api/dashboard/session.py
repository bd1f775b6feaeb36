"""Sign in with an API key, sign out, and the dashboard's front door."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool

from api.errors import ApiError
from api.security import role_allows

from . import auth
from .web import PREFIX, DashboardRoute, SignInRequired, redirect, render

router = APIRouter(prefix=PREFIX, route_class=DashboardRoute, include_in_schema=False)
HOME = "/catalog"


def _safe_next(target: str | None, request: Request) -> str:
    """Only a path inside the dashboard: a sign-in link must not send anyone elsewhere."""
    base = request.scope.get("root_path", "") + PREFIX
    if target and target.startswith(base + "/") and not target.startswith("//") and "\\" not in target:
        path = target[len(base) :]
        if not path.startswith(("/login", "/logout", "/static")):
            return path
    return HOME


def _login_page(request: Request, next_path: str, status: int = 200, error: str | None = None):
    token = auth.new_login_token()
    flash = {"kind": "error", "text": error} if error else None
    response = render(request, "dashboard/login.html", status, login_token=token, next=next_path, flash=flash)
    auth.set_login_token(response, request, token)
    return response


@router.get("", name="dashboard_root")
@router.get("/", name="dashboard_home")
def home(request: Request):
    return redirect(request, HOME)


@router.get("/login")
def login_form(request: Request, next: str | None = None):
    if request.cookies.get(auth.SESSION_COOKIE):
        try:
            auth.authenticate(request, request.app.state.tryon, auth.DASHBOARD_ROLE)
            return redirect(request, _safe_next(next, request))
        except (SignInRequired, ApiError):
            pass  # a stale or storefront session: show the form
    return _login_page(request, next or "")


@router.post("/login")
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
):
    if not auth.login_token_ok(request, csrf_token):
        return _login_page(request, next, 403, "The sign-in form expired. Please try again.")
    presented = key.strip()
    if not presented:
        return _login_page(request, next, 422, "Enter your API key.")
    try:
        row = await run_in_threadpool(auth.lookup, request.app.state.tryon, request, presented)
    except ApiError as error:
        message = "Unknown or revoked API key." if error.status == 401 else error.message
        return _login_page(request, next, error.status, message)
    if not role_allows(row.role, auth.DASHBOARD_ROLE):
        message = f"A {row.role} key cannot use the dashboard: sign in with a merchandiser or admin key."
        return _login_page(request, next, 403, message)
    response = redirect(request, _safe_next(next, request), f"Signed in as {row.name} ({row.role}).")
    auth.start_session(response, request, presented)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path=request.scope.get("root_path", "") + PREFIX + "/login")
    return response


@router.post("/logout")
def logout(request: Request, _viewer: Annotated[auth.Viewer, Depends(auth.actor_of())]):
    response = redirect(request, "/login", "Signed out.")
    auth.end_session(response, request)
    return response
