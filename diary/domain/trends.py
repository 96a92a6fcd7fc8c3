"""A patient's trend windows: what the mood_drop and anxiety_rise rules compare.

The recent local days (ALERT_TREND_RECENT_DAYS, up to today) against the baseline days
before them (ALERT_TREND_BASELINE_DAYS): entries, mood sum and anxiety sum of each, read
from the patient's entry_days rows (diary.domain.entry_days). Sums and counts stay
integers, so the rules compare exact fractions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from flask import current_app
from sqlalchemy import Date, bindparam, case, func, literal_column, select

from diary.extensions import db
from diary.models import EntryDay


def _trend_windows_statement():
    """Count and sums of mood and anxiety for the recent days and for the baseline days
    before them, from the patient's entry_days rows (one a day, however many entries it
    holds). Built once: it runs after every diary write (on PostgreSQL, inside the INSERT
    of a new entry)."""
    days = EntryDay.__table__
    day, recent_first = days.c.local_date, bindparam("recent_first", type_=Date)
    zero = literal_column("0")

    def total(recent: bool, column):
        in_window = day >= recent_first if recent else day < recent_first
        return func.coalesce(func.sum(case((in_window, column), else_=zero)), zero)

    return select(
        total(True, days.c.entry_count).label("n_recent"),
        total(True, days.c.mood_sum).label("mood_recent"),
        total(True, days.c.anxiety_sum).label("anxiety_recent"),
        total(False, days.c.entry_count).label("n_base"),
        total(False, days.c.mood_sum).label("mood_base"),
        total(False, days.c.anxiety_sum).label("anxiety_base"),
    ).where(
        days.c.patient_id == bindparam("patient_id"),
        day >= bindparam("base_first", type_=Date),
        day <= bindparam("today", type_=Date),
    )


TREND_WINDOWS = _trend_windows_statement()


@dataclass(frozen=True)
class TrendWindows:
    """What mood_drop and anxiety_rise compare: (entries, mood sum, anxiety sum) of a
    patient's recent local days up to `today`, and of the baseline days before them."""

    today: dt.date
    recent_first: dt.date
    base_first: dt.date
    recent: tuple[int, int, int] = (0, 0, 0)
    baseline: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def ending(cls, today: dt.date) -> TrendWindows:
        cfg = current_app.config
        recent_first = today - dt.timedelta(days=cfg["ALERT_TREND_RECENT_DAYS"] - 1)
        return cls(today, recent_first, recent_first - dt.timedelta(days=cfg["ALERT_TREND_BASELINE_DAYS"]))

    def params(self, patient_id: str) -> dict[str, Any]:
        """TREND_WINDOWS' parameters."""
        return {
            "patient_id": patient_id,
            "recent_first": self.recent_first,
            "base_first": self.base_first,
            "today": self.today,
        }

    def with_totals(self, row: Any) -> TrendWindows:
        """These windows holding what TREND_WINDOWS counted (a row with its labels)."""
        recent = (int(row.n_recent), int(row.mood_recent), int(row.anxiety_recent))
        return replace(self, recent=recent, baseline=(int(row.n_base), int(row.mood_base), int(row.anxiety_base)))

    def adding(self, day: dt.date, mood: int, anxiety: int) -> TrendWindows:
        """These windows with one more entry, counted where its local day falls, if anywhere."""
        if not self.base_first <= day <= self.today:
            return self
        window = "recent" if day >= self.recent_first else "baseline"
        n, moods, anxieties = getattr(self, window)
        return replace(self, **{window: (n + 1, moods + mood, anxieties + anxiety)})

    def changes(self) -> dict[str, Fraction] | None:
        """Exact mood and anxiety change of the recent days against the baseline, or None
        when there is too little data to judge."""
        (n_recent, mood_recent, anx_recent), (n_base, mood_base, anx_base) = self.recent, self.baseline
        if n_recent == 0 or n_base < current_app.config["ALERT_TREND_MIN_BASELINE_ENTRIES"]:
            return None
        return {
            "mood": Fraction(mood_recent, n_recent) - Fraction(mood_base, n_base),
            "anxiety": Fraction(anx_recent, n_recent) - Fraction(anx_base, n_base),
        }


def read_trend_windows(patient_id: str, today: dt.date) -> TrendWindows:
    windows = TrendWindows.ending(today)
    db.session.flush()  # a Core statement does not autoflush: the rule must see this transaction's edits
    return windows.with_totals(db.session.connection().execute(TREND_WINDOWS, windows.params(patient_id)).one())
