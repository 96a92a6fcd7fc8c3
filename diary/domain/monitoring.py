"""What was watched in the clinic during and after a dose, and the flags derived from it.

A session's monitoring is versioned: every PUT stores a new version and keeps the ones
before, and the highest version is the session's monitoring. Only what the clinician
entered is stored. The flags are computed on read, here and only here, from the current
thresholds (BP_ALERT_SYSTOLIC, BP_ALERT_DIASTOLIC, MIN_OBSERVATION_MINUTES).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from diary.domain import audit
from diary.domain.errors import DomainError, Invalid, NotFound
from diary.domain.instants import ahead_of_the_clock
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import SessionMonitoring, TreatmentSession
from diary.timeutil import iso_utc

MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Vital:
    """One set of vital signs taken in the chair (mmHg, beats per minute, % saturation)."""

    at: dt.datetime
    systolic: int
    diastolic: int
    heart_rate: int
    spo2: int | None

    @classmethod
    def entered(cls, reading: dict[str, Any]) -> Vital:
        """A reading as the schema loaded it (`spo2` may be left out)."""
        return cls(reading["at"], reading["systolic"], reading["diastolic"], reading["heart_rate"], reading.get("spo2"))

    @classmethod
    def stored(cls, reading: dict[str, Any]) -> Vital:
        return cls.entered({**reading, "at": dt.datetime.fromisoformat(reading["at"])})

    def as_stored(self) -> dict[str, Any]:
        return {
            "at": iso_utc(self.at),
            "systolic": self.systolic,
            "diastolic": self.diastolic,
            "heart_rate": self.heart_rate,
            "spo2": self.spo2,
        }


@dataclass(frozen=True)
class Flags:
    """What a clinician must not miss in a session's monitoring (API.md "Session monitoring")."""

    max_systolic: int | None
    max_diastolic: int | None
    bp_alert: bool
    observation_minutes: int | None
    short_observation: bool | None


# A session nobody has recorded monitoring for: nothing measured, nothing flagged.
UNMONITORED = Flags(None, None, False, None, None)


def bp_thresholds() -> tuple[int, int]:
    """(systolic, diastolic): a reading at or above either is a blood-pressure alert."""
    config = current_app.config
    return config["BP_ALERT_SYSTOLIC"], config["BP_ALERT_DIASTOLIC"]


def min_observation_minutes(medication: str) -> int:
    """The shortest observation after a dose of `medication` that is not flagged short."""
    return current_app.config["MIN_OBSERVATION_MINUTES"][medication]


def reading_alert(vital: Vital) -> bool:
    """Whether one reading is at or above either blood-pressure threshold."""
    systolic, diastolic = bp_thresholds()
    return vital.systolic >= systolic or vital.diastolic >= diastolic


def flags_for(
    started_at: dt.datetime, medication: str, vitals: Sequence[Vital], discharged_at: dt.datetime | None
) -> Flags:
    """The flags of one record. A reading at or above either threshold is a blood-pressure
    alert. Observation is counted in whole minutes from the start of the session to
    discharge, rounded down, so 59 min 59 s is 59; it is short below the medication's
    minimum (esketamine's label requires two hours)."""
    observation = None if discharged_at is None else (discharged_at - started_at) // MINUTE
    return Flags(
        max_systolic=max((v.systolic for v in vitals), default=None),
        max_diastolic=max((v.diastolic for v in vitals), default=None),
        bp_alert=any(reading_alert(v) for v in vitals),
        observation_minutes=observation,
        short_observation=None if observation is None else observation < min_observation_minutes(medication),
    )


@dataclass(frozen=True)
class Monitoring:
    """One version of a session's monitoring as staff read it, with its flags."""

    session_id: str
    version: int
    vitals: list[Vital]
    sedation: str
    dissociation: str
    adverse_events: list[str]
    discharged_at: dt.datetime | None
    notes: str | None
    recorded_by: str
    recorded_at: dt.datetime
    flags: Flags

    @classmethod
    def of(cls, row: SessionMonitoring, session: TreatmentSession) -> Monitoring:
        vitals = [Vital.stored(reading) for reading in row.vitals]
        return cls(
            session_id=row.session_id,
            version=row.version,
            vitals=vitals,
            sedation=row.sedation,
            dissociation=row.dissociation,
            adverse_events=list(row.adverse_events),
            discharged_at=row.discharged_at,
            notes=row.notes,
            recorded_by=row.recorded_by_id,
            recorded_at=row.recorded_at,
            flags=flags_for(session.started_at, session.medication, vitals, row.discharged_at),
        )


def flags_of(monitoring: Monitoring | None) -> Flags:
    return UNMONITORED if monitoring is None else monitoring.flags


def latest_of(sessions: Sequence[TreatmentSession]) -> dict[str, Monitoring]:
    """The latest monitoring of each of these sessions that has one, from a single query
    (each session's highest version, found on the (session_id, version) index)."""
    if not sessions:
        return {}
    by_id = {s.id: s for s in sessions}
    latest = (
        select(SessionMonitoring.session_id, func.max(SessionMonitoring.version).label("version"))
        .where(SessionMonitoring.session_id.in_(by_id))
        .group_by(SessionMonitoring.session_id)
        .subquery()
    )
    rows = db.session.scalars(
        select(SessionMonitoring).join(
            latest,
            (SessionMonitoring.session_id == latest.c.session_id) & (SessionMonitoring.version == latest.c.version),
        )
    )
    return {row.session_id: Monitoring.of(row, by_id[row.session_id]) for row in rows}


class TimesInvalid(Invalid):
    """Instants refused against the session and the clock, all at once, keyed the way
    marshmallow keys a list's items: {"vitals": {2: {"at": [...]}}, "discharged_at": [...]}."""

    def __init__(self, errors: dict[str, Any]):
        DomainError.__init__(self, "validation failed: " + ", ".join(sorted(errors)), errors=errors)


def _check_times(session: TreatmentSession, vitals: Sequence[Vital], discharged_at: dt.datetime | None) -> None:
    """Nothing is observed before the dose, and nothing in the future (beyond the same
    tolerance for a clock running ahead as every other reported instant)."""

    def problem(at: dt.datetime) -> str | None:
        if at < session.started_at:
            return f"must not be before the session started ({iso_utc(session.started_at)})"
        return ahead_of_the_clock(at)

    errors: dict[str, Any] = {}
    for index, vital in enumerate(vitals):
        if message := problem(vital.at):
            errors.setdefault("vitals", {})[index] = {"at": [message]}
    if discharged_at is not None and (message := problem(discharged_at)):
        errors["discharged_at"] = [message]
    if errors:
        raise TimesInvalid(errors)


def record(
    staff: Actor,
    session: TreatmentSession,
    *,
    vitals: list[dict[str, Any]],
    sedation: str,
    dissociation: str,
    adverse_events: list[str],
    discharged_at: dt.datetime | None = None,
    notes: str | None = None,
) -> Monitoring:
    """Store a new version of the session's monitoring in the caller's transaction, audited."""
    readings = [Vital.entered(reading) for reading in vitals]
    _check_times(session, readings, discharged_at)
    # Two PUTs at once must each get their own version. On PostgreSQL the session's row lock
    # orders them (and waits out a DELETE in flight, which must win: no monitoring for a
    # session that is gone); SQLite ignores the lock but runs one write at a time, and the
    # version is numbered inside the INSERT itself, under that write.
    deleted_at = db.session.scalar(
        select(TreatmentSession.deleted_at).where(TreatmentSession.id == session.id).with_for_update()
    )
    if deleted_at is not None:
        raise NotFound("session not found")
    next_version = (
        select(func.coalesce(func.max(SessionMonitoring.version), 0) + 1)
        .where(SessionMonitoring.session_id == session.id)
        .scalar_subquery()
    )
    row = SessionMonitoring(
        session_id=session.id,
        version=next_version,
        vitals=[reading.as_stored() for reading in readings],
        sedation=sedation,
        dissociation=dissociation,
        adverse_events=list(adverse_events),
        discharged_at=discharged_at,
        notes=notes,
        recorded_by_id=staff.id,
    )
    db.session.add(row)
    audit.record(
        staff, "session.monitoring", patient_id=session.patient_id, resource_type="session", resource_id=session.id
    )
    db.session.flush()
    return Monitoring.of(row, session)
