"""Column types, defaults and SQL expressions shared by every model and query."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Date, DateTime
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlalchemy.types import TypeDecorator

from diary.timeutil import UTC, utcnow


def new_id() -> str:
    return str(uuid.uuid4())


def now_utc() -> dt.datetime:
    return utcnow()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that only accepts aware datetimes and always returns UTC.

    PostgreSQL stores `timestamptz`; SQLite has no zone support, so the UTC value is
    stored naive and re-tagged on the way out. Naive input is a bug, so it raises.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class add_days(FunctionElement[dt.date]):
    """`date + n days` in SQL, for a date column or expression and a whole number of days
    known when the query is built (PostgreSQL: date + integer; SQLite: date(d, '+n days'))."""

    type = Date()
    inherit_cache = False  # `days` is written into the SQL text: no cached form without it
    name = "add_days"

    def __init__(self, day: ColumnElement[Any], days: int) -> None:
        self.days = int(days)
        super().__init__(day)


@compiles(add_days)
def _add_days(element: add_days, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} + {element.days:d})"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '{element.days:+d} days')"
