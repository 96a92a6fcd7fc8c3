from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db


class SessionEffect(db.Model):
    """A session's baseline and effect_days as last computed (diary.domain.effects).

    Derived, never the truth: valid while `epoch` equals the patient's
    patient_panel.effects_epoch, which every write of an entry on an earlier day than the
    patient's today (a backdated entry, an edit, a deletion) counts up. A result the clock
    can still change (a day it depends on is less than two local days back) also carries
    the patient's patient_panel.changes and local day it was computed at (`of_change`,
    `on_day`), and is valid only while both are unchanged; a settled one has neither.
    """

    __tablename__ = "session_effects"

    session_id: Mapped[str] = mapped_column(ForeignKey("treatment_sessions.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    of_change: Mapped[int | None] = mapped_column(Integer)
    on_day: Mapped[dt.date | None]
    baseline_mood: Mapped[float | None] = mapped_column(Float)
    baseline_anxiety: Mapped[float | None] = mapped_column(Float)
    effect_days: Mapped[int | None] = mapped_column(Integer)
