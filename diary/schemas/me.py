"""The patient's own profile, push devices and check-ins."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from diary.models import CHECKIN_STATUSES
from diary.schemas.fields import ClockTime, Instant, StrictBoolean, Text, Timezone

PLATFORMS = ("android", "ios", "web")


class ProfileSchema(Schema):
    id = fields.String(attribute="user_id", dump_only=True)
    email = fields.String(attribute="user.email", dump_only=True)
    timezone = Text(required=True)
    daily_reminder_time = ClockTime(allow_none=True)
    quiet_hours_start = ClockTime(required=True)
    quiet_hours_end = ClockTime(required=True)
    push_enabled = StrictBoolean(required=True)


class ProfilePatchSchema(Schema):
    timezone = Timezone()
    daily_reminder_time = ClockTime(allow_none=True)
    quiet_hours_start = ClockTime()
    quiet_hours_end = ClockTime()
    push_enabled = StrictBoolean()


class DeviceInSchema(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=1024))
    platform = Text(required=True, validate=validate.OneOf(PLATFORMS))


class DeviceSchema(Schema):
    id = fields.String(dump_only=True)
    token = fields.String(dump_only=True)
    platform = fields.String(dump_only=True)
    active = fields.Boolean(dump_only=True)
    created_at = Instant(dump_only=True)


class CheckinQuerySchema(Schema):
    status = Text(validate=validate.OneOf(CHECKIN_STATUSES))


class CheckinSchema(Schema):
    id = fields.String()
    session_id = fields.String()
    label = fields.String()
    due_at = Instant()
    expires_at = Instant()
    status = fields.String()
    answered_at = Instant(allow_none=True)
    late = fields.Method("_late", metadata={"description": "answered after the window closed"})

    def _late(self, checkin) -> bool:
        return checkin.answered_at is not None and checkin.answered_at >= checkin.expires_at
