from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc

# How strongly sedation and dissociation were seen in the chair.
OBSERVED_LEVELS = ("none", "mild", "moderate", "severe")
ADVERSE_EVENTS = (
    "nausea",
    "vomiting",
    "hypertension",
    "tachycardia",
    "respiratory_depression",
    "agitation",
    "excessive_sedation",
    "panic",
    "other",
)


class SessionMonitoring(db.Model):
    """One version of what was observed in the clinic during and after a treatment session.

    Every PUT adds a version and none is ever changed: the record a clinician relied on at
    discharge must stay readable after a correction. The highest version is the session's
    monitoring. Only what was entered is stored; the flags (blood-pressure alert, short
    observation) are computed on read, so a changed threshold applies to every session.
    """

    __tablename__ = "session_monitoring"
    # Serves "the latest version of each of these sessions" as a range scan per session,
    # and refuses two versions with the same number.
    __table_args__ = (Index("ux_session_monitoring_session_version", "session_id", "version", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("treatment_sessions.id"))
    version: Mapped[int] = mapped_column(Integer)
    # [{at (ISO-8601 UTC), systolic, diastolic, heart_rate, spo2 (or null)}], as entered.
    vitals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    sedation: Mapped[str] = mapped_column(String(16))
    dissociation: Mapped[str] = mapped_column(String(16))
    adverse_events: Mapped[list[str]] = mapped_column(JSON)
    discharged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
