"""Domain outcomes that the HTTP layer turns into error responses."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.errors = errors


class AuthFailed(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Validation that needs the database or the clock, so the schema cannot do it."""

    status = 422
    code = "validation_failed"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}", errors={field: [message]})
