"""When a check-in is due, in the patient's local time.

Rules (each one deliberate, each one tested):
- An offset is elapsed time after the session instant (+24h is 24 real hours, also
  across a DST change), because the protocol measures time since the drug was given.
- Quiet hours are local wall-clock times in the patient's IANA zone. A window whose
  start is after its end crosses midnight (22:00-07:00); start == end means none.
- A due time inside quiet hours moves to the end of the quiet hours. If that wall time
  does not exist that day (a spring-forward gap), the push goes at the same distance
  after the gap, i.e. the wall time read with the pre-transition offset; if it exists
  twice (a fall-back fold), the first occurrence wins: the earliest moment quiet hours
  are over (for a due time in the fold's second pass, the second occurrence). A result
  is never inside quiet hours: if the end read after a gap is quiet again (both ends in
  the gap), the next end is taken.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from diary.timeutil import UTC


@dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time

    def contains(self, wall: dt.time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end


@dataclass(frozen=True)
class Slot:
    label: str
    offset_minutes: int
    due_at: dt.datetime
    expires_at: dt.datetime


def offset_label(minutes: int) -> str:
    """ "+4h", "+1d", "+90m": how clinicians name protocol points."""
    if minutes % 1440 == 0:
        return f"+{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"+{minutes // 60}h"
    return f"+{minutes}m"


def wall_time_instant(day: dt.date, wall: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of a local wall time; gaps and folds resolved as the module says."""
    # fold=0: in a fold, the first occurrence; in a gap, the pre-transition offset,
    # which lands the same distance after the gap as the wall time was into it.
    return dt.datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def outside_quiet_hours(instant: dt.datetime, zone_name: str, quiet: QuietHours) -> dt.datetime:
    """`instant` if it is outside quiet hours, else the moment they end."""
    zone = ZoneInfo(zone_name)
    local = instant.astimezone(zone)
    if not quiet.contains(local.time()):
        return instant
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day += dt.timedelta(days=1)  # the evening part of a window that crosses midnight
    moved = wall_time_instant(end_day, quiet.end, zone)
    if moved < instant:
        # The second pass through a fold, after the end's first occurrence: its second one.
        moved = dt.datetime.combine(end_day, quiet.end, tzinfo=zone).replace(fold=1).astimezone(UTC)
    # A gap can put the resolved end before the instant (quiet hours ending inside it).
    moved = max(moved, instant)
    if moved != instant and quiet.contains(moved.astimezone(zone).time()):
        # Both ends inside one gap: that day has no wall time outside quiet hours.
        return outside_quiet_hours(moved, zone_name, quiet)
    return moved


def plan_checkins(
    session_start: dt.datetime,
    offsets_minutes: list[int] | tuple[int, ...],
    window_minutes: int,
    zone_name: str,
    quiet: QuietHours,
) -> list[Slot]:
    window = dt.timedelta(minutes=window_minutes)
    slots = []
    for offset in sorted(offsets_minutes):
        raw = session_start.astimezone(UTC) + dt.timedelta(minutes=offset)
        due = outside_quiet_hours(raw, zone_name, quiet)
        slots.append(Slot(offset_label(offset), offset, due, due + window))
    return slots
