from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc

ROLES = ("patient", "clinician", "ops", "admin")
STAFF_ROLES = ("clinician", "ops", "admin")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # Stored lower-cased; null for a patient who has not enrolled yet.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)

    profile: Mapped[PatientProfile | None] = relationship(
        back_populates="user", uselist=False, foreign_keys="PatientProfile.user_id"
    )


class PatientProfile(db.Model):
    __tablename__ = "patient_profiles"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    external_ref: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    daily_reminder_time: Mapped[dt.time | None] = mapped_column(Time)
    quiet_hours_start: Mapped[dt.time] = mapped_column(Time, default=lambda: dt.time(22, 0))
    quiet_hours_end: Mapped[dt.time] = mapped_column(Time, default=lambda: dt.time(7, 0))
    push_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    enrolled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="profile", foreign_keys=[user_id])


class EnrollmentCode(db.Model):
    """A one-time code a clinician hands to a patient; only its hash is stored."""

    __tablename__ = "enrollment_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuthSession(db.Model):
    """One login: the family of rotating refresh tokens it issued (RFC 9700 §4.14)."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class RefreshToken(db.Model):
    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_sessions.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Device(db.Model):
    """A push target: the FCM registration token of one app install."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token: Mapped[str] = mapped_column(String(1024), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deactivated_reason: Mapped[str | None] = mapped_column(String(32))
