"""The clinic panel: every patient at a glance, riskiest first, one query per page."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from sqlalchemy import Float, case, cast, func, literal, select, tuple_

from diary.domain import audit
from diary.domain.errors import Invalid
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import UNRESOLVED, Alert, Entry, PatientProfile

NO_MOOD = 99.0  # sorts patients without recent entries after every real mean
MAX_ALERTS = 1000  # far above the open alerts a patient can have (one per rule)


def _encode(key: tuple) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, int, float, str]:
    try:
        crit, warn, mood, pid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (
            isinstance(crit, int) and isinstance(warn, int) and isinstance(mood, int | float) and isinstance(pid, str)
        ):
            raise ValueError
        # Only values a page end can have: no bools, NaN, infinities or out-of-range numbers, no
        # NUL or lone surrogates in the id (they would reach the database and fail there: a 500).
        if isinstance(crit, bool) or isinstance(warn, bool) or isinstance(mood, bool) or not pid.isprintable():
            raise ValueError
        if not (0 <= crit <= MAX_ALERTS and 0 <= warn <= MAX_ALERTS and 0 <= mood <= NO_MOOD):
            raise ValueError
        return crit, warn, float(mood), pid
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise Invalid("cursor", "is not a cursor this API issued") from None


def _matches(search: str):
    """A name containing `search`, or an external reference starting with it (any case;
    `%` and `_` are plain characters here)."""
    return PatientProfile.display_name.icontains(search, autoescape=True) | PatientProfile.external_ref.istartswith(
        search, autoescape=True
    )


def panel_page(
    staff: Actor, *, now: dt.datetime, limit: int, cursor: str | None, search: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    since = now - dt.timedelta(days=7)
    clinic_patients = select(PatientProfile.user_id).where(PatientProfile.clinic_id == staff.clinic_id)
    recent = (
        select(
            Entry.patient_id,
            func.sum(Entry.mood).label("mood_sum"),
            func.sum(Entry.anxiety).label("anxiety_sum"),
            func.count(Entry.id).label("n"),
            func.count(func.distinct(Entry.local_date)).label("days"),
        )
        .where(Entry.deleted_at.is_(None), Entry.recorded_at >= since, Entry.patient_id.in_(clinic_patients))
        .group_by(Entry.patient_id)
        .subquery()
    )
    open_alerts = (
        select(
            Alert.patient_id,
            func.sum(case((Alert.severity == "critical", 1), else_=0)).label("critical"),
            func.count(Alert.id).label("total"),
        )
        .where(Alert.clinic_id == staff.clinic_id, Alert.status.in_(UNRESOLVED))
        .group_by(Alert.patient_id)
        .subquery()
    )
    critical = func.coalesce(open_alerts.c.critical, 0)
    total = func.coalesce(open_alerts.c.total, 0)
    warning = total - critical
    mood_mean = cast(recent.c.mood_sum, Float) / recent.c.n
    mood_key = func.coalesce(mood_mean, literal(NO_MOOD, Float))
    last_entry_at = (
        select(func.max(Entry.recorded_at))
        .where(Entry.patient_id == PatientProfile.user_id, Entry.deleted_at.is_(None))
        .scalar_subquery()
    )
    query = (
        select(
            PatientProfile.user_id,
            PatientProfile.display_name,
            last_entry_at.label("last_entry_at"),
            recent.c.mood_sum,
            recent.c.anxiety_sum,
            recent.c.n,
            recent.c.days,
            critical.label("critical"),
            total.label("total"),
            mood_key.label("mood_key"),
        )
        .outerjoin(recent, recent.c.patient_id == PatientProfile.user_id)
        .outerjoin(open_alerts, open_alerts.c.patient_id == PatientProfile.user_id)
        .where(PatientProfile.clinic_id == staff.clinic_id)
    )
    if search:
        query = query.where(_matches(search))
    if cursor:
        crit, warn, mood, pid = _decode(cursor)
        # Keyset on (critical desc, warnings desc, mood asc, id): negate to compare ascending.
        query = query.where(
            tuple_(-critical, -warning, mood_key, PatientProfile.user_id) > tuple_(-crit, -warn, mood, pid)
        )
    rows = db.session.execute(
        query.order_by(critical.desc(), warning.desc(), mood_key, PatientProfile.user_id).limit(limit + 1)
    ).all()
    page = rows[:limit]
    items = []
    for row in page:
        n = row.n or 0
        items.append(
            {
                "id": row.user_id,
                "display_name": row.display_name,
                "last_entry_at": row.last_entry_at,
                "mood_7d_mean": row.mood_sum / n if n else None,
                "anxiety_7d_mean": row.anxiety_sum / n if n else None,
                # 7 x 24 hours touch 8 local dates: adherence cannot pass 100 %.
                "adherence_7d": min(row.days or 0, 7) / 7,
                "open_alerts": int(row.total),
                "open_critical_alerts": int(row.critical),
            }
        )
        audit.record(staff, "panel.read", patient_id=row.user_id, resource_type="patient", resource_id=row.user_id)
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = _encode(
            (int(last.critical), int(last.total) - int(last.critical), float(last.mood_key), last.user_id)
        )
    return items, next_cursor
