"""Crisis resources shown to a patient the moment they report self-harm thoughts."""

from __future__ import annotations

from flask import current_app

from diary.models import Clinic


def crisis_resources(clinic: Clinic) -> dict[str, object]:
    cfg = current_app.config
    return {
        "message": clinic.crisis_message or cfg["CRISIS_MESSAGE"],
        "contacts": [
            {"name": c["name"], "phone": c["phone"]} for c in (clinic.crisis_contacts or cfg["CRISIS_CONTACTS"])
        ],
    }
