"""argon2id password hashing with transparent rehash when parameters change."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from diary.domain.errors import Invalid


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    key = (cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_KIB"], cfg["ARGON2_PARALLELISM"])
    cache = current_app.extensions.setdefault("diary.hashers", {})
    if key not in cache:
        cache[key] = PasswordHasher(time_cost=key[0], memory_cost=key[1], parallelism=key[2], type=Type.ID)
    return cache[key]


def check_policy(password: str) -> None:
    """The password policy, for every account however it is made (enrolment, the CLI):
    at least PASSWORD_MIN_LENGTH characters (10 by default, a deployment may raise it)."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        raise Invalid("password", f"must be at least {minimum} characters")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Return (matches, new_hash); new_hash is set when the stored one is outdated.

    With no stored hash a dummy hash is verified anyway, so an unknown account costs
    the same time as a wrong password and the two cannot be told apart.
    """
    hasher = _hasher()
    if stored_hash is None:
        dummy = current_app.extensions.setdefault("diary.dummy_hash", {})
        key = id(hasher)
        if key not in dummy:
            dummy[key] = hasher.hash("not-a-real-password")
        with contextlib.suppress(VerificationError):
            hasher.verify(dummy[key], password)
        return False, None
    try:
        hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if hasher.check_needs_rehash(stored_hash):
        return True, hasher.hash(password)
    return True, None
