"""Session monitoring: what a clinician records in the chair, and what a session shows of it.

A refused reading is named by its place in the list, as marshmallow nests errors:
`errors["vitals"]["0"]["diastolic"]` is the first reading's diastolic pressure.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from diary.models import ADVERSE_EVENTS, OBSERVED_LEVELS
from diary.schemas.fields import Instant, StrictInteger, Text

MAX_VITALS = 50


def _no_duplicates(values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Must not contain duplicates.")


class VitalInSchema(Schema):
    at = Instant(required=True, metadata={"description": "not before the session started, not in the future"})
    systolic = StrictInteger(required=True, validate=validate.Range(50, 300), metadata={"description": "mmHg"})
    diastolic = StrictInteger(
        required=True, validate=validate.Range(30, 200), metadata={"description": "mmHg; below systolic"}
    )
    heart_rate = StrictInteger(required=True, validate=validate.Range(20, 250), metadata={"description": "per minute"})
    spo2 = StrictInteger(allow_none=True, validate=validate.Range(50, 100), metadata={"description": "%"})

    @validates_schema
    def _diastolic_below_systolic(self, reading: dict[str, Any], **kwargs: Any) -> None:
        # Only once both are valid numbers (marshmallow skips this after a field error).
        if reading["diastolic"] >= reading["systolic"]:
            raise ValidationError("Must be below systolic.", field_name="diastolic")


def _level(**kwargs: Any) -> Text:
    return Text(validate=validate.OneOf(OBSERVED_LEVELS), **kwargs)


class MonitoringInSchema(Schema):
    """The whole record each time: a PUT replaces the session's monitoring with a new version."""

    vitals = fields.List(
        fields.Nested(VitalInSchema),
        required=True,
        validate=validate.Length(max=MAX_VITALS),
        metadata={"description": f"at most {MAX_VITALS} readings"},
    )
    sedation = _level(required=True)
    dissociation = _level(required=True)
    adverse_events = fields.List(
        Text(validate=validate.OneOf(ADVERSE_EVENTS)),
        required=True,
        validate=_no_duplicates,
        metadata={"uniqueItems": True},
    )
    discharged_at = Instant(
        allow_none=True, metadata={"description": "not before the session started, not in the future"}
    )
    notes = Text(allow_none=True, validate=validate.Length(max=2000))


class VitalSchema(Schema):
    at = Instant()
    systolic = fields.Integer()
    diastolic = fields.Integer()
    heart_rate = fields.Integer()
    spo2 = fields.Integer(allow_none=True)


class MonitoringRecordSchema(Schema):
    """One version of a session's monitoring, as entered."""

    session_id = fields.String()
    version = fields.Integer(metadata={"description": "1 for the first record; each PUT adds one"})
    vitals = fields.List(fields.Nested(VitalSchema))
    sedation = fields.String()
    dissociation = fields.String()
    adverse_events = fields.List(fields.String())
    discharged_at = Instant(allow_none=True)
    notes = fields.String(allow_none=True)
    recorded_by = fields.String(metadata={"description": "the clinician's id"})
    recorded_at = Instant()


class MonitoringFlagsSchema(Schema):
    """The flags derived from a session's latest monitoring (read from its `flags`)."""

    max_systolic = fields.Integer(attribute="flags.max_systolic", allow_none=True)
    max_diastolic = fields.Integer(attribute="flags.max_diastolic", allow_none=True)
    bp_alert = fields.Boolean(
        attribute="flags.bp_alert",
        metadata={"description": "a systolic >= BP_ALERT_SYSTOLIC (180) or diastolic >= BP_ALERT_DIASTOLIC (110)"},
    )
    observation_minutes = fields.Integer(
        attribute="flags.observation_minutes",
        allow_none=True,
        metadata={"description": "whole minutes from the session start to discharge; null without discharge"},
    )
    short_observation = fields.Boolean(
        attribute="flags.short_observation",
        allow_none=True,
        metadata={"description": "observation_minutes below MIN_OBSERVATION_MINUTES of the session's medication"},
    )


class MonitoringSchema(MonitoringRecordSchema, MonitoringFlagsSchema):
    """The answer to a PUT: the version just stored, with its flags."""
