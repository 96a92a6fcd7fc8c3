"""Staff asking for what is not their clinic's: answered as a 404, and audited.

The request fails, so its transaction is rolled back; the `access_denied` event is then
written and committed on its own, because an attempted access is what an auditor asks for
first and must not vanish with the failed request.
"""

from __future__ import annotations

from flask import Flask, request

from diary.domain import audit
from diary.domain.errors import AccessDenied
from diary.errors import handle_domain_error
from diary.extensions import db


def handle_access_denied(denied: AccessDenied):
    db.session.rollback()
    audit.record_denial(denied, request.path)
    db.session.commit()
    return handle_domain_error(denied)


def init_app(app: Flask) -> None:
    app.register_error_handler(AccessDenied, handle_access_denied)
