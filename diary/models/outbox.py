from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc

# pending: waiting for next_attempt_at · sending: leased by a worker until lease_until ·
# failed: a transient failure, retried at next_attempt_at · sent · dead: gave up ·
# cancelled: no longer wanted (answered, session deleted, push disabled, ...)
OUTBOX_STATUSES = ("pending", "sending", "failed", "sent", "dead", "cancelled")
OPEN_STATUSES = ("pending", "sending", "failed")
KINDS = ("checkin", "checkin_resend", "reminder", "alert_push", "alert_webhook")


class Notification(db.Model):
    """One outbound message (push or webhook) in the outbox. State lives here, never in
    the scheduler: a worker claims due rows, delivers, and records the outcome."""

    __tablename__ = "notifications"
    __table_args__ = (
        # "Due and not finished": the only rows the dispatcher ever scans.
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending', 'failed')"),
            sqlite_where=text("status IN ('pending', 'sending', 'failed')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    # Makes enqueueing idempotent: e.g. "checkin:<id>", "reminder:<patient>:<local date>".
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    checkin_id: Mapped[str | None] = mapped_column(ForeignKey("checkins.id"), index=True)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Devices already reached: a retry after a partial failure must not push them twice.
    delivered_device_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WorkerHeartbeat(db.Model):
    """Last tick of each worker process; /readyz reads the newest."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_tick_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
