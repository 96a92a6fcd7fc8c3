"""The clinic panel: every patient at a glance, riskiest first, a page at a time.

Risk order: open critical alerts, then open warnings (most first), then the lowest mean
mood of the last 7 x 24 hours (patients without recent entries after every real mean), then
id. The order's key lives in patient_panel, kept up to date by the writes that move it (an
entry adds to its patient's 7-day sums in the INSERT's own statement; an alert opened or
resolved recounts them) and moved forward as entries age out of the 7 days (by the worker,
and before every page). A page is then an index range scan of the clinic's rows: its cost
does not grow with the clinic. The numbers a page shows are read for its own patients only.

The other order, "wears_off", lists the soonest expected wear-off first, from the forecast
each row keeps (recomputed, when stale, before it is read).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, literal, select, tuple_, update
from sqlalchemy.sql.expression import ColumnElement

from diary.domain import audit, forecast
from diary.domain.keyset import Keyset, Page, day, number, row_id, whole
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import NO_MOOD, UNRESOLVED, Alert, Entry, PanelWindow, PatientPanel, PatientProfile

MAX_ALERTS = 1000  # far above the open alerts a patient can have (one per rule)
WEEK = dt.timedelta(days=7)
FORECAST_BATCH = 200

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


# --- keeping patient_panel true ----------------------------------------------------------------


def mood_key(mood_sum: int, entries: int) -> float:
    """The sort key: the mean mood, or NO_MOOD without entries (float division, as both
    databases do it)."""
    return mood_sum / entries if entries else NO_MOOD


def lock(patient_id: str) -> None:
    """The patient's lock (PostgreSQL row lock on the panel row until the transaction ends;
    SQLite serialises writers anyway). Everything that writes a patient's alerts or sessions
    takes it first, and a new entry takes it by bumping the row: one lock, always first, so
    two writers of one patient wait for each other instead of deadlocking."""
    table = _panel()
    db.session.execute(select(table.c.patient_id).where(table.c.patient_id == patient_id).with_for_update())


def add_patient(patient_id: str, clinic_id: str) -> None:
    """The panel row of a new patient: no alerts, no entries, no forecast yet."""
    db.session.add(PatientPanel(patient_id=patient_id, clinic_id=clinic_id))


def _panel() -> Any:
    return PatientPanel.__table__


def bump_sql(*, only_if_inserted: bool) -> str:
    """UPDATE of a patient's row for one new entry (bound: panel_patient_id, in_window_mood,
    in_window_n, backdated): its mood added when it falls inside the 7 days, the sort key recomputed
    from the new sums (a double divided by an integer, as the recount divides in Python),
    the forecast marked stale. Text, not an update() construct: inside the INSERT's CTE on
    PostgreSQL, SQLAlchemy would read the entry's own `patient_id` parameter as a column to SET.
    `only_if_inserted`: the CTE's form, which bumps only if the INSERT inserted."""
    inserted = " AND EXISTS (SELECT 1 FROM inserted)" if only_if_inserted else ""
    # Only this module's constants go into the text; every value is a bound parameter.
    return (
        "UPDATE patient_panel SET "  # noqa: S608
        "mood_sum_7d = mood_sum_7d + :in_window_mood, "
        "entries_7d = entries_7d + :in_window_n, "
        "mood_key = CASE WHEN entries_7d + :in_window_n > 0 "
        "THEN CAST(mood_sum_7d + :in_window_mood AS DOUBLE PRECISION) / (entries_7d + :in_window_n) "
        f"ELSE {NO_MOOD} END, "
        "changes = changes + 1, "
        "effects_epoch = effects_epoch + :backdated "
        f"WHERE patient_id = :panel_patient_id{inserted}"
    )


def entry_params(
    patient_id: str, recorded_at: dt.datetime, mood: int, now: dt.datetime, *, backdated: bool
) -> dict[str, Any]:
    """bump_statement's parameters for a new entry: counted in the 7 days if recorded within
    7 x 24 hours of now. An older one is left to the next refresh, which recounts its patient
    (the entry lies between the window's start and now - 7 days). `backdated`: on a day
    before the patient's today, so their stored session effects are stale (the effects
    epoch counts up, as diary.domain.effects.entries_moved does)."""
    inside = recorded_at >= now - WEEK
    return {
        "panel_patient_id": patient_id,
        "in_window_mood": mood if inside else 0,
        "in_window_n": 1 if inside else 0,
        "backdated": 1 if backdated else 0,
    }


def add_clinic(clinic_id: str, now: dt.datetime) -> None:
    """A new clinic's panel window: no patients yet, so any start is true of every row."""
    db.session.add(PanelWindow(clinic_id=clinic_id, since=now - WEEK))


def _window_since(clinic_id: str, *, lock: bool = False) -> dt.datetime:
    query = select(PanelWindow.since).where(PanelWindow.clinic_id == clinic_id)
    # NO KEY UPDATE: serialises the clinic's window moves, blocks nothing else.
    return db.session.scalar(query.with_for_update(key_share=True) if lock else query)


def recount_moods(patient_ids: Iterable[str], since: dt.datetime) -> None:
    """Recount the 7-day mood numbers of these patients from their entries since `since`.
    Their rows are locked first, so a concurrent entry's increment lands either before (and
    is counted here) or after (and adds to what is written here)."""
    patient_ids = sorted(set(patient_ids))
    if not patient_ids:
        return
    table = _panel()
    db.session.execute(select(table.c.patient_id).where(table.c.patient_id.in_(patient_ids)).with_for_update())
    sums = {
        patient_id: (int(mood), int(n))
        for patient_id, mood, n in db.session.execute(
            select(Entry.patient_id, func.sum(Entry.mood), func.count(Entry.id))
            .where(Entry.patient_id.in_(patient_ids), Entry.deleted_at.is_(None), Entry.recorded_at >= since)
            .group_by(Entry.patient_id)
        )
    }
    db.session.execute(
        update(table).where(table.c.patient_id == bindparam("b_patient")),
        [
            {
                "b_patient": pid,
                "mood_sum_7d": sums.get(pid, (0, 0))[0],
                "entries_7d": sums.get(pid, (0, 0))[1],
                "mood_key": mood_key(*sums.get(pid, (0, 0))),
            }
            for pid in patient_ids
        ],
    )


def after_entries_changed(patient_id: str, clinic_id: str) -> None:
    """An edit, a deletion or a batch: recount the patient's 7-day numbers; the forecast may move."""
    recount_moods([patient_id], _window_since(clinic_id))
    forecast_may_move(patient_id)


def forecast_may_move(patient_id: str) -> None:
    table = _panel()
    db.session.execute(update(table).where(table.c.patient_id == patient_id).values(changes=table.c.changes + 1))


def recount_alerts(patient_id: str) -> None:
    """Open (unresolved) alerts of the patient by severity, after one opened or resolved."""
    counts = dict(
        db.session.execute(
            select(Alert.severity, func.count(Alert.id))
            .where(Alert.patient_id == patient_id, Alert.status.in_(UNRESOLVED))
            .group_by(Alert.severity)
        ).all()
    )
    table = _panel()
    db.session.execute(
        update(table)
        .where(table.c.patient_id == patient_id)
        .values(open_critical=counts.get("critical", 0), open_warning=counts.get("warning", 0))
    )


def refresh_window(clinic_id: str, now: dt.datetime) -> int:
    """Move the clinic's 7 days to start at `now - 7 days`: recount the patients with entries
    between the old start and the new one (found on the recorded_at index: a range as short
    as the time since the last move, whichever way the clock went); every other row already
    holds the same numbers for the new start. Returns how many were recounted."""
    since, new_since = _window_since(clinic_id, lock=True), now - WEEK
    if new_since == since:
        return 0
    table = _panel()
    crossed = db.session.scalars(
        select(Entry.patient_id)
        .join(table, table.c.patient_id == Entry.patient_id)
        .where(
            table.c.clinic_id == clinic_id,
            Entry.deleted_at.is_(None),
            Entry.recorded_at >= min(since, new_since),
            Entry.recorded_at < max(since, new_since),
        )
        .distinct()
    ).all()
    recount_moods(crossed, new_since)
    db.session.execute(update(PanelWindow).where(PanelWindow.clinic_id == clinic_id).values(since=new_since))
    return len(crossed)


def refresh_forecasts(now: dt.datetime, clinic_id: str | None = None, patient_ids: Sequence[str] | None = None) -> int:
    """Recompute the stale forecasts (of a clinic, of some patients, or all), in batches. A
    result is stored only if no write moved the patient's forecast meanwhile."""
    table = _panel()
    query = (
        select(table.c.patient_id, table.c.changes, PatientProfile.timezone)
        .join(PatientProfile, PatientProfile.user_id == table.c.patient_id)
        .where(table.c.changes != table.c.forecast_of_change)
    )
    if clinic_id is not None:
        query = query.where(table.c.clinic_id == clinic_id)
    if patient_ids is not None:
        query = query.where(table.c.patient_id.in_(patient_ids))
    stale = db.session.execute(query).all()
    for start in range(0, len(stale), FORECAST_BATCH):
        batch = stale[start : start + FORECAST_BATCH]
        predicted = forecast.forecasts({pid: zone for pid, _, zone in batch}, now)
        db.session.execute(
            update(table).where(
                table.c.patient_id == bindparam("b_patient"), table.c.changes == bindparam("b_changes")
            ),
            [
                {
                    "b_patient": pid,
                    "b_changes": changes,
                    "forecast_of_change": changes,
                    "expected_wear_off_date": predicted[pid].expected_wear_off_date if predicted[pid] else None,
                }
                for pid, changes, _ in batch
            ],
        )
    return len(stale)


def refresh(now: dt.datetime) -> None:
    """The worker's job: every clinic's 7 days moved forward, every stale forecast recomputed."""
    for clinic_id in db.session.scalars(select(PanelWindow.clinic_id)).all():
        refresh_window(clinic_id, now)
    refresh_forecasts(now)
    db.session.flush()


# --- pages -------------------------------------------------------------------------------------


def _matches(search: str) -> ColumnElement[bool]:
    """A name containing `search`, or an external reference starting with it (any case;
    `%` and `_` are plain characters here)."""
    return PatientProfile.display_name.icontains(search, autoescape=True) | PatientProfile.external_ref.istartswith(
        search, autoescape=True
    )


def _rows(staff: Actor, search: str | None):
    table = _panel()
    query = (
        select(
            table.c.patient_id,
            table.c.open_critical,
            table.c.open_warning,
            table.c.mood_key,
            table.c.expected_wear_off_date,
            PatientProfile.display_name,
        )
        .join(PatientProfile, PatientProfile.user_id == table.c.patient_id)
        .where(table.c.clinic_id == staff.clinic_id)
    )
    return query.where(_matches(search)) if search else query


def _page_numbers(patient_ids: list[str], since: dt.datetime) -> dict[str, Any]:
    """The shown 7-day numbers and last entry of the page's patients, from their entries."""
    if not patient_ids:
        return {}
    recent = {
        row.patient_id: row
        for row in db.session.execute(
            select(
                Entry.patient_id,
                func.sum(Entry.mood).label("mood_sum"),
                func.sum(Entry.anxiety).label("anxiety_sum"),
                func.count(Entry.id).label("n"),
                func.count(func.distinct(Entry.local_date)).label("days"),
            )
            .where(Entry.patient_id.in_(patient_ids), Entry.deleted_at.is_(None), Entry.recorded_at >= since)
            .group_by(Entry.patient_id)
        )
    }
    last = dict(
        db.session.execute(
            select(Entry.patient_id, func.max(Entry.recorded_at))
            .where(Entry.patient_id.in_(patient_ids), Entry.deleted_at.is_(None))
            .group_by(Entry.patient_id)
        ).all()
    )
    return {pid: (recent.get(pid), last.get(pid)) for pid in patient_ids}


def _items(staff: Actor, rows: Sequence[Any], since: dt.datetime) -> list[PanelItem]:
    numbers = _page_numbers([row.patient_id for row in rows], since)
    items = []
    for row in rows:
        audit.record(
            staff, "panel.read", patient_id=row.patient_id, resource_type="patient", resource_id=row.patient_id
        )
        recent, last_entry_at = numbers[row.patient_id]
        n = recent.n if recent else 0
        items.append(
            PanelItem(
                id=row.patient_id,
                display_name=row.display_name,
                last_entry_at=last_entry_at,
                mood_7d_mean=recent.mood_sum / n if n else None,
                anxiety_7d_mean=recent.anxiety_sum / n if n else None,
                # 7 x 24 hours touch 8 local dates: adherence cannot pass 100 %.
                adherence_7d=min(recent.days if recent else 0, 7) / 7,
                open_alerts=row.open_critical + row.open_warning,
                open_critical_alerts=row.open_critical,
                expected_wear_off_date=row.expected_wear_off_date,
            )
        )
    return items


def _risk_key(row: Any) -> tuple[int, int, float, str]:
    return row.open_critical, row.open_warning, row.mood_key, row.patient_id


def _wear_off_key(row: Any) -> tuple[dt.date, str]:
    return row.expected_wear_off_date or NO_FORECAST, row.patient_id


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
    refresh_window(staff.clinic_id, now)
    table = _panel()
    query = _rows(staff, search)
    if order == "wears_off":
        # Every stale forecast of the clinic first (few: the worker keeps up), then the index.
        refresh_forecasts(now, clinic_id=staff.clinic_id)
        keyset, sort_key = WEAR_OFF_KEYSET, _wear_off_key
        wear_off = func.coalesce(table.c.expected_wear_off_date, literal(NO_FORECAST))
        if cursor:
            query = query.where(tuple_(wear_off, table.c.patient_id) > tuple_(*keyset.decode(cursor)))
        query = query.order_by(
            table.c.expected_wear_off_date.is_(None), table.c.expected_wear_off_date, table.c.patient_id
        )
    else:
        keyset, sort_key = PANEL_KEYSET, _risk_key
        if cursor:
            crit, warn, mood, pid = keyset.decode(cursor)
            # Keyset on (critical desc, warnings desc, mood asc, id): negate to compare ascending.
            query = query.where(
                tuple_(-table.c.open_critical, -table.c.open_warning, table.c.mood_key, table.c.patient_id)
                > tuple_(-crit, -warn, mood, pid)
            )
        query = query.order_by(
            table.c.open_critical.desc(), table.c.open_warning.desc(), table.c.mood_key, table.c.patient_id
        )
    rows = db.session.execute(query.limit(limit + 1)).all()
    page = keyset.page(rows, limit, sort_key)
    if order != "wears_off":
        # The shown dates of this page's patients, fresh (a few queries, whatever the clinic's size).
        stale = [row.patient_id for row in page.items]
        if refresh_forecasts(now, patient_ids=stale):
            page = Page(_reread(page.items), page.next_cursor)
    return Page(_items(staff, page.items, now - WEEK), page.next_cursor)


def _reread(rows: Sequence[Any]) -> list[Any]:
    """The same rows again, after their forecasts were recomputed."""
    table = _panel()
    by_id = {
        row.patient_id: row
        for row in db.session.execute(
            select(
                table.c.patient_id,
                table.c.open_critical,
                table.c.open_warning,
                table.c.mood_key,
                table.c.expected_wear_off_date,
                PatientProfile.display_name,
            )
            .join(PatientProfile, PatientProfile.user_id == table.c.patient_id)
            .where(table.c.patient_id.in_([row.patient_id for row in rows]))
        )
    }
    return [by_id[row.patient_id] for row in rows]
