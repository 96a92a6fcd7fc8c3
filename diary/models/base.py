"""Column types and defaults shared by every model."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime
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
