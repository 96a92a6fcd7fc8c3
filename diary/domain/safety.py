"""The self-harm rule of a diary entry, and the crisis resources shown the moment a
self-harm report arrives (an entry, or an instrument whose answers report it).

One definition for every place that asks: the alert rules (a critical `self_harm` alert in
the same request) and the answers that carry the clinic's crisis resources back to the phone.
"""

from __future__ import annotations

from flask import current_app

from diary.extensions import db
from diary.models import Clinic

# self_harm_thoughts uses PHQ-9 item 9's wording (0 not at all ... 3 nearly every day):
# any answer above "not at all" is a report of self-harm thoughts. The same threshold holds
# for PHQ-9 item 9 itself (diary.domain.instruments).
SELF_HARM_FROM = 1


def entry_reports_self_harm(self_harm_thoughts: int | None) -> bool:
    return (self_harm_thoughts or 0) >= SELF_HARM_FROM


def crisis_resources(clinic_id: str) -> dict[str, object]:
    """The clinic's own crisis message and contacts, or the deployment's defaults."""
    clinic = db.session.get(Clinic, clinic_id)
    cfg = current_app.config
    return {
        "message": clinic.crisis_message or cfg["CRISIS_MESSAGE"],
        "contacts": [
            {"name": c["name"], "phone": c["phone"]} for c in (clinic.crisis_contacts or cfg["CRISIS_CONTACTS"])
        ],
    }
