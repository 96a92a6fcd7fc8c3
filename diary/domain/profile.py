"""The patient's own profile: timezone, reminder time, quiet hours, push preference."""

from __future__ import annotations

from typing import Any

from diary.domain import panel, sessions
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import PatientProfile


def own_profile(patient: Actor) -> PatientProfile:
    return db.session.get(PatientProfile, patient.id)


def update_profile(patient: Actor, changes: dict[str, Any]) -> PatientProfile:
    """PATCH /me. A new zone or new quiet hours move the pushes not sent yet."""
    profile = own_profile(patient)
    for name, value in changes.items():
        setattr(profile, name, value)
    if {"timezone", "quiet_hours_start", "quiet_hours_end"} & changes.keys():
        sessions.reschedule_pending(profile)
    if "timezone" in changes:
        panel.forecast_may_move(profile.user_id)  # the patient's today moved
    db.session.flush()
    return profile
