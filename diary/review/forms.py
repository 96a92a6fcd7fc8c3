"""What the review pages accept from query strings and forms.

The API's own schemas where the input is the API's (window dates, paging, alert status, a
resolve note, route, dose and notes of a session), so a page and the API refuse the same
things; only the shapes a browser sends differ (strings from forms, repeated query keys).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate
from werkzeug.datastructures import MultiDict

from diary.domain.errors import Invalid
from diary.review import PREFIX
from diary.schemas.alerts import AlertQuerySchema, ResolveSchema
from diary.schemas.auth import TokenRequestSchema
from diary.schemas.clinic import OutcomesQuerySchema
from diary.schemas.fields import Text
from diary.schemas.sessions import SessionInSchema
from diary.schemas.summary import PanelQuerySchema, SummaryQuerySchema

DECIMAL = re.compile(r"[0-9]{1,6}(\.[0-9]{1,3})?")
# Cursors of the pages before this one, so "Previous" can go back through keyset pages.
TRAIL = fields.List(Text(validate=validate.Length(max=512)), load_default=list, validate=validate.Length(max=100))


class PanelPageQuery(PanelQuerySchema):
    trail = TRAIL


class AlertPageQuery(AlertQuerySchema):
    trail = TRAIL


class WindowQuery(SummaryQuerySchema):
    pass


class OutcomesPageQuery(OutcomesQuerySchema):
    """The outcomes page's cohort dates: the API's own rules."""

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        return _blank_to_missing(data)


class LoginForm(TokenRequestSchema):
    pass


def _blank_to_missing(data: dict[str, Any]) -> dict[str, Any]:
    """Form fields arrive as strings; an empty optional field means "not given"."""
    return {
        key: value.strip() if isinstance(value, str) and key != "notes" else value
        for key, value in data.items()
        if not isinstance(value, str) or value.strip()
    }


class ResolveForm(ResolveSchema):
    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        return _blank_to_missing(data)


class SessionForm(SessionInSchema):
    """Record a session: the API's rules for route, dose and notes; the start as the date and
    wall-clock time in the patient's zone, which the domain turns into an instant."""

    class Meta:
        exclude = ("started_at",)

    date = fields.Date(required=True, validate=validate.Range(min=dt.date(2000, 1, 1)))
    time = fields.Time(required=True)

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        values = _blank_to_missing(data)
        dose = values.get("dose_mg")
        # Plain decimals only ("35", "0.5"): "1,000" or "1e3" could be read two ways, and a
        # dose read wrongly is worse than one typed again. Anything else stays a string,
        # which the API's field refuses ("Not a valid number.").
        if isinstance(dose, str) and DECIMAL.fullmatch(dose):
            values["dose_mg"] = float(dose)
        return values


def load(schema: type[Schema], data: MultiDict, *, lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """`data` (query args or a form) through `schema`; unknown keys (the CSRF token, `next`)
    are ignored and a refusal is the API's 422, naming the fields."""
    values = {key: data.get(key) for key in data if key not in lists}
    for key in lists:
        if key in data:
            values[key] = data.getlist(key)
    try:
        return schema(unknown=EXCLUDE).load(values)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"form": error.messages}
        raise FormInvalid(messages) from None


class FormInvalid(Invalid):
    """Invalid input on a page: every field's messages, for the form to show beside them."""

    def __init__(self, messages: dict[str, Any]):
        super().__init__(next(iter(messages)), "is not valid")
        self.message = "validation failed: " + ", ".join(sorted(messages))
        self.errors = messages


def local_path(target: str | None, default: str) -> str:
    """`target` if it is a path of these pages on this site, else `default`: a `next` or
    return address must never send a signed-in clinician to another site."""
    if not target or "\\" in target or not target.isprintable():
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return default
    if not (parts.path == PREFIX or parts.path.startswith(PREFIX + "/")):
        return default
    return target
