"""Demo seed: a clinic, staff and patients with 60 days of realistic history.

Idempotent: a second run finds the demo clinic and only reports the logins.
Every value here is invented; no real patient data ever enters the repository.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from diary.domain import accounts, alerts, devices, instruments
from diary.domain.sessions import record_session
from diary.extensions import db
from diary.models import Assessment, Clinic, Entry, PatientProfile, SessionMonitoring, TreatmentSession, User
from diary.timeutil import iso_utc, local_date, utcnow

DEMO_CLINIC = "Demo Ketamine Clinic"
DEMO_PASSWORD = "demo-password-1"  # noqa: S105  (printed for the demo; never a real account)
NAMESPACE = uuid.UUID("6f1c2a52-3a4e-4c9b-9a51-0d3f7d1e2b10")
DAYS = 60


@dataclass(frozen=True)
class Trajectory:
    email: str
    display_name: str
    timezone: str
    # mood and anxiety on day 0 and day DAYS, interpolated with noise and session bumps
    mood: tuple[float, float]
    anxiety: tuple[float, float]
    session_bump: float
    checkin_answer_rate: float = 0.8
    recent_jump: float = 0.0
    recent_jump: float = 0.0
    # The demo's "record a session, watch the push" path should work at any hour.
    no_quiet_hours: bool = False


PATIENTS = (
    Trajectory(
        "responder@demo.example",
        "Alex Responder",
        "America/New_York",
        (3.0, 7.5),
        (7.0, 3.0),
        1.5,
        checkin_answer_rate=0.9,
        no_quiet_hours=True,
    ),
    Trajectory("nonresponder@demo.example", "Blake Flat", "Europe/Berlin", (3.0, 3.5), (6.0, 6.0), 0.3),
    Trajectory(
        "worsening@demo.example",
        "Casey Anxious",
        "America/Los_Angeles",
        (5.0, 4.5),
        (4.0, 6.0),
        0.2,
        checkin_answer_rate=0.5,
        recent_jump=3.5,
    ),
)
STAFF = (("clinician", "clinician@demo.example"), ("ops", "ops@demo.example"))
# Days after the start of the history: an induction series inside the review's default
# 30-day window, with two untreated weeks before it as every session's baseline.
SESSION_DAYS = (31, 34, 38, 41, 45, 52)


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _treated_share(day: int) -> float:
    """How far along its course a trajectory is: flat until the first session, then a steady
    change to its end value (a responder improves with treatment, not before it)."""
    first = SESSION_DAYS[0]
    return max(0.0, (day - first) / (DAYS - first))


def _seed_patient(clinician: User, spec: Trajectory, rng: random.Random, start: dt.datetime) -> None:
    patient, profile, code, _ = accounts.create_patient(
        clinician, display_name=spec.display_name, timezone=spec.timezone, external_ref=None
    )
    accounts.enroll(code, spec.email, DEMO_PASSWORD)
    devices.register(patient, f"demo-device-{spec.email.split('@')[0]}", "android")
    if spec.no_quiet_hours:
        profile.quiet_hours_start = profile.quiet_hours_end = dt.time(0, 0)
    sessions = [start + dt.timedelta(days=d, hours=15) for d in SESSION_DAYS]
    checkins = []
    for started_at in sessions:
        # Through the real scheduling code: past check-ins come out "expired", as they would.
        _, planned = record_session(clinician, profile, started_at=started_at, route="iv", dose_mg=35.0, notes=None)
        checkins.extend(planned)
    now = utcnow()
    for checkin in checkins:
        if checkin.due_at < now and rng.random() < spec.checkin_answer_rate:
            answered_at = checkin.due_at + dt.timedelta(minutes=rng.uniform(10, 180))
            level = spec.mood[0] + (spec.mood[1] - spec.mood[0]) * _treated_share((answered_at - start).days)
            answer = Entry(
                id=str(uuid.uuid5(NAMESPACE, f"{spec.email}/checkin/{checkin.id}")),
                patient_id=patient.id,
                recorded_at=answered_at,
                local_date=local_date(answered_at, spec.timezone),
                timezone=spec.timezone,
                mood=_clamp(level + spec.session_bump + rng.gauss(0, 0.7), 0, 10),
                anxiety=_clamp(spec.anxiety[0] + rng.gauss(0, 0.7), 0, 10),
                checkin_id=checkin.id,
            )
            db.session.add(answer)
            checkin.status, checkin.answered_at, checkin.answer_entry_id = "answered", answered_at, answer.id
    for day in range(DAYS):
        recorded_at = start + dt.timedelta(days=day, hours=rng.uniform(12, 26))
        if recorded_at > now or rng.random() < 0.12:  # missed days are realistic
            continue
        share = _treated_share(day)
        since_session = min(((recorded_at - s).days for s in sessions if s <= recorded_at), default=None)
        bump = spec.session_bump * max(0.0, 1 - since_session / 5) if since_session is not None else 0.0
        mood = spec.mood[0] + (spec.mood[1] - spec.mood[0]) * share + bump + rng.gauss(0, 0.8)
        anxiety = spec.anxiety[0] + (spec.anxiety[1] - spec.anxiety[0]) * share - bump / 2 + rng.gauss(0, 0.8)
        if (now - recorded_at).days < 3:  # a sharp recent turn for the worse, if the trajectory has one
            mood -= spec.recent_jump / 2
            anxiety += spec.recent_jump
        effects = ["dissociation", "nausea"] if since_session == 0 else []
        entry = Entry(
            id=str(uuid.uuid5(NAMESPACE, f"{spec.email}/{day}")),
            patient_id=patient.id,
            recorded_at=recorded_at,
            local_date=local_date(recorded_at, spec.timezone),
            timezone=spec.timezone,
            mood=_clamp(mood, 0, 10),
            anxiety=_clamp(anxiety, 0, 10),
            sleep_hours=round(rng.uniform(5, 8.5), 1),
            self_harm_thoughts=0,
            note=None,
        )
        entry.side_effects = effects
        db.session.add(entry)
    for day in range(0, DAYS, 14):
        recorded_at = start + dt.timedelta(days=day, hours=14)
        share = _treated_share(day)
        level = 3 - (spec.mood[0] + (spec.mood[1] - spec.mood[0]) * share) / 10 * 3
        answers = [_clamp(level + rng.gauss(0, 0.4), 0, 3) for _ in range(9)]
        answers[8] = 0
        scored = instruments.score("phq9", answers)
        db.session.add(
            Assessment(
                id=str(uuid.uuid5(NAMESPACE, f"{spec.email}/phq9/{day}")),
                patient_id=patient.id,
                instrument="phq9",
                answers=answers,
                total=scored.total,
                severity=scored.severity,
                recorded_at=recorded_at,
                local_date=local_date(recorded_at, spec.timezone),
                timezone=spec.timezone,
            )
        )


# The demo patient whose latest session shows a blood-pressure flag (184/112 at its peak).
BP_FLAGGED = "worsening@demo.example"


def _seed_monitoring(clinician: User, clinic: Clinic, rng: random.Random) -> None:
    """What was watched in the chair at every demo session: vitals every 15-30 minutes,
    the usual rise in blood pressure peaking about 40 minutes after the dose, discharge after
    65-95 minutes. Drawn after all other history, so that history is the same as without it."""
    seeded = db.session.execute(
        select(TreatmentSession, User.email)
        .join(User, User.id == TreatmentSession.patient_id)
        .where(TreatmentSession.clinic_id == clinic.id)
        .order_by(User.email, TreatmentSession.started_at)
    ).all()
    flagged = max((s for s, email in seeded if email == BP_FLAGGED), key=lambda s: s.started_at)
    for session, _ in seeded:
        discharged_at = session.started_at + dt.timedelta(minutes=rng.randint(65, 95))
        systolic, diastolic, heart_rate = rng.randint(116, 134), rng.randint(70, 84), rng.randint(62, 80)
        rise_systolic, rise_diastolic = rng.randint(8, 22), rng.randint(4, 12)
        vitals, at = [], session.started_at
        while at <= discharged_at:
            share = max(0.0, 1 - abs((at - session.started_at).total_seconds() / 60 - 40) / 40)
            vitals.append(
                {
                    "at": iso_utc(at),
                    "systolic": systolic + round(rise_systolic * share),
                    "diastolic": diastolic + round(rise_diastolic * share),
                    "heart_rate": heart_rate + round(10 * share),
                    "spo2": rng.randint(96, 99),
                }
            )
            at += dt.timedelta(minutes=rng.randint(15, 30))
        adverse_events = ["nausea"] if rng.random() < 0.25 else []
        notes = None
        if session is flagged:
            peak = max(vitals, key=lambda reading: reading["systolic"])
            peak["systolic"], peak["diastolic"] = 184, 112
            adverse_events.append("hypertension")
            notes = "Blood pressure peaked at 184/112 without symptoms; rechecked until it settled."
        db.session.add(
            SessionMonitoring(
                session_id=session.id,
                version=1,
                vitals=vitals,
                sedation=rng.choice(("none", "mild", "mild", "moderate")),
                dissociation=rng.choice(("mild", "moderate", "moderate", "severe")),
                adverse_events=adverse_events,
                discharged_at=discharged_at,
                notes=notes,
                recorded_by_id=clinician.id,
                recorded_at=discharged_at + dt.timedelta(minutes=5),
            )
        )


def seed(base_url: str = "http://127.0.0.1:5000") -> dict[str, object]:
    clinic = db.session.scalar(select(Clinic).where(Clinic.name == DEMO_CLINIC))
    created = clinic is None
    if created:
        rng = random.Random(20260301)  # noqa: S311  (reproducible invented data, not security)
        clinic = accounts.create_clinic(DEMO_CLINIC)
        staff = {role: accounts.create_staff(clinic, role, email, DEMO_PASSWORD) for role, email in STAFF}
        # The clinician's phone, so the demo's alerts reach someone: with the log backend
        # each alert push shows in the server log as `PUSH ... data={'type': 'alert', ...}`.
        devices.register(staff["clinician"], "demo-device-clinician", "android")
        start = (utcnow() - dt.timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
        for spec in PATIENTS:
            _seed_patient(staff["clinician"], spec, rng, start)
        db.session.flush()
        _seed_monitoring(staff["clinician"], clinic, rng)
        # The seeded history went in directly, so run the trend rules once, as a write would.
        for profile in db.session.scalars(select(PatientProfile).where(PatientProfile.clinic_id == clinic.id)):
            alerts.evaluate_trends(profile)
        pending, _profile, code, expires_at = accounts.create_patient(
            staff["clinician"], display_name="Drew Newcomer", timezone="Europe/London", external_ref="DEMO-NEW"
        )
        db.session.commit()
        invite = {"patient_id": pending.id, "enrollment_code": code, "expires_at": expires_at.isoformat()}
    else:
        invite = {"note": "already seeded; issue a fresh code with POST /api/v1/patients/{id}/enrollment-code"}
    patients = db.session.scalars(
        select(PatientProfile).where(PatientProfile.clinic_id == clinic.id).order_by(PatientProfile.display_name)
    )
    return {
        "created": created,
        "clinic_id": clinic.id,
        "password_for_every_demo_login": DEMO_PASSWORD,
        "staff": [email for _, email in STAFF],
        "patients": [spec.email for spec in PATIENTS],
        "patient_ids": {p.display_name: p.user_id for p in patients},
        "not_yet_enrolled": invite,
        "docs": f"{base_url}/api/v1/docs",
    }
