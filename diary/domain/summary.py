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
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, func, select

from diary.domain import forecast, instruments
from diary.domain.effects import DaySums, daily_sums, session_effects
from diary.domain.errors import Invalid
from diary.domain.monitoring import flags_of, latest_of
from diary.domain.patients import patient_for_staff
from diary.domain.scheduling import wall_time_instant
from diary.domain.tokens import Actor
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

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 731  # two years


@dataclass(frozen=True)
class Window:
    """A summary's window: local dates `first`..`last` of the patient, and the UTC instants
    of its bounds (local midnights, DST-correct)."""

    profile: PatientProfile
    first: dt.date
    last: dt.date
    today: dt.date

    @property
    def start(self) -> dt.datetime:
        return wall_time_instant(self.first, dt.time(0), ZoneInfo(self.profile.timezone))

    @property
    def end(self) -> dt.datetime:
        return wall_time_instant(self.last + dt.timedelta(days=1), dt.time(0), ZoneInfo(self.profile.timezone))

    def live_entries(self) -> tuple[ColumnElement[bool], ...]:
        return (
            Entry.patient_id == self.profile.user_id,
            Entry.deleted_at.is_(None),
            Entry.local_date >= self.first,
            Entry.local_date <= self.last,
        )


def window_for(profile: PatientProfile, date_from: dt.date | None, date_to: dt.date | None) -> Window:
    """The window asked for; by default the last 30 local days up to the patient's today."""
    today = local_date(utcnow(), profile.timezone)
    last = date_to or today
    first = date_from or last - dt.timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    if first > last:
        raise Invalid("from", "must not be after 'to'")
    if (last - first).days + 1 > MAX_WINDOW_DAYS:
        raise Invalid("from", "the window may span at most 2 years")
    return Window(profile, first, last, today)


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


def _scales(window: Window, daily: list[DaySums]) -> dict[str, dict[str, Any]]:
    """n, mean, min, max, latest and weekly slope of mood and of anxiety."""
    n, mood_sum, mood_min, mood_max, anx_sum, anx_min, anx_max = db.session.execute(
        select(
            func.count(Entry.id),
            func.sum(Entry.mood),
            func.min(Entry.mood),
            func.max(Entry.mood),
            func.sum(Entry.anxiety),
            func.min(Entry.anxiety),
            func.max(Entry.anxiety),
        ).where(*window.live_entries())
    ).one()
    latest = db.session.execute(
        select(Entry.mood, Entry.anxiety)
        .where(*window.live_entries())
        .order_by(Entry.local_date.desc(), Entry.recorded_at.desc(), Entry.id.desc())
        .limit(1)
    ).first()
    mood_points = [((day - window.first).days, m / c) for day, m, _, c in daily]
    anx_points = [((day - window.first).days, a / c) for day, _, a, c in daily]
    return {
        "mood": {
            "n": n,
            "mean": _mean(mood_sum, n),
            "min": mood_min,
            "max": mood_max,
            "latest": latest[0] if latest else None,
            "slope_per_week": _slope_per_week(mood_points),
        },
        "anxiety": {
            "n": n,
            "mean": _mean(anx_sum, n),
            "min": anx_min,
            "max": anx_max,
            "latest": latest[1] if latest else None,
            "slope_per_week": _slope_per_week(anx_points),
        },
    }


def _assessment_series(window: Window) -> dict[str, list[dict[str, Any]]]:
    """Every instrument of the catalogue, oldest first: total with its band (or risk level)."""
    series: dict[str, list[dict[str, Any]]] = {code: [] for code in instruments.CATALOGUE}
    for instrument, recorded_at, total, severity, risk in db.session.execute(
        select(Assessment.instrument, Assessment.recorded_at, Assessment.total, Assessment.severity, Assessment.risk)
        .where(
            Assessment.patient_id == window.profile.user_id,
            Assessment.local_date >= window.first,
            Assessment.local_date <= window.last,
        )
        .order_by(Assessment.recorded_at, Assessment.id)
    ):
        series[instrument].append({"recorded_at": recorded_at, "total": total, "severity": severity, "risk": risk})
    return series


def _sessions_in(window: Window) -> list[TreatmentSession]:
    return list(
        db.session.scalars(
            select(TreatmentSession)
            .where(
                TreatmentSession.patient_id == window.profile.user_id,
                TreatmentSession.deleted_at.is_(None),
                TreatmentSession.started_at >= window.start,
                TreatmentSession.started_at < window.end,
            )
            .order_by(TreatmentSession.started_at)
        )
    )


def _checkins_by_session(sessions: list[TreatmentSession]) -> dict[str, list[dict[str, Any]]]:
    """Each session's check-ins with the mood and anxiety of their (live) answers. Columns,
    not Checkin objects: a long window holds hundreds of check-ins, only read."""
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not sessions:
        return by_session
    answer = Entry.__table__.alias("answer")
    for session_id, label, due_at, status, mood, anxiety in db.session.execute(
        select(Checkin.session_id, Checkin.label, Checkin.due_at, Checkin.status, answer.c.mood, answer.c.anxiety)
        .select_from(Checkin)
        .outerjoin(answer, (answer.c.id == Checkin.answer_entry_id) & answer.c.deleted_at.is_(None))
        .where(Checkin.session_id.in_([s.id for s in sessions]))
        .order_by(Checkin.due_at)
    ):
        by_session[session_id].append(
            {"label": label, "due_at": due_at, "status": status, "mood": mood, "anxiety": anxiety}
        )
    return by_session


def _adherence(window: Window, daily: list[DaySums]) -> dict[str, Any]:
    """Days with an entry, and check-ins answered of those offered (sent, answered or expired)."""
    offered = dict(
        db.session.execute(
            select(Checkin.status, func.count(Checkin.id))
            .join(TreatmentSession, TreatmentSession.id == Checkin.session_id)
            .where(
                Checkin.patient_id == window.profile.user_id,
                TreatmentSession.deleted_at.is_(None),
                Checkin.due_at >= window.start,
                Checkin.due_at < window.end,
                Checkin.status.in_(("sent", "answered", "expired")),
            )
            .group_by(Checkin.status)
        ).all()
    )
    sent, answered = sum(offered.values()), offered.get("answered", 0)
    return {
        "days_with_entry": len(daily),
        "days_in_window": (window.last - window.first).days + 1,
        "checkins_sent": sent,
        "checkins_answered": answered,
        "checkin_rate": answered / sent if sent else None,
    }


def _side_effects(window: Window) -> dict[str, int]:
    counts = dict.fromkeys(SIDE_EFFECTS, 0)
    for effect, count in db.session.execute(
        select(EntrySideEffect.effect, func.count())
        .join(Entry, Entry.id == EntrySideEffect.entry_id)
        .where(*window.live_entries())
        .group_by(EntrySideEffect.effect)
    ):
        counts[effect] = int(count)
    return counts


def _alerts(window: Window) -> list[Alert]:
    """Every unresolved alert, and those opened in the window."""
    return list(
        db.session.scalars(
            select(Alert)
            .where(
                Alert.patient_id == window.profile.user_id,
                (Alert.status.in_(UNRESOLVED)) | ((Alert.opened_at >= window.start) & (Alert.opened_at < window.end)),
            )
            .order_by(Alert.opened_at.desc())
        )
    )


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
        outcome["remission"] = instruments.in_remission("phq9", latest[0])
    if baseline is not None and latest is not None and latest[1] > first_session:
        if baseline[0] > 0:
            outcome["change_percent"] = round((latest[0] - baseline[0]) / baseline[0] * 100, 1)
        outcome["response"] = instruments.responded(baseline[0], latest[0])
    return outcome


def _madrs_outcome(profile: PatientProfile, window_end: dt.datetime) -> dict[str, Any]:
    """The clinician-rated outcome: baseline is the last MADRS on or before the first
    session's local day; latest the newest rating after it (before the window's end).
    Change, response and remission only when both exist."""
    outcome: dict[str, Any] = dict.fromkeys(
        ("baseline", "baseline_recorded_at", "latest", "latest_recorded_at", "change", "response", "remission")
    )
    outcome["remission_cutoff"] = current_app.config["MADRS_REMISSION_CUTOFF"]
    first_day = db.session.scalar(
        select(TreatmentSession.local_date)
        .where(TreatmentSession.patient_id == profile.user_id, TreatmentSession.deleted_at.is_(None))
        .order_by(TreatmentSession.started_at)
        .limit(1)
    )
    if first_day is None:
        return outcome
    madrs = select(Assessment.total, Assessment.recorded_at).where(
        Assessment.patient_id == profile.user_id, Assessment.instrument == "madrs"
    )
    baseline = db.session.execute(
        madrs.where(Assessment.local_date <= first_day)
        .order_by(Assessment.recorded_at.desc(), Assessment.id.desc())
        .limit(1)
    ).first()
    if baseline is None:
        return outcome
    outcome["baseline"], outcome["baseline_recorded_at"] = baseline
    latest = db.session.execute(
        madrs.where(Assessment.recorded_at > baseline.recorded_at, Assessment.recorded_at < window_end)
        .order_by(Assessment.recorded_at.desc(), Assessment.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return outcome
    outcome["latest"], outcome["latest_recorded_at"] = latest
    outcome["change"] = latest.total - baseline.total
    outcome["response"] = instruments.responded(baseline.total, latest.total)
    outcome["remission"] = instruments.in_remission("madrs", latest.total)
    return outcome


def summarize(profile: PatientProfile, date_from: dt.date, date_to: dt.date, today: dt.date) -> dict[str, Any]:
    window = Window(profile, date_from, date_to, today)
    daily = daily_sums(profile.user_id, date_from, date_to)
    sessions = _sessions_in(window)
    monitored = latest_of(sessions)
    checkins = _checkins_by_session(sessions)
    effects = session_effects(sessions, {profile.user_id: today})
    return {
        "patient_id": profile.user_id,
        "from_": date_from,
        "to": date_to,
        "timezone": profile.timezone,
        **_scales(window, daily),
        "daily": [{"date": day, "mood_mean": m / c, "anxiety_mean": a / c, "n": c} for day, m, a, c in daily],
        "assessments": _assessment_series(window),
        "phq9_outcome": _phq9_outcome(profile.user_id, window.end),
        "madrs_outcome": _madrs_outcome(profile, window.end),
        "forecast": forecast.forecasts({profile.user_id: profile.timezone}, utcnow())[profile.user_id],
        "sessions": [
            {
                "id": s.id,
                "started_at": s.started_at,
                "route": s.route,
                "medication": s.medication,
                "monitoring": monitored.get(s.id),
                "flags": flags_of(monitored.get(s.id)),
                "dose_mg": s.dose_mg,
                "baseline": {"mood": effects[s.id].baseline_mood, "anxiety": effects[s.id].baseline_anxiety},
                "checkins": checkins[s.id],
                "effect_days": effects[s.id].effect_days,
            }
            for s in sessions
        ],
        "adherence": _adherence(window, daily),
        "side_effects": _side_effects(window),
        "alerts": _alerts(window),
    }


def read_for_staff(
    staff: Actor, patient_id: str, date_from: dt.date | None, date_to: dt.date | None
) -> tuple[PatientProfile, Window, dict[str, Any]]:
    """A patient of the staff member's clinic, the window asked for, and its summary; audited."""
    profile = patient_for_staff(staff, patient_id, action="patient.summary")
    window = window_for(profile, date_from, date_to)
    return profile, window, summarize(profile, window.first, window.last, window.today)


def for_staff(staff: Actor, patient_id: str, date_from: dt.date | None, date_to: dt.date | None) -> dict[str, Any]:
    """GET /patients/{id}/summary."""
    return read_for_staff(staff, patient_id, date_from, date_to)[2]
