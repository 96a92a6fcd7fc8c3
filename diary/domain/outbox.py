"""Putting messages into the outbox, and taking unwanted ones out."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from diary.extensions import db
from diary.models import OPEN_STATUSES, Notification


def enqueue(
    kind: str,
    dedupe_key: str,
    due_at: dt.datetime,
    *,
    user_id: str | None = None,
    checkin_id: str | None = None,
    alert_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Notification | None:
    """Add a message once; a second enqueue with the same dedupe key is a no-op (None).

    The unique dedupe key, not a read-then-write, is what makes this safe when two
    workers (or a worker and a request) race to enqueue the same thing.
    """
    row = Notification(
        kind=kind,
        dedupe_key=dedupe_key,
        due_at=due_at,
        next_attempt_at=due_at,
        user_id=user_id,
        checkin_id=checkin_id,
        alert_id=alert_id,
        payload=payload or {},
        status="pending",
        attempts=0,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return None
    return row


def cancel_for_checkins(checkin_ids: list[str], reason: str) -> None:
    """Cancel what has not gone out yet. A row leased right now is left to its worker,
    which re-checks the check-in before sending."""
    if not checkin_ids:
        return
    db.session.execute(
        update(Notification)
        .where(Notification.checkin_id.in_(checkin_ids), Notification.status.in_(("pending", "failed")))
        .values(status="cancelled", last_error=reason)
    )


def open_for_checkin(checkin_id: str) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.checkin_id == checkin_id, Notification.status.in_(OPEN_STATUSES))
        )
    )
