from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from diary.extensions import db
from diary.models.base import UTCDateTime, new_id, now_utc


class AuditEvent(db.Model):
    """Who touched which patient's data, when. Ids and action names only, never PHI.

    Append-only: the ORM refuses updates and deletes below, and the migrations add
    database triggers that refuse them (and TRUNCATE) from any client.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_patient_at", "patient_id", "at"),
        Index("ix_audit_events_clinic_at", "clinic_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now_utc)
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(16))
    clinic_id: Mapped[str | None] = mapped_column(ForeignKey("clinics.id"))
    action: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(36))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str | None] = mapped_column(String(36))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # The request path of an access_denied event: it holds ids only, never PHI.
    path: Mapped[str | None] = mapped_column(String(512))


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context, instances) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent):
            raise RuntimeError("audit events are append-only")
