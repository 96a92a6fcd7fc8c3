"""Alert rules, the alert lifecycle, and alert delivery through the outbox.

Rules (API.md "Alert rules"; thresholds are configuration):
- self_harm (critical): an entry with self_harm_thoughts >= 1 or a PHQ-9 with item 9 >= 1,
  raised in the request that stored it.
- mood_drop / anxiety_rise (warning): the mean of the last 3 local days against the mean
  of the 14 days before, with at least 5 entries in those 14 days. Compared exactly (in
  fractions), so a change of exactly the threshold fires and 1.9 does not.
- phq9_worsening (warning): a PHQ-9 total up by >= 5 from the previous one, or >= 20.
- disengaged (warning, worker): no entry for 4 local days, or the last 2 check-ins expired.
- effect_waning (warning, worker): the patient's local today is on or after the forecast
  wear-off date minus WANING_LEAD_DAYS; one per latest session.

At most one unresolved alert per patient and rule (a partial unique index). A trigger
while one is unresolved updates it; a self-harm report on an acknowledged alert reopens it,
because a new report of self-harm must reach someone again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError

from diary.domain import audit, forecast, instruments, outbox, panel, safety
from diary.domain.errors import AccessDenied, Conflict
from diary.domain.keyset import BY_INSTANT_AND_ID, Page
from diary.domain.patients import Patient, PatientRef
from diary.domain.tokens import Actor
from diary.domain.trends import TrendWindows, read_trend_windows
from diary.extensions import db
from diary.models import SEVERITY, UNRESOLVED, Alert, Assessment, Checkin, Entry, PatientProfile, TreatmentSession, User
from diary.timeutil import iso_utc, local_date, utcnow


class ReportedEntry(Protocol):
    """What the rules read of a stored entry (an Entry row, or the NewEntry a write made)."""

    @property
    def id(self) -> str: ...

    @property
    def self_harm_thoughts(self) -> int | None: ...


def _unresolved(patient_id: str, rule: str) -> Alert | None:
    return db.session.scalar(
        select(Alert).where(Alert.patient_id == patient_id, Alert.rule == rule, Alert.status.in_(UNRESOLVED))
    )


def raise_alert(profile: Patient, rule: str, details: dict[str, Any], *, reopen: bool = False) -> Alert:
    """Open an alert, or update the unresolved one (reopening it if `reopen`)."""
    now = utcnow()
    panel.lock(profile.user_id)
    for _ in range(2):
        existing = _unresolved(profile.user_id, rule)
        if existing is not None:
            existing.details = {**existing.details, **details, "last_triggered_at": iso_utc(now)}
            if reopen and existing.status == "acknowledged":
                existing.status = "open"
                existing.acknowledged_at = existing.acknowledged_by_id = None
                queue_delivery(existing, now)
            db.session.flush()
            return existing
        alert = Alert(
            clinic_id=profile.clinic_id,
            patient_id=profile.user_id,
            rule=rule,
            severity=SEVERITY[rule],
            status="open",
            opened_at=now,
            details=details,
            deliveries=0,
        )
        try:
            with db.session.begin_nested():
                db.session.add(alert)
        except IntegrityError:
            continue  # a concurrent writer opened it first: update theirs
        queue_delivery(alert, now)
        panel.recount_alerts(profile.user_id)
        return alert
    raise RuntimeError("alert dedupe raced twice")


def queue_delivery(alert: Alert, now: dt.datetime) -> None:
    """Webhook (when configured) and a push to the clinic's staff devices, via the outbox."""
    alert.deliveries = (alert.deliveries or 0) + 1
    alert.last_delivery_at = now
    n = alert.deliveries
    payload = {"type": "alert", "alert_id": alert.id}
    outbox.enqueue("alert_push", f"alert:{alert.id}:push:{n}", now, alert_id=alert.id, payload=payload)
    if current_app.config["ALERT_WEBHOOK_URL"]:
        outbox.enqueue("alert_webhook", f"alert:{alert.id}:webhook:{n}", now, alert_id=alert.id, payload={})


def webhook_body(alert: Alert) -> bytes:
    """Ids, rule and severity only: webhook receivers sit outside the clinic's walls."""
    body = {
        "alert_id": alert.id,
        "clinic_id": alert.clinic_id,
        "patient_id": alert.patient_id,
        "rule": alert.rule,
        "severity": alert.severity,
        "opened_at": iso_utc(alert.opened_at),
    }
    return json.dumps(body, separators=(",", ":")).encode()


# --- rules evaluated in the request that stored data ------------------------------------


def after_entries(
    profile: Patient,
    entries: Sequence[ReportedEntry],
    *,
    trends: bool | None = None,
    windows: TrendWindows | None = None,
) -> None:
    """Rules after entries were stored: self-harm for each, trends once for the patient
    (from `windows` when the write already read them, else read here)."""
    for entry in entries:
        if safety.entry_reports_self_harm(entry.self_harm_thoughts):
            raise_alert(profile, "self_harm", {"source": "entry", "entry_id": entry.id}, reopen=True)
    if entries or trends:
        evaluate_trends(profile, windows=windows)


def on_assessment(profile: Patient, assessment: Assessment) -> None:
    """Self-harm from any instrument whose answers report it (PHQ-9 item 9, a C-SSRS screen
    at moderate or high risk); PHQ-9 worsening from PHQ-9s."""
    if instruments.CATALOGUE[assessment.instrument].reports_self_harm(assessment.answers):
        source = {"source": assessment.instrument, "assessment_id": assessment.id}
        raise_alert(profile, "self_harm", source, reopen=True)
    if assessment.instrument != "phq9":
        return
    cfg = current_app.config
    previous = db.session.scalar(
        select(Assessment.total)
        .where(
            Assessment.patient_id == profile.user_id,
            Assessment.instrument == "phq9",
            tuple_(Assessment.recorded_at, Assessment.id) < tuple_(assessment.recorded_at, assessment.id),
        )
        .order_by(Assessment.recorded_at.desc(), Assessment.id.desc())
        .limit(1)
    )
    rose = previous is not None and assessment.total - previous >= cfg["ALERT_PHQ9_RISE"]
    if rose or assessment.total >= cfg["ALERT_PHQ9_SEVERE"]:
        raise_alert(
            profile,
            "phq9_worsening",
            {"assessment_id": assessment.id, "total": assessment.total, "previous_total": previous},
        )


def evaluate_trends(profile: Patient, now: dt.datetime | None = None, windows: TrendWindows | None = None) -> None:
    cfg = current_app.config
    if windows is None:
        windows = read_trend_windows(profile.user_id, local_date(now or utcnow(), profile.timezone))
    changes = windows.changes()
    if changes is None:
        return
    details = {"mood_change": round(float(changes["mood"]), 2), "anxiety_change": round(float(changes["anxiety"]), 2)}
    if changes["mood"] <= -Fraction(str(cfg["ALERT_MOOD_DROP"])):
        raise_alert(profile, "mood_drop", details)
    if changes["anxiety"] >= Fraction(str(cfg["ALERT_ANXIETY_RISE"])):
        raise_alert(profile, "anxiety_rise", details)


# --- rules and escalation run by the worker -----------------------------------------------


def evaluate_disengagement(now: dt.datetime) -> int:
    """Active, enrolled patients with no entry for N local days or N expired check-ins in a row."""
    cfg = current_app.config
    days, in_a_row = cfg["ALERT_DISENGAGED_DAYS"], cfg["ALERT_EXPIRED_CHECKINS_IN_A_ROW"]
    last_entry = (
        select(Entry.patient_id, func.max(Entry.local_date).label("last_day"))
        .where(Entry.deleted_at.is_(None))
        .group_by(Entry.patient_id)
        .subquery()
    )
    rows = db.session.execute(
        select(PatientProfile, last_entry.c.last_day)
        .join(User, User.id == PatientProfile.user_id)
        .outerjoin(last_entry, last_entry.c.patient_id == PatientProfile.user_id)
        .where(User.is_active.is_(True), PatientProfile.enrolled_at.is_not(None))
    ).all()
    raised = 0
    for profile, last_day in rows:
        today = local_date(now, profile.timezone)
        since = last_day or local_date(profile.enrolled_at, profile.timezone)
        quiet_days = (today - since).days
        recent = list(
            db.session.scalars(
                select(Checkin.status)
                .where(Checkin.patient_id == profile.user_id, Checkin.due_at <= now, Checkin.status != "cancelled")
                .order_by(Checkin.due_at.desc())
                .limit(in_a_row)
            )
        )
        expired_run = len(recent) == in_a_row and all(s == "expired" for s in recent)
        if quiet_days >= days or expired_run:
            details = {"days_without_entry": quiet_days, "expired_checkins_in_a_row": in_a_row if expired_run else 0}
            raise_alert(profile, "disengaged", details)
            raised += 1
    db.session.flush()
    return raised


def escalate(now: dt.datetime) -> int:
    """Deliver unacknowledged critical alerts again, every ALERT_ESCALATION_MINUTES."""
    every = dt.timedelta(minutes=current_app.config["ALERT_ESCALATION_MINUTES"])
    due = list(
        db.session.scalars(
            select(Alert).where(
                Alert.status == "open", Alert.severity == "critical", Alert.last_delivery_at <= now - every
            )
        )
    )
    for alert in due:
        queue_delivery(alert, now)
    db.session.flush()
    return len(due)


WANING_BATCH = 200


def _waning_candidates(now: dt.datetime) -> list[tuple[str, str, str]]:
    """(patient id, clinic id, zone) of every active, enrolled patient with a live session."""
    has_session = select(TreatmentSession.id).where(
        TreatmentSession.patient_id == PatientProfile.user_id, TreatmentSession.deleted_at.is_(None)
    )
    return [
        tuple(row)
        for row in db.session.execute(
            select(PatientProfile.user_id, PatientProfile.clinic_id, PatientProfile.timezone)
            .join(User, User.id == PatientProfile.user_id)
            .where(User.is_active.is_(True), PatientProfile.enrolled_at.is_not(None), has_session.exists())
            .order_by(PatientProfile.user_id)
        )
    ]


MOOT_NOTE = (
    "Resolved automatically: the wear-off it warned of no longer stands (a newer session was "
    "recorded, the session it followed was deleted, or the forecast no longer holds)."
)


def _resolve_as_moot(alert: Alert, now: dt.datetime) -> None:
    alert.status = "resolved"
    alert.resolved_at = now
    alert.acknowledged_at = alert.acknowledged_at or now
    alert.resolution_note = MOOT_NOTE
    db.session.flush()
    panel.recount_alerts(alert.patient_id)


def _is_moot(alert: Alert, still_latest: str | None) -> bool:
    return alert.status in UNRESOLVED and alert.details.get("session_id") != still_latest


def resolve_moot_waning(patient_id: str, now: dt.datetime, still_latest: str | None) -> int:
    """Resolve the patient's unresolved effect_waning alert when the session it follows is no
    longer their latest (a newer one was recorded, or it was deleted): the wear-off it warned
    of is moot. Resolved by the system, with a note saying why."""
    panel.lock(patient_id)
    moot = [
        alert
        for alert in db.session.scalars(
            select(Alert).where(
                Alert.patient_id == patient_id, Alert.rule == "effect_waning", Alert.status.in_(UNRESOLVED)
            )
        )
        if _is_moot(alert, still_latest)
    ]
    for alert in moot:
        _resolve_as_moot(alert, now)
    db.session.flush()
    return len(moot)


def latest_session_id(patient_id: str) -> str | None:
    return db.session.scalar(
        select(TreatmentSession.id)
        .where(TreatmentSession.patient_id == patient_id, TreatmentSession.deleted_at.is_(None))
        .order_by(TreatmentSession.started_at.desc(), TreatmentSession.id)
        .limit(1)
    )


def _waning_details(expected: forecast.Forecast) -> dict[str, Any]:
    return {
        "session_id": expected.from_session_id,
        "expected_wear_off_date": expected.expected_wear_off_date.isoformat(),
        "earliest": expected.earliest.isoformat(),
        "latest": expected.latest.isoformat(),
        "basis_sessions": expected.basis_sessions,
    }


def evaluate_waning(now: dt.datetime) -> int:
    """effect_waning: the patient's local today is on or after the expected wear-off date
    minus WANING_LEAD_DAYS, counted from their latest session; one alert per latest session
    (once resolved, it is not raised again for that session; a new session allows a new one).
    An unresolved one whose forecast no longer stands is resolved as moot."""
    candidates = _waning_candidates(now)
    raised = 0
    for start in range(0, len(candidates), WANING_BATCH):
        batch = candidates[start : start + WANING_BATCH]
        predicted = forecast.forecasts({pid: zone for pid, _, zone in batch}, now)
        waning: dict[str, list[Alert]] = defaultdict(list)
        for alert in db.session.scalars(
            select(Alert).where(Alert.patient_id.in_([pid for pid, _, _ in batch]), Alert.rule == "effect_waning")
        ):
            waning[alert.patient_id].append(alert)
        for patient_id, clinic_id, zone in batch:
            expected = predicted.get(patient_id)
            still_latest = expected.from_session_id if expected else None
            moot = [alert for alert in waning[patient_id] if _is_moot(alert, still_latest)]
            if moot:
                panel.lock(patient_id)  # first, as every writer of a patient's alerts does
                for alert in moot:
                    _resolve_as_moot(alert, now)
            if expected is None or not forecast.wearing_off(expected.expected_wear_off_date, local_date(now, zone)):
                continue
            if any(alert.details.get("session_id") == still_latest for alert in waning[patient_id]):
                continue  # this session's alert was raised already (and may have been resolved)
            # A session recorded since the forecast was read makes this one moot: look again
            # under the lock that recording a session takes too.
            panel.lock(patient_id)
            if latest_session_id(patient_id) != still_latest:
                continue
            raise_alert(PatientRef(patient_id, clinic_id, zone), "effect_waning", _waning_details(expected))
            raised += 1
    db.session.flush()
    return raised


# --- lifecycle ---------------------------------------------------------------------------


def alert_for_staff(staff: Actor, alert_id: str) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.clinic_id != staff.clinic_id:
        raise AccessDenied(staff, "alert", alert_id)
    return alert


def acknowledge(staff: Actor, alert_id: str) -> Alert:
    alert = alert_for_staff(staff, alert_id)
    if alert.status == "resolved":
        raise Conflict("the alert is already resolved", code="alert_resolved")
    if alert.status == "open":
        alert.status = "acknowledged"
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by_id = staff.id
    audit.record(staff, "alert.acknowledge", patient_id=alert.patient_id, resource_type="alert", resource_id=alert.id)
    db.session.flush()
    return alert


def resolve(staff: Actor, alert_id: str, note: str | None) -> Alert:
    alert = alert_for_staff(staff, alert_id)
    panel.lock(alert.patient_id)
    db.session.refresh(alert)  # as it stands now that no other writer of the patient is in between
    if alert.status == "resolved":
        raise Conflict("the alert is already resolved", code="alert_resolved")
    now = utcnow()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = now, staff.id
    alert.status = "resolved"
    alert.resolved_at, alert.resolved_by_id, alert.resolution_note = now, staff.id, note
    audit.record(staff, "alert.resolve", patient_id=alert.patient_id, resource_type="alert", resource_id=alert.id)
    db.session.flush()
    panel.recount_alerts(alert.patient_id)
    return alert


def list_alerts(staff: Actor, *, status: str | None, limit: int, cursor: str | None) -> Page[Alert]:
    """Newest first, keyset-paginated on (opened_at, id)."""
    query = select(Alert).where(Alert.clinic_id == staff.clinic_id)
    if status:
        query = query.where(Alert.status == status)
    if cursor:
        after_at, after_id = BY_INSTANT_AND_ID.decode(cursor)
        query = query.where(tuple_(Alert.opened_at, Alert.id) < tuple_(after_at, after_id))
    rows = db.session.scalars(query.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit + 1)).all()
    page = BY_INSTANT_AND_ID.page(rows, limit, lambda alert: (alert.opened_at, alert.id))
    for alert in page.items:
        audit.record(staff, "alert.read", patient_id=alert.patient_id, resource_type="alert", resource_id=alert.id)
    return page
