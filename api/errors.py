"""One error shape for every response: ``{"error": {"code": "...", "message": "..."}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error the API answers with: HTTP status, a stable machine code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"{what.replace('_', ' ')} {ident} does not exist")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        parts = []
        for item in error.errors():
            where = ".".join(str(p) for p in item.get("loc", ()))
            parts.append(f"{where}: {item.get('msg')}")
        return error_response(422, "validation_error", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
        return error_response(error.status_code, code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return error_response(500, "internal_error", "internal server error")


# For the OpenAPI document: every route lists these error answers with the shared shape.
def error_responses(*statuses: int) -> dict[int | str, dict]:
    descriptions = {
        400: "Bad request",
        401: "Missing or unknown API key",
        403: "The key's role may not do this",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Upload too large",
        415: "Unsupported media type",
        422: "Invalid request",
        429: "Rate limit exceeded (see Retry-After)",
    }
    return {
        status: {
            "model": ErrorResponse,
            "description": descriptions.get(status, "Error"),
            "content": {"application/json": {"example": {"error": {"code": "example_code", "message": "..."}}}},
        }
        for status in statuses
    }
