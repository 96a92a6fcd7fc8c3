"""How the review pages word the measures of the chair and the scales: monitoring flags as
badges, a folded session's one-line summary, medication and level names (Jinja filters).

The thresholds in these words are the ones the flags were computed with
(diary.domain.monitoring), never written here or in a template.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from diary.domain import monitoring
from diary.domain.instruments import CATALOGUE
from diary.models import ADVERSE_EVENTS, MEDICATIONS, OBSERVED_LEVELS
from diary.review.charts import BAND_LABELS, route_label
from diary.schemas.monitoring import MAX_VITALS
from diary.timeutil import utcnow

MEDICATION_NAMES = {"ketamine": "Ketamine", "esketamine": "Esketamine"}
ADVERSE_EVENT_NAMES = {event: event.replace("_", " ") for event in ADVERSE_EVENTS}
RISK_NAMES = {"none": "No risk", "low": "Low risk", "moderate": "Moderate risk", "high": "High risk"}
# C-SSRS risk levels that raise the self-harm alert are the ones shown as a warning.
WARNING_RISKS = CATALOGUE["cssrs_screen"].self_harm_risks


def medication_route(session: dict[str, Any]) -> str:
    """ "Esketamine, intranasal"."""
    medication = MEDICATION_NAMES.get(session["medication"], session["medication"])
    return f"{medication}, {route_label(session['route']).lower()}"


def chair_flags(session: dict[str, Any]) -> list[str] | None:
    """The session's monitoring flags in words; [] when nothing is flagged, None when no
    monitoring was recorded."""
    if session["monitoring"] is None:
        return None
    flags, words = session["flags"], []
    if flags.bp_alert:
        systolic, diastolic = monitoring.bp_thresholds()
        words.append(f"BP ≥ {systolic}/{diastolic}")
    if flags.short_observation:
        least = monitoring.min_observation_minutes(session["medication"])
        words.append(f"Observed {flags.observation_minutes} min (< {least} for {session['medication']})")
    return words


def reading_flagged(vital: monitoring.Vital) -> bool:
    return monitoring.reading_alert(vital)


def points(change: int | None) -> str:
    """A change of score in points with a typographic minus: "\u221216 points", "+2 points"."""
    if change is None:
        return "—"
    sign = "±" if change == 0 else "+" if change > 0 else "\u2212"
    return f"{sign}{abs(change)} point{'s' if abs(change) != 1 else ''}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(
        medication_route=medication_route,
        chair_flags=chair_flags,
        chair_numbers=chair_numbers,
        reading_flagged=reading_flagged,
        points=points,
    )
    app.jinja_env.globals.update(
        INSTRUMENTS=CATALOGUE,
        MEDICATIONS=MEDICATIONS,
        MEDICATION_NAMES=MEDICATION_NAMES,
        OBSERVED_LEVELS=OBSERVED_LEVELS,
        ADVERSE_EVENT_NAMES=ADVERSE_EVENT_NAMES,
        RISK_NAMES=RISK_NAMES,
        BAND_NAMES=BAND_LABELS,
        WARNING_RISKS=WARNING_RISKS,
        monitoring_values=monitoring_values,
        local_now=local_now,
    )


def chair_numbers(session: dict[str, Any]) -> str:
    """What a folded record still says on screen and on paper:
    "highest BP 140/88 · observed 86 min · sedation none, dissociation mild"."""
    record, flags = session["monitoring"], session["flags"]
    if record is None:
        return "no monitoring recorded"
    highest = f"highest BP {flags.max_systolic}/{flags.max_diastolic}"
    parts = [
        highest if flags.max_systolic is not None else "no vital signs",
        f"observed {flags.observation_minutes} min" if flags.observation_minutes is not None else "no discharge time",
        f"sedation {record.sedation}, dissociation {record.dissociation}",
    ]
    if record.adverse_events:
        parts.append(", ".join(ADVERSE_EVENT_NAMES.get(e, e) for e in record.adverse_events))
    return " · ".join(parts)


MONITORING_ROWS = 8


def monitoring_values(session: dict[str, Any], zone: str, typed: Any | None) -> tuple[dict[str, Any], int]:
    """The monitoring form's values and its number of reading rows: what was typed when the
    form was refused, else the latest record (8 rows, or two more than it has readings)."""
    if typed is not None:
        values: dict[str, Any] = {key: typed.get(key, "") for key in typed}
        values["adverse_events"] = typed.getlist("adverse_events")
        rows = [int(key.split("-")[1]) for key in typed if key.startswith("vital-") and key.split("-")[1].isdigit()]
        return values, min(max([MONITORING_ROWS, *rows]), MAX_VITALS)
    record = session["monitoring"]
    if record is None:
        return {"adverse_events": []}, MONITORING_ROWS
    tz = ZoneInfo(zone)
    values = {
        "sedation": record.sedation,
        "dissociation": record.dissociation,
        "adverse_events": list(record.adverse_events),
        "notes": record.notes or "",
    }
    if record.discharged_at is not None:
        local = record.discharged_at.astimezone(tz)
        values.update(discharge_date=local.date().isoformat(), discharge_time=f"{local:%H:%M}")
    for row, vital in enumerate(sorted(record.vitals, key=lambda v: v.at), start=1):
        values.update(
            {
                f"vital-{row}-time": f"{vital.at.astimezone(tz):%H:%M}",
                f"vital-{row}-systolic": str(vital.systolic),
                f"vital-{row}-diastolic": str(vital.diastolic),
                f"vital-{row}-heart_rate": str(vital.heart_rate),
                f"vital-{row}-spo2": "" if vital.spo2 is None else str(vital.spo2),
            }
        )
    return values, min(max(MONITORING_ROWS, len(record.vitals) + 2), MAX_VITALS)


def local_now(zone: str) -> dt.datetime:
    return utcnow().astimezone(ZoneInfo(zone))
