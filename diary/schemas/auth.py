from marshmallow import Schema, fields, validate

from diary.schemas.fields import Text

PASSWORD = validate.Length(min=1, max=1024)


class TokenRequestSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = Text(required=True, load_only=True, validate=PASSWORD)


class RefreshRequestSchema(Schema):
    refresh_token = Text(required=True, load_only=True, validate=validate.Length(min=1, max=512))


class EnrollRequestSchema(Schema):
    enrollment_code = Text(required=True, validate=validate.Length(min=1, max=64))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    # 10 is the documented floor; a deployment may raise it with PASSWORD_MIN_LENGTH.
    password = Text(required=True, load_only=True, validate=validate.Length(min=10, max=1024))


class TokenPairSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
