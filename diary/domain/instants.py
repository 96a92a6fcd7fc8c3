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


def not_in_future(field: str, instant: dt.datetime) -> dt.datetime:
    """`instant` in UTC, or Invalid naming `field` if it is beyond the tolerance."""
    tolerance = dt.timedelta(seconds=int(current_app.config["ENTRY_FUTURE_TOLERANCE_SECONDS"]))
    instant = as_utc(instant)
    if instant > utcnow() + tolerance:
        minutes = tolerance.total_seconds() / 60
        raise Invalid(field, f"must not be more than {minutes:g} minutes in the future")
    return instant
