"""The clinic's outcomes: a cohort by the local day of its patients' first session."""

from __future__ import annotations

from marshmallow import Schema, fields

from diary.schemas.summary import SUMMARY_DATES


class OutcomesQuerySchema(Schema):
    from_ = fields.Date(
        data_key="from",
        validate=SUMMARY_DATES,
        metadata={"description": "first day of the cohort's first sessions; default 364 days before `to`"},
    )
    to = fields.Date(validate=SUMMARY_DATES, metadata={"description": "last day; default today (UTC)"})


class InductionSchema(Schema):
    completed = fields.Integer(metadata={"description": "INDUCTION_SESSIONS sessions within INDUCTION_DAYS"})
    dropped_after_first = fields.Integer(metadata={"description": "one session ever, more than 14 days ago"})
    rate_completed = fields.Float(allow_none=True, metadata={"description": "completed / patients"})


class Phq9OutcomesSchema(Schema):
    with_baseline = fields.Integer(metadata={"description": "a PHQ-9 >= 10 in the 14 days up to the first session"})
    measured_4w = fields.Integer()
    response_4w = fields.Integer()
    remission_4w = fields.Integer()
    response_rate_4w = fields.Float(allow_none=True, metadata={"description": "response_4w / measured_4w"})
    remission_rate_4w = fields.Float(allow_none=True, metadata={"description": "remission_4w / measured_4w"})
    measured_12w = fields.Integer()
    response_12w = fields.Integer()
    remission_12w = fields.Integer()
    response_rate_12w = fields.Float(allow_none=True)
    remission_rate_12w = fields.Float(allow_none=True)


class EffectDaysSchema(Schema):
    sessions = fields.Integer(metadata={"description": "the cohort's sessions with a measured effect"})
    median = fields.Float(allow_none=True)


class OutcomesSchema(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    patients = fields.Integer(metadata={"description": "the cohort"})
    induction = fields.Nested(InductionSchema)
    phq9 = fields.Nested(Phq9OutcomesSchema)
    effect_days = fields.Nested(EffectDaysSchema)
