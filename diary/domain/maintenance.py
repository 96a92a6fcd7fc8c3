"""The worker's periodic jobs besides dispatch: expiry, daily reminders, heartbeat.

Each flushes; the worker commits after each job, so one job's failure undoes only its own work.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from diary.domain import outbox
from diary.domain.scheduling import QuietHours, outside_quiet_hours
from diary.extensions import db
from diary.models import Checkin, Entry, Notification, PatientProfile, User, WorkerHeartbeat


def expire_checkins(now: dt.datetime) -> int:
    """Unanswered check-ins whose window closed become `expired`; their pushes are cancelled."""
    expired = (
        db.session.execute(
            update(Checkin)
            .where(Checkin.status.in_(("pending", "sent")), Checkin.expires_at <= now)
            .values(status="expired")
            .returning(Checkin.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    outbox.cancel_for_checkins(list(expired), "expired")
    db.session.flush()
    return len(expired)


def reminder_due(profile: PatientProfile, now: dt.datetime) -> tuple[dt.date, dt.datetime] | None:
    """(local date, instant) of today's reminder if its time has come, else None.

    A reminder time inside quiet hours waits for them to end, unless that is already
    the next day: yesterday's reminder is never sent.
    """
    zone = ZoneInfo(profile.timezone)
    local_now = now.astimezone(zone)
    if profile.daily_reminder_time is None or local_now.time() < profile.daily_reminder_time:
        return None
    day = local_now.date()
    at = dt.datetime.combine(day, profile.daily_reminder_time, tzinfo=zone).astimezone(dt.UTC)
    at = outside_quiet_hours(at, profile.timezone, QuietHours(profile.quiet_hours_start, profile.quiet_hours_end))
    if at.astimezone(zone).date() != day:
        return None
    return day, at


def enqueue_reminders(now: dt.datetime) -> int:
    """At most one reminder per patient and local day, only when that day has no entry yet."""
    profiles = list(
        db.session.scalars(
            select(PatientProfile)
            .join(User, User.id == PatientProfile.user_id)
            .where(
                PatientProfile.daily_reminder_time.is_not(None),
                PatientProfile.push_enabled.is_(True),
                PatientProfile.enrolled_at.is_not(None),
                User.is_active.is_(True),
            )
        )
    )
    due = {}
    for profile in profiles:
        found = reminder_due(profile, now)
        if found:
            due[profile.user_id] = found
    if not due:
        return 0
    keys = {pid: f"reminder:{pid}:{day.isoformat()}" for pid, (day, _) in due.items()}
    existing = set(
        db.session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys.values())))
    )
    days = {day for day, _ in due.values()}
    written = {
        (pid, day)
        for pid, day in db.session.execute(
            select(Entry.patient_id, Entry.local_date).where(
                Entry.patient_id.in_(due), Entry.local_date.in_(days), Entry.deleted_at.is_(None)
            )
        )
    }
    created = 0
    for pid, (day, at) in due.items():
        if keys[pid] in existing or (pid, day) in written:
            continue
        payload = {"type": "reminder", "local_date": day.isoformat()}
        if outbox.enqueue("reminder", keys[pid], at, user_id=pid, payload=payload) is not None:
            created += 1
    db.session.flush()
    return created


def heartbeat(worker_id: str, now: dt.datetime) -> None:
    beat = db.session.get(WorkerHeartbeat, worker_id)
    if beat is None:
        db.session.add(
            WorkerHeartbeat(
                worker_id=worker_id,
                hostname=socket.gethostname()[:255],
                pid=os.getpid(),
                started_at=now,
                last_tick_at=now,
            )
        )
    else:
        beat.last_tick_at = now
    db.session.flush()
