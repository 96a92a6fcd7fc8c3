"""How each treatment session worked: its mood baseline and how many days its effect lasted.

API.md: a session's baseline is the mean of the entries of the 7 local days before the
session's local day. Its `effect_days` counts, from the session's local day on, the days with
entries whose daily mean mood is above the baseline, up to the first day with entries whose
mean is not (days without entries neither extend nor end the run); on the session's own day
only the entries recorded after the dose count. It is None while that day has not come
(followed up to 90 days), or without a baseline.

One implementation for the summary, the forecast, the panel and the clinic's outcomes:
computed for any number of sessions of any number of patients from two aggregate queries.
Sums and counts stay integers and means are compared as exact fractions.

Results are stored in session_effects. One the clock can no longer change (every day it
depends on two local days back: settled) is read from there while the patient's effects
epoch is the one it was computed at; an entry written on an earlier day than the patient's
today, an edit and a deletion count the epoch up (`entries_moved`). One not settled yet is
read only while, besides, the patient's panel `changes` (every write of their entries or
sessions) and local day are those it was computed at. Both counters are read before the
entries, so a result computed while a write commits is stored under the older ones: never
shown.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from sqlalchemy import Date, Integer, String, and_, cast, delete, func, null, or_, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from diary.extensions import db
from diary.models import Entry, EntryDay, PatientPanel, SessionEffect, TreatmentSession

BASELINE_DAYS = 7
# How far after a session its effect is followed (beyond a summary's window if need be).
EFFECT_HORIZON_DAYS = 90

# (local date, mood sum, anxiety sum, entries) of one day with live entries.
DaySums = tuple[dt.date, int, int, int]


@dataclass(frozen=True)
class Effect:
    baseline_mood: float | None
    baseline_anxiety: float | None
    effect_days: int | None


NO_BASELINE = Effect(None, None, None)


class Dosed(Protocol):
    """What is read of a session: a TreatmentSession, or a row of these columns."""

    id: str
    patient_id: str
    local_date: dt.date
    started_at: dt.datetime


def daily_sums(patient_id: str, first: dt.date, last: dt.date) -> list[DaySums]:
    """(local date, mood sum, anxiety sum, entries) per day with live entries, ascending."""
    return _daily_sums_of({patient_id: (first, last)})[patient_id]


# Up to this many patients, each range is its own condition; beyond, one IN list and the
# dates that span them all, trimmed in Python (a statement of thousands of ORs plans slowly).
PER_PATIENT_CONDITIONS = 50


def _daily_sums_of(ranges: Mapping[str, tuple[dt.date, dt.date]]) -> dict[str, list[DaySums]]:
    """Daily sums of several patients, each over their own range of local dates, in one
    query (of entry_days: a row a day, however many entries the day holds)."""
    by_patient: dict[str, list[DaySums]] = {patient_id: [] for patient_id in ranges}
    if not ranges:
        return by_patient
    if len(ranges) <= PER_PATIENT_CONDITIONS:
        where = or_(
            *(
                and_(EntryDay.patient_id == patient_id, EntryDay.local_date >= first, EntryDay.local_date <= last)
                for patient_id, (first, last) in ranges.items()
            )
        )
    else:
        where = and_(
            EntryDay.patient_id.in_(list(ranges)),
            EntryDay.local_date >= min(first for first, _ in ranges.values()),
            EntryDay.local_date <= max(last for _, last in ranges.values()),
        )
    rows = db.session.execute(
        select(EntryDay.patient_id, EntryDay.local_date, EntryDay.mood_sum, EntryDay.anxiety_sum, EntryDay.entry_count)
        .where(where)
        .order_by(EntryDay.patient_id, EntryDay.local_date)
    )
    for patient_id, day, mood, anxiety, n in rows:
        first, last = ranges[patient_id]
        if first <= day <= last:
            by_patient[patient_id].append((day, mood, anxiety, n))
    return by_patient


def _after_the_dose(sessions: Sequence[Dosed]) -> dict[str, tuple[int, int]]:
    """Per session: (mood sum, entries) of its own local day counting only the entries
    recorded after it started, so a dose's day is not judged by the hours before the dose."""
    days_by_patient: dict[str, set[dt.date]] = defaultdict(set)
    for session in sessions:
        days_by_patient[session.patient_id].add(session.local_date)
    if len(days_by_patient) <= PER_PATIENT_CONDITIONS:
        where = or_(
            *(
                and_(Entry.patient_id == patient_id, Entry.local_date.in_(days))
                for patient_id, days in days_by_patient.items()
            )
        )
    else:
        where = and_(
            Entry.patient_id.in_(list(days_by_patient)),
            Entry.local_date.in_(set().union(*days_by_patient.values())),
        )
    rows = db.session.execute(
        select(Entry.patient_id, Entry.local_date, Entry.recorded_at, Entry.mood).where(
            Entry.deleted_at.is_(None), where
        )
    ).all()
    on_the_day: dict[tuple[str, dt.date], list[tuple[dt.datetime, int]]] = defaultdict(list)
    for patient_id, day, recorded_at, mood in rows:
        on_the_day[patient_id, day].append((recorded_at, mood))
    after = {}
    for session in sessions:
        moods = [mood for at, mood in on_the_day[session.patient_id, session.local_date] if at > session.started_at]
        after[session.id] = (sum(moods), len(moods))
    return after


def _effect_days(
    day: dt.date, baseline_mood: Fraction, dose_day: tuple[int, int], daily: list[DaySums]
) -> tuple[int | None, dt.date]:
    """(effect_days, the last day the answer depends on: the day that ended the run, or the
    horizon while it has not ended)."""
    horizon = day + dt.timedelta(days=EFFECT_HORIZON_DAYS)
    run = 0
    for entry_day, mood_sum, _, count in daily[bisect.bisect_left(daily, (day,)) :]:
        if entry_day > horizon:
            break
        if entry_day == day:
            mood_sum, count = dose_day
            if not count:
                continue  # no entry after the dose yet: the day neither extends nor ends the run
        if Fraction(mood_sum, count) > baseline_mood:
            run += 1
        else:
            return run, entry_day
    return None, horizon


# A result is stored once every day it depends on is this many local days before the
# patient's today: an entry written later on its own today (in any zone, even after the
# patient moved one) cannot fall on such a day, only a backdated one, which moves the epoch.
SETTLED_DAYS = 2


def session_effects(sessions: Sequence[Dosed], today: Mapping[str, dt.date]) -> dict[str, Effect]:
    """Baseline and effect_days of each session; `today`: each patient's local today (no
    day after it is read). Results are read from session_effects while valid (settled: while
    their epoch is the patient's; not settled yet: also while no write moved the patient and
    it is still the same local day); the others are computed and stored."""
    if not sessions:
        return {}
    marks = _marks({session.patient_id for session in sessions})
    effects = _stored(sessions, marks, today)
    missing = [session for session in sessions if session.id not in effects]
    if missing:
        computed = _compute(missing, today)
        effects.update({session_id: effect for session_id, (effect, _) in computed.items()})
        _store(
            [
                (session, effect, depends_on <= today[session.patient_id] - dt.timedelta(days=SETTLED_DAYS))
                for session in missing
                for effect, depends_on in [computed[session.id]]
                if session.patient_id in marks
            ],
            marks,
            today,
        )
    return effects


def entries_moved(patient_id: str) -> None:
    """An entry on a day before the patient's today was written, edited or deleted: the
    patient's stored session effects are stale."""
    db.session.execute(
        update(PatientPanel)
        .where(PatientPanel.patient_id == patient_id)
        .values(effects_epoch=PatientPanel.effects_epoch + 1)
    )


@dataclass(frozen=True)
class Marks:
    """A patient's counters, read before their entries: the effects epoch (backdated
    writes) and the panel's `changes` (every write of entries or sessions)."""

    epoch: int
    changes: int


def _marks(patient_ids: set[str]) -> dict[str, Marks]:
    rows = db.session.execute(
        select(PatientPanel.patient_id, PatientPanel.effects_epoch, PatientPanel.changes).where(
            PatientPanel.patient_id.in_(patient_ids)
        )
    )
    return {patient_id: Marks(epoch, changes) for patient_id, epoch, changes in rows}


def _stored(sessions: Sequence[Dosed], marks: Mapping[str, Marks], today: Mapping[str, dt.date]) -> dict[str, Effect]:
    found = {}
    ids = [session.id for session in sessions]
    for start in range(0, len(ids), STORE_BATCH):
        rows = db.session.execute(
            select(
                SessionEffect.session_id,
                SessionEffect.patient_id,
                SessionEffect.epoch,
                SessionEffect.of_change,
                SessionEffect.on_day,
                SessionEffect.baseline_mood,
                SessionEffect.baseline_anxiety,
                SessionEffect.effect_days,
            ).where(SessionEffect.session_id.in_(ids[start : start + STORE_BATCH]))
        )
        for session_id, patient_id, epoch, of_change, on_day, baseline_mood, anxiety, effect_days in rows:
            mark = marks.get(patient_id)
            if mark is None or mark.epoch != epoch:
                continue
            if of_change is not None and (of_change != mark.changes or on_day != today[patient_id]):
                continue
            found[session_id] = Effect(baseline_mood, anxiety, effect_days)
    return found


def effect_days_counts(today: Mapping[str, dt.date]) -> Counter[int]:
    """How many live sessions of these patients (`today`: each one's local today) have each
    non-null effect_days. One statement counts the settled results by value in the database
    and lists every other session with what is stored for it (one snapshot: none counted
    twice); a result stored for the patient's writes and day is used, the rest computed."""
    if not today:
        return Counter()
    patient_ids = list(today)
    settled_row = and_(SessionEffect.of_change.is_(None), SessionEffect.epoch == PatientPanel.effects_epoch)
    others = (
        select(
            TreatmentSession.id,
            TreatmentSession.patient_id,
            TreatmentSession.local_date,
            TreatmentSession.started_at,
            SessionEffect.effect_days,
            SessionEffect.epoch,
            SessionEffect.of_change,
            SessionEffect.on_day,
            PatientPanel.effects_epoch,
            PatientPanel.changes,
            cast(null(), Integer).label("sessions"),
        )
        .join(PatientPanel, PatientPanel.patient_id == TreatmentSession.patient_id)
        .outerjoin(SessionEffect, SessionEffect.session_id == TreatmentSession.id)
        .where(
            TreatmentSession.patient_id.in_(patient_ids),
            TreatmentSession.deleted_at.is_(None),
            or_(SessionEffect.session_id.is_(None), ~settled_row),
        )
    )
    # A deleted session's stored result is deleted with it (session_deleted): no join needed.
    counted = (
        select(
            cast(null(), String),
            cast(null(), String),
            cast(null(), Date),
            cast(null(), TreatmentSession.started_at.type),
            SessionEffect.effect_days,
            *(cast(null(), Integer) for _ in range(2)),
            cast(null(), Date),
            *(cast(null(), Integer) for _ in range(2)),
            func.count(),
        )
        .join(PatientPanel, PatientPanel.patient_id == SessionEffect.patient_id)
        .where(SessionEffect.patient_id.in_(patient_ids), settled_row, SessionEffect.effect_days.is_not(None))
        .group_by(SessionEffect.effect_days)
    )
    counts: Counter[int] = Counter()
    missing = []
    for row in db.session.execute(union_all(others, counted)):
        if row.id is None:
            counts[row.effect_days] += row.sessions
        elif row.epoch == row.effects_epoch and row.of_change == row.changes and row.on_day == today[row.patient_id]:
            if row.effect_days is not None:
                counts[row.effect_days] += 1
        else:
            missing.append(row)
    for effect in session_effects(missing, today).values():
        if effect.effect_days is not None:
            counts[effect.effect_days] += 1
    return counts


def session_deleted(session_id: str) -> None:
    """A deleted session has no effect any more."""
    db.session.execute(delete(SessionEffect).where(SessionEffect.session_id == session_id))


def _store(
    computed: list[tuple[Dosed, Effect, bool]], marks: Mapping[str, Marks], today: Mapping[str, dt.date]
) -> None:
    """Store each result: a settled one for good (within its epoch), another for the
    patient's writes and local day it was computed at."""
    if not computed:
        return
    rows = [
        {
            "session_id": session.id,
            "patient_id": session.patient_id,
            "epoch": marks[session.patient_id].epoch,
            "of_change": None if settled else marks[session.patient_id].changes,
            "on_day": None if settled else today[session.patient_id],
            "baseline_mood": effect.baseline_mood,
            "baseline_anxiety": effect.baseline_anxiety,
            "effect_days": effect.effect_days,
        }
        # In one order for every writer: two readers storing the same sessions never wait
        # on each other's rows in opposite orders (a deadlock on PostgreSQL).
        for session, effect, settled in sorted(computed, key=lambda c: c[0].id)
    ]
    upsert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = upsert(SessionEffect)
    replaced = ("epoch", "of_change", "on_day", "baseline_mood", "baseline_anxiety", "effect_days")
    statement = statement.on_conflict_do_update(
        index_elements=[SessionEffect.session_id], set_={name: statement.excluded[name] for name in replaced}
    )
    for start in range(0, len(rows), STORE_BATCH):
        db.session.execute(statement, rows[start : start + STORE_BATCH])


STORE_BATCH = 1000


def _compute(sessions: Sequence[Dosed], today: Mapping[str, dt.date]) -> dict[str, tuple[Effect, dt.date]]:
    """Each session's effect and the last day it depends on, from the entries (none after
    the patient's today)."""
    ranges: dict[str, tuple[dt.date, dt.date]] = {}
    for session in sessions:
        first = session.local_date - dt.timedelta(days=BASELINE_DAYS)
        last = min(today[session.patient_id], session.local_date + dt.timedelta(days=EFFECT_HORIZON_DAYS))
        known = ranges.get(session.patient_id)
        ranges[session.patient_id] = (min(first, known[0]), max(last, known[1])) if known else (first, last)
    daily = _daily_sums_of(ranges)
    after_dose = _after_the_dose(sessions)
    effects = {}
    for session in sessions:
        days = daily[session.patient_id]
        start = bisect.bisect_left(days, (session.local_date - dt.timedelta(days=BASELINE_DAYS),))
        before = days[start : bisect.bisect_left(days, (session.local_date,))]
        n = sum(count for *_, count in before)
        if not n:
            # Depends on the 7 days before only.
            effects[session.id] = (NO_BASELINE, session.local_date - dt.timedelta(days=1))
            continue
        baseline_mood = Fraction(sum(mood for _, mood, _, _ in before), n)
        effect_days, depends_on = _effect_days(session.local_date, baseline_mood, after_dose[session.id], days)
        effect = Effect(
            baseline_mood=float(baseline_mood),
            baseline_anxiety=sum(anxiety for _, _, anxiety, _ in before) / n,
            effect_days=effect_days,
        )
        effects[session.id] = (effect, depends_on)
    return effects
