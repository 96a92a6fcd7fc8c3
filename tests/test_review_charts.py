"""Chart geometry (diary/review/charts.py), the words the pages use, and the review's own
domain reads (daily trends, local session times). Coordinates are worked out by hand."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from diary.domain.errors import Invalid
from diary.domain.instruments import CATALOGUE
from diary.review import charts, filters
from diary.timeutil import UTC
from tests.review_pages import add_entry

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_scale_maps_the_domain_onto_pixels_and_can_run_backwards():
    y = charts.Scale(0, 10, 200, 0)  # SVG y grows downwards
    assert (y(0), y(10), y(2.5)) == (200, 0, 150)
    x = charts.Scale(0, 0, 10, 30)  # an empty domain sits in the middle
    assert x(0) == 20


def test_lines_break_at_gaps_longer_than_the_limit_and_a_lone_day_still_shows():
    x, y = charts.Scale(0, 10, 0, 100), charts.Scale(0, 10, 100, 0)
    points = [(0, 0, 5), (1, 1, 6), (5, 5, 5), (9, 9, 4), (10, 10, 4)]
    # Gaps of 1, 4, 4, 1 days; a limit of 3 breaks before 5 and before 9.
    assert charts._lines(points, x, y, 3) == ["0.0,50.0 10.0,40.0", "49.0,50.0 51.0,50.0", "90.0,60.0 100.0,60.0"]


def test_short_windows_tick_by_days_or_weeks_and_long_ones_by_months():
    x = charts.Scale(0, 30, 0, 300)
    ticks = charts.date_ticks(dt.date(2026, 2, 1), dt.date(2026, 3, 2), x)
    assert [t.label for t in ticks] == ["Feb 1", "Feb 8", "Feb 15", "Feb 22", "Mar 1"]
    assert [t.at for t in ticks] == [0, 70, 140, 210, 280]
    year = charts.date_ticks(dt.date(2025, 3, 2), dt.date(2026, 3, 1), charts.Scale(0, 365, 0, 365))
    # 12 month starts, every second one labelled; the first and January carry the year.
    assert [t.label for t in year] == ["Apr 2025", "Jun", "Aug", "Oct", "Dec", "Feb"]
    assert year[0].at == 30  # 2025-04-01 is 30 days after 2025-03-02


def daily(date: str, mood: float, anxiety: float = 5.0) -> dict:
    return {"date": dt.date.fromisoformat(date), "mood_mean": mood, "anxiety_mean": anxiety, "n": 1}


def session(sid: str, started: str, baseline: float | None, effect: int | None, route="iv", dose=35.0) -> dict:
    return {
        "id": sid,
        "started_at": dt.datetime.fromisoformat(started),
        "route": route,
        "dose_mg": dose,
        "baseline": {"mood": baseline, "anxiety": None if baseline is None else 5.0},
        "checkins": [],
        "effect_days": effect,
    }


def test_responses_are_mood_minus_baseline_from_the_dose_until_the_next_session():
    days = [daily(f"2026-02-{d:02d}", m) for d, m in ((10, 4), (11, 7), (12, 6.5), (13, 4), (14, 8), (16, 6))]
    sessions = [
        session("a", "2026-02-10T15:00:00+00:00", 4.5, 2),
        session("b", "2026-02-14T09:00:00+00:00", 4.0, None),
        session("c", "2026-02-01T09:00:00+00:00", None, None),  # no baseline: not drawn
    ]
    found = charts.responses(sessions, days, "Europe/Berlin")
    # Newest first; numbered in time order: c=1, a=2, b=3.
    assert [(r.mark.number, r.baseline, r.effect_days) for r in found] == [(3, 4.0, None), (2, 4.5, 2)]
    # b: its days 0 (Feb 14, 8 - 4 = +4) and 2 (Feb 16, 6 - 4 = +2); Feb 15 has no entries.
    assert [(d.day, d.difference) for d in found[0].days] == [(0, 4.0), (2, 2.0)]
    # a: days 0-3 (Feb 10-13), cut before b's day (Feb 14): 4-4.5, 7-4.5, 6.5-4.5, 4-4.5.
    assert [(d.day, d.difference) for d in found[1].days] == [(0, -0.5), (1, 2.5), (2, 2.0), (3, -0.5)]
    chart = charts.response_chart(found)
    # y runs from -4 to +4 (the largest |difference| is 4.0); two sessions: the chart is
    # 300 + 2 x 16 = 332 px tall, the plot runs from 20 + 2 x 16 = 52 to 332 - 30 - 14 = 288.
    assert (chart.top, chart.bottom, chart.zero_y) == (52, 288, 170.0)
    # Session 3's effect has not ended: its bar spans the whole 7 days, no room for text after it.
    assert [(s.number, s.label) for s in chart.spans] == [(3, ""), (2, "effect 2 days")]
    assert chart.spans[1].width == charts.Scale(0, 7, 44, 704)(2) - 44
    assert chart.series[1].name == "Session 2 (IV 35 mg): baseline 4.5, effect 2 days"
    assert chart.series[0].style.colour != chart.series[1].style.colour
    assert chart.series[0].style.marker != chart.series[1].style.marker


def test_the_response_chart_says_so_when_no_session_has_a_baseline():
    chart = charts.response_chart(charts.responses([session("c", "2026-02-01T09:00:00+00:00", None, None)], [], "UTC"))
    assert chart.empty.startswith("No session in this window has a baseline")


def test_questionnaire_bands_sit_half_a_point_above_their_bounds():
    scores = [{"recorded_at": dt.datetime(2026, 2, 10, 9, tzinfo=UTC), "total": 12, "severity": "moderate"}]
    chart = charts.score_chart(
        "PHQ-9", scores, CATALOGUE["phq9"].bands, dt.date(2026, 2, 1), dt.date(2026, 3, 2), "UTC"
    )
    # 240 px tall: the plot runs from y=28 (27) to y=210 (0); 182 px for 27 points.
    y = charts.Scale(0, 27, 210, 28)
    assert [(b.label, b.y) for b in chart.bands] == [
        ("minimal", y(4.5)),
        ("mild", y(9.5)),
        ("moderate", y(14.5)),
        ("moderately severe", y(19.5)),
        ("severe", y(27)),
    ]
    [marker] = chart.series[0].markers
    assert marker.y == y(12)
    assert marker.label == "2026-02-10: 12 (moderate)"


def test_the_daily_chart_marks_each_session_with_route_and_dose_when_there_is_room():
    days = [daily("2026-02-10", 5), daily("2026-02-11", 6)]
    sessions = [session("a", "2026-02-10T15:00:00+00:00", 4.5, 2, route="intranasal", dose=84.0)]
    chart = charts.daily_chart(days, dt.date(2026, 2, 1), dt.date(2026, 3, 2), "Europe/Berlin", sessions)
    [rule] = chart.rules
    assert rule.label == "1 Intranasal 84 mg"
    assert rule.title == "Session 1: 2026-02-10 16:00, Intranasal 84 mg"
    # 30 days over 660 px (44 to 704): 9 days and 16/24 of a day after Feb 1.
    assert rule.x == charts.Scale(0, 30, 44, 704)(9 + 16 / 24)
    assert [s.style.name for s in chart.series] == ["Mood (daily mean)", "Anxiety (daily mean)"]


def test_a_sparkline_skips_days_without_entries_and_dots_the_latest():
    line = charts.sparkline([None, 5.0, 6.0, None, None, None, None, 8.0], "Mood")
    # 96 x 24 px, 2 px inset: x = 2 + i/7 x 92, y = 22 - v/10 x 20. Day 1: (15.1, 12.0), day 2:
    # (28.3, 10.0); day 7 stands alone after 5 empty days: a 2 px stroke around (94.0, 6.0).
    assert line.lines == ["15.1,12.0 28.3,10.0", "93.0,6.0 95.0,6.0"]
    assert (line.last.x, line.last.y) == (94.0, 6.0)
    assert line.description == "Mood, last 8 days: 3 days with entries, lowest 5.0, highest 8.0, latest 8.0"
    assert charts.sparkline([None, None], "Anxiety").lines == []


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (30, "just now"),
        (150, "2 minutes ago"),
        (3600 * 3 + 5, "3 hours ago"),
        (86400, "1 day ago"),
        (86400 * 13, "13 days ago"),
        (86400 * 15, "2 weeks ago"),
    ],
)
def test_times_read_as_words(clock, seconds, words):
    clock.set(NOW)
    assert filters.ago(NOW - dt.timedelta(seconds=seconds)) == words
    assert filters.ago(None) == "no entries"


def test_signed_numbers_use_a_real_minus_and_no_negative_zero():
    assert (filters.signed(-0.04), filters.signed(1.25), filters.signed(-2.0)) == ("±0.0", "+1.2", "\u22122.0")


# --------------------------------------------------------------------------- the review's own reads


def test_daily_trends_are_each_patients_last_30_local_days_from_integer_sums(clock, world, api, app_ctx):
    from diary.domain.review import TREND_DAYS, daily_trends

    clock.set(NOW)
    clinician = world.staff(world.clinic())
    tokyo = world.patient(clinician, "Asia/Tokyo")  # UTC+9
    honolulu = world.patient(clinician, "Pacific/Honolulu")  # UTC-10
    # At 2026-03-01T08:00Z it is 17:00 on Mar 1 in Tokyo (30 days: Jan 31 .. Mar 1) and 22:00
    # on Feb 28 in Honolulu (Jan 30 .. Feb 28).
    at = dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    add_entry(api, tokyo, "2026-03-01T01:00:00Z", 7, 2)  # Mar 1 10:00
    add_entry(api, tokyo, "2026-03-01T06:00:00Z", 4, 5)  # Mar 1 15:00
    add_entry(api, tokyo, "2026-01-30T16:00:00Z", 9, 0)  # Jan 31 01:00: the first day
    add_entry(api, tokyo, "2026-01-30T01:00:00Z", 1, 9)  # Jan 30 10:00: before the 30 days
    add_entry(api, honolulu, "2026-03-01T07:00:00Z", 3, 6)  # Feb 28 21:00: the last day
    add_entry(api, honolulu, "2026-01-30T12:00:00Z", 6, 4)  # Jan 30 02:00: the first day
    trends = daily_trends([tokyo.id, honolulu.id, str(uuid.uuid4())], at)
    assert TREND_DAYS == 30
    assert trends[tokyo.id].first == dt.date(2026, 1, 31)
    assert trends[tokyo.id].mood[29] == 5.5  # (7 + 4) / 2
    assert trends[tokyo.id].anxiety[29] == 3.5  # (2 + 5) / 2
    assert trends[tokyo.id].mood[0] == 9.0
    assert sum(v is not None for v in trends[tokyo.id].mood) == 2
    assert trends[honolulu.id].first == dt.date(2026, 1, 30)
    assert (trends[honolulu.id].mood[0], trends[honolulu.id].mood[29]) == (6.0, 3.0)
    assert sum(v is not None for v in trends[honolulu.id].anxiety) == 2
    assert list(trends.values())[2].mood == [None] * 30


def test_a_local_wall_time_becomes_utc_and_a_skipped_one_is_refused():
    from diary.domain.review import local_instant

    assert local_instant(dt.date(2026, 3, 9), dt.time(9, 0), "America/New_York") == dt.datetime(
        2026, 3, 9, 13, tzinfo=UTC
    )
    # 2026-11-01 01:30 happens twice in New York: the first (EDT, UTC-4) is taken.
    assert local_instant(dt.date(2026, 11, 1), dt.time(1, 30), "America/New_York") == dt.datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    with pytest.raises(Invalid) as refused:
        local_instant(dt.date(2026, 3, 8), dt.time(2, 30), "America/New_York")
    assert refused.value.errors == {
        "time": ["does not exist in America/New_York on 2026-03-08 (the clocks go forward)"]
    }
