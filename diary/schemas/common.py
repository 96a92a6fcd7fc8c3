from marshmallow import Schema, fields


class ErrorSchema(Schema):
    """The one error envelope: every non-2xx response has this shape."""

    status = fields.Integer(required=True, metadata={"description": "HTTP status code"})
    code = fields.String(required=True, metadata={"description": "machine-readable error code"})
    message = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "422 only: offending fields and their messages"},
    )
    request_id = fields.String()
