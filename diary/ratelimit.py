"""Rate limits on the routes where passwords and codes can be guessed: login and enrolment.

Built on `limits` (the library under Flask-Limiter) with a moving window, so "10 per
minute" holds over any 60 seconds, not per calendar minute. Counters live in
RATELIMIT_STORAGE_URI: memory per process by default, Redis shared by every process.

Only the two marked routes pay for a check. Flask-Limiter resolved limits in hooks on
every request of the app, which cost about 7 % of a diary entry's instructions.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask.views import MethodView
from flask_smorest import abort
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

EXTENSION = "diary.rate_limit"


@dataclass(frozen=True)
class RateLimit:
    strategy: MovingWindowRateLimiter
    items: list[RateLimitItem]
    namespace: str
    # What the storage raises when it cannot be reached (redis-py's RedisError for Redis).
    storage_errors: type[Exception] | tuple[type[Exception], ...]


def init_app(app: Flask) -> None:
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions[EXTENSION] = RateLimit(
        strategy=MovingWindowRateLimiter(storage),
        items=parse_many(app.config["AUTH_RATE_LIMIT"]),  # "10 per minute; 100 per hour"
        namespace=app.config["RATE_LIMIT_NAMESPACE"],
        storage_errors=storage.base_exceptions,
    )


def _check(limit: RateLimit) -> None:
    # Per route and client address (behind TRUSTED_PROXY_HOPS proxies, the forwarded one).
    key = (limit.namespace, request.endpoint or "", request.remote_addr or "unknown")
    try:
        for item in limit.items:
            if not limit.strategy.hit(item, *key):
                reset_at = limit.strategy.get_window_stats(item, *key).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                abort(429, message="too many requests", headers={"Retry-After": str(retry_after)})
    except limit.storage_errors as exc:
        # Fail open: a patient who needs the app (and its crisis resources) must still get
        # in while the counter store is down; argon2 still makes each guess slow.
        log.error("rate-limit storage unavailable, request not limited: %s", type(exc).__name__)


def auth_rate_limited(view_class: type[MethodView]) -> type[MethodView]:
    """Class decorator: every method of the route is limited by AUTH_RATE_LIMIT."""
    view_class.decorators = [*view_class.decorators, auth_rate_limited_view]
    return view_class


def auth_rate_limited_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view function limited by AUTH_RATE_LIMIT (also the review pages' sign-in form)."""

    @functools.wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        _check(current_app.extensions[EXTENSION])
        return view(*args, **kwargs)

    return limited
