"""The patient's diary entries.

Idempotent writes (the client's UUID: the same content again is a replay, other content a
conflict), batch sync in which each entry stands alone, versioned edits, soft deletes. A
write and what it sets off (alert rules, the crisis resources of a self-harm report) happen
in the caller's transaction: stored together or not at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import String, TextClause, bindparam, column, func, insert, select, text, tuple_
from sqlalchemy.exc import DBAPIError, OperationalError

from diary.database import HotStatement
from diary.domain import alerts, effects, entry_days, outbox, panel, safety
from diary.domain.errors import Conflict, DomainError, NotFound
from diary.domain.instants import not_in_future
from diary.domain.keyset import BY_INSTANT_AND_ID, Page
from diary.domain.patients import Patient
from diary.domain.trends import TREND_WINDOWS, TrendWindows, read_trend_windows
from diary.extensions import db
from diary.models import Checkin, Entry, EntrySideEffect, EntryVersion
from diary.timeutil import iso_utc, local_date, utcnow


def entry_content(source: Entry | dict[str, Any]) -> dict[str, Any]:
    """The client-visible content of an entry, normalised so two versions compare equal."""
    get = source.get if isinstance(source, dict) else lambda k, d=None: getattr(source, k, d)
    return {
        "recorded_at": iso_utc(get("recorded_at")),
        "mood": get("mood"),
        "anxiety": get("anxiety"),
        "sleep_hours": None if get("sleep_hours") is None else float(get("sleep_hours")),
        "side_effects": sorted(set(get("side_effects") or [])),
        "self_harm_thoughts": get("self_harm_thoughts"),
        "note": get("note"),
        "checkin_id": get("checkin_id"),
    }


def _own_checkin(patient_id: str, checkin_id: str) -> Checkin:
    checkin = db.session.get(Checkin, checkin_id)
    if checkin is None or checkin.patient_id != patient_id:
        raise NotFound("check-in not found")
    return checkin


def _mark_checkin_answered(checkin: Checkin, entry_id: str, at: dt.datetime) -> None:
    """The first answer counts. A late one is kept (the patient's data matters) but the
    check-in stays expired, so adherence still shows it was missed in time."""
    if checkin.answered_at is not None or checkin.status == "cancelled":
        return
    checkin.answered_at = at
    checkin.answer_entry_id = entry_id
    if checkin.status in ("pending", "sent") and at < checkin.expires_at:
        checkin.status = "answered"
        # Nothing more to push for an answered check-in.
        outbox.cancel_for_checkins([checkin.id], "answered")
    elif checkin.status in ("pending", "sent"):
        # Late, and the worker has not expired it yet: it was missed all the same.
        checkin.status = "expired"
        outbox.cancel_for_checkins([checkin.id], "expired")


def _matches_entry(entry: Entry, wanted: dict[str, Any]) -> bool:
    if entry_content(entry) == wanted:
        return True
    # A replay of the original POST after the entry was edited is still the same entry.
    first = db.session.scalar(
        select(EntryVersion.content).where(EntryVersion.entry_id == entry.id, EntryVersion.version == 1)
    )
    return first == wanted


@dataclass(frozen=True)
class EntryRecord:
    """An entry as this request stored or found it: what the answer shows, with no ORM object
    behind it (answering after the commit loads nothing), and the crisis resources when the
    entry reports self-harm thoughts."""

    id: str
    patient_id: str
    recorded_at: dt.datetime
    local_date: dt.date
    timezone: str
    mood: int
    anxiety: int
    sleep_hours: float | None
    self_harm_thoughts: int | None
    note: str | None
    checkin_id: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None = None
    side_effects: list[str] = field(default_factory=list)
    safety: dict[str, Any] | None = None

    @classmethod
    def of(cls, entry: Entry) -> EntryRecord:
        return cls(**{name: getattr(entry, name) for name in _RECORD_FIELDS})


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(EntryRecord) if f.name != "safety")


def _entry_insert_sql(suffix: str = "") -> TextClause:
    """INSERT ... ON CONFLICT (id) DO NOTHING, built once, as text valid on PostgreSQL and
    SQLite alike: a replay, or a twin committed by a concurrent request, inserts nothing and
    aborts nothing, so a new entry costs one statement, with no lookup before it and no
    savepoint around it. Text rather than the dialects' insert() constructs, which SQLAlchemy
    never caches (sqlalchemy#10445): compiling one per request cost more than the INSERT.
    Typed parameters keep the column types' conversions (UTC instants on SQLite)."""
    columns = Entry.__table__.columns
    names = ", ".join(column.name for column in columns)
    values = ", ".join(f":{column.name}" for column in columns)
    sql = f"INSERT INTO entries ({names}) VALUES ({values}) ON CONFLICT (id) DO NOTHING{suffix}"  # noqa: S608
    return text(sql).bindparams(*(bindparam(column.name, type_=column.type) for column in columns))


# SQLAlchemy keeps an INSERT's rowcount only when asked.
_ENTRY_INSERT = _entry_insert_sql().execution_options(preserve_rowcount=True)


def _entry_insert_reading_trends():
    """PostgreSQL: the INSERT as a data-modifying CTE of the trend-window aggregate, with the
    panel's increment and the entry's day (entry_days) as two more, so a new entry, the
    figures its alert rules need and its patient's place on the panel cost one round trip.
    Every part of one statement reads the same snapshot: the aggregate does not see the day
    the CTE adds to, and create_entry adds the entry (TrendWindows.adding); the panel row is
    only bumped if the INSERT inserted, and the day only added to after the bump (which
    locks the patient's panel row first, as entry_days requires)."""
    inserted = _entry_insert_sql(" RETURNING id").columns(column("id", String)).cte("inserted")
    bump = text(panel.bump_sql(only_if_inserted=True) + " RETURNING patient_id")
    bumped = bump.columns(column("patient_id", String)).cte("bumped")
    added = entry_days.add_statement(after_bump=True).columns().cte("added")
    was_inserted = select(func.count()).select_from(inserted).scalar_subquery().label("inserted")
    return TREND_WINDOWS.add_cte(inserted).add_cte(bumped).add_cte(added).add_columns(was_inserted)


_ENTRY_INSERT_READING_TRENDS = HotStatement(_entry_insert_reading_trends())
_ENTRY_COLUMNS = tuple(column.name for column in Entry.__table__.columns)
_SIDE_EFFECT_INSERT = insert(EntrySideEffect.__table__)
_PANEL_BUMP = text(panel.bump_sql(only_if_inserted=False))
_DAY_ADD = entry_days.add_statement(after_bump=False)


class StoredEntry(NamedTuple):
    entry: EntryRecord
    created: bool
    # The patient's trend windows with this entry in them, when asked for and created.
    trends: TrendWindows | None = None


def create_entry(
    patient: Patient, fields: dict[str, Any], *, read_trends: bool = False, count_in_panel: bool = True
) -> StoredEntry:
    """Store a new entry, or recognise a replay of a stored one.

    The same id with other content, or another patient's id, is a Conflict. With
    `read_trends`, a new entry comes with the patient's trend windows as they stand with it,
    read by the INSERT itself on PostgreSQL (which also counts it on the panel and in its
    day). Without `count_in_panel` the caller recounts the panel row and the entry's day
    itself (a batch, once for all).
    """
    recorded_at = not_in_future("recorded_at", fields["recorded_at"])
    checkin = _own_checkin(patient.user_id, fields["checkin_id"]) if fields.get("checkin_id") else None
    now = utcnow()
    entry = EntryRecord(
        id=fields["id"],
        patient_id=patient.user_id,
        recorded_at=recorded_at,
        local_date=local_date(recorded_at, patient.timezone),
        timezone=patient.timezone,
        mood=fields["mood"],
        anxiety=fields["anxiety"],
        sleep_hours=fields.get("sleep_hours"),
        self_harm_thoughts=fields.get("self_harm_thoughts"),
        note=fields.get("note"),
        checkin_id=fields.get("checkin_id"),
        version=1,
        created_at=now,
        updated_at=now,
        side_effects=sorted(set(fields.get("side_effects") or [])),
    )
    connection = db.session.connection()
    row = {name: getattr(entry, name) for name in _ENTRY_COLUMNS}
    trends = TrendWindows.ending(local_date(now, patient.timezone)) if read_trends else None
    backdated = entry.local_date < local_date(now, entry.timezone)  # a day whose session effects may be stored
    counted = panel.entry_params(patient.user_id, recorded_at, entry.mood, now, backdated=backdated)
    if trends is not None and count_in_panel and connection.dialect.name == "postgresql":
        params = {**row, **trends.params(patient.user_id), **counted}
        totals = _ENTRY_INSERT_READING_TRENDS.first(connection, params)
        created = totals.inserted == 1
        trends = trends.with_totals(totals).adding(entry.local_date, entry.mood, entry.anxiety)
    else:
        created = connection.execute(_ENTRY_INSERT, row).rowcount == 1
        if created and count_in_panel:
            connection.execute(_PANEL_BUMP, counted)
            connection.execute(_DAY_ADD, row)  # after the bump: the panel row is locked first
        if created and trends is not None:
            trends = read_trend_windows(patient.user_id, trends.today)
    if created:
        if backdated and not count_in_panel:
            effects.entries_moved(patient.user_id)  # else the panel bump above counted it
        if entry.side_effects:
            connection.execute(_SIDE_EFFECT_INSERT, [{"entry_id": entry.id, "effect": e} for e in entry.side_effects])
        if checkin is not None:
            _mark_checkin_answered(checkin, entry.id, now)
        return StoredEntry(entry, True, trends)

    existing = db.session.get(Entry, entry.id, populate_existing=True)
    wanted = entry_content({**fields, "recorded_at": recorded_at})
    if existing is None or existing.patient_id != patient.user_id or not _matches_entry(existing, wanted):
        raise Conflict("this id was already used with different content", code="id_conflict")
    return StoredEntry(EntryRecord.of(existing), False)


def _answered(entry: EntryRecord, patient: Patient) -> EntryRecord:
    """The entry as the answer shows it: with the clinic's crisis resources if it reports
    self-harm thoughts (also on a replay, whose first answer the phone may never have seen)."""
    if not safety.entry_reports_self_harm(entry.self_harm_thoughts):
        return entry
    return dataclasses.replace(entry, safety=safety.crisis_resources(patient.clinic_id))


def log_entry(patient: Patient, fields: dict[str, Any]) -> tuple[EntryRecord, bool]:
    """POST /me/entries: store (or recognise a replay), run the alert rules; (entry, created)."""
    entry, created, trends = create_entry(patient, fields, read_trends=True)
    if created:
        alerts.after_entries(patient, [entry], windows=trends)
    return _answered(entry, patient), created


@dataclass(frozen=True)
class RejectedItem:
    """A batch item that failed validation: its id (when it had a usable one) and why."""

    id: str | None
    errors: dict[str, Any]


@dataclass(frozen=True)
class BatchOutcome:
    results: list[dict[str, Any]]
    safety: dict[str, Any] | None = None


def _store_alone(patient: Patient, fields: dict[str, Any]) -> tuple[dict[str, Any], EntryRecord | None, bool]:
    """One batch item in its own savepoint: whatever refuses it (a conflict, the clock, the
    database itself) undoes only this item. Returns (result, entry or None, created)."""
    try:
        with db.session.begin_nested():
            entry, created, _ = create_entry(patient, fields, count_in_panel=False)
    except Conflict:
        return {"id": fields["id"], "status": "conflict"}, None, False
    except DomainError as err:
        refused = err.errors or {"body": [err.message]}
    except DBAPIError as err:
        if isinstance(err, OperationalError) or err.connection_invalidated:
            raise  # the database is gone, not this entry: the whole request fails (503)
        refused = {"body": ["the database refused this entry"]}
    else:
        return {"id": entry.id, "status": "created" if created else "duplicate"}, entry, created
    return {"id": fields["id"], "status": "invalid", "errors": refused}, None, False


def sync_entries(patient: Patient, items: Sequence[dict[str, Any] | RejectedItem]) -> BatchOutcome:
    """POST /me/entries/batch: each item stands or falls alone; the rules run once for all."""
    results, stored, at_risk = [], [], False
    for item in items:
        if isinstance(item, RejectedItem):
            results.append({"id": item.id, "status": "invalid", "errors": item.errors})
            continue
        result, entry, created = _store_alone(patient, item)
        results.append(result)
        if entry is not None:
            # A duplicate is a resend of an answer the phone may never have seen: show help again.
            at_risk = at_risk or safety.entry_reports_self_harm(entry.self_harm_thoughts)
            if created:
                stored.append(entry)
    if stored:
        panel.after_entries_changed(patient.user_id, patient.clinic_id)
        entry_days.recount([patient.user_id], {entry.local_date for entry in stored})
    alerts.after_entries(patient, stored)
    return BatchOutcome(results, safety.crisis_resources(patient.clinic_id) if at_risk else None)


def live_entry(patient_id: str, entry_id: str) -> Entry:
    entry = db.session.get(Entry, entry_id)
    if entry is None or entry.patient_id != patient_id or entry.deleted_at is not None:
        raise NotFound("entry not found")
    return entry


def update_entry(profile: Patient, entry_id: str, changes: dict[str, Any]) -> Entry:
    entry = live_entry(profile.user_id, entry_id)
    before = entry_content(entry)
    days = {entry.local_date}
    if "recorded_at" in changes:
        changes = {**changes, "recorded_at": not_in_future("recorded_at", changes["recorded_at"])}
    checkin = None
    if changes.get("checkin_id") and changes["checkin_id"] != entry.checkin_id:
        checkin = _own_checkin(profile.user_id, changes["checkin_id"])
    after = entry_content({**before, **changes, "recorded_at": changes.get("recorded_at", entry.recorded_at)})
    if after == before:
        return entry
    db.session.add(EntryVersion(entry_id=entry.id, version=entry.version, content=before))
    for name, value in changes.items():
        if name == "side_effects":
            entry.side_effects = value or []
        else:
            setattr(entry, name, value)
    if "recorded_at" in changes:
        entry.local_date = local_date(entry.recorded_at, profile.timezone)
        entry.timezone = profile.timezone
    entry.version += 1
    if checkin is not None:
        _mark_checkin_answered(checkin, entry.id, utcnow())
    db.session.flush()
    effects.entries_moved(profile.user_id)
    panel.after_entries_changed(profile.user_id, profile.clinic_id)
    entry_days.recount([profile.user_id], days | {entry.local_date})
    return entry


def correct_entry(patient: Patient, entry_id: str, changes: dict[str, Any]) -> EntryRecord:
    """PATCH /me/entries/{id}: edit (keeping the previous version) and run the rules again.
    A change of self_harm_thoughts is a new report: its alert and crisis resources follow."""
    entry = update_entry(patient, entry_id, changes)
    reports = "self_harm_thoughts" in changes
    alerts.after_entries(patient, [entry] if reports else [], trends=True)
    record = EntryRecord.of(entry)
    return _answered(record, patient) if reports else record


def delete_entry(patient: Patient, entry_id: str) -> None:
    entry = live_entry(patient.user_id, entry_id)
    entry.deleted_at = utcnow()
    db.session.flush()
    effects.entries_moved(patient.user_id)
    panel.after_entries_changed(patient.user_id, patient.clinic_id)
    entry_days.recount([patient.user_id], [entry.local_date])


def list_entries(
    patient_id: str, *, date_from: dt.date | None, date_to: dt.date | None, limit: int, cursor: str | None
) -> Page[Entry]:
    """Newest first, keyset-paginated on (recorded_at, id) so pages never skip or repeat."""
    query = select(Entry).where(Entry.patient_id == patient_id, Entry.deleted_at.is_(None))
    if date_from:
        query = query.where(Entry.local_date >= date_from)
    if date_to:
        query = query.where(Entry.local_date <= date_to)
    if cursor:
        after_at, after_id = BY_INSTANT_AND_ID.decode(cursor)
        query = query.where(tuple_(Entry.recorded_at, Entry.id) < tuple_(after_at, after_id))
    rows = db.session.scalars(query.order_by(Entry.recorded_at.desc(), Entry.id.desc()).limit(limit + 1)).all()
    return BY_INSTANT_AND_ID.page(rows, limit, lambda entry: (entry.recorded_at, entry.id))
