"""A clinic's patients as staff reach them: always clinic-scoped, always audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select

from diary.domain import accounts, audit
from diary.domain.errors import AccessDenied, Conflict
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
        raise AccessDenied(staff, "patient", patient_id)
    if action is not None:
        audit.record(staff, action, patient_id=profile.user_id, resource_type="patient", resource_id=profile.user_id)
    return profile


@dataclass(frozen=True)
class Invitation:
    """A patient not yet enrolled, with the one-time code the clinician hands over (shown
    once, stored hashed). Reads as the patient's profile otherwise."""

    profile: PatientProfile
    enrollment_code: str
    enrollment_expires_at: dt.datetime

    def __getattr__(self, name: str) -> Any:
        return getattr(self.profile, name)


def invite(staff: Actor, *, display_name: str, timezone: str, external_ref: str | None = None) -> Invitation:
    """POST /patients: a new patient of the clinic and their enrolment code."""
    _, profile, code, expires_at = accounts.create_patient(
        staff, display_name=display_name, timezone=timezone, external_ref=external_ref
    )
    audit.record(
        staff, "patient.create", patient_id=profile.user_id, resource_type="patient", resource_id=profile.user_id
    )
    return Invitation(profile, code, expires_at)


def reissue_enrollment_code(staff: Actor, patient_id: str) -> Invitation:
    """A fresh code for a patient who lost theirs (the old one stops working)."""
    profile = patient_for_staff(staff, patient_id, action="patient.enrollment_code")
    if profile.enrolled_at is not None:
        raise Conflict("the patient has already enrolled", code="already_enrolled")
    code, expires_at = accounts.issue_enrollment_code(profile.user, staff)
    return Invitation(profile, code, expires_at)
