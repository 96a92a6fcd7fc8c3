"""Push devices: FCM registration tokens of app installs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from diary.domain.errors import NotFound
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Device
from diary.timeutil import utcnow


def register(user: Actor, token: str, platform: str) -> tuple[Device, bool]:
    """Register a token for `user`; returns (device, created).

    A token already known is re-activated; if it belonged to someone else (a shared or
    handed-down phone) it moves to this user, so pushes follow whoever is logged in.
    """
    for _ in range(2):
        device = db.session.scalar(select(Device).where(Device.token == token))
        if device is not None:
            created = device.user_id != user.id
            device.user_id = user.id
            device.platform = platform
            device.active = True
            device.deactivated_at = None
            device.deactivated_reason = None
            db.session.flush()
            return device, created
        device = Device(user_id=user.id, token=token, platform=platform)
        try:
            with db.session.begin_nested():
                db.session.add(device)
            return device, True
        except IntegrityError:
            continue  # registered concurrently: take the other path
    raise RuntimeError("device registration raced twice")


def remove(user: Actor, device_id: str) -> None:
    device = db.session.get(Device, device_id)
    if device is None or device.user_id != user.id or not device.active:
        raise NotFound("device not found")
    device.active = False
    device.deactivated_at = utcnow()
    device.deactivated_reason = "removed"
    db.session.flush()
