"""A patient's complete record, as they are entitled to receive it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from diary.extensions import db
from diary.models import Assessment, Checkin, Device, Entry, EntryVersion, PatientProfile, TreatmentSession, User
from diary.timeutil import iso_utc, utcnow


def _clock(value) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def patient_export(user: User) -> dict[str, Any]:
    profile = db.session.get(PatientProfile, user.id)
    versions: dict[str, list[dict[str, Any]]] = {}
    for version in db.session.scalars(
        select(EntryVersion)
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .where(Entry.patient_id == user.id)
        .order_by(EntryVersion.entry_id, EntryVersion.version)
    ):
        versions.setdefault(version.entry_id, []).append(
            {"version": version.version, "replaced_at": iso_utc(version.replaced_at), "content": version.content}
        )
    entries = db.session.scalars(select(Entry).where(Entry.patient_id == user.id).order_by(Entry.recorded_at))
    assessments = db.session.scalars(
        select(Assessment).where(Assessment.patient_id == user.id).order_by(Assessment.recorded_at)
    )
    sessions = db.session.scalars(
        select(TreatmentSession).where(TreatmentSession.patient_id == user.id).order_by(TreatmentSession.started_at)
    )
    checkins = db.session.scalars(select(Checkin).where(Checkin.patient_id == user.id).order_by(Checkin.due_at))
    devices = db.session.scalars(select(Device).where(Device.user_id == user.id).order_by(Device.created_at))
    return {
        "exported_at": iso_utc(utcnow()),
        "profile": {
            "id": user.id,
            "email": user.email,
            "display_name": profile.display_name,
            "external_ref": profile.external_ref,
            "timezone": profile.timezone,
            "daily_reminder_time": _clock(profile.daily_reminder_time),
            "quiet_hours_start": _clock(profile.quiet_hours_start),
            "quiet_hours_end": _clock(profile.quiet_hours_end),
            "push_enabled": profile.push_enabled,
            "created_at": iso_utc(profile.created_at),
            "enrolled_at": iso_utc(profile.enrolled_at),
        },
        "entries": [
            {
                "id": e.id,
                "recorded_at": iso_utc(e.recorded_at),
                "local_date": e.local_date.isoformat(),
                "timezone": e.timezone,
                "mood": e.mood,
                "anxiety": e.anxiety,
                "sleep_hours": e.sleep_hours,
                "side_effects": e.side_effects,
                "self_harm_thoughts": e.self_harm_thoughts,
                "note": e.note,
                "checkin_id": e.checkin_id,
                "version": e.version,
                "created_at": iso_utc(e.created_at),
                "updated_at": iso_utc(e.updated_at),
                "deleted_at": iso_utc(e.deleted_at),
                "previous_versions": versions.get(e.id, []),
            }
            for e in entries
        ],
        "assessments": [
            {
                "id": a.id,
                "instrument": a.instrument,
                "answers": list(a.answers),
                "total": a.total,
                "severity": a.severity,
                "recorded_at": iso_utc(a.recorded_at),
                "local_date": a.local_date.isoformat(),
            }
            for a in assessments
        ],
        "treatment_sessions": [
            {
                "id": s.id,
                "started_at": iso_utc(s.started_at),
                "route": s.route,
                "dose_mg": s.dose_mg,
                "notes": s.notes,
                "deleted_at": iso_utc(s.deleted_at),
            }
            for s in sessions
        ],
        "checkins": [
            {
                "id": c.id,
                "session_id": c.session_id,
                "label": c.label,
                "due_at": iso_utc(c.due_at),
                "expires_at": iso_utc(c.expires_at),
                "status": c.status,
                "answered_at": iso_utc(c.answered_at),
            }
            for c in checkins
        ],
        "devices": [
            {"id": d.id, "platform": d.platform, "active": d.active, "created_at": iso_utc(d.created_at)}
            for d in devices
        ],
    }
