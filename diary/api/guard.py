"""Bearer-token authentication and role checks for views."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from diary.domain.errors import AuthFailed, Forbidden
from diary.domain.tokens import Principal, authenticate_access_token

SECURITY = [{"bearerAuth": []}]


def current_principal() -> Principal:
    """The authenticated caller's ids, role and (for a patient) timezone; no query."""
    return g.principal


def authenticated(*roles: str) -> Callable:
    """Require a valid access token and one of `roles` (any role when none given).

    Applied outermost, so a request without credentials hears 401 before anything
    about its body.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthFailed("missing bearer token", code="missing_token")
            principal = authenticate_access_token(token.strip())
            if roles and principal.role not in roles:
                raise Forbidden("your role may not do this")
            g.principal = principal
            return view(*args, **kwargs)

        manual = wrapper.__dict__.setdefault("_apidoc", {}).setdefault("manual_doc", {})
        manual["security"] = SECURITY
        return wrapper

    return decorator
