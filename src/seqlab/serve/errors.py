"""Every refusal is a 4xx JSON body naming the field at fault; the service never answers 500 to
client input.

The body follows the Azure REST error shape, so clients written for those services read it:
``{"error": {"code": "InvalidArgument", "message": "...", "field": "documents[0].text"}}``.
A request FastAPI cannot parse (bad JSON, a missing or mistyped field) gets 422 with the first
problem's location as ``field`` (400 for a body that is not JSON at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """status: the HTTP status; code: a short CamelCase reason; field: the request field at fault
    (dotted, with list indices: ``documents[2].text``), or None; headers: extra response headers
    (``Retry-After`` on 503)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def field_path(location: Sequence[Any]) -> str:
    """("body", "documents", 0, "text") -> "documents[0].text" (the leading "body"/"query"
    is dropped: the field is named as the client wrote it)."""
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def _validation_response(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    first = problems[0] if problems else {"loc": ("body",), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return ApiError(
            400, "InvalidJson", f"the body is not valid JSON: {first.get('msg')}", field="body"
        ).response()
    field = field_path(first.get("loc", ("body",)))
    message = f"{field}: {first.get('msg', 'invalid value')}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return ApiError(422, "InvalidArgument", message, field=field).response()


def _api_error_response(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error.response()


def _http_error_response(request: Request, error: Exception) -> JSONResponse:
    """The router's own refusals (no such path, a method the path does not take) in the
    service's error shape, saying where to look instead."""
    assert isinstance(error, StarletteHTTPException)
    codes = {404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"}
    code = codes.get(error.status_code, "HttpError")
    headers = dict(error.headers or {})
    message = str(error.detail)
    path = request.url.path
    if error.status_code == 404 and message == "Not Found":
        message = f"no route {path}; GET /docs lists the routes"
    elif error.status_code == 405 and message == "Method Not Allowed":
        allowed = headers.get("Allow") or headers.get("allow") or "another method"
        message = f"{request.method} is not allowed on {path}; use {allowed}"
    return ApiError(error.status_code, code, message, headers=headers).response()


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error_response)
    app.add_exception_handler(RequestValidationError, _validation_response)
    app.add_exception_handler(StarletteHTTPException, _http_error_response)
