"""A patient's complete record, as they are entitled to receive it (GET /me/export)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from diary.domain import audit
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import (
    Assessment,
    Checkin,
    Device,
    Entry,
    EntryVersion,
    PatientProfile,
    SessionMonitoring,
    TreatmentSession,
    User,
)
from diary.timeutil import iso_utc, utcnow


def _clock(value) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def _profile(user: User) -> dict[str, Any]:
    profile = db.session.get(PatientProfile, user.id)
    return {
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
    }


def _previous_versions(patient_id: str) -> dict[str, list[dict[str, Any]]]:
    versions: dict[str, list[dict[str, Any]]] = {}
    for version in db.session.scalars(
        select(EntryVersion)
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .where(Entry.patient_id == patient_id)
        .order_by(EntryVersion.entry_id, EntryVersion.version)
    ):
        versions.setdefault(version.entry_id, []).append(
            {"version": version.version, "replaced_at": iso_utc(version.replaced_at), "content": version.content}
        )
    return versions


def _entries(patient_id: str) -> list[dict[str, Any]]:
    """Every entry, deleted ones too (marked), each with the versions its edits replaced."""
    versions = _previous_versions(patient_id)
    return [
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
        for e in db.session.scalars(select(Entry).where(Entry.patient_id == patient_id).order_by(Entry.recorded_at))
    ]


def _assessments(patient_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": a.id,
            "instrument": a.instrument,
            "answers": list(a.answers),
            "total": a.total,
            "severity": a.severity,
            "risk": a.risk,
            "recorded_at": iso_utc(a.recorded_at),
            "local_date": a.local_date.isoformat(),
            # Who rated it, by role only: a patient never sees a staff member's identity.
            "rated_by": "clinician" if a.rated_by_id else "patient",
            "session_id": a.session_id,
        }
        for a in db.session.scalars(
            select(Assessment).where(Assessment.patient_id == patient_id).order_by(Assessment.recorded_at)
        )
    ]


def _monitoring(patient_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every version of each session's monitoring, oldest first; who recorded it stays out
    (a clinician did, always)."""
    versions: dict[str, list[dict[str, Any]]] = {}
    for m in db.session.scalars(
        select(SessionMonitoring)
        .join(TreatmentSession, TreatmentSession.id == SessionMonitoring.session_id)
        .where(TreatmentSession.patient_id == patient_id)
        .order_by(SessionMonitoring.session_id, SessionMonitoring.version)
    ):
        versions.setdefault(m.session_id, []).append(
            {
                "version": m.version,
                "vitals": m.vitals,
                "sedation": m.sedation,
                "dissociation": m.dissociation,
                "adverse_events": m.adverse_events,
                "discharged_at": iso_utc(m.discharged_at),
                "notes": m.notes,
                "recorded_at": iso_utc(m.recorded_at),
            }
        )
    return versions


def _sessions(patient_id: str) -> list[dict[str, Any]]:
    monitoring = _monitoring(patient_id)
    return [
        {
            "id": s.id,
            "started_at": iso_utc(s.started_at),
            "route": s.route,
            "medication": s.medication,
            "dose_mg": s.dose_mg,
            "notes": s.notes,
            "deleted_at": iso_utc(s.deleted_at),
            "monitoring": monitoring.get(s.id, []),
        }
        for s in db.session.scalars(
            select(TreatmentSession)
            .where(TreatmentSession.patient_id == patient_id)
            .order_by(TreatmentSession.started_at)
        )
    ]


def _checkins(patient_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "session_id": c.session_id,
            "label": c.label,
            "due_at": iso_utc(c.due_at),
            "expires_at": iso_utc(c.expires_at),
            "status": c.status,
            "answered_at": iso_utc(c.answered_at),
        }
        for c in db.session.scalars(select(Checkin).where(Checkin.patient_id == patient_id).order_by(Checkin.due_at))
    ]


def _devices(user_id: str) -> list[dict[str, Any]]:
    """Which installs receive pushes; the tokens themselves stay out of the document."""
    return [
        {"id": d.id, "platform": d.platform, "active": d.active, "created_at": iso_utc(d.created_at)}
        for d in db.session.scalars(select(Device).where(Device.user_id == user_id).order_by(Device.created_at))
    ]


def patient_export(user: User) -> dict[str, Any]:
    return {
        "exported_at": iso_utc(utcnow()),
        "profile": _profile(user),
        "entries": _entries(user.id),
        "assessments": _assessments(user.id),
        "treatment_sessions": _sessions(user.id),
        "checkins": _checkins(user.id),
        "devices": _devices(user.id),
    }


def export_own_record(patient: Actor) -> dict[str, Any]:
    """The patient's own export, audited like any read of their record."""
    user = db.session.get(User, patient.id)
    document = patient_export(user)
    audit.record(user, "patient.export", patient_id=user.id, resource_type="patient", resource_id=user.id)
    return document
