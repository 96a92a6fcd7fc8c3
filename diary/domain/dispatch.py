"""Claiming due outbox rows and delivering them, exactly once per row in the normal case.

A worker claims rows in one statement (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so any
number of workers on any number of hosts take disjoint rows; SQLite: the write lock
serialises claims), commits, delivers, then records each outcome guarded by its lease.
A worker that dies mid-batch leaves rows in `sending`; when their lease runs out any
worker claims them again. The only duplicate this allows is a push that went out just
before a crash and before its row was marked: at most one per killed worker, and the
collapse key makes the phone show it once.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, bindparam, or_, select, update

from diary import metrics
from diary.delivery import PushMessage, PushResult, PushSender
from diary.domain import alerts as alert_rules
from diary.extensions import db
from diary.models import OPEN_STATUSES, Alert, Checkin, Device, Entry, Notification, PatientProfile, User
from diary.timeutil import utcnow

# Generic on purpose: FCM and APNs are outside the clinic's walls, so no name, score or note.
PUSH_TEXT = {
    "checkin": ("Time for a check-in", "How are you feeling? It takes less than a minute."),
    "checkin_resend": ("A check-in is waiting", "Your check-in is still open. It takes less than a minute."),
    "reminder": ("Your daily diary", "A moment to note how today is going?"),
    "alert_push": ("Patient alert", "A patient alert needs attention. Open the dashboard."),
}
ALERT_KINDS = ("alert_push", "alert_webhook")
STAFF_RECIPIENTS = ("clinician", "ops")


@dataclass
class BatchStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    cancelled: int = 0

    def add(self, other: BatchStats) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def claim(worker_id: str, *, now: dt.datetime, limit: int, lease_seconds: int) -> list[str]:
    """Lease up to `limit` due rows to `worker_id`; returns their ids. The caller commits
    before delivering: the committed lease is what keeps other workers off these rows."""
    N = Notification
    due = and_(
        N.status.in_(OPEN_STATUSES),  # matches the partial index
        or_(
            and_(N.status.in_(("pending", "failed")), N.next_attempt_at <= now),
            and_(N.status == "sending", N.lease_until < now),  # a worker died holding it
        ),
    )
    candidates = (
        select(N.id).where(due).order_by(N.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
    ).scalar_subquery()
    claimed = (
        db.session.execute(
            update(N)
            .where(N.id.in_(candidates), due)
            .values(
                status="sending",
                lease_owner=worker_id,
                lease_until=now + dt.timedelta(seconds=lease_seconds),
                attempts=N.attempts + 1,
            )
            .returning(N.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    return list(claimed)


def backoff_seconds(attempts: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter; a provider's Retry-After is a floor."""
    cfg = current_app.config
    ceiling = min(cfg["PUSH_RETRY_MAX_SECONDS"], cfg["PUSH_RETRY_BASE_SECONDS"] * 2 ** (attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311  (jitter, not security)
    return max(delay, retry_after or 0.0)


@dataclass
class _Plan:
    """What one claimed row becomes: messages to devices, or a decision without sending."""

    row: Notification
    devices: list[Device] = field(default_factory=list)
    cancel_reason: str | None = None
    alert: Alert | None = None  # for a webhook row


def _still_wanted(
    row: Notification, now: dt.datetime, profiles: dict, checkins: dict, entry_days: set, alerts: dict
) -> str | None:
    """Why this row should not go out any more, or None."""
    if row.kind in ALERT_KINDS:
        alert = alerts.get(row.alert_id)
        # Someone acknowledged it (or resolved it): paging more people serves no one.
        return None if alert is not None and alert.status == "open" else f"alert {alert.status if alert else 'gone'}"
    profile = profiles.get(row.user_id)
    if profile is None:
        return "recipient gone"
    if not profile.push_enabled:
        return "push disabled"
    if row.kind in ("checkin", "checkin_resend"):
        checkin = checkins.get(row.checkin_id)
        if checkin is None or checkin.status not in ("pending", "sent"):
            return f"check-in {checkin.status if checkin else 'missing'}"
        if now >= checkin.expires_at:
            return "check-in window closed"
    if row.kind == "reminder" and (row.user_id, row.payload.get("local_date")) in entry_days:
        return "an entry was made that day"
    return None


def _plan(rows: list[Notification], now: dt.datetime) -> list[_Plan]:
    user_ids = {r.user_id for r in rows}
    profiles = {
        p.user_id: p for p in db.session.scalars(select(PatientProfile).where(PatientProfile.user_id.in_(user_ids)))
    }
    checkin_ids = {r.checkin_id for r in rows if r.checkin_id}
    checkins = {c.id: c for c in db.session.scalars(select(Checkin).where(Checkin.id.in_(checkin_ids)))}
    reminder_days = {r.payload.get("local_date") for r in rows if r.kind == "reminder"}
    entry_days: set = set()
    if reminder_days:
        entry_days = {
            (pid, day.isoformat())
            for pid, day in db.session.execute(
                select(Entry.patient_id, Entry.local_date).where(
                    Entry.patient_id.in_(user_ids),
                    Entry.local_date.in_([dt.date.fromisoformat(d) for d in reminder_days if d]),
                    Entry.deleted_at.is_(None),
                )
            )
        }
    devices_by_user: dict[str, list[Device]] = defaultdict(list)
    for device in db.session.scalars(select(Device).where(Device.user_id.in_(user_ids), Device.active.is_(True))):
        devices_by_user[device.user_id].append(device)
    alerts = {a.id: a for a in db.session.scalars(select(Alert).where(Alert.id.in_({r.alert_id for r in rows})))}
    staff_devices: dict[str, list[Device]] = defaultdict(list)
    if any(r.kind == "alert_push" for r in rows):
        clinic_ids = {a.clinic_id for a in alerts.values()}
        for device, clinic_id in db.session.execute(
            select(Device, User.clinic_id)
            .join(User, User.id == Device.user_id)
            .where(
                User.clinic_id.in_(clinic_ids),
                User.role.in_(STAFF_RECIPIENTS),
                User.is_active.is_(True),
                Device.active.is_(True),
            )
        ):
            staff_devices[clinic_id].append(device)
    plans = []
    for row in rows:
        reason = _still_wanted(row, now, profiles, checkins, entry_days, alerts)
        if reason:
            plans.append(_Plan(row, cancel_reason=reason))
            continue
        if row.kind == "alert_webhook":
            plans.append(_Plan(row, alert=alerts[row.alert_id]))
            continue
        targets = (
            staff_devices[alerts[row.alert_id].clinic_id] if row.kind == "alert_push" else devices_by_user[row.user_id]
        )
        pending = [d for d in targets if d.id not in set(row.delivered_device_ids or [])]
        plans.append(_Plan(row, devices=pending))
    return plans


def _message(row: Notification, device: Device, now: dt.datetime, checkins: dict[str, Checkin]) -> PushMessage:
    title, body = PUSH_TEXT[row.kind]
    ttl, collapse = None, None
    if row.checkin_id:
        checkin = checkins[row.checkin_id]
        # Stale after the window closes: the phone should drop it rather than show it late.
        ttl = max(1, int((checkin.expires_at - now).total_seconds()))
        collapse = f"checkin-{row.checkin_id}"
    elif row.kind == "reminder":
        collapse = "daily-reminder"
    elif row.alert_id:
        collapse = f"alert-{row.alert_id}"
    data = {str(k): str(v) for k, v in row.payload.items() if k != "local_date"}
    return PushMessage(device.token, title, body, data=data, ttl_seconds=ttl, collapse_key=collapse)


Answers = dict[str, list[tuple[Device | None, PushResult]]]


def _send(plans: list[_Plan], sender: PushSender, webhook, now: dt.datetime, checkins: dict[str, Checkin]) -> Answers:
    """Every push in one provider call, every webhook post; each row's answers. A device whose
    token the provider calls dead is deactivated for good."""
    answers: Answers = defaultdict(list)
    outgoing: list[tuple[_Plan, Device]] = [(p, d) for p in plans if not p.cancel_reason for d in p.devices]
    results = sender.send([_message(p.row, d, now, checkins) for p, d in outgoing]) if outgoing else []
    for plan in plans:
        if plan.alert is not None and not plan.cancel_reason:
            if webhook is None:  # the URL was unset after the row was queued
                plan.cancel_reason = "no webhook configured"
                continue
            answers[plan.row.id].append(
                (None, webhook.post(alert_rules.webhook_body(plan.alert), int(now.timestamp())))
            )
    for (plan, device), result in zip(outgoing, results, strict=True):
        answers[plan.row.id].append((device, result))
        if result.outcome == "invalid_token":
            device.active = False
            device.deactivated_at = now
            device.deactivated_reason = result.error or "invalid token"
    return answers


def _outcome(plan: _Plan, answers: Answers, now: dt.datetime, stats: BatchStats) -> dict:
    """The row's new state from its devices' answers: sent, retried later, dead or cancelled."""
    row = plan.row
    delivered = list(row.delivered_device_ids or [])
    change: dict = {
        "b_id": row.id,
        "delivered_device_ids": delivered,
        "last_error": None,
        "provider_message_id": row.provider_message_id,
        "sent_at": row.sent_at,
        "next_attempt_at": row.next_attempt_at,
    }
    if plan.cancel_reason:
        change.update(status="cancelled", last_error=plan.cancel_reason)
        stats.cancelled += 1
        return change
    retry_after: list[float] = []
    errors = []
    for device, result in answers[row.id]:
        if result.outcome == "sent":
            delivered.append(device.id if device is not None else "webhook")
            change["provider_message_id"] = result.message_id
        elif result.outcome == "retry":
            retry_after.append(result.retry_after or 0.0)
            errors.append(result.error or "retry")
        elif result.outcome == "rejected":
            errors.append(f"rejected: {result.error}")
        else:
            errors.append(f"device deactivated: {result.error}")
    if not retry_after:  # every device answered for good: delivered, or its token is dead
        if delivered:
            change.update(status="sent", sent_at=now, last_error="; ".join(errors) or None)
            stats.sent += 1
            metrics.PUSHES.labels(row.kind, "sent").inc()
        elif row.kind == "alert_webhook":  # the receiver refused it for good
            change.update(status="dead", last_error="; ".join(errors))
            stats.dead += 1
            metrics.PUSHES.labels(row.kind, "dead").inc()
        else:
            change.update(status="cancelled", last_error="; ".join(errors) or "no active device")
            stats.cancelled += 1
    elif row.attempts >= current_app.config["PUSH_MAX_ATTEMPTS"]:
        change.update(status="sent" if delivered else "dead", last_error="; ".join(errors))
        if delivered:  # some devices were reached: a sent row, with its sent_at
            change["sent_at"] = now
        stats.sent += 1 if delivered else 0
        stats.dead += 0 if delivered else 1
        metrics.PUSHES.labels(row.kind, "sent" if delivered else "dead").inc()
    else:
        wait = backoff_seconds(row.attempts, max(retry_after) if retry_after else None)
        change.update(status="failed", next_attempt_at=now + dt.timedelta(seconds=wait), last_error="; ".join(errors))
        stats.retried += 1
        metrics.PUSHES.labels(row.kind, "failed").inc()
    return change


_N = Notification.__table__
# Guarded by the lease: if this worker was too slow and another took the row over, the
# other worker's outcome stands.
_RECORD_OUTCOME = (
    _N.update()
    .where(_N.c.id == bindparam("b_id"), _N.c.lease_owner == bindparam("b_owner"), _N.c.status == "sending")
    .values(
        status=bindparam("status"),
        delivered_device_ids=bindparam("delivered_device_ids"),
        last_error=bindparam("last_error"),
        provider_message_id=bindparam("provider_message_id"),
        sent_at=bindparam("sent_at"),
        next_attempt_at=bindparam("next_attempt_at"),
        lease_owner=None,
        lease_until=None,
    )
)


def _mark_checkins_sent(plans: list[_Plan], answers: Answers) -> None:
    """A check-in is "sent" once any of its pushes (the first, or the re-send) reached a device."""
    reached = [
        p.row.checkin_id
        for p in plans
        if p.row.checkin_id and any(result.outcome == "sent" for _, result in answers.get(p.row.id, []))
    ]
    if reached:
        db.session.execute(
            update(Checkin).where(Checkin.id.in_(reached), Checkin.status == "pending").values(status="sent")
        )


def deliver(
    worker_id: str, ids: list[str], sender: PushSender, *, now: dt.datetime | None = None, webhook=None
) -> BatchStats:
    """Deliver rows this worker has claimed and record every outcome (the caller commits)."""
    now = now or utcnow()
    stats = BatchStats(claimed=len(ids))
    rows = list(
        db.session.scalars(
            select(Notification).where(
                Notification.id.in_(ids), Notification.lease_owner == worker_id, Notification.status == "sending"
            )
        )
    )
    plans = _plan(rows, now)
    checkins = {
        c.id: c for c in db.session.scalars(select(Checkin).where(Checkin.id.in_({r.checkin_id for r in rows})))
    }
    answers = _send(plans, sender, webhook, now, checkins)
    updates = [{**_outcome(plan, answers, now, stats), "b_owner": worker_id} for plan in plans]
    if updates:
        db.session.execute(_RECORD_OUTCOME, updates)
    _mark_checkins_sent(plans, answers)
    db.session.flush()
    return stats
