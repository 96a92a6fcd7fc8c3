"""Clinics, staff accounts, patient creation, enrolment and login."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import current_app
from sqlalchemy import func, select, update

from diary.domain import panel, passwords, tokens
from diary.domain.errors import AuthFailed, Conflict
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Clinic, EnrollmentCode, PatientProfile, User
from diary.timeutil import utcnow

# Crockford base32: no I, L, O, U, so a code read aloud or typed from paper survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 80 bits: unguessable even before rate limiting and expiry
_CODE_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})

BAD_CREDENTIALS = "invalid email or password"


def normalize_email(email: str) -> str:
    """Emails are compared trimmed and case-insensitively everywhere (" Ann@X " is ann@x)."""
    return email.strip().lower()


def create_clinic(name: str) -> Clinic:
    clinic = Clinic(name=name)
    db.session.add(clinic)
    db.session.flush()
    panel.add_clinic(clinic.id, utcnow())
    db.session.flush()
    return clinic


def create_staff(clinic: Clinic, role: str, email: str, password: str) -> User:
    email = normalize_email(email)
    passwords.check_policy(password)
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise Conflict("email already registered", code="email_taken")
    user = User(clinic_id=clinic.id, role=role, email=email, password_hash=passwords.hash_password(password))
    db.session.add(user)
    db.session.flush()
    return user


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalize_code(raw: str) -> str:
    return raw.upper().replace("-", "").replace(" ", "").translate(_CODE_READ_AS)


def issue_enrollment_code(patient: User, created_by: Actor | None) -> tuple[str, dt.datetime]:
    """A fresh one-time code; any earlier unused code of the patient stops working."""
    now = utcnow()
    db.session.execute(
        update(EnrollmentCode)
        .where(
            EnrollmentCode.patient_id == patient.id,
            EnrollmentCode.used_at.is_(None),
            EnrollmentCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = now + dt.timedelta(days=int(current_app.config["ENROLLMENT_CODE_TTL_DAYS"]))
    db.session.add(
        EnrollmentCode(
            patient_id=patient.id,
            code_hash=_hash_code(code),
            created_by_id=created_by.id if created_by else None,
            created_at=now,
            expires_at=expires_at,
        )
    )
    db.session.flush()
    return "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4)), expires_at


def create_patient(
    clinician: Actor, *, display_name: str, timezone: str, external_ref: str | None
) -> tuple[User, PatientProfile, str, dt.datetime]:
    patient = User(clinic_id=clinician.clinic_id, role="patient")
    db.session.add(patient)
    db.session.flush()
    profile = PatientProfile(
        user_id=patient.id,
        clinic_id=clinician.clinic_id,
        display_name=display_name,
        external_ref=external_ref,
        timezone=timezone,
        created_by_id=clinician.id,
    )
    db.session.add(profile)
    panel.add_patient(patient.id, clinician.clinic_id)
    db.session.flush()
    code, expires_at = issue_enrollment_code(patient, clinician)
    return patient, profile, code, expires_at


def enroll(raw_code: str, email: str, password: str) -> tuple[User, tokens.TokenPair]:
    now = utcnow()
    email = normalize_email(email)
    passwords.check_policy(password)
    code_hash = _hash_code(normalize_code(raw_code))
    code_row = db.session.scalar(select(EnrollmentCode).where(EnrollmentCode.code_hash == code_hash))
    if code_row is None or code_row.used_at is not None or code_row.expires_at <= now:
        raise AuthFailed("invalid or expired enrollment code", code="invalid_enrollment_code")
    patient = db.session.get(User, code_row.patient_id)
    if patient is None or not patient.is_active or patient.email is not None:
        raise AuthFailed("invalid or expired enrollment code", code="invalid_enrollment_code")
    if db.session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        raise Conflict("email already registered", code="email_taken")
    # Conditional update so two racing enrolments with one code cannot both win.
    claimed = db.session.execute(
        update(EnrollmentCode)
        .where(EnrollmentCode.id == code_row.id, EnrollmentCode.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if claimed != 1:
        raise AuthFailed("invalid or expired enrollment code", code="invalid_enrollment_code")
    patient.email = email
    patient.password_hash = passwords.hash_password(password)
    if patient.profile is not None:
        patient.profile.enrolled_at = now
    db.session.flush()
    return patient, tokens.open_session(patient)


def authenticate(email: str, password: str) -> User:
    """The active account with this email and password; an unknown email costs the same
    argon2 time as a wrong password and answers alike."""
    user = db.session.scalar(select(User).where(User.email == normalize_email(email)))
    ok, new_hash = passwords.verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        raise AuthFailed(BAD_CREDENTIALS, code="bad_credentials")
    if new_hash:
        user.password_hash = new_hash
    return user


def login(email: str, password: str) -> tokens.TokenPair:
    return tokens.open_session(authenticate(email, password))
