"""How the review pages write numbers, times and alert reasons (Jinja filters)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, url_for

from diary.models import ROUTES
from diary.review import measures, words
from diary.review.charts import route_label, sparkline
from diary.timeutil import UTC, utcnow

RULE_NAMES = {
    "self_harm": "Self-harm thoughts",
    "mood_drop": "Mood dropping",
    "anxiety_rise": "Anxiety rising",
    "phq9_worsening": "PHQ-9 worsening",
    "disengaged": "Not logging",
    "effect_waning": "Effect wearing off",
}

SEVERITY_NAMES = {
    "minimal": "minimal",
    "mild": "mild",
    "moderate": "moderate",
    "moderately_severe": "moderately severe",
    "severe": "severe",
}


# Where a self-harm alert's report came from (the alert's `source` detail).
SELF_HARM_SOURCES = {
    "entry": "Reported in a diary entry",
    "phq9": "Reported on a PHQ-9 (item 9)",
    "cssrs_screen": "C-SSRS screen at moderate or high risk",
}


def ago(instant: dt.datetime | None, empty: str = "no entries") -> str:
    """ "just now", "5 minutes ago", "3 hours ago", "2 days ago", "5 weeks ago"."""
    if instant is None:
        return empty
    seconds = (utcnow() - instant).total_seconds()
    if seconds < 60:
        return "just now" if seconds > -300 else "in the future"
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        # Days up to two weeks read better than "1 week".
        if unit == "week" and seconds < 14 * 86400:
            continue
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def local_time(instant: dt.datetime | None, zone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M") -> str:
    if instant is None:
        return "—"
    return instant.astimezone(ZoneInfo(zone)).strftime(fmt)


def utc_time(instant: dt.datetime | None) -> str:
    return "—" if instant is None else f"{instant.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def number(value: float | None, digits: int = 1, empty: str = "—") -> str:
    if value is None:
        return empty
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    text = f"{value:+.{digits}f}"
    # A typographic minus (U+2212) reads better in a table than a hyphen.
    return "±0.0" if text in ("+0.0", "-0.0") else text.replace("-", "\u2212")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{round(value * 100)} %"


def exact(value: Any) -> str:
    """The machine-readable value behind a rounded cell (data-value): repr of a float, "" for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def alert_reason(alert: Any) -> str:
    """One line on why the alert fired, from its details (ids and numbers only)."""
    details = alert.details or {}
    rule = alert.rule
    if rule == "self_harm":
        return SELF_HARM_SOURCES.get(details.get("source"), "Self-harm thoughts reported")
    if rule == "mood_drop" and details.get("mood_change") is not None:
        return f"Mood {signed(details['mood_change'])} (last days against the two weeks before)"
    if rule == "anxiety_rise" and details.get("anxiety_change") is not None:
        return f"Anxiety {signed(details['anxiety_change'])} (last days against the two weeks before)"
    if rule == "phq9_worsening" and details.get("total") is not None:
        previous = details.get("previous_total")
        return f"PHQ-9 total {details['total']}" + (f" (previous {previous})" if previous is not None else "")
    if rule == "disengaged":
        if details.get("expired_checkins_in_a_row"):
            return f"{details['expired_checkins_in_a_row']} check-ins in a row expired unanswered"
        if details.get("days_without_entry") is not None:
            return f"No diary entry for {details['days_without_entry']} days"
    if rule == "effect_waning" and details.get("expected_wear_off_date"):
        basis = details.get("basis_sessions")
        return f"Effect expected to wear off around {details['expected_wear_off_date']}" + (
            f" (from the last {basis} sessions' effect days)" if basis else ""
        )
    return RULE_NAMES.get(rule, rule)


def asset(filename: str) -> str:
    version = current_app.extensions["diary.review.assets"].get(filename, "")
    return url_for("review.static", filename=filename, v=version)


def init_app(app: Flask) -> None:
    measures.init_app(app)
    app.jinja_env.filters.update(
        ago=ago,
        local_time=local_time,
        utc_time=utc_time,
        number=number,
        signed=signed,
        percent=percent,
        exact=exact,
        alert_reason=alert_reason,
        route_label=route_label,
        days_from=words.days_from,
        short_date=words.short_date,
        share=words.share,
        plural=words.plural,
        spelled=words.spelled,
    )
    app.jinja_env.globals.update(
        asset=asset,
        sparkline=sparkline,
        timedelta=dt.timedelta,
        routes=ROUTES,
        RULE_NAMES=RULE_NAMES,
        SEVERITY_NAMES=SEVERITY_NAMES,
    )
