"""One JSON error envelope for every failure: HTTP errors, validation, domain outcomes, crashes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from diary.domain.errors import DomainError
from diary.schemas.common import ErrorSchema

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def envelope(status: int, message: str, *, code: str | None = None, errors: dict | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "code": code or CODES.get(status, "error"), "message": message}
    if errors:
        body["errors"] = errors
    if g.get("request_id"):
        body["request_id"] = g.request_id
    return body


def _flatten_locations(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {...}}); clients want the fields."""
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            for name, problem in fields.items():
                flat["body" if name == "_schema" else name] = problem
        else:
            flat["body" if location == "json" else location] = fields
    return flat


ERROR_PAGES = "diary.error_pages"


@dataclass(frozen=True)
class ErrorPages:
    """Where errors are answered with an HTML page instead of the envelope, and how."""

    prefix: str
    render: Callable[[int, DomainError | None], str]


def serve_error_pages(app: Flask, prefix: str, render: Callable[[int, DomainError | None], str]) -> None:
    """Called by the review pages: paths under `prefix` get `render`'s HTML pages."""
    app.extensions[ERROR_PAGES] = ErrorPages(prefix, render)


def serves_page() -> bool:
    """The review pages answer errors with HTML; every other path with the JSON envelope."""
    pages: ErrorPages | None = current_app.extensions.get(ERROR_PAGES)
    return pages is not None and (request.path == pages.prefix or request.path.startswith(pages.prefix + "/"))


def page_error(status: int, problem: DomainError | None = None, headers: dict | None = None):
    return current_app.extensions[ERROR_PAGES].render(status, problem), status, headers or {}


class DiaryApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if serves_page():
            if status == 405 and getattr(error, "valid_methods", None):
                headers["Allow"] = ", ".join(error.valid_methods)
            return page_error(status, None, headers)
        if status >= 500:
            # Flask has already logged the traceback. Never show internals: a generic
            # message and the request id to quote.
            return envelope(status, "internal server error"), status, headers
        errors = data.get("errors")
        if errors is None and "messages" in data:
            errors = _flatten_locations(data["messages"])
        if status == 400 and errors and "body" in errors:
            message, errors = "request body is not valid JSON", None
        elif status == 422 and errors:
            message = "validation failed: " + ", ".join(sorted(errors))
        else:
            message = data.get("message") or error.description or error.name
        if status == 429:
            message = "too many requests; try again later"
        if status == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)
        return envelope(status, message, code=data.get("code"), errors=errors), status, headers


def handle_domain_error(error: DomainError):
    if serves_page():
        return page_error(error.status, error)
    return envelope(error.status, error.message, code=error.code, errors=error.errors), error.status


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
