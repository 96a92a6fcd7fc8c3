"""The patient's diary: entries (single and batch), their pages, and questionnaires."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from diary.domain import instruments
from diary.domain.entries import RejectedItem
from diary.models import SIDE_EFFECTS
from diary.schemas.fields import Instant, StrictFloat, StrictInteger, Text, UUIDString


class SafetyContactSchema(Schema):
    name = fields.String()
    phone = fields.String()


class SafetySchema(Schema):
    message = fields.String()
    contacts = fields.List(fields.Nested(SafetyContactSchema))


class CarriesSafety(Schema):
    """An answer that carries the clinic's crisis resources when, and only when, what was
    stored reports self-harm."""

    safety = fields.Nested(SafetySchema, metadata={"description": "present only on a self-harm report"})

    @post_dump
    def _safety_only_when_at_risk(self, answer: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if answer.get("safety") is None:
            answer.pop("safety", None)
        return answer


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


class EntrySchema(CarriesSafety):
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


class EntryListQuerySchema(Schema):
    from_ = fields.Date(data_key="from")
    to = fields.Date()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    cursor = Text(validate=validate.Length(max=512))

    @validates_schema
    def _from_not_after_to(self, query: dict[str, Any], **kwargs: Any) -> None:
        if query.get("from_") and query.get("to") and query["from_"] > query["to"]:
            raise ValidationError("must not be after 'to'", field_name="from")


class EntryPageSchema(Schema):
    items = fields.List(fields.Nested(EntrySchema))
    next_cursor = fields.String(allow_none=True)


class StandAloneEntry(fields.Field):
    """One entry of a batch, validated on its own: a bad one becomes a RejectedItem (reported
    `invalid` in the results) instead of failing the whole batch, so the valid entries of an
    offline phone (a self-harm report among them, possibly) are still stored."""

    _entry_in = EntryInSchema()

    def _deserialize(self, value: Any, attr, data, **kwargs) -> dict[str, Any] | RejectedItem:
        if not isinstance(value, dict):
            raise ValidationError("Not a valid entry object.")  # not an entry at all: a broken client
        try:
            return self._entry_in.load(value)
        except ValidationError as err:
            item_id = value.get("id")
            return RejectedItem(item_id if isinstance(item_id, str) else None, err.messages)


class BatchInSchema(Schema):
    entries = fields.List(
        StandAloneEntry(metadata={"type": "object"}), required=True, validate=validate.Length(min=1, max=200)
    )


class BatchResultSchema(Schema):
    id = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(["created", "duplicate", "conflict", "invalid"]))
    errors = fields.Dict()


class BatchOutSchema(CarriesSafety):
    results = fields.List(fields.Nested(BatchResultSchema))


def _assessment_fields(instruments_allowed: tuple[str, ...]) -> dict[str, fields.Field]:
    return {
        "id": UUIDString(required=True),
        "instrument": Text(required=True, validate=validate.OneOf(instruments_allowed)),
        # How many answers and in which range depends on the instrument: the catalogue checks.
        "answers": fields.List(
            StrictInteger(), required=True, validate=validate.Length(min=1, max=instruments.MOST_ITEMS)
        ),
        "recorded_at": Instant(required=True),
    }


AssessmentInSchema = Schema.from_dict(_assessment_fields(instruments.PATIENT_RATED), name="AssessmentIn")
RatingInSchema = Schema.from_dict(
    {**_assessment_fields(instruments.CLINICIAN_RATED), "session_id": UUIDString(allow_none=True)}, name="RatingIn"
)


class AssessmentSchema(CarriesSafety):
    """An assessment as its patient sees it: a banded instrument's `severity`, or a screen's
    `risk` in its place."""

    id = fields.String()
    instrument = fields.String()
    answers = fields.List(fields.Integer())
    total = fields.Integer()
    severity = fields.String(metadata={"description": "banded instruments"})
    risk = fields.String(metadata={"description": "cssrs_screen: none, low, moderate or high"})
    recorded_at = Instant()
    local_date = fields.Date()
    created_at = Instant()

    @post_dump
    def _severity_or_risk(self, assessment: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        for level in ("severity", "risk"):
            if assessment.get(level) is None:
                assessment.pop(level, None)
        return assessment


class RatedAssessmentSchema(AssessmentSchema):
    """An assessment as staff read it: who rated it (a clinician's id; null when the patient
    filled it in) and the session it belongs to."""

    session_id = fields.String(allow_none=True)
    rated_by = fields.String(allow_none=True)


class AssessmentQuerySchema(Schema):
    instrument = Text(validate=validate.OneOf(tuple(instruments.CATALOGUE)))
