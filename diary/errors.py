"""One JSON error envelope for every failure: HTTP errors, validation, domain outcomes, crashes."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, request
from flask_smorest import Api
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from diary.domain.errors import DomainError
from diary.schemas.common import ErrorSchema

log = logging.getLogger(__name__)

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


def _page_request() -> bool:
    """The review pages answer errors with HTML; every other path with the JSON envelope."""
    from diary.review import serves_pages

    return serves_pages(request.path)


def _page(status: int, problem: DomainError | None = None, headers: dict | None = None):
    from diary.review.errors import error_page

    return error_page(status, problem), status, headers or {}


class DiaryApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if _page_request():
            if status == 405 and getattr(error, "valid_methods", None):
                headers["Allow"] = ", ".join(error.valid_methods)
            return _page(status, None, headers)
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


def handle_database_unavailable(error: OperationalError):
    """The database is unreachable (or went away mid-request): 503, not a 500, and a clean
    session for the next request. Nothing was committed, so nothing is half-written."""
    from diary.extensions import db

    db.session.rollback()
    log.warning("database unavailable: %s", type(error.orig).__name__ if error.orig else type(error).__name__)
    if _page_request():
        return _page(503, None, {"Retry-After": "5"})
    return (
        envelope(503, "the database is unavailable; try again shortly", code="database_unavailable"),
        503,
        {"Retry-After": "5"},
    )


def close_session(exc: BaseException | None) -> None:
    """Remove the request's session before Flask-SQLAlchemy's own teardown does (teardowns
    run in reverse order). A connection lost after the response was built (the view had
    committed, then read again) makes the closing rollback raise, and an exception from a
    teardown escapes Flask: the server's HTML 500 instead of the response. The connection
    is gone, so there is nothing to roll back: drop it and answer."""
    from diary.extensions import db

    try:
        db.session.remove()
    except SQLAlchemyError as error:
        log.warning("database lost while closing the session: %s", type(getattr(error, "orig", None) or error).__name__)
        db.session.remove()


def handle_domain_error(error: DomainError):
    if _page_request():
        return _page(error.status, error)
    return envelope(error.status, error.message, code=error.code, errors=error.errors), error.status


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.teardown_appcontext(close_session)
