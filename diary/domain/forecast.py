"""When a patient's treatment effect is expected to wear off (API.md "Forecast").

Take the patient's sessions, over all time, whose effect_days is measured, the last 6 of them
by start. With fewer than 2 there is no forecast. Otherwise, counted from the local day of the
patient's latest session: expected = + the median effect_days (a half day rounds up),
earliest = + the shortest, latest = + the longest. Derived on every read, never stored as
truth; each session's effect_days is the one the summary shows (diary.domain.effects).

Computed for a whole page of patients at once: a few queries per page, none per patient.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from diary.domain.effects import session_effects
from diary.extensions import db
from diary.models import TreatmentSession
from diary.timeutil import local_date

BASIS_SESSIONS = 6
MIN_BASIS_SESSIONS = 2
# Sessions read per patient in a first pass: the last 6 measured ones are nearly always among
# the newest dozen; a patient for whom they are not is read again with more.
FIRST_PASS_SESSIONS = 12


@dataclass(frozen=True)
class Forecast:
    expected_wear_off_date: dt.date
    earliest: dt.date
    latest: dt.date
    basis_sessions: int
    based_on: list[str]
    # The latest session, whose local day the dates count from.
    from_session_id: str


def wearing_off(expected_wear_off_date: dt.date, today: dt.date) -> bool:
    """Whether the effect is wearing off by the patient's local `today`: on or after the
    expected date minus WANING_LEAD_DAYS (the effect_waning alert's rule, and the panel's)."""
    return today >= expected_wear_off_date - dt.timedelta(days=current_app.config["WANING_LEAD_DAYS"])


def median_days(days: Sequence[int]) -> int:
    """The median of whole days; between two middle values a half day rounds up."""
    ordered = sorted(days)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return math.ceil((ordered[middle - 1] + ordered[middle]) / 2)


def forecast_from(latest: TreatmentSession, measured: Sequence[tuple[str, int]]) -> Forecast | None:
    """`measured`: (session id, effect_days) of the basis sessions, oldest first."""
    if len(measured) < MIN_BASIS_SESSIONS:
        return None
    days = [effect for _, effect in measured]
    return Forecast(
        expected_wear_off_date=latest.local_date + dt.timedelta(days=median_days(days)),
        earliest=latest.local_date + dt.timedelta(days=min(days)),
        latest=latest.local_date + dt.timedelta(days=max(days)),
        basis_sessions=len(measured),
        based_on=[session_id for session_id, _ in measured],
        from_session_id=latest.id,
    )


def _newest_sessions(patient_ids: Sequence[str], per_patient: int) -> dict[str, list[TreatmentSession]]:
    """The newest `per_patient` live sessions of each patient, newest first, in one query."""
    rank = (
        func.row_number()
        .over(
            partition_by=TreatmentSession.patient_id, order_by=(TreatmentSession.started_at.desc(), TreatmentSession.id)
        )
        .label("rank")
    )
    ranked = (
        select(TreatmentSession.id, rank)
        .where(TreatmentSession.patient_id.in_(patient_ids), TreatmentSession.deleted_at.is_(None))
        .subquery()
    )
    sessions = db.session.scalars(
        select(TreatmentSession)
        .join(ranked, ranked.c.id == TreatmentSession.id)
        .where(ranked.c.rank <= per_patient)
        .order_by(TreatmentSession.patient_id, TreatmentSession.started_at.desc(), TreatmentSession.id)
    )
    by_patient: dict[str, list[TreatmentSession]] = {patient_id: [] for patient_id in patient_ids}
    for session in sessions:
        by_patient[session.patient_id].append(session)
    return by_patient


def forecasts(timezones: dict[str, str], now: dt.datetime) -> dict[str, Forecast | None]:
    """The forecast of each patient (patient id -> IANA zone), as of `now`."""
    result: dict[str, Forecast | None] = {}
    pending, per_patient = list(timezones), FIRST_PASS_SESSIONS
    while pending:
        newest = _newest_sessions(pending, per_patient)
        sessions = [session for listed in newest.values() for session in listed]
        effects = session_effects(sessions, {pid: local_date(now, timezones[pid]) for pid in pending})
        still_short = []
        for patient_id in pending:
            listed = newest[patient_id]
            measured = [(s.id, effects[s.id].effect_days) for s in listed if effects[s.id].effect_days is not None]
            if len(measured) < BASIS_SESSIONS and len(listed) == per_patient:
                still_short.append(patient_id)  # older sessions may hold the rest of the basis
                continue
            basis = list(reversed(measured[:BASIS_SESSIONS]))
            result[patient_id] = forecast_from(listed[0], basis) if listed else None
        pending, per_patient = still_short, per_patient * 4
    return result
