"""The clinician review pages: HTML for clinic staff in a browser, served under /review.

A second face on the same domain as the API (DESIGN.md): a page view is one call into
diary.domain and one template, as an API view is one call and one schema. Staff sign in
with a form; a signed cookie, only on /review paths, names their login session. Charts are
inline SVG drawn on the server (charts.py); every asset is served by the app itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Blueprint, Flask
from flask_wtf.csrf import CSRFProtect

from diary.domain.page_sessions import ABSOLUTE_LIFETIME

PREFIX = "/review"
# Assets are addressed with a hash of their content (?v=...), so a browser may keep them.
ASSET_MAX_AGE = 365 * 24 * 3600

csrf = CSRFProtect()


class ReviewBlueprint(Blueprint):
    def get_send_file_max_age(self, filename: str | None) -> int:
        return ASSET_MAX_AGE


bp = ReviewBlueprint("review", __name__, url_prefix=PREFIX, template_folder="templates", static_folder="static")


def serves_pages(path: str) -> bool:
    """Whether a request path belongs to the review pages (HTML errors, cookie, headers)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def _asset_versions() -> dict[str, str]:
    static = Path(__file__).parent / "static"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in static.iterdir() if p.is_file()}


def init_app(app: Flask) -> None:
    from diary.errors import serve_error_pages
    from diary.review import filters, views  # noqa: F401  (views register the routes on bp)
    from diary.review.cookies import PageCookieSessions
    from diary.review.errors import error_page

    app.config.update(
        # CSRF is checked by the review blueprint for its own POSTs only: the JSON API
        # authenticates with bearer tokens, which a forged cross-site request cannot carry.
        WTF_CSRF_CHECK_DEFAULT=False,
        # A form's token lives as long as its page session (idle and absolute expiry).
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_NAME="diary_review",
        SESSION_COOKIE_PATH=PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["APP_ENV"] == "production",
        # The cookie's own signature also stops being accepted after the absolute lifetime.
        PERMANENT_SESSION_LIFETIME=ABSOLUTE_LIFETIME,
    )
    app.session_interface = PageCookieSessions(app.session_interface)
    csrf.init_app(app)
    app.extensions["diary.review.assets"] = _asset_versions()
    filters.init_app(app)
    serve_error_pages(app, PREFIX, error_page)
    app.register_blueprint(bp)
