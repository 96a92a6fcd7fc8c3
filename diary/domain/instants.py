"""Instants a client reports: stored in UTC, never in the future.

Phones' clocks run a little ahead, so an instant up to ENTRY_FUTURE_TOLERANCE_SECONDS (five
minutes) past the server's clock is accepted as "now"; anything later is a typo or a broken
clock, refused with the field named.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app

from diary.domain.errors import Invalid
from diary.timeutil import as_utc, utcnow


def ahead_of_the_clock(instant: dt.datetime) -> str | None:
    """Why `instant` is refused as being in the future, or None."""
    tolerance = dt.timedelta(seconds=int(current_app.config["ENTRY_FUTURE_TOLERANCE_SECONDS"]))
    if as_utc(instant) > utcnow() + tolerance:
        return f"must not be more than {tolerance.total_seconds() / 60:g} minutes in the future"
    return None


def not_in_future(field: str, instant: dt.datetime) -> dt.datetime:
    """`instant` in UTC, or Invalid naming `field` if it is beyond the tolerance."""
    if problem := ahead_of_the_clock(instant):
        raise Invalid(field, problem)
    return as_utc(instant)
