"""Connection handling: SQLite settings, and replacing PostgreSQL connections that died.

A pooled connection can be dead when it is checked out: the database restarted, failed
over, or a firewall dropped an idle socket. SQLAlchemy's `pool_pre_ping` would find out by
a round trip on every checkout, which on the ingest path cost as much as the INSERT. Here
instead:

- a connection that sat idle in the pool longer than PING_AFTER_IDLE_SECONDS is pinged
  on checkout and replaced if the ping fails (SQLAlchemy's documented pattern: raise
  DisconnectionError from the checkout event and the pool tries a fresh connection);
- a connection in steady use is not pinged; if it died anyway, the first statement of
  the request finds out, the pool drops every connection opened before the failure, and
  `retry_if_disconnected` runs that first statement once more on a fresh one. It only
  wraps statements that write nothing, so running one twice is harmless.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError

from diary.errors import envelope, page_error, serves_page
from diary.extensions import db

log = logging.getLogger(__name__)

# Long enough that a busy pool never pings, short enough that a restart overnight costs
# no request an error in the morning.
PING_AFTER_IDLE_SECONDS = 10.0

T = TypeVar("T")


MIGRATIONS = os.path.join(os.path.dirname(__file__), os.pardir, "migrations")


def enable_migrations(app: Flask) -> None:
    """Bind Flask-Migrate (Alembic) to the app: for `flask db ...`, the tests and the
    benchmarks, never for serving. Alembic and its templating cost a serving process about
    10 MiB it would never use. Idempotent."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS)


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        ping_idle_connections(engine, PING_AFTER_IDLE_SECONDS)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.teardown_appcontext(close_session)


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a connection on checkout when it sat in the pool for more than `idle_seconds`."""

    @event.listens_for(engine.pool, "checkin")
    def _back_in_pool(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("connection died while idle in the pool") from exc


def retry_if_disconnected(first_statement: Callable[[], T]) -> T:
    """Run a request's first statement; if its pooled connection turns out dead, run it
    once more on a fresh connection. Only for statements that change nothing."""
    try:
        return first_statement()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        db.session.rollback()
        return first_statement()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    # SQLite ignores foreign keys unless asked, and WAL lets the worker and the API share the file.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def handle_database_unavailable(error: OperationalError):
    """The database is unreachable (or went away mid-request): 503, not a 500, and a clean
    session for the next request. Nothing was committed, so nothing is half-written."""
    db.session.rollback()
    log.warning("database unavailable: %s", type(error.orig).__name__ if error.orig else type(error).__name__)
    if serves_page():
        return page_error(503, None, {"Retry-After": "5"})
    return (
        envelope(503, "the database is unavailable; try again shortly", code="database_unavailable"),
        503,
        {"Retry-After": "5"},
    )


def close_session(exc: BaseException | None) -> None:
    """Remove the request's session before Flask-SQLAlchemy's own teardown does (teardowns
    run in reverse order). A connection lost after the response was built (the view had
    committed, then read again) makes the closing rollback raise, and an exception from a
    teardown escapes Flask: the server's HTML 500 instead of the response. The connection
    is gone, so there is nothing to roll back: drop it and answer."""
    try:
        db.session.remove()
    except SQLAlchemyError as error:
        log.warning("database lost while closing the session: %s", type(getattr(error, "orig", None) or error).__name__)
        db.session.remove()
