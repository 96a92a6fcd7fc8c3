"""Alert rules, the alert lifecycle, and alert delivery through the outbox.

Rules (API.md "Alert rules"; thresholds are configuration):
- self_harm (critical): an entry with self_harm_thoughts >= 1 or a PHQ-9 with item 9 >= 1,
  raised in the request that stored it.
- mood_drop / anxiety_rise (warning): the mean of the last 3 local days against the mean
  of the 14 days before, with at least 5 entries in those 14 days. Compared exactly (in
  fractions), so a change of exactly the threshold fires and 1.9 does not.
- phq9_worsening (warning): a PHQ-9 total up by >= 5 from the previous one, or >= 20.
- disengaged (warning, worker): no entry for 4 local days, or the last 2 check-ins expired.

At most one unresolved alert per patient and rule (a partial unique index). A trigger
while one is unresolved updates it; a self-harm report on an acknowledged alert reopens it,
because a new report of self-harm must reach someone again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import Date, bindparam, case, func, literal_column, select, tuple_
from sqlalchemy.exc import IntegrityError

from diary.domain import audit, outbox
from diary.domain.errors import Conflict, NotFound
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import UNRESOLVED, Alert, Assessment, Checkin, Entry, PatientProfile, User
from diary.timeutil import iso_utc, local_date, utcnow

if TYPE_CHECKING:
    from diary.domain.entries import NewEntry
    from diary.domain.patients import Patient

SEVERITY = {
    "self_harm": "critical",
    "mood_drop": "warning",
    "anxiety_rise": "warning",
    "phq9_worsening": "warning",
    "disengaged": "warning",
}


def _unresolved(patient_id: str, rule: str) -> Alert | None:
    return db.session.scalar(
        select(Alert).where(Alert.patient_id == patient_id, Alert.rule == rule, Alert.status.in_(UNRESOLVED))
    )


def raise_alert(profile: Patient, rule: str, details: dict[str, Any], *, reopen: bool = False) -> Alert:
    """Open an alert, or update the unresolved one (reopening it if `reopen`)."""
    now = utcnow()
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
    entries: Sequence[Entry | NewEntry],
    *,
    trends: bool | None = None,
    windows: TrendWindows | None = None,
) -> None:
    """Rules after entries were stored: self-harm for each, trends once for the patient
    (from `windows` when the write already read them, else read here)."""
    for entry in entries:
        if (entry.self_harm_thoughts or 0) >= 1:
            raise_alert(profile, "self_harm", {"source": "entry", "entry_id": entry.id}, reopen=True)
    if entries or trends:
        evaluate_trends(profile, windows=windows)


def on_assessment(profile: Patient, assessment: Assessment) -> None:
    if assessment.instrument != "phq9":
        return
    if assessment.answers[8] >= 1:
        raise_alert(profile, "self_harm", {"source": "phq9", "assessment_id": assessment.id}, reopen=True)
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


def _trend_windows_statement():
    """Count and sums of mood and anxiety for the recent days and for the baseline days
    before them, in one pass over the patient's (patient_id, local_date) index. Built once:
    it runs after every diary write (on PostgreSQL, inside the INSERT of a new entry)."""
    entries = Entry.__table__
    day, recent_first = entries.c.local_date, bindparam("recent_first", type_=Date)
    zero, one = literal_column("0"), literal_column("1")

    def total(recent: bool, column=None):
        in_window = day >= recent_first if recent else day < recent_first
        return func.coalesce(func.sum(case((in_window, one if column is None else column), else_=zero)), zero)

    return select(
        total(True).label("n_recent"),
        total(True, entries.c.mood).label("mood_recent"),
        total(True, entries.c.anxiety).label("anxiety_recent"),
        total(False).label("n_base"),
        total(False, entries.c.mood).label("mood_base"),
        total(False, entries.c.anxiety).label("anxiety_base"),
    ).where(
        entries.c.patient_id == bindparam("patient_id"),
        entries.c.deleted_at.is_(None),
        day >= bindparam("base_first", type_=Date),
        day <= bindparam("today", type_=Date),
    )


TREND_WINDOWS = _trend_windows_statement()


@dataclass(frozen=True)
class TrendWindows:
    """What mood_drop and anxiety_rise compare: (entries, mood sum, anxiety sum) of a
    patient's recent local days up to `today`, and of the baseline days before them."""

    today: dt.date
    recent_first: dt.date
    base_first: dt.date
    recent: tuple[int, int, int] = (0, 0, 0)
    baseline: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def ending(cls, today: dt.date) -> TrendWindows:
        cfg = current_app.config
        recent_first = today - dt.timedelta(days=cfg["ALERT_TREND_RECENT_DAYS"] - 1)
        return cls(today, recent_first, recent_first - dt.timedelta(days=cfg["ALERT_TREND_BASELINE_DAYS"]))

    def params(self, patient_id: str) -> dict[str, Any]:
        """TREND_WINDOWS' parameters."""
        return {
            "patient_id": patient_id,
            "recent_first": self.recent_first,
            "base_first": self.base_first,
            "today": self.today,
        }

    def with_totals(self, row: Any) -> TrendWindows:
        """These windows holding what TREND_WINDOWS counted (a row with its labels)."""
        recent = (int(row.n_recent), int(row.mood_recent), int(row.anxiety_recent))
        return replace(self, recent=recent, baseline=(int(row.n_base), int(row.mood_base), int(row.anxiety_base)))

    def adding(self, day: dt.date, mood: int, anxiety: int) -> TrendWindows:
        """These windows with one more entry, counted where its local day falls, if anywhere."""
        if not self.base_first <= day <= self.today:
            return self
        window = "recent" if day >= self.recent_first else "baseline"
        n, moods, anxieties = getattr(self, window)
        return replace(self, **{window: (n + 1, moods + mood, anxieties + anxiety)})

    def changes(self) -> dict[str, Fraction] | None:
        """Exact mood and anxiety change of the recent days against the baseline, or None
        when there is too little data to judge."""
        (n_recent, mood_recent, anx_recent), (n_base, mood_base, anx_base) = self.recent, self.baseline
        if n_recent == 0 or n_base < current_app.config["ALERT_TREND_MIN_BASELINE_ENTRIES"]:
            return None
        return {
            "mood": Fraction(mood_recent, n_recent) - Fraction(mood_base, n_base),
            "anxiety": Fraction(anx_recent, n_recent) - Fraction(anx_base, n_base),
        }


def read_trend_windows(patient_id: str, today: dt.date) -> TrendWindows:
    windows = TrendWindows.ending(today)
    db.session.flush()  # a Core statement does not autoflush: the rule must see this transaction's edits
    return windows.with_totals(db.session.connection().execute(TREND_WINDOWS, windows.params(patient_id)).one())


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
    db.session.commit()
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
    db.session.commit()
    return len(due)


# --- lifecycle ---------------------------------------------------------------------------


def alert_for_staff(staff: Actor, alert_id: str) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.clinic_id != staff.clinic_id:
        raise NotFound("alert not found")
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
    if alert.status == "resolved":
        raise Conflict("the alert is already resolved", code="alert_resolved")
    now = utcnow()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = now, staff.id
    alert.status = "resolved"
    alert.resolved_at, alert.resolved_by_id, alert.resolution_note = now, staff.id, note
    audit.record(staff, "alert.resolve", patient_id=alert.patient_id, resource_type="alert", resource_id=alert.id)
    db.session.flush()
    return alert


def list_alerts(staff: Actor, *, status: str | None, limit: int, cursor: str | None) -> tuple[list[Alert], str | None]:
    """Newest first, keyset-paginated on (opened_at, id)."""
    from diary.domain.entries import decode_cursor, encode_keyset

    query = select(Alert).where(Alert.clinic_id == staff.clinic_id)
    if status:
        query = query.where(Alert.status == status)
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        query = query.where(tuple_(Alert.opened_at, Alert.id) < tuple_(after_at, after_id))
    rows = list(db.session.scalars(query.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit + 1)))
    next_cursor = encode_keyset(rows[limit - 1].opened_at, rows[limit - 1].id) if len(rows) > limit else None
    if rows[:limit]:
        for alert in rows[:limit]:
            audit.record(staff, "alert.read", patient_id=alert.patient_id, resource_type="alert", resource_id=alert.id)
    return rows[:limit], next_cursor
