"""A clinic's patients, as staff create and read them."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from diary.schemas.fields import Instant, Text, Timezone


class PatientCreateSchema(Schema):
    display_name = Text(required=True, validate=validate.Length(min=1, max=200))
    timezone = Timezone(required=True)
    external_ref = Text(allow_none=True, validate=validate.Length(max=100))


class PatientSchema(Schema):
    id = fields.String(attribute="user_id")
    display_name = fields.String()
    timezone = fields.String()
    external_ref = fields.String(allow_none=True)
    enrolled = fields.Function(lambda profile: profile.enrolled_at is not None)
    enrolled_at = Instant(allow_none=True)
    created_at = Instant()


class EnrolmentSchema(PatientSchema):
    """A patient with the one-time enrolment code the clinician hands over (shown once)."""

    enrollment_code = fields.String()
    enrollment_expires_at = Instant()
