"""URL converters shared by the API and the pages."""

from __future__ import annotations

from werkzeug.routing import BaseConverter


class IdConverter(BaseConverter):
    """`<id:name>`: an id in a path is a UUID (lower-case, as the API issues them). Anything
    else is no route at all (404) and never reaches a query, so a NUL or a megabyte of text
    in a path cannot become a database error."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> str:
        return value.lower()


def id_parameter_schema(converter: IdConverter) -> dict[str, str]:
    return {"type": "string", "format": "uuid"}
