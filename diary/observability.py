"""Request ids, request metrics and structured access logs (ids only, never PHI)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from diary import metrics

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("diary.access")


def _before() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.started = time.perf_counter()
    # The size limit holds for every request, also one whose view never reads the body.
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()


API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI's page runs its own inline bootstrap script and styles, all served locally.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)


def _security_headers(response: Response) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", DOCS_CSP if request.path.startswith("/api/v1/docs") else API_CSP)
    if request.path.startswith("/api/") and not request.path.startswith("/api/v1/docs"):
        # Patient data must not sit in browser or proxy caches.
        headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def _after(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    _security_headers(response)
    # Templated rule, never the raw path: ids in paths would explode label cardinality.
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    metrics.REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    metrics.LATENCY.labels(request.method, endpoint).observe(elapsed)
    log.info(
        "request",
        extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "endpoint": endpoint,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
        },
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
