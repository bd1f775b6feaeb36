"""What every dashboard page shares: templates, flash messages, redirects, security headers and the route
class that answers errors as pages instead of the API's JSON."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api.db import utcnow
from api.errors import ApiError

PREFIX = "/admin"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATES = Jinja2Templates(directory=PACKAGE_DIR / "templates")
STATIC_DIR = PACKAGE_DIR / "static"
FLASH_COOKIE = "tryon_flash"

# Pages load only their own scripts, styles and images; nothing can frame them.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


class SignInRequired(Exception):
    """No session, or its key is unknown or revoked: the answer is the sign-in page."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


def base_path(request: Request) -> str:
    return request.scope.get("root_path", "") + PREFIX


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


# --- flash messages: one short notice carried across a redirect -------------------------------------


def set_flash(response: Response, request: Request, text: str, kind: str = "ok") -> None:
    value = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": text}).encode()).decode()
    response.set_cookie(FLASH_COOKIE, value, path=base_path(request), httponly=True, samesite="lax")


def read_flash(request: Request) -> dict | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        flash = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if not isinstance(flash, dict) or flash.get("kind") not in ("ok", "error"):
        return None
    return {"kind": flash["kind"], "text": str(flash.get("text", ""))[:500]}


# --- responses ---------------------------------------------------------------------------------------


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    """A page; the flash message (if any) is shown once, then forgotten."""
    flash = context.pop("flash", None) or read_flash(request)
    context.setdefault("viewer", None)
    response = TEMPLATES.TemplateResponse(
        request, template, {"base": base_path(request), "flash": flash, **context}, status_code=status
    )
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path=base_path(request))
    return response


def redirect(request: Request, path: str, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
    """303 to ``path`` (relative to the dashboard), with an optional flash message."""
    response = RedirectResponse(base_path(request) + path, status_code=303)
    if flash:
        set_flash(response, request, flash, kind)
    return response


def local_path(value: str | None, default: str) -> str:
    """``value`` when it is a dashboard path under ``default`` (a form's way back), else ``default``."""
    if value and value.startswith(default) and "//" not in value and "\\" not in value:
        return value
    return default


def sign_in_page(request: Request, message: str = "") -> Response:
    """Where a request without a valid session goes: htmx is told to load the page, others redirected."""
    target = f"{base_path(request)}/login?next={quote(request.url.path)}"
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    response = RedirectResponse(target, status_code=303)
    if message:
        set_flash(response, request, message, "error")
    return response


def error_page(request: Request, status: int, title: str, message: str, headers: dict | None = None) -> HTMLResponse:
    viewer = getattr(request.state, "dashboard_viewer", None)
    response = render(request, "dashboard/error.html", status, viewer=viewer, title=title, message=message)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Too many requests"}


def secure(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Pages carry a CSRF token and, once, new secrets: no cache may keep them. Images set their own.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


class DashboardRoute(APIRoute):
    """Answers a missing session with the sign-in page and API errors (403, 404, 429...) with an error page."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def dashboard_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired as error:
                response = sign_in_page(request, error.message)
            except ApiError as error:
                title = TITLES.get(error.status, "Something went wrong")
                response = error_page(request, error.status, title, error.message, error.headers)
            except RequestValidationError as error:
                fields = ", ".join(str(item.get("loc", ("?",))[-1]) for item in error.errors())
                response = error_page(request, 422, "Invalid form", f"Check these fields: {fields}.")
            return secure(response)

        return dashboard_handler


# --- template filters ----------------------------------------------------------------------------------


def ago(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (utcnow() - value).total_seconds()
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {round(seconds)} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{round(value)} ms" if value < 1000 else f"{value / 1000:.1f} s"


def timestamp(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


TEMPLATES.env.filters.update(ago=ago, duration=duration, milliseconds=milliseconds, timestamp=timestamp)
