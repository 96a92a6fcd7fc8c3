"""Right to erasure: remove everything about a patient, keep who-did-what with ids only.

Deleted: entries (and their versions, side effects and daily sums), questionnaires, sessions (and
their monitoring), check-ins, outbox rows, alerts, devices, logins, enrolment codes and the profile. The
user row stays as an empty tombstone (no email, no password, inactive), because the
append-only audit trail refers to it by id; audit rows themselves hold ids and action
names only, so they stay as they are.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from diary.domain.errors import NotFound
from diary.extensions import db
from diary.models import (
    Alert,
    Assessment,
    AuditEvent,
    AuthSession,
    Checkin,
    Device,
    EnrollmentCode,
    Entry,
    EntryDay,
    EntrySideEffect,
    EntryVersion,
    Notification,
    PatientPanel,
    PatientProfile,
    RefreshToken,
    SessionMonitoring,
    TreatmentSession,
    User,
)


def erase_patient(patient_id: str) -> dict[str, int]:
    """Erase in the caller's transaction; returns how many rows of each kind went."""
    user = db.session.get(User, patient_id)
    if user is None or user.role != "patient":
        raise NotFound("patient not found")
    entries = select(Entry.id).where(Entry.patient_id == patient_id)
    checkins = select(Checkin.id).where(Checkin.patient_id == patient_id)
    sessions = select(TreatmentSession.id).where(TreatmentSession.patient_id == patient_id)
    alerts = select(Alert.id).where(Alert.patient_id == patient_id)
    auth_sessions = select(AuthSession.id).where(AuthSession.user_id == patient_id)
    steps = [
        (
            "notifications",
            delete(Notification).where(
                (Notification.user_id == patient_id)
                | Notification.checkin_id.in_(checkins)
                | Notification.alert_id.in_(alerts)
            ),
        ),
        ("session_monitoring", delete(SessionMonitoring).where(SessionMonitoring.session_id.in_(sessions))),
        ("entry_side_effects", delete(EntrySideEffect).where(EntrySideEffect.entry_id.in_(entries))),
        ("entry_versions", delete(EntryVersion).where(EntryVersion.entry_id.in_(entries))),
        ("entries", delete(Entry).where(Entry.patient_id == patient_id)),
        ("entry_days", delete(EntryDay).where(EntryDay.patient_id == patient_id)),
        ("checkins", delete(Checkin).where(Checkin.patient_id == patient_id)),
        # Assessments first: a clinician's rating may point at one of the sessions.
        ("assessments", delete(Assessment).where(Assessment.patient_id == patient_id)),
        ("treatment_sessions", delete(TreatmentSession).where(TreatmentSession.patient_id == patient_id)),
        ("alerts", delete(Alert).where(Alert.patient_id == patient_id)),
        ("devices", delete(Device).where(Device.user_id == patient_id)),
        ("refresh_tokens", delete(RefreshToken).where(RefreshToken.session_id.in_(auth_sessions))),
        ("auth_sessions", delete(AuthSession).where(AuthSession.user_id == patient_id)),
        ("enrollment_codes", delete(EnrollmentCode).where(EnrollmentCode.patient_id == patient_id)),
        ("patient_panel", delete(PatientPanel).where(PatientPanel.patient_id == patient_id)),
        ("patient_profiles", delete(PatientProfile).where(PatientProfile.user_id == patient_id)),
    ]
    counts = {}
    for name, statement in steps:
        counts[name] = db.session.execute(statement.execution_options(synchronize_session=False)).rowcount
    db.session.execute(
        update(User).where(User.id == patient_id).values(email=None, password_hash=None, is_active=False)
    )
    db.session.add(
        AuditEvent(
            actor_id=None,
            actor_role="admin",
            clinic_id=user.clinic_id,
            action="patient.erase",
            patient_id=patient_id,
            resource_type="patient",
            resource_id=patient_id,
        )
    )
    db.session.flush()
    db.session.expire_all()
    return counts
