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


class AccessDenied(NotFound):
    """Staff asked for a patient or resource outside their clinic (or one that does not
    exist: the answer is the same 404, so ids cannot be probed). The attempt is audited
    even though the request fails: it is the first thing an auditor asks for."""

    def __init__(self, actor, resource_type: str, resource_id: str):
        super().__init__(f"{resource_type} not found")
        self.actor = actor
        self.resource_type = resource_type
        self.resource_id = resource_id


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Validation that needs the database or the clock, so the schema cannot do it."""

    status = 422
    code = "validation_failed"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}", errors={field: [message]})
