"""The ingest benchmark's baseline: POST /api/v1/me/entries as a minimal Flask + psycopg app.

It does the least any implementation must: the same bearer check as diary/domain/tokens.py
(HS256 JWT with the same SECRET_KEY, the same required claims, then one SELECT of the user
and the auth session), light validation of the body, one INSERT into `entries` (local date
computed in the same statement), commit, a JSON answer. No ORM, no schemas, no alert
rules, no metrics, no logs. bench/ingest.py serves it with gunicorn and gunicorn.conf.py,
with the same worker count as ours:

    DATABASE_URL=postgresql://... SECRET_KEY=... gunicorn -c gunicorn.conf.py bench.baseline_app:app
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

import jwt
import psycopg
from flask import Flask, jsonify, request

SECRET_KEY = os.environ["SECRET_KEY"]
DSN = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
REQUIRED = ["sub", "exp", "iat", "sid", "role", "cid", "typ"]

AUTH_SQL = """
SELECT u.role, u.is_active, s.revoked_at
FROM users u JOIN auth_sessions s ON s.user_id = u.id
WHERE u.id = %s AND s.id = %s
"""
INSERT_SQL = """
INSERT INTO entries (id, patient_id, recorded_at, local_date, timezone, mood, anxiety, sleep_hours,
                     self_harm_thoughts, note, version, created_at, updated_at)
SELECT %(id)s, p.user_id, %(recorded_at)s, (%(recorded_at)s AT TIME ZONE p.timezone)::date, p.timezone,
       %(mood)s, %(anxiety)s, %(sleep_hours)s, %(self_harm_thoughts)s, %(note)s, 1, %(now)s, %(now)s
FROM patient_profiles p WHERE p.user_id = %(patient_id)s
ON CONFLICT (id) DO NOTHING
RETURNING local_date
"""

app = Flask(__name__)
_conn: psycopg.Connection | None = None


def connection() -> psycopg.Connection:
    """One connection per worker process, opened after the fork, reopened if lost."""
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(DSN)
    return _conn


def error(status: int, code: str):
    return jsonify({"status": status, "code": code, "message": code}), status


def _score(value, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high


@app.post("/api/v1/me/entries")
def post_entry():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return error(401, "missing_token")
    try:
        claims = jwt.decode(
            token,
            SECRET_KEY,
            algorithms=["HS256"],
            options={"require": REQUIRED, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return error(401, "invalid_token")
    if claims["typ"] != "access" or not isinstance(claims["exp"], int) or claims["exp"] <= time.time():
        return error(401, "invalid_token")

    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "bad_json")
    try:
        entry_id = str(uuid.UUID(body["id"]))
        recorded_at = dt.datetime.fromisoformat(body["recorded_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError, TypeError, AttributeError):
        return error(422, "validation_failed")
    sleep_hours = body.get("sleep_hours")
    if (
        recorded_at.tzinfo is None
        or not _score(body.get("mood"), 10)
        or not _score(body.get("anxiety"), 10)
        or not (sleep_hours is None or (isinstance(sleep_hours, int | float) and 0 <= sleep_hours <= 24))
    ):
        return error(422, "validation_failed")
    now = dt.datetime.now(dt.UTC)

    conn = connection()
    try:
        row = conn.execute(AUTH_SQL, (claims["sub"], claims["sid"])).fetchone()
        if row is None or row[2] is not None or not row[1]:
            conn.rollback()
            return error(401, "invalid_token")
        if row[0] != "patient":
            conn.rollback()
            return error(403, "forbidden")
        params = {
            "id": entry_id,
            "patient_id": claims["sub"],
            "recorded_at": recorded_at,
            "mood": body["mood"],
            "anxiety": body["anxiety"],
            "sleep_hours": sleep_hours,
            "self_harm_thoughts": body.get("self_harm_thoughts"),
            "note": body.get("note"),
            "now": now,
        }
        inserted = conn.execute(INSERT_SQL, params).fetchone()
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    if inserted is None:
        return jsonify({"id": entry_id}), 200
    return jsonify(
        {
            "id": entry_id,
            "recorded_at": recorded_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "local_date": inserted[0].isoformat(),
            "mood": body["mood"],
            "anxiety": body["anxiety"],
            "sleep_hours": sleep_hours,
            "side_effects": [],
            "self_harm_thoughts": body.get("self_harm_thoughts"),
            "note": body.get("note"),
            "checkin_id": None,
            "version": 1,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "updated_at": now.isoformat().replace("+00:00", "Z"),
            "deleted_at": None,
        }
    ), 201


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
