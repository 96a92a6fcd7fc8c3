from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc

ROUTES = ("iv", "im", "intranasal", "oral", "sublingual")
MEDICATIONS = ("ketamine", "esketamine")
CHECKIN_STATUSES = ("pending", "sent", "answered", "expired", "cancelled")


class TreatmentSession(db.Model):
    __tablename__ = "treatment_sessions"
    __table_args__ = (Index("ix_treatment_sessions_patient_started", "patient_id", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The patient's calendar day of the dose, in their zone when it was recorded (like an
    # entry's): effects, forecasts and clinic outcomes count days from it.
    local_date: Mapped[dt.date]
    route: Mapped[str] = mapped_column(String(16))
    dose_mg: Mapped[float | None] = mapped_column(Float)
    medication: Mapped[str] = mapped_column(String(16), default="ketamine", server_default="ketamine")
    notes: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Checkin(db.Model):
    """One scheduled prompt of a treatment session (e.g. "+4h", "+1d")."""

    __tablename__ = "checkins"
    __table_args__ = (Index("ix_checkins_patient_due", "patient_id", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(32))
    offset_minutes: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The protocol's window when the session was recorded; a later protocol change
    # must not move check-ins already scheduled.
    window_minutes: Mapped[int] = mapped_column(Integer, server_default="720")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Set for every answer; an answer after expires_at leaves the status "expired" (late).
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answer_entry_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
