"""The clinician's summary of one patient over a window of local dates.

Everything is aggregated in the database over indexed columns ((patient_id, local_date)
for entries), with a fixed number of queries, so the cost follows the window, not the
patient's whole history. Means are computed from integer sums and counts, so SQLite and
PostgreSQL give the same numbers and threshold comparisons are exact.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from diary.domain.errors import Invalid
from diary.domain.scheduling import wall_time_instant
from diary.extensions import db
from diary.models import (
    SIDE_EFFECTS,
    UNRESOLVED,
    Alert,
    Assessment,
    Checkin,
    Entry,
    EntrySideEffect,
    PatientProfile,
    TreatmentSession,
)
from diary.timeutil import local_date, utcnow

BASELINE_DAYS = 7
# How far after a session its effect is followed (beyond the window if need be).
EFFECT_HORIZON_DAYS = 90
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 731  # two years


@dataclass(frozen=True)
class Window:
    """A summary's window: the patient's local dates `first`..`last`, and their today."""

    first: dt.date
    last: dt.date
    today: dt.date


def window_for(profile: PatientProfile, date_from: dt.date | None, date_to: dt.date | None) -> Window:
    """The window asked for; by default the last 30 local days up to the patient's today."""
    today = local_date(utcnow(), profile.timezone)
    last = date_to or today
    first = date_from or last - dt.timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    if first > last:
        raise Invalid("from", "must not be after 'to'")
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        raise Invalid("from", "the window may span at most 2 years")
    return Window(first, last, today)


def _mean(total: int | None, count: int) -> float | None:
    return None if not count else total / count


def _slope_per_week(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of daily means against the day number, times 7."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx * 7


def _daily_sums(patient_id: str, first: dt.date, last: dt.date) -> list[tuple[dt.date, int, int, int]]:
    """(local date, mood sum, anxiety sum, entries) per day with live entries, ascending."""
    rows = db.session.execute(
        select(Entry.local_date, func.sum(Entry.mood), func.sum(Entry.anxiety), func.count(Entry.id))
        .where(
            Entry.patient_id == patient_id,
            Entry.deleted_at.is_(None),
            Entry.local_date >= first,
            Entry.local_date <= last,
        )
        .group_by(Entry.local_date)
        .order_by(Entry.local_date)
    ).all()
    return [(day, int(mood), int(anxiety), int(n)) for day, mood, anxiety, n in rows]


def _scale_stats(n: int, total: int | None, low: int | None, high: int | None, latest: int | None, slope):
    return {"n": n, "mean": _mean(total, n), "min": low, "max": high, "latest": latest, "slope_per_week": slope}


def _session_effects(
    profile: PatientProfile, sessions: list[TreatmentSession], today: dt.date
) -> dict[str, dict[str, Any]]:
    """Baseline (mean of the entries of the 7 local days before the session's local day)
    and effect_days (API.md) for each session, from one aggregate query."""
    if not sessions:
        return {}
    days = {s.id: local_date(s.started_at, profile.timezone) for s in sessions}
    first = min(days.values()) - dt.timedelta(days=BASELINE_DAYS)
    last = min(today, max(days.values()) + dt.timedelta(days=EFFECT_HORIZON_DAYS))
    daily = _daily_sums(profile.user_id, first, last)
    effects = {}
    for session in sessions:
        day = days[session.id]
        before = [r for r in daily if day - dt.timedelta(days=BASELINE_DAYS) <= r[0] < day]
        n = sum(r[3] for r in before)
        if not n:
            effects[session.id] = {"baseline": {"mood": None, "anxiety": None}, "effect_days": None}
            continue
        baseline_mood = Fraction(sum(r[1] for r in before), n)
        effect_days: int | None = None
        run = 0
        horizon = day + dt.timedelta(days=EFFECT_HORIZON_DAYS)
        for entry_day, mood_sum, _, count in daily:
            if entry_day < day or entry_day > horizon:
                continue
            if Fraction(mood_sum, count) > baseline_mood:
                run += 1  # days without entries neither extend nor end the run
            else:
                effect_days = run
                break
        effects[session.id] = {
            "baseline": {"mood": float(baseline_mood), "anxiety": sum(r[2] for r in before) / n},
            "effect_days": effect_days,
        }
    return effects


def _phq9_outcome(patient_id: str, window_end: dt.datetime) -> dict[str, Any]:
    cutoff = current_app.config["REMISSION_PHQ9_CUTOFF"]
    first_session = db.session.scalar(
        select(func.min(TreatmentSession.started_at)).where(
            TreatmentSession.patient_id == patient_id, TreatmentSession.deleted_at.is_(None)
        )
    )
    phq9 = select(Assessment.total, Assessment.recorded_at).where(
        Assessment.patient_id == patient_id, Assessment.instrument == "phq9"
    )
    baseline = None
    if first_session is not None:
        baseline = db.session.execute(
            phq9.where(Assessment.recorded_at < first_session).order_by(Assessment.recorded_at).limit(1)
        ).first()
    latest = db.session.execute(
        phq9.where(Assessment.recorded_at < window_end).order_by(Assessment.recorded_at.desc()).limit(1)
    ).first()
    outcome: dict[str, Any] = {
        "baseline_total": baseline[0] if baseline else None,
        "baseline_recorded_at": baseline[1] if baseline else None,
        "latest_total": latest[0] if latest else None,
        "latest_recorded_at": latest[1] if latest else None,
        "change_percent": None,
        "response": None,
        "remission": None,
        "remission_cutoff": cutoff,
    }
    if latest is not None:
        outcome["remission"] = latest[0] < cutoff
    if baseline is not None and latest is not None and latest[1] > first_session:
        if baseline[0] > 0:
            outcome["change_percent"] = round((latest[0] - baseline[0]) / baseline[0] * 100, 1)
        # Response: at least a 50 % reduction from the pre-treatment baseline (exact).
        outcome["response"] = 2 * latest[0] <= baseline[0] and baseline[0] > 0
    return outcome


def summarize(profile: PatientProfile, date_from: dt.date, date_to: dt.date, today: dt.date) -> dict[str, Any]:
    patient_id, zone = profile.user_id, profile.timezone
    from zoneinfo import ZoneInfo

    start = wall_time_instant(date_from, dt.time(0), ZoneInfo(zone))
    end = wall_time_instant(date_to + dt.timedelta(days=1), dt.time(0), ZoneInfo(zone))
    live = (
        Entry.patient_id == patient_id,
        Entry.deleted_at.is_(None),
        Entry.local_date >= date_from,
        Entry.local_date <= date_to,
    )

    n, mood_sum, mood_min, mood_max, anx_sum, anx_min, anx_max = db.session.execute(
        select(
            func.count(Entry.id),
            func.sum(Entry.mood),
            func.min(Entry.mood),
            func.max(Entry.mood),
            func.sum(Entry.anxiety),
            func.min(Entry.anxiety),
            func.max(Entry.anxiety),
        ).where(*live)
    ).one()
    latest = db.session.execute(
        select(Entry.mood, Entry.anxiety)
        .where(*live)
        .order_by(Entry.local_date.desc(), Entry.recorded_at.desc(), Entry.id.desc())
        .limit(1)
    ).first()
    daily = _daily_sums(patient_id, date_from, date_to)
    mood_points = [((day - date_from).days, m / c) for day, m, _, c in daily]
    anx_points = [((day - date_from).days, a / c) for day, _, a, c in daily]

    assessments: dict[str, list[dict[str, Any]]] = {"phq9": [], "gad7": []}
    for instrument, recorded_at, total, severity in db.session.execute(
        select(Assessment.instrument, Assessment.recorded_at, Assessment.total, Assessment.severity)
        .where(
            Assessment.patient_id == patient_id,
            Assessment.local_date >= date_from,
            Assessment.local_date <= date_to,
        )
        .order_by(Assessment.recorded_at)
    ):
        assessments[instrument].append({"recorded_at": recorded_at, "total": total, "severity": severity})

    sessions = list(
        db.session.scalars(
            select(TreatmentSession)
            .where(
                TreatmentSession.patient_id == patient_id,
                TreatmentSession.deleted_at.is_(None),
                TreatmentSession.started_at >= start,
                TreatmentSession.started_at < end,
            )
            .order_by(TreatmentSession.started_at)
        )
    )
    checkins_by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if sessions:
        answer = Entry.__table__.alias("answer")
        for checkin, mood, anxiety in db.session.execute(
            select(Checkin, answer.c.mood, answer.c.anxiety)
            .outerjoin(answer, (answer.c.id == Checkin.answer_entry_id) & answer.c.deleted_at.is_(None))
            .where(Checkin.session_id.in_([s.id for s in sessions]))
            .order_by(Checkin.due_at)
        ):
            checkins_by_session[checkin.session_id].append(
                {
                    "label": checkin.label,
                    "due_at": checkin.due_at,
                    "status": checkin.status,
                    "mood": mood,
                    "anxiety": anxiety,
                }
            )
    effects = _session_effects(profile, sessions, today)

    offered = dict(
        db.session.execute(
            select(Checkin.status, func.count(Checkin.id))
            .join(TreatmentSession, TreatmentSession.id == Checkin.session_id)
            .where(
                Checkin.patient_id == patient_id,
                TreatmentSession.deleted_at.is_(None),
                Checkin.due_at >= start,
                Checkin.due_at < end,
                Checkin.status.in_(("sent", "answered", "expired")),
            )
            .group_by(Checkin.status)
        ).all()
    )
    sent, answered = sum(offered.values()), offered.get("answered", 0)

    side_effects = dict.fromkeys(SIDE_EFFECTS, 0)
    for effect, count in db.session.execute(
        select(EntrySideEffect.effect, func.count())
        .join(Entry, Entry.id == EntrySideEffect.entry_id)
        .where(*live)
        .group_by(EntrySideEffect.effect)
    ):
        side_effects[effect] = int(count)

    alerts = list(
        db.session.scalars(
            select(Alert)
            .where(
                Alert.patient_id == patient_id,
                (Alert.status.in_(UNRESOLVED)) | ((Alert.opened_at >= start) & (Alert.opened_at < end)),
            )
            .order_by(Alert.opened_at.desc())
        )
    )

    return {
        "patient_id": patient_id,
        "from_": date_from,
        "to": date_to,
        "timezone": zone,
        "mood": _scale_stats(
            n, mood_sum, mood_min, mood_max, latest[0] if latest else None, _slope_per_week(mood_points)
        ),
        "anxiety": _scale_stats(
            n, anx_sum, anx_min, anx_max, latest[1] if latest else None, _slope_per_week(anx_points)
        ),
        "daily": [{"date": day, "mood_mean": m / c, "anxiety_mean": a / c, "n": c} for day, m, a, c in daily],
        "assessments": assessments,
        "phq9_outcome": _phq9_outcome(patient_id, end),
        "sessions": [
            {
                "id": s.id,
                "started_at": s.started_at,
                "route": s.route,
                "dose_mg": s.dose_mg,
                "baseline": effects[s.id]["baseline"],
                "checkins": checkins_by_session[s.id],
                "effect_days": effects[s.id]["effect_days"],
            }
            for s in sessions
        ],
        "adherence": {
            "days_with_entry": len(daily),
            "days_in_window": (date_to - date_from).days + 1,
            "checkins_sent": sent,
            "checkins_answered": answered,
            "checkin_rate": answered / sent if sent else None,
        },
        "side_effects": side_effects,
        "alerts": alerts,
    }
