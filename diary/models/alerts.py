from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc

# Every alert rule and its severity (API.md "Alert rules").
SEVERITY = {
    "self_harm": "critical",
    "mood_drop": "warning",
    "anxiety_rise": "warning",
    "phq9_worsening": "warning",
    "disengaged": "warning",
    "effect_waning": "warning",
}
RULES = tuple(SEVERITY)
ALERT_STATUSES = ("open", "acknowledged", "resolved")
UNRESOLVED = ("open", "acknowledged")


class Alert(db.Model):
    """A patient getting worse, for staff to see, acknowledge and resolve."""

    __tablename__ = "alerts"
    __table_args__ = (
        # At most one unresolved alert per patient and rule, enforced by the database so
        # two concurrent writers cannot both open one.
        Index(
            "uq_alerts_one_unresolved",
            "patient_id",
            "rule",
            unique=True,
            postgresql_where=text("status IN ('open', 'acknowledged')"),
            sqlite_where=text("status IN ('open', 'acknowledged')"),
        ),
        Index("ix_alerts_clinic_status_opened", "clinic_id", "status", "opened_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    # Ids and numbers that explain the trigger (e.g. the means compared), never free text.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # Deliveries so far (first one and escalations) and when the last one was queued.
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    last_delivery_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
