"""Instants, local dates and the one clock the whole app reads.

Instants are stored in UTC; a patient's "day" is the local date in their IANA zone.
Tests move the clock with `set_clock`, so nothing calls `datetime.now` directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

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


@lru_cache(maxsize=1)
def place_timezones() -> frozenset[str]:
    """Every canonical IANA zone named after a place, from the pinned tzdata package's own
    tables (zone.tab: one zone per country region; zone1970.tab: the zones since 1970), so
    the set is the same on every machine, whatever its system zoneinfo holds."""
    tables = resources.files("tzdata") / "zoneinfo"
    zones = {"UTC"}
    for table in ("zone.tab", "zone1970.tab"):
        for line in (tables / table).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                zones.add(line.split("\t")[2])
    return frozenset(zones)


def is_place_timezone(name: str) -> bool:
    return name in place_timezones()


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
