"""Questionnaires and rating scales as stored: filled in by the patient from the phone, or
rated by a clinician in the clinic. Scored by the catalogue (diary.domain.instruments);
idempotent on the client's UUID like diary entries (the same content again is a replay, other
content a conflict); a self-harm report raises its alert in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from diary.domain import alerts, audit, instruments, safety
from diary.domain.errors import Conflict, Invalid
from diary.domain.instants import not_in_future
from diary.domain.patients import Patient, patient_for_staff
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Assessment, TreatmentSession
from diary.timeutil import local_date


@dataclass(frozen=True)
class AssessmentRecord:
    """An assessment as the answer shows it, with the crisis resources when it reports
    self-harm. `rated_by`: the rating clinician's id, or None when the patient filled it in."""

    id: str
    instrument: str
    answers: list[int]
    total: int
    severity: str | None
    risk: str | None
    recorded_at: dt.datetime
    local_date: dt.date
    created_at: dt.datetime
    session_id: str | None
    rated_by: str | None
    safety: dict[str, Any] | None = None

    @classmethod
    def of(cls, assessment: Assessment, safety: dict[str, Any] | None = None) -> AssessmentRecord:
        return cls(
            id=assessment.id,
            instrument=assessment.instrument,
            answers=list(assessment.answers),
            total=assessment.total,
            severity=assessment.severity,
            risk=assessment.risk,
            recorded_at=assessment.recorded_at,
            local_date=assessment.local_date,
            created_at=assessment.created_at,
            session_id=assessment.session_id,
            rated_by=assessment.rated_by_id,
            safety=safety,
        )


def _insert_once(
    row_id: str, patient_id: str, build: Callable[[], Assessment], same: Callable[[Assessment], bool]
) -> tuple[Assessment, bool]:
    """Insert a client-identified row, or recognise a replay of it; (row, created).

    Another patient's id, or the same id with other content, is a conflict. A concurrent
    insert of the same id loses on the primary key inside a savepoint and is then judged as
    a replay, so nothing is half-written.
    """

    def judge(existing: Assessment) -> tuple[Assessment, bool]:
        if existing.patient_id != patient_id or not same(existing):
            raise Conflict("this id was already used with different content", code="id_conflict")
        return existing, False

    existing = db.session.get(Assessment, row_id, populate_existing=True)
    if existing is not None:
        return judge(existing)
    row = build()
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        existing = db.session.get(Assessment, row_id, populate_existing=True)
        if existing is None:
            raise
        return judge(existing)
    return row, True


def _store(
    patient: Patient, fields: dict[str, Any], *, rated_by: str | None, session_id: str | None
) -> tuple[Assessment, bool]:
    recorded_at = not_in_future("recorded_at", fields["recorded_at"])
    code, answers = fields["instrument"], list(fields["answers"])
    scored = instruments.score(code, answers)

    def build() -> Assessment:
        return Assessment(
            id=fields["id"],
            patient_id=patient.user_id,
            instrument=code,
            answers=answers,
            total=scored.total,
            severity=scored.severity,
            risk=scored.risk,
            rated_by_id=rated_by,
            session_id=session_id,
            recorded_at=recorded_at,
            local_date=local_date(recorded_at, patient.timezone),
            timezone=patient.timezone,
        )

    def same(existing: Assessment) -> bool:
        stored = (existing.instrument, list(existing.answers), existing.recorded_at, existing.session_id)
        return stored == (code, answers, recorded_at, session_id)

    return _insert_once(fields["id"], patient.user_id, build, same)


def submit(patient: Patient, fields: dict[str, Any]) -> tuple[AssessmentRecord, bool]:
    """POST /me/assessments: an instrument the patient fills in; (record, created)."""
    if instruments.CATALOGUE[fields["instrument"]].rated_by != "patient":
        raise Invalid("instrument", "is rated by a clinician, not filled in by the patient")
    assessment, created = _store(patient, fields, rated_by=None, session_id=None)
    if created:
        alerts.on_assessment(patient, assessment)
    at_risk = instruments.CATALOGUE[assessment.instrument].reports_self_harm(assessment.answers)
    return AssessmentRecord.of(assessment, safety.crisis_resources(patient.clinic_id) if at_risk else None), created


def _session_of(patient: Patient, session_id: str | None) -> str | None:
    """A live session of this patient, or Invalid naming session_id (another patient's or
    clinic's session answers exactly like one that does not exist)."""
    if session_id is None:
        return None
    session = db.session.get(TreatmentSession, session_id)
    if session is None or session.patient_id != patient.user_id or session.deleted_at is not None:
        raise Invalid("session_id", "is not a session of this patient")
    return session.id


def rate(staff: Actor, patient_id: str, fields: dict[str, Any]) -> tuple[AssessmentRecord, bool]:
    """POST /patients/{id}/assessments: a clinician's rating of a patient of their clinic,
    optionally tied to one of the patient's sessions; audited."""
    profile = patient_for_staff(staff, patient_id, action=None)
    if instruments.CATALOGUE[fields["instrument"]].rated_by != "clinician":
        raise Invalid("instrument", "is filled in by the patient, not rated by a clinician")
    session_id = _session_of(profile, fields.get("session_id"))
    assessment, created = _store(profile, fields, rated_by=staff.id, session_id=session_id)
    if created:
        audit.record(
            staff,
            "assessment.create",
            patient_id=profile.user_id,
            resource_type="assessment",
            resource_id=assessment.id,
        )
    return AssessmentRecord.of(assessment), created


def assessments_of(staff: Actor, patient_id: str, instrument: str | None) -> list[AssessmentRecord]:
    """GET /patients/{id}/assessments: newest first, patient- and clinician-rated alike."""
    profile = patient_for_staff(staff, patient_id, action="assessment.list")
    query = select(Assessment).where(Assessment.patient_id == profile.user_id)
    if instrument:
        query = query.where(Assessment.instrument == instrument)
    rows = db.session.scalars(query.order_by(Assessment.recorded_at.desc(), Assessment.id.desc()))
    return [AssessmentRecord.of(row) for row in rows]
