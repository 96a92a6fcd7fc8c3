"""Strict marshmallow fields: a phone app that sends "5" or true for a score has a bug
we want to hear about as a 422, not silently coerce.

Every string a client sends goes through `clean_text` first: a NUL (which PostgreSQL text
cannot hold) or a lone surrogate (which cannot be encoded as UTF-8, so no database can store
it) is a 422 naming the field, never a failed INSERT, and never echoed into a log."""

from __future__ import annotations

import datetime as dt
import numbers
import re
from typing import Any

from marshmallow import ValidationError, fields, validate

from diary.domain.accounts import normalize_email
from diary.timeutil import UTC, is_place_timezone, iso_utc

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2100, 1, 1, tzinfo=UTC)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def clean_text(value: Any) -> Any:
    """`value` unchanged if it is not a string or is storable text; else a ValidationError."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError("Must not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Must be text that can be encoded as UTF-8 (no lone surrogates).") from None
    return value


class Text(fields.String):
    """A string that can be stored: no NUL characters, no lone surrogates."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("metadata", {}).setdefault("pattern", "^[^\\u0000]*$")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        return super()._deserialize(clean_text(value), attr, data, **kwargs)


class EmailAddress(Text):
    """An email address, trimmed and lower-cased: accounts are found case-insensitively, and a
    phone keyboard's trailing space must not lock anyone out."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("validate", validate.Length(max=254))
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        address = normalize_email(super()._deserialize(value, attr, data, **kwargs))
        validate.Email()(address)
        return address


class Timezone(Text):
    """A canonical IANA zone of a place ("America/New_York") or "UTC". Fixed offsets and legacy
    names ("EST", "GMT+5", "US/Eastern") are refused: a patient set to one gets pushes an hour
    off for half the year."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("validate", validate.Length(min=1, max=64))
        kwargs.setdefault("metadata", {}).setdefault("example", "America/New_York")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        zone = super()._deserialize(value, attr, data, **kwargs)
        if not is_place_timezone(zone):
            raise ValidationError('Must be a canonical IANA time zone of a place, such as "Europe/Berlin", or "UTC".')
        return zone


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
        instant = super()._deserialize(clean_text(value), attr, data, **kwargs)
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
        if not isinstance(value, str) or not _HHMM.fullmatch(value):
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
        return str(super()._deserialize(clean_text(value), attr, data, **kwargs))


# apispec maps fields to OpenAPI types by class; register the custom ones explicitly.
OPENAPI_FIELD_TYPES: dict[type, tuple[str, str | None]] = {
    Text: ("string", None),
    EmailAddress: ("string", "email"),
    Timezone: ("string", None),
    StrictInteger: ("integer", None),
    StrictFloat: ("number", None),
    StrictBoolean: ("boolean", None),
    Instant: ("string", "date-time"),
    ClockTime: ("string", None),
    UUIDString: ("string", "uuid"),
}


class Rows(fields.List):
    """A long list of flat rows (dates, numbers, strings), documented as a list of `schema`
    and dumped by one conversion per column instead of marshmallow's per-field machinery: a
    summary's 730 daily rows cost a third of its time otherwise, and a long window's
    check-ins (a few per session) most of the rest. Output only."""

    _CONVERT = {
        Instant: iso_utc,
        fields.Date: dt.date.isoformat,
        fields.Float: float,
        fields.Integer: int,
        fields.String: str,
    }

    def __init__(self, schema: type, **kwargs: Any) -> None:
        super().__init__(fields.Nested(schema), **kwargs)
        self._columns = []
        for name, field in schema().dump_fields.items():
            convert = next((c for kind, c in self._CONVERT.items() if isinstance(field, kind)), None)
            if convert is None:
                raise TypeError(f"Rows: {schema.__name__}.{name} is not a flat column")
            self._columns.append((name, field.data_key or name, convert))

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        columns = self._columns
        return [
            {key: None if (cell := row[name]) is None else convert(cell) for name, key, convert in columns}
            for row in value
        ]
