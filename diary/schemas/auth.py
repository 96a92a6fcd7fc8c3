from marshmallow import Schema, fields, validate

from diary.config import Config
from diary.schemas.fields import EmailAddress, Text

# A structural limit only (argon2 hashes any length); the policy is diary.domain.passwords'.
PASSWORD = validate.Length(min=1, max=1024)


class TokenRequestSchema(Schema):
    email = EmailAddress(required=True)
    password = Text(required=True, load_only=True, validate=PASSWORD)


class RefreshRequestSchema(Schema):
    refresh_token = Text(required=True, load_only=True, validate=validate.Length(min=1, max=512))


class EnrollRequestSchema(Schema):
    enrollment_code = Text(required=True, validate=validate.Length(min=1, max=64))
    email = EmailAddress(required=True)
    # The docs state the default floor; the policy (PASSWORD_MIN_LENGTH) is checked in the domain.
    password = Text(
        required=True, load_only=True, validate=PASSWORD, metadata={"minLength": Config.PASSWORD_MIN_LENGTH}
    )


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
