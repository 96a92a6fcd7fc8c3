"""The Blueprint every API module uses."""

from __future__ import annotations

import json

import flask_smorest
from webargs.flaskparser import FlaskParser


class JsonBodyParser(FlaskParser):
    """webargs' parser, except that a body nested too deeply to decode is invalid JSON (400), not a crash."""

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", "(request body)", 0) from None


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JsonBodyParser()
