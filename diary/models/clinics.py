from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc

# The default check-in protocol: +4h, +1d, +3d, +7d, each answerable for 12 hours.
DEFAULT_OFFSETS_MINUTES = (240, 1440, 4320, 10080)
DEFAULT_WINDOW_MINUTES = 720


class Clinic(db.Model):
    __tablename__ = "clinics"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    # Crisis resources shown to a patient the moment they report self-harm thoughts;
    # null means the deployment's defaults (CRISIS_MESSAGE / CRISIS_CONTACTS).
    crisis_message: Mapped[str | None] = mapped_column(Text)
    crisis_contacts: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    # The check-in protocol: minutes after a session, and how long each stays answerable.
    checkin_offsets_minutes: Mapped[list[int]] = mapped_column(
        JSON, default=lambda: list(DEFAULT_OFFSETS_MINUTES), server_default="[240, 1440, 4320, 10080]"
    )
    checkin_window_minutes: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_WINDOW_MINUTES, server_default=str(DEFAULT_WINDOW_MINUTES)
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
