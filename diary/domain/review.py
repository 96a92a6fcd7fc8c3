"""What the clinician review pages read and write.

Each page is one call here, and each call goes through the functions the API's views use
(panel.panel_page, summary.read_for_staff, alerts.list_alerts, sessions.record, ...),
so a page shows the API's own numbers and leaves the API's own audit events. What a page
needs beyond the API (the panel's 30-day trends, patients' names in the alert queue, a
session time typed in the patient's local time) is read here in one bounded query each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from diary.domain import (
    alerts,
    assessments,
    forecast,
    instruments,
    monitoring,
    outcomes,
    panel,
    patients,
    sessions,
    summary,
)
from diary.domain.errors import Invalid
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Alert, Entry, PatientProfile, TreatmentSession
from diary.timeutil import UTC, local_date

TREND_DAYS = 30


@dataclass(frozen=True)
class DailyTrend:
    """A patient's daily means over their last TREND_DAYS local days, oldest first; None on
    a day without entries."""

    first: dt.date
    mood: list[float | None]
    anxiety: list[float | None]

    @classmethod
    def empty(cls, first: dt.date) -> DailyTrend:
        return cls(first, [None] * TREND_DAYS, [None] * TREND_DAYS)


@dataclass(frozen=True)
class PanelView:
    items: list[panel.PanelItem]
    next_cursor: str | None
    trends: dict[str, DailyTrend]
    # Each row's patient's local today, which the "wears off" words count from.
    today: dict[str, dt.date]
    # The rows whose expected wear-off is due (the effect_waning alert's lead-days rule).
    wearing_off: frozenset[str]


def panel_view(
    staff: Actor, *, now: dt.datetime, limit: int, cursor: str | None, search: str | None, order: str = "risk"
) -> PanelView:
    """The panel page: GET /patients's page (same order, numbers and audit) and each row's
    trend and local today."""
    page = panel.panel_page(staff, now=now, limit=limit, cursor=cursor, search=search, order=order)
    ids = [item.id for item in page.items]
    today = _local_todays(ids, now)
    due = frozenset(
        item.id
        for item in page.items
        if item.expected_wear_off_date is not None and forecast.wearing_off(item.expected_wear_off_date, today[item.id])
    )
    return PanelView(page.items, page.next_cursor, daily_trends(ids, now), today, due)


def _local_todays(patient_ids: list[str], now: dt.datetime) -> dict[str, dt.date]:
    if not patient_ids:
        return {}
    zones = db.session.execute(
        select(PatientProfile.user_id, PatientProfile.timezone).where(PatientProfile.user_id.in_(patient_ids))
    ).all()
    return {patient_id: local_date(now, zone) for patient_id, zone in zones}


def daily_trends(patient_ids: list[str], now: dt.datetime) -> dict[str, DailyTrend]:
    """Daily mood and anxiety means of each patient's last TREND_DAYS local days (their
    today included), from one query bounded by the page's patients and the dates."""
    if not patient_ids:
        return {}
    # Every zone's local date is within a day of the UTC date.
    earliest = now.astimezone(UTC).date() - dt.timedelta(days=TREND_DAYS)
    rows = db.session.execute(
        select(
            Entry.patient_id,
            PatientProfile.timezone,
            Entry.local_date,
            func.sum(Entry.mood),
            func.sum(Entry.anxiety),
            func.count(Entry.id),
        )
        .join(PatientProfile, PatientProfile.user_id == Entry.patient_id)
        .where(Entry.patient_id.in_(patient_ids), Entry.deleted_at.is_(None), Entry.local_date >= earliest)
        .group_by(Entry.patient_id, PatientProfile.timezone, Entry.local_date)
    ).all()
    utc_first = now.astimezone(UTC).date() - dt.timedelta(days=TREND_DAYS - 1)
    trends = {pid: DailyTrend.empty(utc_first) for pid in patient_ids}
    for patient_id, zone, day, mood_sum, anxiety_sum, count in rows:
        trend = trends[patient_id]
        first = local_date(now, zone) - dt.timedelta(days=TREND_DAYS - 1)
        if trend.first != first:
            trend = trends[patient_id] = DailyTrend.empty(first)
        index = (day - first).days
        if 0 <= index < TREND_DAYS:
            # The summary's own arithmetic: integer sums over the count.
            trend.mood[index] = int(mood_sum) / int(count)
            trend.anxiety[index] = int(anxiety_sum) / int(count)
    return trends


@dataclass(frozen=True)
class PatientReview:
    patient_id: str
    display_name: str
    external_ref: str | None
    timezone: str
    window: summary.Window
    summary: dict[str, Any]
    wear_off: WearOff


def patient_review(staff: Actor, patient_id: str, date_from: dt.date | None, date_to: dt.date | None) -> PatientReview:
    """The patient page: GET /patients/{id}/summary's window rules, numbers and audit."""
    profile, window, result = summary.read_for_staff(staff, patient_id, date_from, date_to)
    return PatientReview(
        profile.user_id,
        profile.display_name,
        profile.external_ref,
        profile.timezone,
        window,
        result,
        wear_off(result["forecast"], window),
    )


# --- the forecast on the patient page ----------------------------------------------------------


@dataclass(frozen=True)
class WearOff:
    """The summary's forecast as the patient page shows it: where its basis sessions lie
    against the window, and the patient's local today the dates are told from."""

    forecast: forecast.Forecast | None
    today: dt.date
    before_window: int
    after_window: int
    wearing_off: bool
    min_basis_sessions: int = forecast.MIN_BASIS_SESSIONS


def wear_off(expected: forecast.Forecast | None, window: summary.Window) -> WearOff:
    """The basis sessions' local days, read in one query of at most BASIS_SESSIONS rows."""
    if expected is None:
        return WearOff(None, window.today, 0, 0, False)
    days = db.session.scalars(select(TreatmentSession.local_date).where(TreatmentSession.id.in_(expected.based_on)))
    days = list(days)
    return WearOff(
        expected,
        window.today,
        sum(1 for day in days if day < window.first),
        sum(1 for day in days if day > window.last),
        forecast.wearing_off(expected.expected_wear_off_date, window.today),
    )


# --- clinic outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpDue:
    """A follow-up window some of the cohort cannot have reached yet: patients whose first
    session is after `last_started` had not passed its last day by today."""

    name: str
    first: int
    last: int
    last_started: dt.date
    none_reached: bool  # no one in the cohort can have reached even its first day


@dataclass(frozen=True)
class OutcomesView:
    result: dict[str, Any]
    today: dt.date
    pending: list[FollowUpDue]
    # The definitions' thresholds, from their one home each.
    induction_sessions: int
    induction_days: int
    dropped_after_days: int
    baseline_window_days: int
    baseline_min_phq9: int
    response_fall_percent: int
    remission_below: int
    follow_ups: tuple[outcomes.FollowUp, ...]


def clinic_outcomes(staff: Actor, date_from: dt.date | None, date_to: dt.date | None, now: dt.datetime) -> OutcomesView:
    """The outcomes page: GET /clinic/outcomes's numbers and audit, and which follow-ups the
    cohort is too recent for (counted from today's UTC date, as the API's default window)."""
    result = outcomes.clinic_outcomes(staff, date_from, date_to, now)
    today = now.astimezone(UTC).date()
    pending = []
    for window in outcomes.FOLLOW_UPS:
        last_started = today - dt.timedelta(days=window.last)
        if result["to"] > last_started:
            none_reached = result["from_"] > today - dt.timedelta(days=window.first)
            pending.append(FollowUpDue(window.name, window.first, window.last, last_started, none_reached))
    cfg = current_app.config
    return OutcomesView(
        result,
        today,
        pending,
        induction_sessions=cfg["INDUCTION_SESSIONS"],
        induction_days=cfg["INDUCTION_DAYS"],
        dropped_after_days=outcomes.DROPPED_AFTER_DAYS,
        baseline_window_days=outcomes.BASELINE_WINDOW_DAYS,
        baseline_min_phq9=outcomes.BASELINE_MIN_PHQ9,
        response_fall_percent=instruments.RESPONSE_FALL_PERCENT,
        remission_below=cfg["REMISSION_PHQ9_CUTOFF"],
        follow_ups=outcomes.FOLLOW_UPS,
    )


@dataclass(frozen=True)
class QueuedAlert:
    alert: Alert
    # Only for clinicians: ops read the queue by ids, as the API gives it to them.
    patient_name: str | None


@dataclass(frozen=True)
class AlertQueue:
    items: list[QueuedAlert]
    next_cursor: str | None


def alert_queue(staff: Actor, *, status: str | None, limit: int, cursor: str | None) -> AlertQueue:
    """The alert queue page: GET /alerts's order and audit, with names for clinicians."""
    page, next_cursor = alerts.list_alerts(staff, status=status, limit=limit, cursor=cursor)
    names: dict[str, str] = {}
    if staff.role == "clinician" and page:
        names = dict(
            db.session.execute(
                select(PatientProfile.user_id, PatientProfile.display_name).where(
                    PatientProfile.user_id.in_({alert.patient_id for alert in page}),
                    PatientProfile.clinic_id == staff.clinic_id,
                )
            ).all()
        )
    return AlertQueue([QueuedAlert(alert, names.get(alert.patient_id)) for alert in page], next_cursor)


def local_instant(day: dt.date, wall: dt.time, zone: str) -> dt.datetime:
    """The UTC instant of a wall-clock time in `zone`. A time the clocks skip (spring
    forward) is refused rather than guessed; in the repeated hour (fall back) the first
    occurrence is taken."""
    local = dt.datetime.combine(day, wall, tzinfo=ZoneInfo(zone))
    instant = local.astimezone(UTC)
    if instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise Invalid("time", f"does not exist in {zone} on {day.isoformat()} (the clocks go forward)")
    return instant


def record_session_at_local_time(
    staff: Actor,
    patient_id: str,
    *,
    day: dt.date,
    wall: dt.time,
    route: str,
    dose_mg: float | None,
    notes: str | None,
    medication: str = "ketamine",
) -> sessions.SessionRecord:
    """POST /patients/{id}/sessions from a form that gives the start in the patient's zone."""
    zone = patients.patient_for_staff(staff, patient_id, action=None).timezone
    started_at = local_instant(day, wall, zone)
    return sessions.record(
        staff, patient_id, started_at=started_at, route=route, dose_mg=dose_mg, notes=notes, medication=medication
    )


def rate_at_local_time(
    staff: Actor,
    patient_id: str,
    *,
    rating_id: str,
    instrument: str,
    answers: list[int],
    day: dt.date,
    wall: dt.time,
    session_id: str | None,
) -> tuple[assessments.AssessmentRecord, bool]:
    """POST /patients/{id}/assessments from a form that gives the rating's time in the
    patient's zone; the same client id again is the API's replay, not a second rating."""
    zone = patients.patient_for_staff(staff, patient_id, action=None).timezone
    fields = {
        "id": rating_id,
        "instrument": instrument,
        "answers": answers,
        "recorded_at": local_instant(day, wall, zone),
        "session_id": session_id,
    }
    return assessments.rate(staff, patient_id, fields)


def _local_or_problem(day: dt.date, wall: dt.time, zone: str) -> tuple[dt.datetime | None, str | None]:
    try:
        return local_instant(day, wall, zone), None
    except Invalid as skipped:
        return None, skipped.errors["time"][0]


def monitor_at_local_times(
    staff: Actor,
    patient_id: str,
    session_id: str,
    *,
    readings: list[dict[str, Any]],
    discharge_date: dt.date | None,
    discharge_time: dt.time | None,
    sedation: str,
    dissociation: str,
    adverse_events: list[str],
    notes: str | None,
) -> monitoring.Monitoring:
    """PUT /patients/{id}/sessions/{sid}/monitoring from a form: each reading's `time` is on
    the session's local day, discharge at its own local date (the session's day when not
    given). Refusals are keyed by the form's fields: a reading's `time`, `discharge_time`."""
    profile = patients.patient_for_staff(staff, patient_id, action=None)
    session = sessions.live_session(staff, profile, session_id)
    zone = profile.timezone
    day = local_date(session.started_at, zone)
    errors: dict[str, Any] = {}
    vitals = []
    for index, reading in enumerate(readings):
        at, problem = _local_or_problem(day, reading["time"], zone)
        if problem:
            errors.setdefault("vitals", {})[index] = {"time": [problem]}
        vitals.append({**{k: v for k, v in reading.items() if k != "time"}, "at": at})
    discharged_at = None
    if discharge_time is not None:
        discharged_at, problem = _local_or_problem(discharge_date or day, discharge_time, zone)
        if problem:
            errors["discharge_time"] = [problem]
    if errors:
        raise monitoring.TimesInvalid(errors)
    try:
        return sessions.monitor(
            staff,
            patient_id,
            session_id,
            vitals=vitals,
            sedation=sedation,
            dissociation=dissociation,
            adverse_events=adverse_events,
            discharged_at=discharged_at,
            notes=notes,
        )
    except monitoring.TimesInvalid as refused:
        # The API names instants (`at`, `discharged_at`); the form has times of day.
        rekeyed: dict[str, Any] = {}
        for index, problems in (refused.errors or {}).get("vitals", {}).items():
            rekeyed.setdefault("vitals", {})[index] = {"time": problems["at"]}
        if "discharged_at" in (refused.errors or {}):
            rekeyed["discharge_time"] = refused.errors["discharged_at"]
        raise monitoring.TimesInvalid(rekeyed) from None
