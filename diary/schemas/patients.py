from marshmallow import Schema, ValidationError, fields, validate, validates

from diary.models import SIDE_EFFECTS
from diary.schemas.fields import (
    ClockTime,
    Instant,
    StrictBoolean,
    StrictFloat,
    StrictInteger,
    Text,
    UUIDString,
)
from diary.timeutil import is_valid_timezone

PLATFORMS = ("android", "ios", "web")


class TimezoneMixin:
    @validates("timezone")
    def _known_zone(self, value: str, **kwargs) -> None:
        if not is_valid_timezone(value):
            raise ValidationError("Unknown IANA timezone.")


class ProfileSchema(Schema):
    id = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    timezone = Text(required=True)
    daily_reminder_time = ClockTime(allow_none=True)
    quiet_hours_start = ClockTime(required=True)
    quiet_hours_end = ClockTime(required=True)
    push_enabled = StrictBoolean(required=True)


class ProfilePatchSchema(TimezoneMixin, Schema):
    timezone = Text(validate=validate.Length(min=1, max=64))
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


class SafetyContactSchema(Schema):
    name = fields.String()
    phone = fields.String()


class SafetySchema(Schema):
    message = fields.String()
    contacts = fields.List(fields.Nested(SafetyContactSchema))


def _entry_fields(required: bool) -> dict[str, fields.Field]:
    return {
        "recorded_at": Instant(required=required),
        "mood": StrictInteger(required=required, validate=validate.Range(0, 10)),
        "anxiety": StrictInteger(required=required, validate=validate.Range(0, 10)),
        "sleep_hours": StrictFloat(allow_none=True, validate=validate.Range(0, 24)),
        "side_effects": fields.List(
            Text(validate=validate.OneOf(SIDE_EFFECTS)), validate=validate.Length(max=len(SIDE_EFFECTS))
        ),
        "self_harm_thoughts": StrictInteger(allow_none=True, validate=validate.Range(0, 3)),
        "note": Text(allow_none=True, validate=validate.Length(max=2000)),
        "checkin_id": UUIDString(allow_none=True),
    }


EntryInSchema = Schema.from_dict({"id": UUIDString(required=True), **_entry_fields(required=True)}, name="EntryIn")
EntryPatchSchema = Schema.from_dict(_entry_fields(required=False), name="EntryPatch")


class EntrySchema(Schema):
    id = fields.String()
    recorded_at = Instant()
    local_date = fields.Date()
    mood = fields.Integer()
    anxiety = fields.Integer()
    sleep_hours = fields.Float(allow_none=True)
    side_effects = fields.List(fields.String())
    self_harm_thoughts = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    checkin_id = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = Instant()
    updated_at = Instant()
    deleted_at = Instant(allow_none=True)
    safety = fields.Nested(SafetySchema)


class EntryListQuerySchema(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = Text(validate=validate.Length(max=512))


class EntryPageSchema(Schema):
    items = fields.List(fields.Nested(EntrySchema))
    next_cursor = fields.String(allow_none=True)


class BatchInSchema(Schema):
    # Items stay raw here: each is validated on its own so one bad entry spoils nothing.
    entries = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=200))


class BatchResultSchema(Schema):
    id = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(["created", "duplicate", "conflict", "invalid"]))
    errors = fields.Dict()


class BatchOutSchema(Schema):
    results = fields.List(fields.Nested(BatchResultSchema))
    safety = fields.Nested(SafetySchema)


class AssessmentInSchema(Schema):
    id = UUIDString(required=True)
    instrument = Text(required=True, validate=validate.OneOf(["phq9", "gad7"]))
    answers = fields.List(
        StrictInteger(validate=validate.Range(0, 3)), required=True, validate=validate.Length(min=7, max=9)
    )
    recorded_at = Instant(required=True)


class AssessmentSchema(Schema):
    id = fields.String()
    instrument = fields.String()
    answers = fields.List(fields.Integer())
    total = fields.Integer()
    severity = fields.String()
    recorded_at = Instant()
    local_date = fields.Date()
    created_at = Instant()
    safety = fields.Nested(SafetySchema)


class CheckinQuerySchema(Schema):
    status = Text(validate=validate.OneOf(["pending", "sent", "answered", "expired", "cancelled"]))


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


class PatientCreateSchema(TimezoneMixin, Schema):
    display_name = Text(required=True, validate=validate.Length(min=1, max=200))
    timezone = Text(required=True, validate=validate.Length(min=1, max=64))
    external_ref = Text(allow_none=True, validate=validate.Length(max=100))


class PatientSchema(Schema):
    id = fields.String()
    display_name = fields.String()
    timezone = fields.String()
    external_ref = fields.String(allow_none=True)
    enrolled = fields.Boolean()
    enrolled_at = Instant(allow_none=True)
    created_at = Instant()
    enrollment_code = fields.String()
    enrollment_expires_at = Instant()
