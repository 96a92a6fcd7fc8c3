from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc


class Clinic(db.Model):
    __tablename__ = "clinics"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    # Crisis resources shown to a patient the moment they report self-harm thoughts;
    # null means the deployment's defaults (CRISIS_MESSAGE / CRISIS_CONTACTS).
    crisis_message: Mapped[str | None] = mapped_column(Text)
    crisis_contacts: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
