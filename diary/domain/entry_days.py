"""A patient's live entries summed per local day (entry_days): what the trend rules, the
summary's daily series and the session effects read, one row a day however many entries
the day holds.

Kept in the transaction of every write that changes it:
- a new entry adds itself to its day, on PostgreSQL inside its INSERT's own statement,
  after the panel bump (see below);
- a batch, an edit, a deletion recount the days they touched from the entries, holding
  the patient's panel row lock (taken by panel.after_entries_changed). A new entry takes
  that lock (its panel bump) before it adds to its day, so its increment lands either
  before the recount reads the entries (and the recount counts it) or after the recount
  committed (and adds to what it wrote): never lost, never twice, and no deadlock;
- erasure deletes the patient's rows (diary.domain.erasure).
A day left without live entries has no row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Date, Integer, String, TextClause, bindparam, delete, func, insert, select, text

from diary.extensions import db
from diary.models import Entry, EntryDay

_DAY_COLUMNS = ("patient_id", "local_date", "entry_count", "mood_sum", "anxiety_sum")


def add_statement(*, after_bump: bool) -> TextClause:
    """Add one new entry to its day (bound: patient_id, local_date, mood, anxiety), creating
    the day's row if it has none. `after_bump`: the form inside the INSERT's statement on
    PostgreSQL, which adds only if the panel bump ran (so, only if the entry was inserted),
    and after it, so the panel row is locked first. Text: SQLAlchemy's upserts are one
    construct per dialect, and this runs on both."""
    if after_bump:
        source = "SELECT patient_id, :local_date, 1, :mood, :anxiety FROM bumped"
    else:  # SQLite parses an upsert's SELECT only with a WHERE
        source = "SELECT :patient_id, :local_date, 1, :mood, :anxiety WHERE true"
    sql = (
        f"INSERT INTO entry_days ({', '.join(_DAY_COLUMNS)}) {source} "
        "ON CONFLICT (patient_id, local_date) DO UPDATE SET "
        "entry_count = entry_days.entry_count + 1, "
        "mood_sum = entry_days.mood_sum + excluded.mood_sum, "
        "anxiety_sum = entry_days.anxiety_sum + excluded.anxiety_sum"
    )
    typed = [bindparam("local_date", type_=Date), bindparam("mood", type_=Integer), bindparam("anxiety", type_=Integer)]
    if not after_bump:
        typed.append(bindparam("patient_id", type_=String))
    return text(sql).bindparams(*typed)


def recount(patient_ids: Iterable[str], days: Iterable[dt.date] | None = None) -> None:
    """Recount these patients' rows from their live entries: the given local days, or every
    day. The caller holds the patients' panel locks (see the module's docstring) or is the
    only writer (a bulk load)."""
    patient_ids = sorted(set(patient_ids))
    if not patient_ids:
        return
    where = [EntryDay.patient_id.in_(patient_ids)]
    entries_where = [Entry.patient_id.in_(patient_ids), Entry.deleted_at.is_(None)]
    if days is not None:
        days = sorted(set(days))
        if not days:
            return
        where.append(EntryDay.local_date.in_(days))
        entries_where.append(Entry.local_date.in_(days))
    db.session.execute(delete(EntryDay).where(*where))
    sums = (
        select(Entry.patient_id, Entry.local_date, func.count(), func.sum(Entry.mood), func.sum(Entry.anxiety))
        .where(*entries_where)
        .group_by(Entry.patient_id, Entry.local_date)
    )
    db.session.execute(insert(EntryDay).from_select(list(_DAY_COLUMNS), sums))
