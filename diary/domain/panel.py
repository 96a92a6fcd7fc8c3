"""The clinic panel: every patient at a glance, riskiest first, one query per page.

Risk order: open critical alerts, then open warnings (most first), then the lowest mean
mood of the last 7 days (patients without recent entries after every real mean), then id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Float, Select, case, cast, func, literal, select, tuple_
from sqlalchemy.sql.expression import ColumnElement, Subquery

from diary.domain import audit, forecast
from diary.domain.keyset import Keyset, Page, day, number, row_id, whole
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import UNRESOLVED, Alert, Entry, PatientProfile

NO_MOOD = 99.0  # sorts patients without recent entries after every real mean
MAX_ALERTS = 1000  # far above the open alerts a patient can have (one per rule)
WEEK = dt.timedelta(days=7)

# (critical alerts, warnings, mood key, patient id) of a page's last row.
PANEL_KEYSET = Keyset((whole(0, MAX_ALERTS), whole(0, MAX_ALERTS), number(0, NO_MOOD), row_id))
# (expected wear-off date, patient id) of a page's last row, in the wears-off order.
NO_FORECAST = dt.date.max  # patients without a forecast come after every date
WEAR_OFF_KEYSET = Keyset((day, row_id))


@dataclass(frozen=True)
class PanelItem:
    id: str
    display_name: str
    last_entry_at: dt.datetime | None
    mood_7d_mean: float | None
    anxiety_7d_mean: float | None
    adherence_7d: float
    open_alerts: int
    open_critical_alerts: int
    expected_wear_off_date: dt.date | None


def _matches(search: str) -> ColumnElement[bool]:
    """A name containing `search`, or an external reference starting with it (any case;
    `%` and `_` are plain characters here)."""
    return PatientProfile.display_name.icontains(search, autoescape=True) | PatientProfile.external_ref.istartswith(
        search, autoescape=True
    )


def _last_7_days(staff: Actor, since: dt.datetime) -> Subquery:
    """Per patient of the clinic: mood and anxiety sums, entries and distinct local days."""
    clinic_patients = select(PatientProfile.user_id).where(PatientProfile.clinic_id == staff.clinic_id)
    return (
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


def _open_alerts(staff: Actor) -> Subquery:
    return (
        select(
            Alert.patient_id,
            func.sum(case((Alert.severity == "critical", 1), else_=0)).label("critical"),
            func.count(Alert.id).label("total"),
        )
        .where(Alert.clinic_id == staff.clinic_id, Alert.status.in_(UNRESOLVED))
        .group_by(Alert.patient_id)
        .subquery()
    )


def _ranked(staff: Actor, since: dt.datetime) -> tuple[Select, tuple[ColumnElement, ...]]:
    """The clinic's patients with their panel numbers, and the risk order's key columns."""
    recent, alerts = _last_7_days(staff, since), _open_alerts(staff)
    critical = func.coalesce(alerts.c.critical, 0)
    total = func.coalesce(alerts.c.total, 0)
    mood_key = func.coalesce(cast(recent.c.mood_sum, Float) / recent.c.n, literal(NO_MOOD, Float))
    last_entry_at = (
        select(func.max(Entry.recorded_at))
        .where(Entry.patient_id == PatientProfile.user_id, Entry.deleted_at.is_(None))
        .scalar_subquery()
    )
    query = (
        select(
            PatientProfile.user_id,
            PatientProfile.display_name,
            PatientProfile.timezone,
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
        .outerjoin(alerts, alerts.c.patient_id == PatientProfile.user_id)
        .where(PatientProfile.clinic_id == staff.clinic_id)
    )
    return query, (critical, total - critical, mood_key, PatientProfile.user_id)


def _item(row, wear_off: dt.date | None) -> PanelItem:
    n = row.n or 0
    return PanelItem(
        id=row.user_id,
        display_name=row.display_name,
        last_entry_at=row.last_entry_at,
        mood_7d_mean=row.mood_sum / n if n else None,
        anxiety_7d_mean=row.anxiety_sum / n if n else None,
        # 7 x 24 hours touch 8 local dates: adherence cannot pass 100 %.
        adherence_7d=min(row.days or 0, 7) / 7,
        open_alerts=int(row.total),
        open_critical_alerts=int(row.critical),
        expected_wear_off_date=wear_off,
    )


def _sort_key(row) -> tuple[int, int, float, str]:
    return int(row.critical), int(row.total) - int(row.critical), float(row.mood_key), row.user_id


def panel_page(
    staff: Actor,
    *,
    now: dt.datetime,
    limit: int,
    cursor: str | None,
    search: str | None = None,
    order: str = "risk",
) -> Page[PanelItem]:
    """GET /patients: one page of the clinic's patients, riskiest first (or, with order
    "wears_off", soonest expected wear-off first), optionally only those whose name or
    external reference matches `search`; each row audited."""
    if order == "wears_off":
        return _by_wear_off(staff, now=now, limit=limit, cursor=cursor, search=search)
    query, (critical, warning, mood_key, patient_id) = _ranked(staff, now - WEEK)
    if search:
        query = query.where(_matches(search))
    if cursor:
        crit, warn, mood, pid = PANEL_KEYSET.decode(cursor)
        # Keyset on (critical desc, warnings desc, mood asc, id): negate to compare ascending.
        query = query.where(tuple_(-critical, -warning, mood_key, patient_id) > tuple_(-crit, -warn, mood, pid))
    rows = db.session.execute(
        query.order_by(critical.desc(), warning.desc(), mood_key, patient_id).limit(limit + 1)
    ).all()
    page = PANEL_KEYSET.page(rows, limit, _sort_key)
    # Forecasts of the page's patients only: a few queries per page, whatever the clinic's size.
    predicted = forecast.forecasts({row.user_id: row.timezone for row in page.items}, now)
    return Page(_audited_items(staff, page.items, predicted), page.next_cursor)


def _audited_items(staff: Actor, rows: list, predicted: dict[str, forecast.Forecast | None]) -> list[PanelItem]:
    items = []
    for row in rows:
        audit.record(staff, "panel.read", patient_id=row.user_id, resource_type="patient", resource_id=row.user_id)
        expected = predicted[row.user_id]
        items.append(_item(row, expected.expected_wear_off_date if expected else None))
    return items


def _by_wear_off(
    staff: Actor, *, now: dt.datetime, limit: int, cursor: str | None, search: str | None
) -> Page[PanelItem]:
    """Soonest expected wear-off first, then the patients without a forecast; by id within a
    day. Every patient's forecast is needed to order them: its cost grows with the clinic."""
    query, _ = _ranked(staff, now - WEEK)
    if search:
        query = query.where(_matches(search))
    rows = db.session.execute(query).all()
    predicted = forecast.forecasts({row.user_id: row.timezone for row in rows}, now)

    def key(row) -> tuple[dt.date, str]:
        expected = predicted[row.user_id]
        return (expected.expected_wear_off_date if expected else NO_FORECAST), row.user_id

    ordered = sorted(rows, key=key)
    if cursor:
        after = WEAR_OFF_KEYSET.decode(cursor)
        ordered = [row for row in ordered if key(row) > after]
    page = WEAR_OFF_KEYSET.page(ordered[: limit + 1], limit, key)
    return Page(_audited_items(staff, page.items, predicted), page.next_cursor)
