"""Does the clinic's treatment work: induction completion, PHQ-9 response and remission at 4 and
12 weeks, and how long each session's effect lasts (API.md "Clinic outcomes").

The cohort: the clinic's patients whose first session's local day falls in [from, to]. Day
numbers count local days from that first session's day (day 0). Every number comes with its
numerator and denominator and is reproducible by hand from the raw rows:

- induction completed: at least INDUCTION_SESSIONS (6) sessions on days 0 .. INDUCTION_DAYS-1
  (28 local days from the first); dropped after the first: exactly one session ever, its day
  more than 14 local days before the patient's today.
- PHQ-9 baseline: the last PHQ-9 on days -13 .. 0 (the 14 local days up to and including the
  first session's day), counted only when it is at least 10.
- week 4: the PHQ-9 nearest to day 28 among days 21 .. 35 (a tie takes the later one); week 12:
  nearest to day 84 among days 70 .. 98. Response: a fall of at least 50 % from baseline;
  remission: below REMISSION_PHQ9_CUTOFF (5).
- effect_days: the cohort's sessions with a measured effect (diary.domain.effects), their
  number and median.

Computed from a handful of set-based queries over the cohort, never one per patient.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select

from diary.domain import audit, instruments
from diary.domain.effects import effect_days_counts
from diary.domain.errors import Invalid
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Assessment, PatientProfile, TreatmentSession
from diary.models.base import add_days
from diary.timeutil import local_date

BASELINE_WINDOW_DAYS = 14  # days -13 .. 0
BASELINE_MIN_PHQ9 = 10  # a baseline below "moderate" leaves no room to measure a response
DROPPED_AFTER_DAYS = 14


@dataclass(frozen=True)
class FollowUp:
    """Where a follow-up PHQ-9 is read: the one nearest to `target` within [first, last]."""

    name: str
    target: int
    first: int
    last: int


FOLLOW_UPS = (FollowUp("4w", 28, 21, 35), FollowUp("12w", 84, 70, 98))
MAX_WINDOW_DAYS = 3660  # ten years of first sessions


@dataclass(frozen=True)
class CohortMember:
    patient_id: str
    timezone: str
    first_day: dt.date
    sessions: int  # live sessions ever
    in_induction: int  # of them on days 0 .. INDUCTION_DAYS - 1


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _cohort(staff: Actor, date_from: dt.date, date_to: dt.date) -> list[CohortMember]:
    """The patients of the clinic whose first live session's local day is in [from, to], with
    their zone and session counts, from one pass over the clinic's sessions in patient order
    (each session beside its patient's first day, a window over the patient; the rows kept
    narrow, the zones joined to the aggregate)."""
    induction_days = current_app.config["INDUCTION_DAYS"]
    clinic_patients = select(PatientProfile.user_id).where(PatientProfile.clinic_id == staff.clinic_id)
    sessions = (
        select(
            TreatmentSession.patient_id,
            TreatmentSession.local_date,
            func.min(TreatmentSession.local_date).over(partition_by=TreatmentSession.patient_id).label("first_day"),
        )
        .where(TreatmentSession.patient_id.in_(clinic_patients), TreatmentSession.deleted_at.is_(None))
        .subquery()
    )
    in_induction = case((sessions.c.local_date < add_days(sessions.c.first_day, induction_days), 1), else_=0)
    counted = (
        select(
            sessions.c.patient_id,
            sessions.c.first_day,
            func.count().label("sessions"),
            func.sum(in_induction).label("in_induction"),
        )
        .where(sessions.c.first_day >= date_from, sessions.c.first_day <= date_to)
        .group_by(sessions.c.patient_id, sessions.c.first_day)
        .subquery()
    )
    rows = db.session.execute(
        select(
            counted.c.patient_id,
            PatientProfile.timezone,
            counted.c.first_day,
            counted.c.sessions,
            counted.c.in_induction,
        )
        .join(PatientProfile, PatientProfile.user_id == counted.c.patient_id)
        .order_by(counted.c.patient_id)
    )
    return [CohortMember(pid, zone, day, int(n), int(first_n)) for pid, zone, day, n, first_n in rows]


def _induction(cohort: list[CohortMember], now: dt.datetime) -> dict:
    cfg = current_app.config
    completed = sum(1 for m in cohort if m.in_induction >= cfg["INDUCTION_SESSIONS"])
    dropped = sum(
        1 for m in cohort if m.sessions == 1 and (local_date(now, m.timezone) - m.first_day).days > DROPPED_AFTER_DAYS
    )
    return {
        "completed": completed,
        "dropped_after_first": dropped,
        "rate_completed": _rate(completed, len(cohort)),
    }


def _first_days(staff: Actor, date_from: dt.date, date_to: dt.date) -> Any:
    """The cohort as a subquery: each patient of the clinic whose first live session's local
    day is in [from, to], with that day."""
    first_day = func.min(TreatmentSession.local_date)
    return (
        select(TreatmentSession.patient_id, first_day.label("first_day"))
        .join(PatientProfile, PatientProfile.user_id == TreatmentSession.patient_id)
        .where(PatientProfile.clinic_id == staff.clinic_id, TreatmentSession.deleted_at.is_(None))
        .group_by(TreatmentSession.patient_id)
        .having(first_day >= date_from, first_day <= date_to)
        .subquery()
    )


def _phq9s(first_days: Any) -> dict[str, list[tuple[int, dt.datetime, int]]]:
    """Each cohort patient's PHQ-9s from day -13 to day 98 of their own: (day, recorded_at, total)."""
    last = max(f.last for f in FOLLOW_UPS)
    by_patient: dict[str, list[tuple[int, dt.datetime, int]]] = defaultdict(list)
    for patient_id, first_day, day, recorded_at, total in db.session.execute(
        select(
            Assessment.patient_id,
            first_days.c.first_day,
            Assessment.local_date,
            Assessment.recorded_at,
            Assessment.total,
        )
        .join(first_days, first_days.c.patient_id == Assessment.patient_id)
        .where(
            Assessment.instrument == "phq9",
            Assessment.local_date >= add_days(first_days.c.first_day, -(BASELINE_WINDOW_DAYS - 1)),
            Assessment.local_date <= add_days(first_days.c.first_day, last),
        )
    ):
        by_patient[patient_id].append(((day - first_day).days, recorded_at, total))
    return by_patient


def _follow_up(scores: list[tuple[int, dt.datetime, int]], window: FollowUp) -> int | None:
    """The total nearest to the target day within the window; a tie takes the later one."""
    inside = [s for s in scores if window.first <= s[0] <= window.last]
    if not inside:
        return None
    nearest = min(inside, key=lambda s: (abs(s[0] - window.target), -s[0], -s[1].timestamp()))
    return nearest[2]


def _phq9(cohort: list[CohortMember], first_days: Any) -> dict[str, Any]:
    scores = _phq9s(first_days)
    counts: dict[str, Any] = {"with_baseline": 0}
    for window in FOLLOW_UPS:
        counts.update({f"measured_{window.name}": 0, f"response_{window.name}": 0, f"remission_{window.name}": 0})
    for member in cohort:
        before = [s for s in scores[member.patient_id] if s[0] <= 0]
        if not before:
            continue
        baseline = max(before, key=lambda s: (s[0], s[1]))[2]  # the last one
        if baseline < BASELINE_MIN_PHQ9:
            continue
        counts["with_baseline"] += 1
        for window in FOLLOW_UPS:
            total = _follow_up(scores[member.patient_id], window)
            if total is None:
                continue
            counts[f"measured_{window.name}"] += 1
            counts[f"response_{window.name}"] += instruments.responded(baseline, total)
            counts[f"remission_{window.name}"] += instruments.in_remission("phq9", total)
    for window in FOLLOW_UPS:
        measured = counts[f"measured_{window.name}"]
        counts[f"response_rate_{window.name}"] = _rate(counts[f"response_{window.name}"], measured)
        counts[f"remission_rate_{window.name}"] = _rate(counts[f"remission_{window.name}"], measured)
    return counts


def _effect_days(cohort: list[CohortMember], now: dt.datetime) -> dict:
    counts = effect_days_counts({m.patient_id: local_date(now, m.timezone) for m in cohort})
    measured = sorted(counts.elements())
    return {"sessions": len(measured), "median": statistics.median(measured) if measured else None}


DEFAULT_COHORT_DAYS = 365


def clinic_outcomes(
    staff: Actor, date_from: dt.date | None, date_to: dt.date | None, now: dt.datetime
) -> dict[str, Any]:
    """GET /clinic/outcomes: by default the patients who started in the last year; audited
    as one read of the cohort, not one event per patient."""
    date_to = date_to or now.date()
    date_from = date_from or date_to - dt.timedelta(days=DEFAULT_COHORT_DAYS - 1)
    if date_from > date_to:
        raise Invalid("from", "must not be after 'to'")
    if (date_to - date_from).days + 1 > MAX_WINDOW_DAYS:
        raise Invalid("from", "the cohort's first sessions may span at most ten years")
    cohort = _cohort(staff, date_from, date_to)
    audit.record(
        staff,
        "clinic.outcomes",
        patient_id=None,
        resource_type="cohort",
        resource_id=f"{date_from.isoformat()}..{date_to.isoformat()}",
    )
    return {
        "from_": date_from,
        "to": date_to,
        "patients": len(cohort),
        "induction": _induction(cohort, now),
        "phq9": _phq9(cohort, _first_days(staff, date_from, date_to)),
        "effect_days": _effect_days(cohort, now),
    }
