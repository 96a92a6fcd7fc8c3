from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc

SIDE_EFFECTS = (
    "dissociation",
    "dizziness",
    "nausea",
    "headache",
    "drowsiness",
    "blurred_vision",
    "racing_heart",
    "high_blood_pressure",
    "confusion",
    "other",
)


class Entry(db.Model):
    """One diary entry. `id` is the client's UUID, which makes offline sync idempotent."""

    __tablename__ = "entries"
    __table_args__ = (
        Index("ix_entries_patient_recorded", "patient_id", "recorded_at", "id"),
        # The panel's "last 7 days" across a clinic: a range scan, not the whole history.
        Index(
            "ix_entries_recorded_live",
            "recorded_at",
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        Index(
            "ix_entries_patient_day_live",
            "patient_id",
            "local_date",
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The patient's calendar day at write time, in `timezone`: summaries group by it.
    local_date: Mapped[dt.date]
    timezone: Mapped[str] = mapped_column(String(64))
    mood: Mapped[int] = mapped_column(SmallInteger)
    anxiety: Mapped[int] = mapped_column(SmallInteger)
    sleep_hours: Mapped[float | None] = mapped_column(Float)
    self_harm_thoughts: Mapped[int | None] = mapped_column(SmallInteger)
    note: Mapped[str | None] = mapped_column(Text)
    checkin_id: Mapped[str | None] = mapped_column(ForeignKey("checkins.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    side_effect_rows: Mapped[list[EntrySideEffect]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="EntrySideEffect.effect"
    )

    @property
    def side_effects(self) -> list[str]:
        return [row.effect for row in self.side_effect_rows]

    @side_effects.setter
    def side_effects(self, effects: list[str]) -> None:
        wanted = sorted(set(effects))
        # Also when a new entry has none: reading a new object's empty collection leaves it
        # unset, so after the INSERT it would cost a query to find out it is empty.
        if wanted != self.side_effects or "side_effect_rows" not in self.__dict__:
            self.side_effect_rows = [EntrySideEffect(effect=e) for e in wanted]


class EntryDay(db.Model):
    """A patient's live entries of one local day, summed (diary.domain.entry_days).

    Derived, never the truth: kept by every write of an entry in its own transaction, and
    equal to the live entries grouped by (patient_id, local_date). A day without live
    entries has no row. What the trend rules, the summary's daily series and the session
    effects read: one row a day, however many entries the day holds.
    """

    __tablename__ = "entry_days"

    patient_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id"), primary_key=True)
    local_date: Mapped[dt.date] = mapped_column(primary_key=True)
    entry_count: Mapped[int] = mapped_column(Integer)
    mood_sum: Mapped[int] = mapped_column(Integer)
    anxiety_sum: Mapped[int] = mapped_column(Integer)


class EntrySideEffect(db.Model):
    """One reported side effect; a row each so summaries count them with GROUP BY."""

    __tablename__ = "entry_side_effects"

    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    effect: Mapped[str] = mapped_column(String(32), primary_key=True)


class EntryVersion(db.Model):
    """The content an entry had before an edit; edits never destroy what was reported."""

    __tablename__ = "entry_versions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    replaced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)


class Assessment(db.Model):
    """One questionnaire or rating scale of the catalogue (diary.domain.instruments), filled
    in by the patient or rated by a clinician; `id` is the client's UUID."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_patient_instrument", "patient_id", "instrument", "recorded_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    instrument: Mapped[str] = mapped_column(String(16))
    answers: Mapped[list[int]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(SmallInteger)
    # A banded instrument's severity, or a screen's risk level; the other is null.
    severity: Mapped[str | None] = mapped_column(String(24))
    risk: Mapped[str | None] = mapped_column(String(16))
    # The clinician who rated it; null when the patient filled it in.
    rated_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    local_date: Mapped[dt.date]
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
