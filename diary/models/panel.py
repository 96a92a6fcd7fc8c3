from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime

# The sort key of a patient without entries in the last 7 days: after every real mean.
NO_MOOD = 99.0


class PatientPanel(db.Model):
    """What ranks a patient on the clinic panel, kept where an index serves "the next 50"
    directly: open alerts by severity, the mood of the last 7 x 24 hours as a sum and a count
    (and their mean, the sort key), and the forecast's wear-off date.

    Derived, never the truth: every column can be recomputed from alerts, entries and
    sessions (diary.domain.panel), and is, whenever the inputs change in ways an increment
    cannot follow (an edit, a deletion, entries ageing out of the 7 days, a new forecast).
    """

    __tablename__ = "patient_panel"
    __table_args__ = (
        Index("ix_patient_panel_wear_off", "clinic_id", "expected_wear_off_date", "patient_id"),
        Index(
            "ix_patient_panel_stale",
            "clinic_id",
            postgresql_where=text("changes <> forecast_of_change"),
            sqlite_where=text("changes <> forecast_of_change"),
        ),
    )

    patient_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    open_critical: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    open_warning: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Live entries recorded since the panel window's start (panel_window.since).
    mood_sum_7d: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    entries_7d: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    mood_key: Mapped[float] = mapped_column(Float, default=NO_MOOD, server_default=str(NO_MOOD))
    expected_wear_off_date: Mapped[dt.date | None]
    # Writes that can move the forecast (entries, sessions, the patient's zone) count up
    # `changes`; the stored forecast was computed at `forecast_of_change`. They differ while
    # it is stale, and a recomputation only lands if no write came in the meantime.
    changes: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    forecast_of_change: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Counted up by every write of an entry on a day before the patient's today (a backdated
    # entry, an edit, a deletion): the stored session effects of an older epoch are stale.
    effects_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# The risk order, as the panel pages through it: an index range scan per page.
Index(
    "ix_patient_panel_risk",
    PatientPanel.clinic_id,
    PatientPanel.open_critical.desc(),
    PatientPanel.open_warning.desc(),
    PatientPanel.mood_key,
    PatientPanel.patient_id,
)


class PanelWindow(db.Model):
    """A clinic's row: the start of the 7 x 24 hours that the mood numbers of its patients'
    patient_panel rows cover (moved to `now - 7 days` by the worker and before a panel is read,
    recounting the patients whose entries crossed it)."""

    __tablename__ = "panel_window"

    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)
