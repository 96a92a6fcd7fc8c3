"""What the platform around the app asks of it: readiness, and the outbox and alert gauges.

Read from the database, so the figures are right however many workers run, wherever.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from diary.extensions import db
from diary.models import ALERT_STATUSES, OPEN_STATUSES, UNRESOLVED, Alert, Notification, WorkerHeartbeat

SEVERITIES = ("critical", "warning")


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.checks.values())

    @property
    def status(self) -> str:
        return "ok" if self.ready else "unavailable"


def last_tick() -> dt.datetime | None:
    return db.session.scalar(
        select(WorkerHeartbeat.last_tick_at).order_by(WorkerHeartbeat.last_tick_at.desc()).limit(1)
    )


def readiness(now: dt.datetime) -> Readiness:
    """The database answers, and a worker ticked within WORKER_STALE_SECONDS."""
    try:
        db.session.execute(text("SELECT 1"))
        last = last_tick()
    except SQLAlchemyError:
        db.session.rollback()
        return Readiness({"database": "unreachable", "worker": "unknown"})
    stale = dt.timedelta(seconds=current_app.config["WORKER_STALE_SECONDS"])
    if last is None:
        worker = "no worker has ticked"
    elif now - last > stale:
        worker = f"no worker tick for {int((now - last).total_seconds())} s"
    else:
        worker = "ok"
    return Readiness({"database": "ok", "worker": worker})


@dataclass(frozen=True)
class Gauges:
    depth: dict[tuple[str, str], int] = field(default_factory=dict)
    open_alerts: dict[tuple[str, str], int] = field(default_factory=dict)
    oldest_due_age: float = 0.0


def gauges(now: dt.datetime) -> Gauges | None:
    """Outbox depth by kind and status, the age of the oldest due row, and unresolved alerts
    by severity and status (every combination, 0 when none); None if the database is down."""
    try:
        depth = db.session.execute(
            select(Notification.kind, Notification.status, func.count())
            .where(Notification.status.in_(OPEN_STATUSES))
            .group_by(Notification.kind, Notification.status)
        ).all()
        oldest = db.session.scalar(
            select(func.min(Notification.next_attempt_at)).where(
                Notification.status.in_(("pending", "failed")), Notification.next_attempt_at <= now
            )
        )
        alerts = db.session.execute(
            select(Alert.severity, Alert.status, func.count())
            .where(Alert.status.in_(UNRESOLVED))
            .group_by(Alert.severity, Alert.status)
        ).all()
    except SQLAlchemyError:
        db.session.rollback()
        return None
    # Every series present from the start: a gauge that appears only once an alert opens
    # cannot be told apart from a scrape that failed, and alert rules on it misfire.
    open_alerts: dict[tuple[str, str], int] = {
        (s, st): 0 for s in SEVERITIES for st in ALERT_STATUSES if st in UNRESOLVED
    }
    open_alerts.update({(severity, status): count for severity, status, count in alerts})
    return Gauges(
        depth={(kind, status): count for kind, status, count in depth},
        open_alerts=open_alerts,
        oldest_due_age=(now - oldest).total_seconds() if oldest else 0.0,
    )
