"""Access tokens (signed JWT, short-lived) and refresh tokens (opaque, rotating).

A login opens an AuthSession; each refresh token belongs to one and is single-use.
Presenting a used refresh token means it was stolen or replayed, so the whole
session (every token of the family) is revoked, as RFC 9700 §4.14.2 asks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import ClassVar, Protocol

import jwt
from flask import current_app
from jwt.algorithms import HMACAlgorithm
from sqlalchemy import bindparam, select, update

from diary.database import HotStatement, retry_if_disconnected
from diary.domain.errors import AuthFailed
from diary.extensions import db
from diary.models import AuthSession, PatientProfile, RefreshToken, User
from diary.timeutil import utcnow

ALGORITHM = "HS256"


class _HS256(HMACAlgorithm):
    """PyJWT's HS256, vetting each secret once. PyJWT re-checks the key on every token
    (probing it as PEM, SSH and DER data, to refuse an asymmetric key as an HMAC secret);
    with one secret per deployment that repeated probe cost more than the signature check."""

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._vetted: dict[str | bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        prepared = self._vetted.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)  # raises for a key unfit as a secret
            if len(self._vetted) >= 8:  # secrets are few (tests build apps with several)
                self._vetted.clear()
            self._vetted[key] = prepared
        return prepared


def init_app() -> None:
    """Let PyJWT's module-level encode/decode use _HS256 (public PyJWT API; idempotent)."""
    jwt.unregister_algorithm(ALGORITHM)
    jwt.register_algorithm(ALGORITHM, _HS256())


_REQUIRED_CLAIMS = ["sub", "exp", "iat", "sid", "role", "cid", "typ"]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: ClassVar[str] = "Bearer"  # noqa: S105  (the scheme's name, not a secret)


class Actor(Protocol):
    """Whoever does something: a request's Principal, or a User row (the CLI, the demo)."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def clinic_id(self) -> str: ...


@dataclass(frozen=True)
class Principal:
    """Who a valid access token speaks for, as the database says now (one query a request)."""

    id: str
    role: str
    clinic_id: str
    session_id: str
    # A patient's IANA zone, read with the token because every diary write needs the
    # patient's local date; None for staff.
    timezone: str | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _access_token(user: User, session_id: str, now: dt.datetime) -> tuple[str, int]:
    ttl = int(current_app.config["ACCESS_TOKEN_TTL_SECONDS"])
    claims = {
        "sub": user.id,
        "role": user.role,
        "cid": user.clinic_id,
        "sid": session_id,
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl,
    }
    return jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm=ALGORITHM), ttl


def _new_refresh_token(session_id: str, now: dt.datetime) -> str:
    raw = secrets.token_urlsafe(32)
    ttl = dt.timedelta(days=int(current_app.config["REFRESH_TOKEN_TTL_DAYS"]))
    db.session.add(RefreshToken(session_id=session_id, token_hash=_digest(raw), created_at=now, expires_at=now + ttl))
    return raw


def start_session(user: User, now: dt.datetime) -> AuthSession:
    """A login-session row without tokens: the review pages' cookie refers to it, so a
    revocation ends a browser session exactly as it ends a token family."""
    auth_session = AuthSession(user_id=user.id, created_at=now)
    db.session.add(auth_session)
    db.session.flush()
    return auth_session


def open_session(user: User) -> TokenPair:
    now = utcnow()
    auth_session = start_session(user, now)
    refresh = _new_refresh_token(auth_session.id, now)
    access, ttl = _access_token(user, auth_session.id, now)
    return TokenPair(access, refresh, ttl)


def rotate(refresh_token: str) -> TokenPair:
    """Exchange a refresh token for a new pair; reuse revokes the whole family."""
    now = utcnow()
    row = db.session.execute(
        select(RefreshToken, AuthSession, User)
        .join(AuthSession, RefreshToken.session_id == AuthSession.id)
        .join(User, AuthSession.user_id == User.id)
        .where(RefreshToken.token_hash == _digest(refresh_token))
    ).one_or_none()
    if row is None:
        raise AuthFailed("invalid refresh token", code="invalid_token")
    token, auth_session, user = row
    if auth_session.revoked_at is not None or not user.is_active or token.expires_at <= now:
        raise AuthFailed("invalid refresh token", code="invalid_token")
    # Conditional update: of two concurrent requests with the same token only one
    # can flip used_at, on SQLite and PostgreSQL alike; the loser is treated as reuse.
    claimed = db.session.execute(
        update(RefreshToken).where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if claimed != 1:
        revoke_session(auth_session.id, reason="reuse")
        raise AuthFailed("refresh token reused; the session has been revoked", code="token_reused")
    refresh = _new_refresh_token(auth_session.id, now)
    access, ttl = _access_token(user, auth_session.id, now)
    return TokenPair(access, refresh, ttl)


def revoke_session(session_id: str, *, reason: str) -> None:
    db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


# Built once and run on the driver: every authenticated request runs it, and a statement built
# per request costs more Python than the query costs PostgreSQL. Plain values only (whether
# the session is revoked, not when: an instant would need converting on its way out).
_users, _sessions, _profiles = User.__table__, AuthSession.__table__, PatientProfile.__table__
_PRINCIPAL = HotStatement(
    select(
        _users.c.role,
        _users.c.clinic_id,
        _users.c.is_active,
        _sessions.c.revoked_at.is_not(None).label("revoked"),
        _profiles.c.timezone,
    )
    .select_from(
        _users.join(_sessions, _sessions.c.user_id == _users.c.id).outerjoin(
            _profiles, _profiles.c.user_id == _users.c.id
        )
    )
    .where(_users.c.id == bindparam("user_id"), _sessions.c.id == bindparam("session_id"))
)


def authenticate_access_token(token: str) -> Principal:
    """Decode and check a bearer token; the user must be active and the session open."""
    try:
        claims = jwt.decode(
            token,
            current_app.config["SECRET_KEY"],
            algorithms=[ALGORITHM],
            # Expiry is checked below against the app clock, not PyJWT's own time.time().
            options={"require": _REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise AuthFailed("invalid access token", code="invalid_token") from exc
    if (
        claims["typ"] != "access"
        or not isinstance(claims["exp"], int)
        or not isinstance(claims["sub"], str)
        or not isinstance(claims["sid"], str)
    ):
        raise AuthFailed("invalid access token", code="invalid_token")
    if claims["exp"] <= utcnow().timestamp():
        raise AuthFailed("access token expired", code="token_expired")
    params = {"user_id": claims["sub"], "session_id": claims["sid"]}
    # The first statement of every authenticated request: where a connection that died in
    # the pool shows itself, and safe to run again.
    row = retry_if_disconnected(lambda: _PRINCIPAL.first(db.session.connection(), params))
    if row is None or row.revoked or not row.is_active:
        raise AuthFailed("invalid access token", code="invalid_token")
    return Principal(claims["sub"], row.role, row.clinic_id, claims["sid"], row.timezone)


def principal_of_session(user_id: str, session_id: str) -> Principal | None:
    """Who an open login session speaks for, as the database says now; None when the session
    is revoked or unknown, or the user inactive (the same one query as a bearer token)."""
    params = {"user_id": user_id, "session_id": session_id}
    row = retry_if_disconnected(lambda: _PRINCIPAL.first(db.session.connection(), params))
    if row is None or row.revoked or not row.is_active:
        return None
    return Principal(user_id, row.role, row.clinic_id, session_id, row.timezone)
