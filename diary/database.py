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
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.sql import Executable

from diary.errors import envelope, page_error, serves_page
from diary.extensions import db

log = logging.getLogger(__name__)

# Long enough that a busy pool never pings, short enough that a restart overnight costs
# no request an error in the morning.
PING_AFTER_IDLE_SECONDS = 10.0

T = TypeVar("T")
# A statement as the driver runs it: SQL, fixed parameters, bind conversions, row factory.
_DriverStatement = tuple[str, dict[str, Any], dict[str, Callable[[Any], Any]], Callable]


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


class HotStatement:
    """A statement on the path of every request or every diary entry, run on the driver's
    own cursor on PostgreSQL.

    For these statements SQLAlchemy's execution (cache key, parameter dict, result metadata
    from the cursor's description, row objects) cost several times what psycopg itself does:
    14 % of a new entry's instructions for the token check and the entry's INSERT together
    (callgrind, bench/instructions.py). The statement is still built with SQLAlchemy and compiled
    once per dialect, with its types' bind conversions; it runs on the session's connection,
    in the session's transaction. A driver error comes out as SQLAlchemy raises it (a lost
    connection is invalidated and says so), so `retry_if_disconnected` and the 503 handler
    work unchanged.

    It runs through SQLAlchemy instead on other databases (SQLite), for a statement whose
    results would need converting, and while anything listens to cursor executions (the
    tests that count statements, a tracer): they see every statement either way.
    """

    def __init__(self, statement: Executable):
        self.statement = statement
        self._compiled: dict[Dialect, _DriverStatement | None] = {}

    def on_driver(self, dialect: Dialect) -> bool:
        """Whether this statement runs on the driver's cursor on `dialect`."""
        if dialect not in self._compiled:
            self._compiled[dialect] = self._compile(dialect)
        return self._compiled[dialect] is not None

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """The statement's first row (attributes by column label), or None."""
        dialect = connection.dialect
        listened = connection.dispatch.before_cursor_execute or connection.dispatch.after_cursor_execute
        if listened or not self.on_driver(dialect):
            return connection.execute(self.statement, params).first()
        sql, defaults, processors, row_factory = self._compiled[dialect]
        values = {**defaults, **params}
        for name, process in processors.items():
            values[name] = process(values[name])
        driver = connection.connection.driver_connection
        try:
            with driver.cursor(row_factory=row_factory) as cursor:
                cursor.execute(sql, values)
                return cursor.fetchone()
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, driver, None)
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(
                sql,
                None,
                error,
                dialect.loaded_dbapi.Error,
                hide_parameters=True,
                connection_invalidated=lost,
                dialect=dialect,
            ) from error

    def _compile(self, dialect: Dialect) -> _DriverStatement | None:
        if dialect.driver != "psycopg":
            return None
        from psycopg.rows import namedtuple_row

        compiled = self.statement.compile(dialect=dialect)
        if compiled.positiontup is not None or any(
            column.type.result_processor(dialect, None) is not None for column in self.statement.selected_columns
        ):
            return None
        binds = compiled.binds.items()
        defaults = {name: bind.value for name, bind in binds if not bind.required}
        processors = {name: process for name, bind in binds if (process := bind.type.bind_processor(dialect))}
        return compiled.string, defaults, processors, namedtuple_row


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
