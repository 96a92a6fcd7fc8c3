"""Staff signed in to the review pages in a browser.

A page session is a login-session row (the same `auth_sessions` table as the API's token
families, so revoking it, or deactivating the user, ends the browser session at its next
request) plus what the signed cookie holds: the row's id, the user's id, the login time and
the time of the last request. Nothing else about the person or their patients goes into the
cookie.

It ends after REVIEW_IDLE_MINUTES without a request and ABSOLUTE_LIFETIME after the login,
both judged on the app's clock; an ended session's row is revoked so it cannot be revived.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app

from diary.domain import accounts, tokens
from diary.domain.errors import DomainError
from diary.domain.tokens import Principal
from diary.timeutil import UTC, utcnow

# A working day and then some: a shared clinic computer left signed in overnight is not.
ABSOLUTE_LIFETIME = dt.timedelta(hours=12)
# The roles that have pages: the panel and patients for clinicians, the alert queue for both.
PAGE_ROLES = ("clinician", "ops")

_REFUSALS = {
    "patient": "Patient accounts sign in with the phone app; these pages are for clinic staff.",
    "admin": "Admin accounts have no review pages; use the command line.",
}


class NoPagesForRole(DomainError):
    """The password was right, but this account's role has no review pages."""

    status = 403
    code = "no_review_pages"


class SessionEnded(Exception):
    """The page session is over (idle, expired, revoked); the browser must sign in again."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PageSession:
    session_id: str
    user_id: str
    logged_in_at: dt.datetime
    last_seen_at: dt.datetime

    def as_cookie(self) -> dict[str, Any]:
        return {
            "sid": self.session_id,
            "uid": self.user_id,
            "login": self.logged_in_at.timestamp(),
            "seen": self.last_seen_at.timestamp(),
        }

    @classmethod
    def from_cookie(cls, values: Any) -> PageSession | None:
        """The page session a (signature-checked) cookie names, or None for anything else."""
        try:
            sid, uid, login, seen = values["sid"], values["uid"], values["login"], values["seen"]
        except (KeyError, TypeError):
            return None
        if not (isinstance(sid, str) and isinstance(uid, str)):
            return None
        if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in (login, seen)):
            return None
        return cls(sid, uid, dt.datetime.fromtimestamp(login, UTC), dt.datetime.fromtimestamp(seen, UTC))


def sign_in(email: str, password: str) -> tuple[PageSession, str]:
    """Check the password exactly as the API's login does, then open a login session
    without issuing tokens; the session and the user's role. Raises AuthFailed, or
    NoPagesForRole for a patient or admin."""
    user = accounts.authenticate(email, password)
    if user.role not in PAGE_ROLES:
        raise NoPagesForRole(_REFUSALS.get(user.role, "This account has no review pages."))
    now = utcnow()
    auth_session = tokens.start_session(user, now)
    return PageSession(auth_session.id, user.id, now, now), user.role


def resume(page: PageSession) -> tuple[Principal, PageSession]:
    """The staff member a page request acts for, and the session with this request's time.

    Raises SessionEnded when the session ran out (its row is then revoked, in the caller's
    transaction) or was revoked, or its user is no longer active staff with pages.
    """
    now = utcnow()
    idle = dt.timedelta(minutes=int(current_app.config["REVIEW_IDLE_MINUTES"]))
    if now - page.logged_in_at >= ABSOLUTE_LIFETIME:
        tokens.revoke_session(page.session_id, reason="expired")
        raise SessionEnded("expired")
    if now - page.last_seen_at >= idle:
        tokens.revoke_session(page.session_id, reason="idle")
        raise SessionEnded("idle")
    principal = tokens.principal_of_session(page.user_id, page.session_id)
    if principal is None or principal.role not in PAGE_ROLES:
        raise SessionEnded("revoked")
    return principal, replace(page, last_seen_at=max(now, page.last_seen_at))


def sign_out(page: PageSession) -> None:
    tokens.revoke_session(page.session_id, reason="logout")
