"""Request ids, request metrics and structured access logs (ids only, never PHI)."""

from __future__ import annotations

import functools
import logging
import re
import secrets
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from diary import metrics
from diary.review import serves_pages

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger("diary.access")


def _before() -> None:
    req = request._get_current_object()  # one context lookup, not one per attribute
    incoming = req.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(16)
    g.started = time.perf_counter()
    # The size limit holds for every request, also one whose view never reads the body.
    limit = req.max_content_length
    if limit is not None and req.content_length is not None and req.content_length > limit:
        raise RequestEntityTooLarge()


API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI's page runs its own inline bootstrap script and styles, all served locally.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)
_EVERYWHERE = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"))
# Patient data must not sit in browser or proxy caches.
_API = (*_EVERYWHERE, ("Content-Security-Policy", API_CSP), ("Cache-Control", "no-store"))
_DOCS = (*_EVERYWHERE, ("Content-Security-Policy", DOCS_CSP))
_OTHER = (*_EVERYWHERE, ("Content-Security-Policy", API_CSP))
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
# The review pages: only this origin, no inline script or style at all (the charts are SVG
# with presentation attributes). Their forms need the Referer on same-origin POSTs (the
# CSRF check over HTTPS compares it with the host), and no other site ever gets one.
REVIEW_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_REVIEW_ASSETS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy", REVIEW_CSP),
)
_REVIEW = (*_REVIEW_ASSETS, ("Cache-Control", "no-store"))


def _security_headers(req, response: Response) -> None:
    """The defaults below, each unless the view set its own. Added in one pass: werkzeug's
    setdefault scans every header per call, which cost more than the rest of this hook."""
    path = req.path
    if path.startswith("/api/"):
        wanted = _DOCS if path.startswith("/api/v1/docs") else _API
    elif serves_pages(path):
        # Pages show patient data: never cached. Assets carry a content hash: cached.
        wanted = _REVIEW_ASSETS if path.startswith("/review/static/") else _REVIEW
    else:
        wanted = _OTHER
    if req.is_secure:
        wanted = (*wanted, _HSTS)
    present = {name.lower() for name, _ in response.headers}
    response.headers.extend([(name, value) for name, value in wanted if name.lower() not in present])


_CONVERTER = re.compile(r"<\w+:(\w+)>")


@functools.cache
def _route_label(rule: str) -> str:
    """ "/api/v1/patients/<id:patient_id>" as "/api/v1/patients/<patient_id>": the label names
    the parameter, not how the router matches it (computed once per route)."""
    return _CONVERTER.sub(r"<\1>", rule)


def _after(response: Response) -> Response:
    req = request._get_current_object()
    request_id = g.get("request_id")
    response.headers["X-Request-ID"] = request_id or ""
    _security_headers(req, response)
    # Templated rule, never the raw path: ids in paths would explode label cardinality.
    endpoint = _route_label(req.url_rule.rule) if req.url_rule else "unmatched"
    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    metrics.REQUESTS.labels(req.method, endpoint, str(response.status_code)).inc()
    metrics.LATENCY.labels(req.method, endpoint).observe(elapsed)
    # The line reads whole in text logs; JSON logs carry the same values as fields too.
    log.info(
        "%s %s %s %.1f ms",
        req.method,
        endpoint,
        response.status_code,
        elapsed * 1000,
        extra={
            "request_id": request_id,
            "method": req.method,
            "endpoint": endpoint,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
        },
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
