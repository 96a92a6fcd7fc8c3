"""Fixtures: every test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL.

The schema is built by the real migrations once per backend; each test then gets an
empty database (a copy of the SQLite template, or TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from diary import create_app
from diary.database import enable_migrations
from diary.extensions import db
from diary.timeutil import UTC, set_clock

# The alert modules' shared fixtures (webhook receiver, hooked app, ops account).
pytest_plugins = ["tests.alerting"]

PG_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set: PostgreSQL run skipped"),
    ),
]

PASSWORD = "correct horse battery"

# Cheap argon2 parameters keep the suite fast; a dedicated test covers rehash on change.
BASE_CONFIG: dict[str, Any] = {
    "TESTING": True,
    "APP_ENV": "testing",
    "SECRET_KEY": "test-secret-key-of-sufficient-length-0123456789",
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_KIB": 1024,
    "ARGON2_PARALLELISM": 1,
    "AUTH_RATE_LIMIT": "10000 per minute",
    "PUSH_BACKEND": "log",
}


def _libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _migrate(url: str) -> None:
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    enable_migrations(app)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@dataclass(frozen=True)
class Database:
    backend: str
    url: str


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory) -> Iterator[Database]:
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
        _migrate(f"sqlite:///{template}")
        yield Database("sqlite", str(template))
        return
    name = f"diary_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _libpq_url(PG_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_URL.rpartition("/")
    url = f"{base}/{name}"
    try:
        _migrate(url)
        yield Database("postgresql", url)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def backend(database: Database) -> str:
    return database.backend


@pytest.fixture
def db_url(database: Database, tmp_path) -> str:
    if database.backend == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(database.url, path)
        return f"sqlite:///{path}"
    # One transaction: audit_events refuses TRUNCATE by trigger (migration 0004), even from
    # the owner; the owner may switch that trigger off, and it is back on at COMMIT, so no
    # test ever sees the table unguarded. Works for any owner, superuser or not.
    with psycopg.connect(_libpq_url(database.url)) as conn, conn.transaction():
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate")
        conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_truncate")
    return database.url


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module (or via indirect use) to change the app's config."""
    return {}


@pytest.fixture
def make_app(db_url: str, backend: str, request) -> Iterator:
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        config = {**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url}
        if backend == "postgresql" and REDIS_URL:
            # The PostgreSQL run also proves the rate limiter on shared Redis storage;
            # a per-test key prefix keeps tests from seeing each other's counters.
            config["RATELIMIT_STORAGE_URI"] = REDIS_URL
            config["RATE_LIMIT_NAMESPACE"] = f"diary-test-{uuid.uuid4().hex}"
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app, config_overrides) -> Flask:
    return make_app(**config_overrides)


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


class Clock:
    """A controllable clock for the whole app (models, tokens, validation)."""

    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def set(self, instant: dt.datetime) -> None:
        self.now = instant.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Iterator[Clock]:
    fake = Clock(dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    set_clock(fake)
    yield fake
    set_clock(None)


class Api:
    """A thin JSON client: `api.post("/me/entries", json, token=...)` against /api/v1."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def call(self, method: str, path: str, json: Any = None, token: str | None = None, **kwargs: Any):
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = path if path.startswith(("/api/", "/healthz", "/readyz", "/metrics")) else f"/api/v1{path}"
        return self.client.open(url, method=method, json=json, headers=headers, **kwargs)

    def get(self, path: str, **kw: Any):
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self.call("POST", path, json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any):
        return self.call("PATCH", path, json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any):
        return self.call("PUT", path, json, **kw)

    def delete(self, path: str, **kw: Any):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app.test_client())


@dataclass
class Account:
    id: str
    email: str
    token: str
    refresh_token: str
    clinic_id: str


@pytest.fixture
def clinic(clock, world) -> str:
    """A clinic. The clock is set up first, so every token of the test is issued on it."""
    return world.clinic()


@pytest.fixture
def clinician(world, clinic: str) -> Account:
    return world.staff(clinic)


@pytest.fixture
def world(app: Flask, api: Api):
    """Builds clinics, staff and enrolled patients through the real code paths."""
    return World(app, api)


class World:
    def __init__(self, app: Flask, api: Api):
        self.app, self.api = app, api
        self._n = 0

    def _email(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}-{uuid.uuid4().hex[:6]}@example.test"

    def clinic(self, name: str = "Test Clinic") -> str:
        from diary.domain import accounts

        with self.app.app_context():
            clinic = accounts.create_clinic(name)
            db.session.commit()
            return clinic.id

    def staff(self, clinic_id: str, role: str = "clinician") -> Account:
        from diary.domain import accounts
        from diary.models import Clinic

        email = self._email(role)
        with self.app.app_context():
            user = accounts.create_staff(db.session.get(Clinic, clinic_id), role, email, PASSWORD)
            db.session.commit()
            user_id = user.id
        tokens = self.login(email)
        return Account(user_id, email, tokens["access_token"], tokens["refresh_token"], clinic_id)

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        resp = self.api.post("/auth/token", {"email": email, "password": password})
        assert resp.status_code == 200, resp.json
        return resp.json

    def invite(self, clinician: Account, timezone: str = "Europe/Berlin", name: str = "Pat Example") -> dict:
        resp = self.api.post("/patients", {"display_name": name, "timezone": timezone}, token=clinician.token)
        assert resp.status_code == 201, resp.json
        return resp.json

    def patient(self, clinician: Account, timezone: str = "Europe/Berlin") -> Account:
        invited = self.invite(clinician, timezone)
        email = self._email("patient")
        resp = self.api.post(
            "/auth/enroll", {"enrollment_code": invited["enrollment_code"], "email": email, "password": PASSWORD}
        )
        assert resp.status_code == 201, resp.json
        return Account(invited["id"], email, resp.json["access_token"], resp.json["refresh_token"], clinician.clinic_id)

    def rows(self, sql: str, **params: Any) -> list[tuple]:
        with self.app.app_context():
            return [tuple(r) for r in db.session.execute(text(sql), params)]


@pytest.fixture
def fake_fcm(tmp_path):
    """A fake FCM server; use `make_app(**fcm_config(fake_fcm))` for an app that pushes to it."""
    from tests import fake_fcm as fake_module

    fake, server = fake_module.start(tmp_path)
    yield fake
    server.shutdown()
    server.server_close()


def fcm_config(fake) -> dict[str, Any]:
    return {"PUSH_BACKEND": "fcm", "GOOGLE_APPLICATION_CREDENTIALS": fake.credentials_path, "FCM_ENDPOINT": fake.url}


def sql_statements(app: Flask, request) -> tuple[list[str], Any]:
    """The SQL statements sent while `request()` runs (whitespace collapsed), and its response."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        resp = request()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return statements, resp


def count_statements(app: Flask, request) -> tuple[int, Any]:
    """The number of SQL statements sent while `request()` runs, and its response."""
    statements, resp = sql_statements(app, request)
    return len(statements), resp


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Skips, one line per reason with its count: without PostgreSQL or a browser, hundreds
    of tests skip for the same two or three reasons, and a line each would bury the tally."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
        else:
            reason = str(report.longrepr)
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped, by reason")
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            terminalreporter.line(f"{count:5d}  {reason}")
