"""The pure scheduling rules of diary.domain.scheduling: no HTTP, no database.

Every expected instant is worked out by hand in a comment (local wall time -> UTC), so a
test states the rule rather than re-running the code under test.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from diary.domain.scheduling import QuietHours, Slot, offset_label, outside_quiet_hours, plan_checkins
from diary.timeutil import UTC

NIGHT = QuietHours(dt.time(22, 0), dt.time(7, 0))  # the default quiet hours
DEFAULT_OFFSETS = [240, 1440, 4320, 10080]
DEFAULT_WINDOW = 720


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("minutes", "label"),
    [
        (240, "+4h"),
        (1440, "+1d"),
        (4320, "+3d"),
        (10080, "+7d"),
        (90, "+90m"),
        (60, "+1h"),
        (1, "+1m"),
        (1500, "+25h"),  # whole hours that are not whole days
        (86400, "+60d"),
    ],
)
def test_offset_label(minutes, label):
    assert offset_label(minutes) == label


# --------------------------------------------------------------------------- quiet hours


@pytest.mark.parametrize(
    ("wall", "quiet"),
    [
        (dt.time(21, 59), False),
        (dt.time(21, 59, 59, 999999), False),
        (dt.time(22, 0), True),
        (dt.time(23, 59, 59), True),
        (dt.time(0, 0), True),
        (dt.time(3, 0), True),
        (dt.time(6, 59), True),
        (dt.time(6, 59, 59, 999999), True),
        (dt.time(7, 0), False),
        (dt.time(12, 0), False),
    ],
)
def test_a_window_crossing_midnight(wall, quiet):
    assert NIGHT.contains(wall) is quiet


@pytest.mark.parametrize(
    ("wall", "quiet"),
    [
        (dt.time(12, 59), False),
        (dt.time(13, 0), True),
        (dt.time(14, 30), True),
        (dt.time(14, 59), True),
        (dt.time(15, 0), False),
        (dt.time(23, 0), False),
        (dt.time(0, 0), False),
    ],
)
def test_a_window_within_one_day(wall, quiet):
    assert QuietHours(dt.time(13, 0), dt.time(15, 0)).contains(wall) is quiet


@pytest.mark.parametrize("wall", [dt.time(0, 0), dt.time(6, 59), dt.time(7, 0), dt.time(12, 0), dt.time(23, 59)])
def test_start_equal_to_end_is_never_quiet(wall):
    assert QuietHours(dt.time(7, 0), dt.time(7, 0)).contains(wall) is False
    assert QuietHours(dt.time(0, 0), dt.time(0, 0)).contains(wall) is False


# --------------------------------------------------------------------------- moving out of quiet hours


def test_late_evening_moves_to_the_end_on_the_next_local_day():
    # 2026-03-05 23:30 EST (UTC-5) = 2026-03-06T04:30Z -> 2026-03-06 07:00 EST = 12:00Z
    assert outside_quiet_hours(utc(2026, 3, 6, 4, 30), "America/New_York", NIGHT) == utc(2026, 3, 6, 12, 0)


def test_small_hours_move_to_the_end_on_the_same_local_day():
    # 2026-03-06 03:00 EST = 08:00Z -> 2026-03-06 07:00 EST = 12:00Z
    assert outside_quiet_hours(utc(2026, 3, 6, 8, 0), "America/New_York", NIGHT) == utc(2026, 3, 6, 12, 0)


def test_evening_across_the_utc_date_line_of_a_zone_ahead_of_utc():
    # Asia/Tokyo (UTC+9): 2026-03-06T14:00Z = 23:00 JST on the 6th -> 07:00 JST on the 7th = 2026-03-06T22:00Z
    assert outside_quiet_hours(utc(2026, 3, 6, 14, 0), "Asia/Tokyo", NIGHT) == utc(2026, 3, 6, 22, 0)


@pytest.mark.parametrize(
    "instant",
    [
        utc(2026, 3, 6, 17, 0),  # 12:00 EST
        utc(2026, 3, 6, 12, 0),  # 07:00 EST: the end itself is no longer quiet
        utc(2026, 3, 7, 2, 59),  # 21:59 EST
    ],
)
def test_outside_quiet_hours_is_unchanged(instant):
    assert outside_quiet_hours(instant, "America/New_York", NIGHT) == instant


def test_no_quiet_hours_never_move_anything():
    # 03:00 EST, but start == end means no quiet hours at all
    instant = utc(2026, 3, 6, 8, 0)
    assert outside_quiet_hours(instant, "America/New_York", QuietHours(dt.time(7, 0), dt.time(7, 0))) == instant


def test_a_same_day_window_moves_to_its_end():
    # 14:10 CET in Berlin (UTC+1) = 13:10Z, inside 13:00-15:00 -> 15:00 CET = 14:00Z
    quiet = QuietHours(dt.time(13, 0), dt.time(15, 0))
    assert outside_quiet_hours(utc(2026, 3, 6, 13, 10), "Europe/Berlin", quiet) == utc(2026, 3, 6, 14, 0)


def test_the_input_zone_of_the_instant_does_not_matter():
    # The same instant written with another offset: 2026-03-05 23:30 EST = 2026-03-06T05:30+01:00
    instant = dt.datetime(2026, 3, 6, 5, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert outside_quiet_hours(instant, "America/New_York", NIGHT) == utc(2026, 3, 6, 12, 0)


# --------------------------------------------------------------------------- DST: Europe/Berlin spring forward


def test_berlin_spring_forward_protocol():
    # Clocks go 02:00 CET (UTC+1) -> 03:00 CEST (UTC+2) on 2026-03-29.
    # Session 2026-03-28 20:00 CET = 19:00Z.
    # +4h:  19:00Z + 4h = 23:00Z = 2026-03-29 00:00 CET, quiet -> 07:00 CEST = 05:00Z.
    # +1d:  19:00Z + 24h = 2026-03-29T19:00Z = 21:00 CEST (24 elapsed hours, 25 on the wall), not quiet.
    start = local("Europe/Berlin", 2026, 3, 28, 20, 0)
    slots = plan_checkins(start, [240, 1440], 720, "Europe/Berlin", NIGHT)
    assert slots == [
        Slot("+4h", 240, utc(2026, 3, 29, 5, 0), utc(2026, 3, 29, 17, 0)),
        Slot("+1d", 1440, utc(2026, 3, 29, 19, 0), utc(2026, 3, 30, 7, 0)),
    ]
    assert slots[0].due_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M %Z") == "07:00 CEST"
    assert slots[1].due_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M %Z") == "21:00 CEST"
    assert slots[1].due_at - start == dt.timedelta(hours=24)


@pytest.mark.parametrize(
    "instant",
    [
        utc(2026, 3, 28, 22, 30),  # 23:30 CET on the 28th (evening part of the window)
        utc(2026, 3, 29, 0, 30),  # 01:30 CET on the 29th, just before the gap
        utc(2026, 3, 29, 0, 59),  # 01:59 CET
    ],
)
def test_berlin_quiet_end_inside_the_gap(instant):
    # Quiet 23:00-02:30; 02:30 does not exist on 2026-03-29 (02:00 CET -> 03:00 CEST).
    # Read with the pre-transition offset: 02:30 CET = 01:30Z = 03:30 CEST, 30 min after the gap.
    quiet = QuietHours(dt.time(23, 0), dt.time(2, 30))
    assert outside_quiet_hours(instant, "Europe/Berlin", quiet) == utc(2026, 3, 29, 1, 30)


def test_berlin_after_the_gap_is_not_quiet():
    # 03:10 CEST = 01:10Z: after the jump the wall clock is past 02:30, so nothing moves.
    quiet = QuietHours(dt.time(23, 0), dt.time(2, 30))
    assert outside_quiet_hours(utc(2026, 3, 29, 1, 10), "Europe/Berlin", quiet) == utc(2026, 3, 29, 1, 10)


def test_a_window_with_both_ends_in_the_gap_waits_for_the_next_real_end():
    # Quiet 02:45-02:30 (all day but a quarter hour). On 2026-03-29 both 02:30 and 02:45
    # fall in Berlin's gap, so that day no wall time is outside quiet hours.
    # 01:00 CET = 00:00Z is quiet; the end read after the gap (03:30 CEST) is quiet again
    # (03:30 >= 02:45), so the first real end is 2026-03-30 02:30 CEST = 00:30Z.
    quiet = QuietHours(dt.time(2, 45), dt.time(2, 30))
    assert outside_quiet_hours(utc(2026, 3, 29, 0, 0), "Europe/Berlin", quiet) == utc(2026, 3, 30, 0, 30)


# --------------------------------------------------------------------------- DST: America/New_York fall back


@pytest.mark.parametrize(
    "instant",
    [
        utc(2026, 11, 1, 3, 0),  # 23:00 EDT on Oct 31
        utc(2026, 11, 1, 5, 0),  # 01:00 EDT on Nov 1, the first pass through the repeated hour
        utc(2026, 11, 1, 5, 29),  # 01:29 EDT
    ],
)
def test_new_york_quiet_end_in_the_fold_takes_the_first_occurrence(instant):
    # 2026-11-01 02:00 EDT (UTC-4) -> 01:00 EST (UTC-5): 01:30 happens at 05:30Z and at 06:30Z.
    # The first one (01:30 EDT = 05:30Z) is the earliest moment quiet hours are over.
    quiet = QuietHours(dt.time(22, 0), dt.time(1, 30))
    assert outside_quiet_hours(instant, "America/New_York", quiet) == utc(2026, 11, 1, 5, 30)


def test_new_york_second_pass_through_the_fold_waits_for_the_second_end():
    # 06:10Z = 01:10 EST, the second pass: the wall clock is back inside 22:00-01:30, and
    # the first 01:30 (05:30Z) is already past, so the end is the second 01:30 (EST) = 06:30Z.
    quiet = QuietHours(dt.time(22, 0), dt.time(1, 30))
    assert outside_quiet_hours(utc(2026, 11, 1, 6, 10), "America/New_York", quiet) == utc(2026, 11, 1, 6, 30)


def test_new_york_between_the_two_passes_is_not_quiet():
    # 05:45Z = 01:45 EDT: after the first 01:30, before the clocks go back. Not quiet.
    quiet = QuietHours(dt.time(22, 0), dt.time(1, 30))
    assert outside_quiet_hours(utc(2026, 11, 1, 5, 45), "America/New_York", quiet) == utc(2026, 11, 1, 5, 45)


# --------------------------------------------------------------------------- planning


def test_default_protocol_in_new_york_across_the_spring_change():
    # Session 2026-03-05 19:00 EST = 2026-03-06T00:00Z. New York goes EST -> EDT on 2026-03-08.
    # +4h: 04:00Z = 23:00 EST, quiet -> 07:00 EST Mar 6 = 12:00Z; expires +12h = Mar 7 00:00Z.
    # +1d: Mar 7 00:00Z = 19:00 EST Mar 6, not quiet; expires 12:00Z.
    # +3d: Mar 9 00:00Z = 20:00 EDT Mar 8, not quiet; expires 12:00Z.
    # +7d: Mar 13 00:00Z = 20:00 EDT Mar 12, not quiet; expires 12:00Z.
    slots = plan_checkins(utc(2026, 3, 6, 0, 0), DEFAULT_OFFSETS, DEFAULT_WINDOW, "America/New_York", NIGHT)
    assert slots == [
        Slot("+4h", 240, utc(2026, 3, 6, 12, 0), utc(2026, 3, 7, 0, 0)),
        Slot("+1d", 1440, utc(2026, 3, 7, 0, 0), utc(2026, 3, 7, 12, 0)),
        Slot("+3d", 4320, utc(2026, 3, 9, 0, 0), utc(2026, 3, 9, 12, 0)),
        Slot("+7d", 10080, utc(2026, 3, 13, 0, 0), utc(2026, 3, 13, 12, 0)),
    ]


def test_plan_sorts_the_offsets_and_uses_the_window():
    # Session 2026-03-06 10:00 CET = 09:00Z in Berlin, offsets given out of order, window 90.
    # +90m: 10:30Z = 11:30 CET; +4h: 13:00Z = 14:00 CET; +1d: Mar 7 09:00Z = 10:00 CET.
    slots = plan_checkins(utc(2026, 3, 6, 9, 0), [1440, 90, 240], 90, "Europe/Berlin", NIGHT)
    assert slots == [
        Slot("+90m", 90, utc(2026, 3, 6, 10, 30), utc(2026, 3, 6, 12, 0)),
        Slot("+4h", 240, utc(2026, 3, 6, 13, 0), utc(2026, 3, 6, 14, 30)),
        Slot("+1d", 1440, utc(2026, 3, 7, 9, 0), utc(2026, 3, 7, 10, 30)),
    ]


def test_plan_of_an_aware_non_utc_start_is_in_utc():
    # 2026-03-06T14:00+09:00 = 05:00Z; Tokyo +4h = 09:00Z = 18:00 JST, not quiet.
    start = dt.datetime(2026, 3, 6, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    (slot,) = plan_checkins(start, [240], 60, "Asia/Tokyo", NIGHT)
    assert slot == Slot("+4h", 240, utc(2026, 3, 6, 9, 0), utc(2026, 3, 6, 10, 0))
    assert slot.due_at.tzinfo == UTC


def test_two_slots_moved_to_the_same_end_keep_their_order():
    # Session 2026-03-06 21:00 CET = 20:00Z in Berlin; +2h = 23:00 CET, +3h = 00:00 CET: both
    # quiet, both move to 07:00 CET on Mar 7 = 06:00Z, each with its own window.
    slots = plan_checkins(utc(2026, 3, 6, 20, 0), [180, 120], 60, "Europe/Berlin", NIGHT)
    assert slots == [
        Slot("+2h", 120, utc(2026, 3, 7, 6, 0), utc(2026, 3, 7, 7, 0)),
        Slot("+3h", 180, utc(2026, 3, 7, 6, 0), utc(2026, 3, 7, 7, 0)),
    ]


# --------------------------------------------------------------------------- property


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"]
YEAR_START = utc(2026, 1, 1)
YEAR_END = utc(2027, 1, 1)


@cache
def transitions(zone_name: str) -> tuple[dt.datetime, ...]:
    """The hours of 2026 in which the zone's UTC offset changes (empty for Asia/Kolkata)."""
    zone = ZoneInfo(zone_name)
    found, at = [], YEAR_START
    while at < YEAR_END:
        nxt = at + dt.timedelta(hours=1)
        if at.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            found.append(at)
        at = nxt
    return tuple(found)


def test_the_property_zones_have_the_transitions_we_mean_to_exercise():
    assert len(transitions("Europe/Berlin")) == 2
    assert len(transitions("America/New_York")) == 2
    assert len(transitions("Australia/Lord_Howe")) == 2  # 30-minute shifts
    assert len(transitions("Pacific/Chatham")) == 2  # at 02:45 local
    assert transitions("Asia/Kolkata") == ()


def wall_times_around(base: dt.datetime, zone: ZoneInfo) -> st.SearchStrategy[dt.time]:
    """Wall times within two hours of the wall clock at `base`, including ones a gap skips."""
    wall = base.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    return st.integers(-120, 120).map(lambda m: (wall + dt.timedelta(minutes=m)).time())


@st.composite
def cases(draw) -> tuple[dt.datetime, str, QuietHours]:
    """Anywhere in 2026 with any quiet hours; or, half the time, within a day of one of the
    zone's DST changes with quiet hours that tend to start or end around it."""
    zone_name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(zone_name)
    wall = st.builds(dt.time, st.integers(0, 23), st.integers(0, 59))
    near = transitions(zone_name)
    if near and draw(st.booleans()):
        base = draw(st.sampled_from(near))
        instant = base + dt.timedelta(seconds=draw(st.integers(-26 * 3600, 26 * 3600)))
        wall = st.one_of(wall, wall_times_around(base, zone))
    else:
        naive = draw(st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31, 23, 59, 59)))
        instant = naive.replace(tzinfo=UTC)
    return instant, zone_name, QuietHours(draw(wall), draw(wall))


@settings(max_examples=200, deadline=None)
@given(cases())
# The edge cases above, always tried: a fold's second pass, an end in a gap, both ends in a gap.
@example((utc(2026, 11, 1, 6, 10), "America/New_York", QuietHours(dt.time(22, 0), dt.time(1, 30))))
@example((utc(2026, 3, 29, 0, 30), "Europe/Berlin", QuietHours(dt.time(23, 0), dt.time(2, 30))))
@example((utc(2026, 3, 29, 0, 0), "Europe/Berlin", QuietHours(dt.time(2, 45), dt.time(2, 30))))
# Lord Howe: 2026-10-04 02:00 -> 02:30 (+10:30 -> +11); 15:20Z on Oct 3 is 01:50 local.
@example((utc(2026, 10, 3, 15, 20), "Australia/Lord_Howe", QuietHours(dt.time(23, 0), dt.time(2, 15))))
# Lord Howe: 2026-04-05 02:00 -> 01:30 (+11 -> +10:30); 15:10Z on Apr 4 is 01:40 the second time.
@example((utc(2026, 4, 4, 15, 10), "Australia/Lord_Howe", QuietHours(dt.time(23, 0), dt.time(1, 45))))
# Chatham: 2026-04-05 03:45 -> 02:45 (+13:45 -> +12:45); 14:10Z on Apr 4 is 02:55 the second time.
@example((utc(2026, 4, 4, 14, 10), "Pacific/Chatham", QuietHours(dt.time(22, 0), dt.time(3, 0))))
def test_outside_quiet_hours_properties(case):
    instant, zone_name, quiet = case
    zone = ZoneInfo(zone_name)
    result = outside_quiet_hours(instant, zone_name, quiet)

    assert result.utcoffset() == dt.timedelta(0)
    assert result >= instant
    assert not quiet.contains(result.astimezone(zone).time()), result.astimezone(zone)
    if not quiet.contains(instant.astimezone(zone).time()):
        assert result == instant
    else:
        # Moved to an end of quiet hours: never more than two days later.
        assert result - instant <= dt.timedelta(hours=48)
