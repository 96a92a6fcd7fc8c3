"""Bulk seeding of due check-in pushes, for load tests and benchmarks (plain SQL inserts)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert

from diary.extensions import db
from diary.models import Checkin, Device, Notification, TreatmentSession


def seed_due_checkin_pushes(patients: list[tuple[str, str]], per_patient: int, now: dt.datetime) -> list[str]:
    """For each (patient id, clinic id): one device, one session and `per_patient` check-ins
    whose push is due now. Returns the check-in ids. Call inside an app context."""
    sessions, devices, checkins, pushes = [], [], [], []
    for patient_id, clinic_id in patients:
        session_id = str(uuid.uuid4())
        sessions.append(
            {
                "id": session_id,
                "patient_id": patient_id,
                "clinic_id": clinic_id,
                "started_at": now - dt.timedelta(hours=1),
                "local_date": (
                    now - dt.timedelta(hours=1)
                ).date(),  # UTC; the dispatch tests that use this never read it
                "route": "iv",
                "created_at": now,
            }
        )
        devices.append(
            {
                "id": str(uuid.uuid4()),
                "user_id": patient_id,
                "token": f"token-{patient_id}",
                "platform": "android",
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
        for _ in range(per_patient):
            checkin_id = str(uuid.uuid4())
            checkins.append(
                {
                    "id": checkin_id,
                    "session_id": session_id,
                    "patient_id": patient_id,
                    "label": "+1h",
                    "offset_minutes": 60,
                    "due_at": now,
                    "expires_at": now + dt.timedelta(hours=12),
                    "status": "pending",
                    "window_minutes": 720,
                    "created_at": now,
                }
            )
            pushes.append(
                {
                    "id": str(uuid.uuid4()),
                    "kind": "checkin",
                    "dedupe_key": f"checkin:{checkin_id}",
                    "user_id": patient_id,
                    "checkin_id": checkin_id,
                    "payload": {"type": "checkin", "checkin_id": checkin_id},
                    "delivered_device_ids": [],
                    "status": "pending",
                    "attempts": 0,
                    "due_at": now,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    db.session.execute(insert(TreatmentSession), sessions)
    db.session.execute(insert(Device), devices)
    db.session.execute(insert(Checkin), checkins)
    db.session.execute(insert(Notification), pushes)
    db.session.commit()
    return [c["id"] for c in checkins]
