from marshmallow import Schema, fields, validate

from diary.config import Config
from diary.models import MEDICATIONS, ROUTES
from diary.schemas.fields import Instant, StrictFloat, StrictInteger, Text
from diary.schemas.monitoring import MonitoringFlagsSchema, MonitoringRecordSchema

MAX_MINUTES = 60 * 24 * 60  # 60 days


class ProtocolSchema(Schema):
    checkin_offsets_minutes = fields.List(
        StrictInteger(validate=validate.Range(min=1, max=MAX_MINUTES)),
        required=True,
        validate=validate.Length(min=1, max=12),
        metadata={"description": "minutes after a session; at most 12; each at most 60 days", "uniqueItems": True},
    )
    checkin_window_minutes = StrictInteger(required=True, validate=validate.Range(min=1, max=MAX_MINUTES))


class SessionInSchema(Schema):
    started_at = Instant(required=True)
    route = Text(required=True, validate=validate.OneOf(ROUTES))
    # The docs state the default limits; the rule (MAX_DOSE_MG) is checked in the domain.
    dose_mg = StrictFloat(
        allow_none=True,
        metadata={
            "description": "mg; more than 0 and at most MAX_DOSE_MG (default 1000)",
            "minimum": 0,
            "exclusiveMinimum": True,
            "maximum": Config.MAX_DOSE_MG,
        },
    )
    notes = Text(allow_none=True, validate=validate.Length(max=2000))
    medication = Text(load_default="ketamine", validate=validate.OneOf(MEDICATIONS))


class SessionCheckinSchema(Schema):
    id = fields.String()
    label = fields.String()
    offset_minutes = fields.Integer()
    due_at = Instant()
    expires_at = Instant()
    status = fields.String()


class SessionSchema(MonitoringFlagsSchema):
    id = fields.String()
    patient_id = fields.String()
    started_at = Instant()
    route = fields.String()
    dose_mg = fields.Float(allow_none=True)
    notes = fields.String(allow_none=True)
    created_at = Instant()
    checkins = fields.List(fields.Nested(SessionCheckinSchema))
    medication = fields.String()
    monitoring = fields.Nested(MonitoringRecordSchema, allow_none=True, metadata={"description": "the latest version"})
