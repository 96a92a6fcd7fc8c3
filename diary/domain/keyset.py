"""Keyset pagination: one cursor codec and one page cut for every list the API pages.

A cursor is the sort key of the last row of a page, as a JSON list in unpadded
base64url: opaque to clients, and checked part by part on the way back in, so a forged
cursor is a 422 naming `cursor`, never a value that reaches the database and fails there.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from diary.domain.errors import Invalid
from diary.timeutil import as_utc, iso_utc

Row = TypeVar("Row")
# Turns one decoded JSON value into a key part, or raises ValueError/TypeError.
Part = Callable[[Any], Any]


class Page(NamedTuple, Generic[Row]):
    """One page of a list, and the cursor of the next one (None on the last page)."""

    items: list[Row]
    next_cursor: str | None


def instant(value: Any) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("an instant needs an offset")
    return as_utc(parsed)


def day(value: Any) -> dt.date:
    return dt.date.fromisoformat(value)


def row_id(value: Any) -> str:
    # No NUL or lone surrogates: they would reach the database and fail there (a 500).
    if not isinstance(value, str) or not value.isprintable() or len(value) > 64:
        raise ValueError("not an id")
    return value


def whole(low: int, high: int) -> Part:
    def part(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError("not a count a page end can have")
        return value

    return part


def number(low: float, high: float) -> Part:
    def part(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("not a number")
        if not low <= value <= high:
            raise ValueError("out of range")
        return float(value)

    return part


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso_utc(value)
    return value.isoformat() if isinstance(value, dt.date) else value


@dataclass(frozen=True)
class Keyset:
    """The parts of one list's sort key, in order."""

    parts: tuple[Part, ...]

    def encode(self, key: Sequence[Any]) -> str:
        raw = json.dumps([_encode_value(value) for value in key]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, ...]:
        try:
            values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(values, list) or len(values) != len(self.parts):
                raise ValueError("wrong shape")
            return tuple(part(value) for part, value in zip(self.parts, values, strict=True))
        except (ValueError, TypeError, AttributeError, OverflowError, binascii.Error, UnicodeDecodeError):
            raise Invalid("cursor", "is not a cursor this API issued") from None

    def page(self, rows: Sequence[Row], limit: int, key: Callable[[Row], Sequence[Any]]) -> Page[Row]:
        """The first `limit` of `rows` (fetched with limit + 1) and the cursor after them."""
        kept = list(rows[:limit])
        return Page(kept, self.encode(key(kept[-1])) if len(rows) > limit else None)


# Newest-first lists ordered by (instant, id): entries, alerts.
BY_INSTANT_AND_ID = Keyset((instant, row_id))
