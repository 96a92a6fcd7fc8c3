import datetime as dt

from marshmallow import Schema, fields, validate

from diary.schemas.alerts import AlertSchema
from diary.schemas.fields import Instant, Text
from diary.schemas.monitoring import MonitoringFlagsSchema, MonitoringRecordSchema


class PanelQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = Text(validate=validate.Length(max=512))


class PanelItemSchema(Schema):
    id = fields.String()
    display_name = fields.String()
    last_entry_at = Instant(allow_none=True)
    mood_7d_mean = fields.Float(allow_none=True)
    anxiety_7d_mean = fields.Float(allow_none=True)
    adherence_7d = fields.Float()
    open_alerts = fields.Integer()
    open_critical_alerts = fields.Integer()


class PanelPageSchema(Schema):
    items = fields.List(fields.Nested(PanelItemSchema))
    next_cursor = fields.String(allow_none=True)


# Far enough from date.min/date.max that window arithmetic (local midnights in UTC, the
# default `from` 29 days back) cannot overflow into a 500.
SUMMARY_DATES = validate.Range(min=dt.date(1900, 1, 1), max=dt.date(2999, 12, 31))


class SummaryQuerySchema(Schema):
    from_ = fields.Date(
        data_key="from", validate=SUMMARY_DATES, metadata={"description": "local date; default 29 days before `to`"}
    )
    to = fields.Date(validate=SUMMARY_DATES, metadata={"description": "local date; default the patient's today"})


class ScaleSchema(Schema):
    n = fields.Integer()
    mean = fields.Float(allow_none=True)
    min = fields.Integer(allow_none=True)
    max = fields.Integer(allow_none=True)
    latest = fields.Integer(allow_none=True)
    slope_per_week = fields.Float(allow_none=True)


class DailySchema(Schema):
    date = fields.Date()
    mood_mean = fields.Float()
    anxiety_mean = fields.Float()
    n = fields.Integer()


class ScoreSchema(Schema):
    recorded_at = Instant()
    total = fields.Integer()
    severity = fields.String()


class AssessmentSeriesSchema(Schema):
    phq9 = fields.List(fields.Nested(ScoreSchema))
    gad7 = fields.List(fields.Nested(ScoreSchema))


class Phq9OutcomeSchema(Schema):
    baseline_total = fields.Integer(allow_none=True)
    baseline_recorded_at = Instant(allow_none=True)
    latest_total = fields.Integer(allow_none=True)
    latest_recorded_at = Instant(allow_none=True)
    change_percent = fields.Float(allow_none=True)
    response = fields.Boolean(allow_none=True)
    remission = fields.Boolean(allow_none=True)
    remission_cutoff = fields.Integer()


class BaselineSchema(Schema):
    mood = fields.Float(allow_none=True)
    anxiety = fields.Float(allow_none=True)


class SummaryCheckinSchema(Schema):
    label = fields.String()
    due_at = Instant()
    status = fields.String()
    mood = fields.Integer(allow_none=True)
    anxiety = fields.Integer(allow_none=True)


class SummarySessionSchema(MonitoringFlagsSchema):
    id = fields.String()
    started_at = Instant()
    route = fields.String()
    medication = fields.String()
    monitoring = fields.Nested(MonitoringRecordSchema, allow_none=True, metadata={"description": "the latest version"})
    dose_mg = fields.Float(allow_none=True)
    baseline = fields.Nested(BaselineSchema)
    checkins = fields.List(fields.Nested(SummaryCheckinSchema))
    effect_days = fields.Integer(allow_none=True)


class AdherenceSchema(Schema):
    days_with_entry = fields.Integer()
    days_in_window = fields.Integer()
    checkins_sent = fields.Integer()
    checkins_answered = fields.Integer()
    checkin_rate = fields.Float(allow_none=True)


class SummarySchema(Schema):
    patient_id = fields.String()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    timezone = fields.String()
    mood = fields.Nested(ScaleSchema)
    anxiety = fields.Nested(ScaleSchema)
    daily = fields.List(fields.Nested(DailySchema))
    assessments = fields.Nested(AssessmentSeriesSchema)
    phq9_outcome = fields.Nested(Phq9OutcomeSchema)
    sessions = fields.List(fields.Nested(SummarySessionSchema))
    adherence = fields.Nested(AdherenceSchema)
    side_effects = fields.Dict(keys=fields.String(), values=fields.Integer())
    alerts = fields.List(fields.Nested(AlertSchema))
