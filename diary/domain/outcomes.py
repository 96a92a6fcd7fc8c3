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
from sqlalchemy import and_, func, select

from diary.domain import audit, instruments
from diary.domain.effects import effect_days_counts
from diary.domain.errors import Invalid
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Assessment, PatientProfile, TreatmentSession
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


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _cohort(staff: Actor, date_from: dt.date, date_to: dt.date) -> list[CohortMember]:
    first_day = func.min(TreatmentSession.local_date)
    rows = db.session.execute(
        select(TreatmentSession.patient_id, PatientProfile.timezone, first_day)
        .join(PatientProfile, PatientProfile.user_id == TreatmentSession.patient_id)
        .where(PatientProfile.clinic_id == staff.clinic_id, TreatmentSession.deleted_at.is_(None))
        .group_by(TreatmentSession.patient_id, PatientProfile.timezone)
        .having(first_day >= date_from, first_day <= date_to)
        .order_by(TreatmentSession.patient_id)
    )
    return [CohortMember(patient_id, zone, day) for patient_id, zone, day in rows]


def _induction(cohort: list[CohortMember], now: dt.datetime) -> dict:
    """From two aggregates: each patient's number of live sessions, and the local day of their
    INDUCTION_SESSIONS-th (in order of start), when they have that many."""
    cfg = current_app.config
    patient_ids = [m.patient_id for m in cohort]
    live = and_(TreatmentSession.patient_id.in_(patient_ids), TreatmentSession.deleted_at.is_(None))
    totals = dict(
        db.session.execute(
            select(TreatmentSession.patient_id, func.count()).where(live).group_by(TreatmentSession.patient_id)
        )
        .tuples()
        .all()
    )
    ranked = (
        select(
            TreatmentSession.patient_id,
            TreatmentSession.local_date,
            func.row_number()
            .over(partition_by=TreatmentSession.patient_id, order_by=(TreatmentSession.started_at, TreatmentSession.id))
            .label("n"),
        )
        .where(live)
        .subquery()
    )
    nth_day = dict(
        db.session.execute(
            select(ranked.c.patient_id, ranked.c.local_date).where(ranked.c.n == cfg["INDUCTION_SESSIONS"])
        )
        .tuples()
        .all()
    )
    completed = dropped = 0
    for member in cohort:
        nth = nth_day.get(member.patient_id)
        if nth is not None and (nth - member.first_day).days < cfg["INDUCTION_DAYS"]:
            completed += 1
        waited = (local_date(now, member.timezone) - member.first_day).days
        if totals.get(member.patient_id) == 1 and waited > DROPPED_AFTER_DAYS:
            dropped += 1
    return {
        "completed": completed,
        "dropped_after_first": dropped,
        "rate_completed": _rate(completed, len(cohort)),
    }


def _phq9s(cohort: list[CohortMember]) -> dict[str, list[tuple[int, dt.datetime, int]]]:
    """Each cohort patient's PHQ-9s from day -13 to day 98: (day, recorded_at, total)."""
    if not cohort:
        return {}
    reach_back = dt.timedelta(days=BASELINE_WINDOW_DAYS - 1)
    reach = dt.timedelta(days=max(f.last for f in FOLLOW_UPS))
    first_days = {m.patient_id: m.first_day for m in cohort}
    by_patient: dict[str, list[tuple[int, dt.datetime, int]]] = defaultdict(list)
    for patient_id, day, recorded_at, total in db.session.execute(
        select(Assessment.patient_id, Assessment.local_date, Assessment.recorded_at, Assessment.total).where(
            Assessment.patient_id.in_(list(first_days)),
            Assessment.instrument == "phq9",
            Assessment.local_date >= min(first_days.values()) - reach_back,
            Assessment.local_date <= max(first_days.values()) + reach,
        )
    ):
        offset = (day - first_days[patient_id]).days
        if -(BASELINE_WINDOW_DAYS - 1) <= offset <= reach.days:
            by_patient[patient_id].append((offset, recorded_at, total))
    return by_patient


def _follow_up(scores: list[tuple[int, dt.datetime, int]], window: FollowUp) -> int | None:
    """The total nearest to the target day within the window; a tie takes the later one."""
    inside = [s for s in scores if window.first <= s[0] <= window.last]
    if not inside:
        return None
    nearest = min(inside, key=lambda s: (abs(s[0] - window.target), -s[0], -s[1].timestamp()))
    return nearest[2]


def _phq9(cohort: list[CohortMember]) -> dict[str, Any]:
    scores = _phq9s(cohort)
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
        "phq9": _phq9(cohort),
        "effect_days": _effect_days(cohort, now),
    }
