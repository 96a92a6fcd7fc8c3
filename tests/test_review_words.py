"""Dates and shares in words (diary/review/words.py), against hand-written expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from diary.review import words

TODAY = dt.date(2026, 3, 1)


@pytest.mark.parametrize(
    ("day", "said"),
    [
        ("2026-03-01", "today"),
        ("2026-03-02", "tomorrow"),
        ("2026-02-28", "yesterday"),
        ("2026-03-04", "in 3 days"),
        ("2026-02-27", "2 days ago"),
        ("2026-02-18", "11 days ago"),
        # Across a month and a year end, counted in days.
        ("2026-04-01", "in 31 days"),
        ("2025-12-31", "60 days ago"),
    ],
)
def test_days_from_counts_whole_days_from_today(day, said):
    assert words.days_from(dt.date.fromisoformat(day), TODAY) == said


def test_days_from_is_told_from_the_today_given_not_the_servers():
    # The same date a day nearer for a patient whose local today is already 2 March.
    assert words.days_from(dt.date(2026, 3, 4), dt.date(2026, 3, 2)) == "in 2 days"


@pytest.mark.parametrize(
    ("count", "total", "said"),
    [
        (1, 3, "1 of 3 (33 %)"),
        (2, 3, "2 of 3 (67 %)"),
        (0, 0, "0 of 0 (—)"),
        (0, 4, "0 of 4 (0 %)"),
        (5, 5, "5 of 5 (100 %)"),
    ],
)
def test_share_writes_the_counts_beside_the_rate(count, total, said):
    assert words.share(count, total) == said


def test_plural_spelled_and_short_date():
    assert words.plural(1, "session") == "1 session"
    assert words.plural(2, "session") == "2 sessions"
    assert words.plural(0, "patient") == "0 patients"
    assert words.spelled(2) == "two"
    assert words.spelled(0) == "no"
    assert words.spelled(12) == "12"
    assert words.short_date(dt.date(2026, 3, 4)) == "Mar 4"
