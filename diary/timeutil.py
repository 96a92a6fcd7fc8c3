"""Instants, local dates and the one clock the whole app reads.

Instants are stored in UTC; a patient's "day" is the local date in their IANA zone.
Tests move the clock with `set_clock`, so nothing calls `datetime.now` directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

UTC = dt.UTC


def _system_now() -> dt.datetime:
    return dt.datetime.now(UTC)


_now_source: Callable[[], dt.datetime] = _system_now


def utcnow() -> dt.datetime:
    return _now_source()


def set_clock(source: Callable[[], dt.datetime] | None) -> None:
    """Replace the clock (tests); `None` restores the system clock."""
    global _now_source
    _now_source = source or _system_now


# Files that can sit in a system zoneinfo directory (and so in available_timezones())
# without being IANA zone names: Debian links "localtime" to /etc/localtime.
_NOT_ZONES = frozenset({"localtime", "posixrules"})


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def is_valid_timezone(name: str) -> bool:
    # available_timezones() rather than ZoneInfo(name): ZoneInfo also accepts file
    # paths such as "posixrules" or "localtime" that are not IANA zone names.
    return name in _known_zones()


def local_date(instant: dt.datetime, timezone: str) -> dt.date:
    """The patient's calendar day on which `instant` fell."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def as_utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: an offset is required")
    return instant.astimezone(UTC)


def iso_utc(instant: dt.datetime | None) -> str | None:
    if instant is None:
        return None
    return as_utc(instant).isoformat().replace("+00:00", "Z")
