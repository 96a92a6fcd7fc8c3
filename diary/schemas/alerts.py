from marshmallow import Schema, fields, validate

from diary.models import ALERT_STATUSES
from diary.schemas.fields import Instant, Text


class AlertQuerySchema(Schema):
    status = Text(validate=validate.OneOf(ALERT_STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = Text(validate=validate.Length(max=512))


class AlertSchema(Schema):
    id = fields.String()
    patient_id = fields.String()
    rule = fields.String()
    severity = fields.String()
    status = fields.String()
    opened_at = Instant()
    details = fields.Dict()
    acknowledged_at = Instant(allow_none=True)
    acknowledged_by = fields.String(attribute="acknowledged_by_id", allow_none=True)
    resolved_at = Instant(allow_none=True)
    resolved_by = fields.String(attribute="resolved_by_id", allow_none=True)
    resolution_note = fields.String(allow_none=True)


class AlertPageSchema(Schema):
    items = fields.List(fields.Nested(AlertSchema))
    next_cursor = fields.String(allow_none=True)


class ResolveSchema(Schema):
    note = Text(allow_none=True, validate=validate.Length(max=2000))
