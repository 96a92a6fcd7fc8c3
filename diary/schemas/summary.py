import datetime as dt
from typing import Any

from marshmallow import Schema, fields, post_dump, validate

from diary.domain import instruments
from diary.schemas.alerts import AlertSchema
from diary.schemas.fields import Instant, Rows, Text
from diary.schemas.monitoring import MonitoringFlagsSchema, MonitoringRecordSchema


class PanelQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = Text(validate=validate.Length(max=512))
    q = Text(
        validate=validate.Length(min=1, max=100),
        metadata={"description": "only patients whose name contains it, or whose external reference starts with it"},
    )
    order = Text(
        load_default="risk",
        validate=validate.OneOf(("risk", "wears_off")),
        metadata={"description": "risk (riskiest first, the default) or wears_off (soonest expected wear-off first)"},
    )


class PanelItemSchema(Schema):
    id = fields.String()
    display_name = fields.String()
    last_entry_at = Instant(allow_none=True)
    mood_7d_mean = fields.Float(allow_none=True)
    anxiety_7d_mean = fields.Float(allow_none=True)
    adherence_7d = fields.Float()
    open_alerts = fields.Integer()
    open_critical_alerts = fields.Integer()
    expected_wear_off_date = fields.Date(allow_none=True, metadata={"description": "the forecast's, or null"})


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
    """One score on its band (`severity`), or a screen's `risk` level in its place."""

    recorded_at = Instant()
    total = fields.Integer()
    severity = fields.String()
    risk = fields.String()

    @post_dump
    def _severity_or_risk(self, score: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {name: value for name, value in score.items() if value is not None or name not in ("severity", "risk")}


# One series per instrument of the catalogue, oldest first.
AssessmentSeriesSchema = Schema.from_dict(
    {code: fields.List(fields.Nested(ScoreSchema)) for code in instruments.CATALOGUE}, name="AssessmentSeries"
)


class Phq9OutcomeSchema(Schema):
    baseline_total = fields.Integer(allow_none=True)
    baseline_recorded_at = Instant(allow_none=True)
    latest_total = fields.Integer(allow_none=True)
    latest_recorded_at = Instant(allow_none=True)
    change_percent = fields.Float(allow_none=True)
    response = fields.Boolean(allow_none=True)
    remission = fields.Boolean(allow_none=True)
    remission_cutoff = fields.Integer()


class MadrsOutcomeSchema(Schema):
    baseline = fields.Integer(
        allow_none=True, metadata={"description": "last MADRS on or before the first session's day"}
    )
    baseline_recorded_at = Instant(allow_none=True)
    latest = fields.Integer(allow_none=True, metadata={"description": "newest MADRS after the baseline"})
    latest_recorded_at = Instant(allow_none=True)
    change = fields.Integer(allow_none=True, metadata={"description": "latest - baseline, in points"})
    response = fields.Boolean(allow_none=True, metadata={"description": "a fall of at least 50 %"})
    remission = fields.Boolean(allow_none=True, metadata={"description": "latest <= MADRS_REMISSION_CUTOFF"})
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
    checkins = Rows(SummaryCheckinSchema)
    effect_days = fields.Integer(allow_none=True)


class AdherenceSchema(Schema):
    days_with_entry = fields.Integer()
    days_in_window = fields.Integer()
    checkins_sent = fields.Integer()
    checkins_answered = fields.Integer()
    checkin_rate = fields.Float(allow_none=True)


class ForecastSchema(Schema):
    expected_wear_off_date = fields.Date(metadata={"description": "latest session's local day + median effect_days"})
    earliest = fields.Date(metadata={"description": "+ the shortest effect_days of the basis"})
    latest = fields.Date(metadata={"description": "+ the longest effect_days of the basis"})
    basis_sessions = fields.Integer()
    based_on = fields.List(fields.String(), metadata={"description": "the last 6 sessions with a measured effect"})
    from_session_id = fields.String(metadata={"description": "the latest session, whose day the dates count from"})


class SummarySchema(Schema):
    patient_id = fields.String()
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    timezone = fields.String()
    mood = fields.Nested(ScaleSchema)
    anxiety = fields.Nested(ScaleSchema)
    daily = Rows(DailySchema)
    assessments = fields.Nested(AssessmentSeriesSchema)
    phq9_outcome = fields.Nested(Phq9OutcomeSchema)
    madrs_outcome = fields.Nested(MadrsOutcomeSchema)
    forecast = fields.Nested(ForecastSchema, allow_none=True)
    sessions = fields.List(fields.Nested(SummarySessionSchema))
    adherence = fields.Nested(AdherenceSchema)
    side_effects = fields.Dict(keys=fields.String(), values=fields.Integer())
    alerts = fields.List(fields.Nested(AlertSchema))
