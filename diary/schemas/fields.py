"""Strict marshmallow fields: a phone app that sends "5" or true for a score has a bug
we want to hear about as a 422, not silently coerce."""

from __future__ import annotations

import datetime as dt
import numbers
import re
from typing import Any

from marshmallow import ValidationError, fields

from diary.timeutil import UTC, iso_utc

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=UTC)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Text(fields.String):
    """A string without NUL characters, which PostgreSQL text columns cannot hold."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("metadata", {}).setdefault("pattern", "^[^\\u0000]*$")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


class StrictInteger(fields.Integer):
    def __init__(self, **kwargs: Any):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictFloat(fields.Float):
    def _deserialize(self, value: Any, attr, data, **kwargs) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValidationError("Not a valid number.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr, data, **kwargs) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class Instant(fields.AwareDateTime):
    """ISO-8601 with an offset in; UTC with `Z` out. A bare local time is refused."""

    def __init__(self, **kwargs: Any):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> dt.datetime:
        if not isinstance(value, str):
            raise ValidationError("Not a valid datetime.")
        instant = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST <= instant < LATEST:
            raise ValidationError("Must be between 2000-01-01 and 2100-01-01.")
        return instant.astimezone(UTC)

    def _serialize(self, value: dt.datetime | None, attr, obj, **kwargs) -> str | None:
        return iso_utc(value)


class ClockTime(fields.Field):
    """A wall-clock time as "HH:MM"."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("metadata", {}).setdefault("pattern", _HHMM.pattern)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> dt.time:
        if not isinstance(value, str) or not _HHMM.match(value):
            raise ValidationError('Must be a time of day as "HH:MM".')
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))

    def _serialize(self, value: dt.time | None, attr, obj, **kwargs) -> str | None:
        return None if value is None else value.strftime("%H:%M")


class UUIDString(fields.UUID):
    """A UUID in canonical lower-case text form (ids are opaque strings)."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid UUID.")
        return str(super()._deserialize(value, attr, data, **kwargs))


# apispec maps fields to OpenAPI types by class; register the custom ones explicitly.
OPENAPI_FIELD_TYPES: dict[type, tuple[str, str | None]] = {
    Text: ("string", None),
    StrictInteger: ("integer", None),
    StrictFloat: ("number", None),
    StrictBoolean: ("boolean", None),
    Instant: ("string", "date-time"),
    ClockTime: ("string", None),
    UUIDString: ("string", "uuid"),
}
