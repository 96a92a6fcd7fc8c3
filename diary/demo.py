"""Demo seed: a clinic, staff and patients with 90 days of realistic history.

Four stories a clinician can tell apart at a glance, each true to how ketamine care goes:
- Alex Responder: an induction series, then maintenance sessions every 11 days, each lifting
  mood for about a week before it wears off; PHQ-9 and MADRS fall by half (the forecast has
  its basis: several sessions with a measured effect, and the next wear-off is due);
- Blake Flat: the same series with little effect; scores barely move;
- Casey Anxious: a modest early response, then worse: anxiety rising, a PHQ-9 up by five,
  a recent report of self-harm thoughts, and a blood-pressure flag at the latest session;
- Dana Dropout: one session and a fortnight of entries, then nothing (a drop-out after the
  first session; disengaged).
Drew Newcomer is invited but not enrolled. The clinic's outcomes page has a cohort with
completers, a drop-out and 4-week PHQ-9s.

Idempotent: a second run finds the demo clinic and only reports the logins.
Every value here is invented; no real patient data ever enters the repository.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select

from diary.domain import accounts, alerts, devices, entry_days, instruments
from diary.domain.sessions import record_session
from diary.extensions import db
from diary.models import Assessment, Clinic, Entry, PatientProfile, SessionMonitoring, TreatmentSession, User
from diary.timeutil import UTC, iso_utc, local_date, utcnow

DEMO_CLINIC = "Demo Ketamine Clinic"
DEMO_PASSWORD = "demo-password-1"  # noqa: S105  (printed for the demo; never a real account)
NAMESPACE = uuid.UUID("6f1c2a52-3a4e-4c9b-9a51-0d3f7d1e2b10")
DAYS = 90
# Six sessions in 18 days: a completed induction series (API.md: 6 within 28 local days).
INDUCTION = (10, 13, 17, 20, 24, 27)
DOSE_AT = dt.time(10, 0)  # local time of every demo session
MISSED_DAYS = 0.1  # share of days without a diary entry: realistic, and the effect runs still read

# (day, total) of a questionnaire, or (day, answers) where the answers matter item by item.
Scores = tuple[tuple[int, int], ...]


def _mood_responder(day: int, since: int | None, last: int | None) -> tuple[float, float]:
    """Induction lifts mood a little more each time; each maintenance session lifts it to 8 for
    eight days, after which it falls back to 5 (the effect wears off) until the next one."""
    if since is None:
        return 3.5, 7.0
    if last is not None and last >= 40:  # maintenance
        return (8.0, 3.5) if since < 8 else (5.0, 5.0)
    if day >= 30:  # the gap after induction: the lift fades
        return 5.0, 5.0
    base = 3.5 + 1.5 * (day - INDUCTION[0]) / (INDUCTION[-1] - INDUCTION[0])
    return base + (2.5 if since < 3 else 0.5), 6.0 - (base - 3.5)


def _mood_flat(day: int, since: int | None, last: int | None) -> tuple[float, float]:
    if since is None:
        return 3.2, 6.2
    return 3.2 + (0.6 if since < 1 else 0.0), 6.0


def _mood_worsening(day: int, since: int | None, last: int | None) -> tuple[float, float]:
    """A modest response to induction, then from day 60 a slide: mood down, anxiety up,
    sharply in the last three days."""
    if since is None:
        return 5.0, 4.0
    lift = 1.0 if since < 3 else 0.0
    if day < 60:
        return 5.5 + lift, 4.0
    slide = (day - 60) / (DAYS - 60)
    mood, anxiety = 5.5 - 1.5 * slide + lift / 2, 4.0 + 2.0 * slide
    if day >= DAYS - 3:
        mood, anxiety = mood - 1.0, anxiety + 3.0
    return mood, anxiety


def _mood_dropout(day: int, since: int | None, last: int | None) -> tuple[float, float]:
    return (4.0, 6.0) if since is None else (4.5 + (1.0 if since < 2 else 0.0), 5.5)


@dataclass(frozen=True)
class Story:
    email: str
    display_name: str
    timezone: str
    session_days: tuple[int, ...]
    mood: Callable[[int, int | None, int | None], tuple[float, float]]
    diary_days: tuple[int, int] = (0, DAYS)  # the days the patient kept the diary
    checkin_answer_rate: float = 0.8
    phq9: Scores = ()
    gad7: Scores = ()
    pcl5: Scores = ()
    madrs: Scores = ()
    self_harm_days: tuple[int, ...] = ()
    # The demo's "record a session, watch the push" path should work at any hour.
    no_quiet_hours: bool = False
    external_ref: str | None = None
    routes: dict[int, str] = field(default_factory=dict)


PATIENTS = (
    Story(
        "responder@demo.example",
        "Alex Responder",
        "America/New_York",
        (*INDUCTION, 40, 51, 62, 73, 84),
        _mood_responder,
        checkin_answer_rate=0.9,
        phq9=((5, 19), (38, 9), (52, 8), (66, 6), (80, 4)),
        madrs=((9, 32), (38, 14), (66, 9)),
        no_quiet_hours=True,
        external_ref="DEMO-0001",
        routes={40: "intranasal", 51: "intranasal", 62: "intranasal", 73: "intranasal", 84: "intranasal"},
    ),
    Story(
        "nonresponder@demo.example",
        "Blake Flat",
        "Europe/Berlin",
        (*INDUCTION, 45, 65),
        _mood_flat,
        phq9=((5, 17), (38, 16), (52, 17), (80, 15)),
        pcl5=((5, 41), (66, 38)),
        madrs=((9, 30), (38, 28), (66, 29)),
        external_ref="DEMO-0002",
    ),
    Story(
        "worsening@demo.example",
        "Casey Anxious",
        "America/Los_Angeles",
        (*INDUCTION, 50, 75),
        _mood_worsening,
        checkin_answer_rate=0.5,
        phq9=((5, 14), (38, 11), (52, 10), (66, 13), (87, 18)),
        gad7=((5, 8), (38, 7), (80, 14)),
        madrs=((9, 26), (38, 22), (80, 30)),
        self_harm_days=(DAYS - 2,),
        external_ref="DEMO-0003",
    ),
    Story(
        "dropout@demo.example",
        "Dana Dropout",
        "Europe/London",
        (20,),
        _mood_dropout,
        diary_days=(14, 34),
        checkin_answer_rate=0.6,
        phq9=((16, 15),),
        external_ref="DEMO-0004",
    ),
)
STAFF = (("clinician", "clinician@demo.example"), ("ops", "ops@demo.example"))


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _answers_totalling(total: int, items: int, highest: int, rng: random.Random) -> list[int]:
    """Plausible item answers adding up to `total`, spread over the items."""
    answers = [0] * items
    for _ in range(total):
        answers[rng.choice([i for i in range(items) if answers[i] < highest])] += 1
    return answers


@dataclass
class _Timeline:
    """Local days of the story as instants: day 0 is the first day of the history."""

    start: dt.date
    zone: ZoneInfo

    def at(self, day: int, wall: dt.time) -> dt.datetime:
        local = dt.datetime.combine(self.start + dt.timedelta(days=day), wall, tzinfo=self.zone)
        return local.astimezone(UTC)

    def day_of(self, instant: dt.datetime) -> int:
        return (instant.astimezone(self.zone).date() - self.start).days


def _level(story: Story, day: int) -> tuple[float, float]:
    """Mood and anxiety the story gives `day`, from how long ago the last session was."""
    past = [d for d in story.session_days if d <= day]
    last = past[-1] if past else None
    return story.mood(day, None if last is None else day - last, last)


def _seed_patient(clinician: User, story: Story, rng: random.Random, today: dt.date) -> None:
    patient, profile, code, _ = accounts.create_patient(
        clinician, display_name=story.display_name, timezone=story.timezone, external_ref=story.external_ref
    )
    accounts.enroll(code, story.email, DEMO_PASSWORD)
    devices.register(patient, f"demo-device-{story.email.split('@')[0]}", "android")
    if story.no_quiet_hours:
        profile.quiet_hours_start = profile.quiet_hours_end = dt.time(0, 0)
    timeline = _Timeline(today - dt.timedelta(days=DAYS), ZoneInfo(story.timezone))
    now = utcnow()
    checkins = []
    for day in story.session_days:
        # Through the real scheduling code: past check-ins come out "expired", as they would.
        route = story.routes.get(day, "iv")
        dose = 56.0 if route == "intranasal" else 35.0
        _, planned = record_session(
            clinician, profile, started_at=timeline.at(day, DOSE_AT), route=route, dose_mg=dose, notes=None
        )
        checkins.extend(planned)
    for checkin in checkins:
        if checkin.due_at < now and rng.random() < story.checkin_answer_rate:
            answered_at = checkin.due_at + dt.timedelta(minutes=rng.uniform(10, 180))
            if answered_at >= min(checkin.expires_at, now):
                continue
            mood, anxiety = _level(story, timeline.day_of(answered_at))
            answer = _entry(story, patient.id, answered_at, mood, anxiety, rng, f"checkin/{checkin.id}")
            answer.checkin_id = checkin.id
            db.session.add(answer)
            checkin.status, checkin.answered_at, checkin.answer_entry_id = "answered", answered_at, answer.id
    first, last = story.diary_days
    for day in range(first, last):
        recorded_at = timeline.at(day, dt.time(19)) + dt.timedelta(minutes=rng.uniform(0, 180))
        if recorded_at > now or rng.random() < MISSED_DAYS:
            continue
        mood, anxiety = _level(story, day)
        entry = _entry(story, patient.id, recorded_at, mood, anxiety, rng, str(day))
        if day in story.session_days:
            entry.side_effects = ["dissociation", "nausea"] if rng.random() < 0.5 else ["dissociation"]
        if day in story.self_harm_days:
            entry.self_harm_thoughts = 1
        db.session.add(entry)
    for code, scores in (("phq9", story.phq9), ("gad7", story.gad7), ("pcl5", story.pcl5), ("madrs", story.madrs)):
        instrument = instruments.CATALOGUE[code]
        for day, total in scores:
            if code == "phq9":  # item 9 stays "not at all": the demo's self-harm report is a diary entry
                answers = [*_answers_totalling(total, 8, 3, rng), 0]
            else:
                answers = _answers_totalling(total, instrument.items, instrument.highest, rng)
            recorded_at = timeline.at(day, dt.time(9, 30))
            scored = instruments.score(code, answers)
            db.session.add(
                Assessment(
                    id=str(uuid.uuid5(NAMESPACE, f"{story.email}/{code}/{day}")),
                    patient_id=patient.id,
                    instrument=code,
                    answers=answers,
                    total=scored.total,
                    severity=scored.severity,
                    risk=scored.risk,
                    rated_by_id=clinician.id if instrument.rated_by == "clinician" else None,
                    recorded_at=recorded_at,
                    local_date=local_date(recorded_at, story.timezone),
                    timezone=story.timezone,
                )
            )


def _entry(
    story: Story, patient_id: str, recorded_at: dt.datetime, mood: float, anxiety: float, rng: random.Random, key: str
) -> Entry:
    return Entry(
        id=str(uuid.uuid5(NAMESPACE, f"{story.email}/{key}")),
        patient_id=patient_id,
        recorded_at=recorded_at,
        local_date=local_date(recorded_at, story.timezone),
        timezone=story.timezone,
        mood=_clamp(mood + rng.gauss(0, 0.35), 0, 10),
        anxiety=_clamp(anxiety + rng.gauss(0, 0.35), 0, 10),
        sleep_hours=round(rng.uniform(5, 8.5), 1),
        self_harm_thoughts=0,
        note=None,
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


def _run_the_rules(clinic: Clinic) -> None:
    """The history went in directly, so run what a write would have run: the daily sums,
    the trend rules, the rules of each patient's latest PHQ-9 and of their self-harm
    reports. The worker's rules (disengagement, the wear-off warning) follow at its first tick."""
    profiles = db.session.scalars(select(PatientProfile).where(PatientProfile.clinic_id == clinic.id)).all()
    entry_days.recount(profile.user_id for profile in profiles)
    for profile in profiles:
        latest_phq9 = db.session.scalar(
            select(Assessment)
            .where(Assessment.patient_id == profile.user_id, Assessment.instrument == "phq9")
            .order_by(Assessment.recorded_at.desc())
            .limit(1)
        )
        if latest_phq9 is not None:
            alerts.on_assessment(profile, latest_phq9)
        reports = db.session.scalars(
            select(Entry).where(Entry.patient_id == profile.user_id, Entry.self_harm_thoughts >= 1)
        ).all()
        alerts.after_entries(profile, reports, trends=True)


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
        today = utcnow().date()
        for story in PATIENTS:
            _seed_patient(staff["clinician"], story, rng, today)
        db.session.flush()
        _seed_monitoring(staff["clinician"], clinic, rng)
        _run_the_rules(clinic)
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
        "patients": [story.email for story in PATIENTS],
        "patient_ids": {p.display_name: p.user_id for p in patients},
        "not_yet_enrolled": invite,
        "docs": f"{base_url}/api/v1/docs",
    }
