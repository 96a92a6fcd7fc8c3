"""Treatment sessions, the clinic protocol, and the check-ins a session schedules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from diary.domain import alerts, audit, effects, monitoring, outbox, panel
from diary.domain.errors import AccessDenied, Invalid, NotFound
from diary.domain.instants import not_in_future
from diary.domain.patients import patient_for_staff
from diary.domain.scheduling import QuietHours, Slot, outside_quiet_hours, plan_checkins
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Checkin, Clinic, PatientProfile, TreatmentSession
from diary.timeutil import local_date, utcnow


@dataclass(frozen=True)
class Protocol:
    """The clinic's check-in protocol: minutes after a session, and how long each is open."""

    checkin_offsets_minutes: list[int]
    checkin_window_minutes: int

    @classmethod
    def of(cls, clinic: Clinic) -> Protocol:
        return cls(list(clinic.checkin_offsets_minutes), clinic.checkin_window_minutes)


def clinic_protocol(staff: Actor) -> Protocol:
    return Protocol.of(db.session.get(Clinic, staff.clinic_id))


def replace_protocol(staff: Actor, offsets: list[int], window: int) -> Protocol:
    """The new protocol applies to sessions recorded afterwards; scheduled check-ins stay."""
    if len(set(offsets)) != len(offsets):
        raise Invalid("checkin_offsets_minutes", "must not contain duplicates")
    clinic = db.session.get(Clinic, staff.clinic_id)
    clinic.checkin_offsets_minutes = sorted(offsets)
    clinic.checkin_window_minutes = window
    db.session.flush()
    return Protocol.of(clinic)


@dataclass(frozen=True)
class ScheduledCheckin:
    """A check-in as it is listed with its session. Copied out of the row: the view commits
    before the answer is written, which expires every row, and re-reading each check-in
    would cost a query apiece."""

    id: str
    label: str
    offset_minutes: int
    due_at: dt.datetime
    expires_at: dt.datetime
    status: str

    @classmethod
    def of(cls, checkin: Checkin) -> ScheduledCheckin:
        return cls(
            checkin.id, checkin.label, checkin.offset_minutes, checkin.due_at, checkin.expires_at, checkin.status
        )


@dataclass(frozen=True)
class SessionRecord:
    """A treatment session as staff read it, with its check-ins, its latest monitoring
    (None before any) and the flags derived from it."""

    id: str
    patient_id: str
    started_at: dt.datetime
    route: str
    dose_mg: float | None
    notes: str | None
    created_at: dt.datetime
    checkins: list[ScheduledCheckin]
    medication: str
    monitoring: monitoring.Monitoring | None
    flags: monitoring.Flags

    @classmethod
    def of(
        cls, session: TreatmentSession, checkins: list[Checkin], latest: monitoring.Monitoring | None
    ) -> SessionRecord:
        return cls(
            id=session.id,
            patient_id=session.patient_id,
            started_at=session.started_at,
            route=session.route,
            dose_mg=session.dose_mg,
            notes=session.notes,
            created_at=session.created_at,
            checkins=[ScheduledCheckin.of(c) for c in checkins],
            medication=session.medication,
            monitoring=latest,
            flags=monitoring.flags_of(latest),
        )


def quiet_hours(profile: PatientProfile) -> QuietHours:
    return QuietHours(profile.quiet_hours_start, profile.quiet_hours_end)


def _resend_at(checkin: Checkin, window_minutes: int, profile: PatientProfile) -> dt.datetime | None:
    """Halfway through the answer window, outside quiet hours; None if that is too late."""
    halfway = checkin.due_at + dt.timedelta(minutes=window_minutes / 2)
    at = outside_quiet_hours(halfway, profile.timezone, quiet_hours(profile))
    return at if at < checkin.expires_at else None


def _enqueue_pushes(checkin: Checkin, window_minutes: int, profile: PatientProfile) -> None:
    payload = {"type": "checkin", "checkin_id": checkin.id}
    outbox.enqueue(
        "checkin",
        f"checkin:{checkin.id}",
        checkin.due_at,
        user_id=checkin.patient_id,
        checkin_id=checkin.id,
        payload=payload,
    )
    resend = _resend_at(checkin, window_minutes, profile)
    if resend is not None:
        outbox.enqueue(
            "checkin_resend",
            f"checkin:{checkin.id}:resend",
            resend,
            user_id=checkin.patient_id,
            checkin_id=checkin.id,
            payload=payload,
        )


def record_session(
    staff: Actor,
    profile: PatientProfile,
    *,
    started_at: dt.datetime,
    route: str,
    dose_mg: float | None,
    notes: str | None,
    medication: str = "ketamine",
) -> tuple[TreatmentSession, list[Checkin]]:
    """Store a session, its check-ins and their pushes in the caller's transaction."""
    now = utcnow()
    started_at = not_in_future("started_at", started_at)
    # The worker's wear-off check takes the same lock before it raises: it never warns of a
    # session that this one is about to make moot.
    panel.lock(profile.user_id)
    max_dose = current_app.config["MAX_DOSE_MG"]
    if dose_mg is not None and not 0 < dose_mg <= max_dose:
        # A dose far beyond any protocol is a typo (9500 for 95.00), never a record to keep.
        raise Invalid("dose_mg", f"must be more than 0 and at most {max_dose:g} mg")
    clinic = db.session.get(Clinic, profile.clinic_id)
    session = TreatmentSession(
        patient_id=profile.user_id,
        clinic_id=profile.clinic_id,
        started_at=started_at,
        local_date=local_date(started_at, profile.timezone),
        route=route,
        dose_mg=dose_mg,
        notes=notes,
        medication=medication,
        created_by_id=staff.id,
    )
    db.session.add(session)
    db.session.flush()
    window = clinic.checkin_window_minutes
    slots: list[Slot] = plan_checkins(
        started_at, clinic.checkin_offsets_minutes, window, profile.timezone, quiet_hours(profile)
    )
    checkins = []
    for slot in slots:
        # Recorded late: a check-in whose window has already closed is never sent.
        status = "expired" if slot.expires_at <= now else "pending"
        checkin = Checkin(
            session_id=session.id,
            patient_id=profile.user_id,
            label=slot.label,
            offset_minutes=slot.offset_minutes,
            due_at=slot.due_at,
            expires_at=slot.expires_at,
            status=status,
            window_minutes=window,
        )
        db.session.add(checkin)
        checkins.append(checkin)
    db.session.flush()
    for checkin in checkins:
        if checkin.status == "pending":
            _enqueue_pushes(checkin, window, profile)
    panel.forecast_may_move(profile.user_id)
    if started_at == latest_started_at(profile.user_id):
        # A new latest session: a wear-off warned of for the one before is moot now.
        alerts.resolve_moot_waning(profile.user_id, now, still_latest=session.id)
    return session, checkins


def latest_started_at(patient_id: str) -> dt.datetime | None:
    return db.session.scalar(
        select(func.max(TreatmentSession.started_at)).where(
            TreatmentSession.patient_id == patient_id, TreatmentSession.deleted_at.is_(None)
        )
    )


def record(
    staff: Actor,
    patient_id: str,
    *,
    started_at: dt.datetime,
    route: str,
    dose_mg: float | None = None,
    notes: str | None = None,
    medication: str = "ketamine",
) -> SessionRecord:
    """POST /patients/{id}/sessions: a session of a patient of the staff member's clinic."""
    profile = patient_for_staff(staff, patient_id, action="session.create")
    session, checkins = record_session(
        staff, profile, started_at=started_at, route=route, dose_mg=dose_mg, notes=notes, medication=medication
    )
    return SessionRecord.of(session, checkins, None)


def sessions_of(staff: Actor, patient_id: str) -> list[SessionRecord]:
    """GET /patients/{id}/sessions: newest first, with their check-ins and monitoring."""
    profile = patient_for_staff(staff, patient_id, action="session.list")
    listed = sessions_with_checkins(profile.user_id)
    monitored = monitoring.latest_of([s for s, _ in listed])
    return [SessionRecord.of(s, c, monitored.get(s.id)) for s, c in listed]


def monitor(staff: Actor, patient_id: str, session_id: str, **observed: Any) -> monitoring.Monitoring:
    """PUT /patients/{id}/sessions/{sid}/monitoring: a new version of what was observed
    (diary/domain/monitoring.py), for a live session of a patient of the staff's clinic."""
    profile = patient_for_staff(staff, patient_id, action=None)
    return monitoring.record(staff, live_session(staff, profile, session_id), **observed)


def delete(staff: Actor, patient_id: str, session_id: str) -> None:
    """DELETE /patients/{id}/sessions/{sid}: audited with the session it removes."""
    profile = patient_for_staff(staff, patient_id, action=None)
    session = live_session(staff, profile, session_id)
    audit.record(staff, "session.delete", patient_id=profile.user_id, resource_type="session", resource_id=session.id)
    delete_session(session)


def patient_checkins(patient: Actor, status: str | None) -> list[Checkin]:
    """GET /me/checkins: the patient's own check-ins, newest due first."""
    query = select(Checkin).where(Checkin.patient_id == patient.id)
    if status:
        query = query.where(Checkin.status == status)
    return list(db.session.scalars(query.order_by(Checkin.due_at.desc())))


def live_session(staff: Actor, profile: PatientProfile, session_id: str) -> TreatmentSession:
    """A session of this patient that was not deleted; another clinic's is an audited denial."""
    session = db.session.get(TreatmentSession, session_id)
    if session is not None and session.clinic_id != staff.clinic_id:
        raise AccessDenied(staff, "session", session_id)
    if session is None or session.patient_id != profile.user_id or session.deleted_at is not None:
        raise NotFound("session not found")
    return session


def sessions_with_checkins(patient_id: str) -> list[tuple[TreatmentSession, list[Checkin]]]:
    sessions = list(
        db.session.scalars(
            select(TreatmentSession)
            .where(TreatmentSession.patient_id == patient_id, TreatmentSession.deleted_at.is_(None))
            .order_by(TreatmentSession.started_at.desc())
        )
    )
    by_session: dict[str, list[Checkin]] = {s.id: [] for s in sessions}
    if sessions:
        for checkin in db.session.scalars(
            select(Checkin).where(Checkin.session_id.in_(by_session)).order_by(Checkin.due_at)
        ):
            by_session[checkin.session_id].append(checkin)
    return [(s, by_session[s.id]) for s in sessions]


def checkins_of(session: TreatmentSession) -> list[Checkin]:
    return list(db.session.scalars(select(Checkin).where(Checkin.session_id == session.id).order_by(Checkin.due_at)))


def delete_session(session: TreatmentSession) -> None:
    panel.lock(session.patient_id)  # as record_session does, against the wear-off check
    session.deleted_at = utcnow()
    effects.session_deleted(session.id)
    panel.forecast_may_move(session.patient_id)
    open_checkins = [c for c in checkins_of(session) if c.status in ("pending", "sent")]
    for checkin in open_checkins:
        checkin.status = "cancelled"
    outbox.cancel_for_checkins([c.id for c in open_checkins], "session deleted")
    db.session.flush()
    # A wear-off warned of for the deleted session is moot; one for the latest one that remains stands.
    alerts.resolve_moot_waning(session.patient_id, utcnow(), still_latest=alerts.latest_session_id(session.patient_id))


def reschedule_pending(profile: PatientProfile) -> None:
    """After a timezone or quiet-hours change, move what has not been pushed yet."""
    now = utcnow()
    quiet = quiet_hours(profile)
    checkins = list(
        db.session.scalars(
            select(Checkin).where(Checkin.patient_id == profile.user_id, Checkin.status.in_(("pending", "sent")))
        )
    )
    for checkin in checkins:
        session = db.session.get(TreatmentSession, checkin.session_id)
        rows = {row.kind: row for row in outbox.open_for_checkin(checkin.id)}
        first = rows.get("checkin")
        if checkin.status == "pending" and first is not None and first.status == "pending":
            raw = session.started_at + dt.timedelta(minutes=checkin.offset_minutes)
            checkin.due_at = outside_quiet_hours(raw, profile.timezone, quiet)
            checkin.expires_at = checkin.due_at + dt.timedelta(minutes=checkin.window_minutes)
            if checkin.expires_at <= now:
                checkin.status = "expired"
                outbox.cancel_for_checkins([checkin.id], "expired")
                continue
            first.due_at = first.next_attempt_at = checkin.due_at
        resend = rows.get("checkin_resend")
        if resend is not None and resend.status == "pending":
            at = _resend_at(checkin, checkin.window_minutes, profile)
            if at is None:
                resend.status, resend.last_error = "cancelled", "no time left for a re-send"
            else:
                resend.due_at = resend.next_attempt_at = at
    db.session.flush()
