"""Staff access to patients: always clinic-scoped, always audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from diary.domain import audit
from diary.domain.errors import NotFound
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import PatientProfile


class Patient(Protocol):
    """What the diary's rules need of a patient: a PatientProfile, or a PatientRef."""

    @property
    def user_id(self) -> str: ...

    @property
    def clinic_id(self) -> str: ...

    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True)
class PatientRef:
    """A patient as their access token's principal knows them: enough for a diary write,
    without loading the profile row."""

    user_id: str
    clinic_id: str
    timezone: str


def patient_for_staff(staff: Actor, patient_id: str, *, action: str | None) -> PatientProfile:
    """The patient's profile if they are in the staff member's clinic; audited.

    Another clinic's patient answers exactly like a missing one, so ids cannot be probed.
    `action=None`: the caller records its own, more specific audit row.
    """
    profile = db.session.scalar(
        select(PatientProfile).where(PatientProfile.user_id == patient_id, PatientProfile.clinic_id == staff.clinic_id)
    )
    if profile is None:
        raise NotFound("patient not found")
    if action is not None:
        audit.record(staff, action, patient_id=profile.user_id, resource_type="patient", resource_id=profile.user_id)
    return profile


def patient_view(profile: PatientProfile) -> dict[str, object]:
    return {
        "id": profile.user_id,
        "display_name": profile.display_name,
        "timezone": profile.timezone,
        "external_ref": profile.external_ref,
        "enrolled": profile.enrolled_at is not None,
        "enrolled_at": profile.enrolled_at,
        "created_at": profile.created_at,
    }
