"""What the review pages accept from query strings and forms.

The API's own schemas where the input is the API's (window dates, paging, alert status, a
resolve note, route, dose and notes of a session), so a page and the API refuse the same
things; only the shapes a browser sends differ (strings from forms, repeated query keys).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema
from werkzeug.datastructures import MultiDict

from diary.domain.errors import Invalid
from diary.domain.instruments import CATALOGUE
from diary.review import PREFIX
from diary.schemas.alerts import AlertQuerySchema, ResolveSchema
from diary.schemas.auth import TokenRequestSchema
from diary.schemas.clinic import OutcomesQuerySchema
from diary.schemas.entries import RatingInSchema
from diary.schemas.fields import Text
from diary.schemas.monitoring import MAX_VITALS, MonitoringInSchema, VitalInSchema
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


# --- ratings and monitoring -------------------------------------------------------------


def _small_int(value: Any) -> Any:
    """A form's digits as an integer; anything else stays a string for the API's field to refuse."""
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) <= 4 else value


class RatingForm(RatingInSchema):
    """Rate a clinician-rated scale: the API's rules for id, instrument, answers and session;
    the time as the date and wall-clock time in the patient's zone. Items arrive as
    `item-1`.. `item-N`; one left unanswered is named by its number."""

    class Meta:
        exclude = ("recorded_at",)

    date = fields.Date(required=True, validate=validate.Range(min=dt.date(2000, 1, 1)))
    time = fields.Time(required=True)

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        values = _blank_to_missing(data)
        instrument = CATALOGUE.get(values.get("instrument")) if isinstance(values.get("instrument"), str) else None
        items = instrument.items if instrument else 0
        values["answers"] = [_small_int(values.pop(f"item-{n}", None)) for n in range(1, items + 1)]
        return values


VITAL_FIELDS = ("time", "systolic", "diastolic", "heart_rate", "spo2")


class VitalForm(VitalInSchema):
    """One reading: the API's ranges and rule (diastolic below systolic); the time of day."""

    class Meta:
        exclude = ("at",)

    time = fields.Time(required=True)


def vital_rows(form: Any) -> list[tuple[int, dict[str, Any]]]:
    """The form's filled-in reading rows as (row number, values): blank rows are skipped,
    and each keeps the number the form showed, for naming its problems."""
    rows = []
    for row in range(1, MAX_VITALS + 1):
        values = {name: form.get(f"vital-{row}-{name}") for name in VITAL_FIELDS}
        values = {name: value.strip() for name, value in values.items() if isinstance(value, str) and value.strip()}
        if values:
            rows.append((row, {name: _small_int(value) for name, value in values.items()}))
    return rows


class MonitoringForm(MonitoringInSchema):
    """Record what was observed in the chair: the API's rules for every field; reading
    times of day on the session's local day, and discharge as a local date and time."""

    class Meta:
        exclude = ("discharged_at",)

    vitals = fields.List(fields.Nested(VitalForm), required=True, validate=validate.Length(max=MAX_VITALS))
    discharge_date = fields.Date(validate=validate.Range(min=dt.date(2000, 1, 1)))
    discharge_time = fields.Time()

    @pre_load
    def from_form(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        values = {k: v for k, v in _blank_to_missing(data).items() if not k.startswith("vital-")}
        values["vitals"] = [reading for _, reading in vital_rows(data)]
        values.setdefault("adverse_events", [])
        return values

    @validates_schema
    def _discharge_time_with_its_date(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "discharge_date" in data and "discharge_time" not in data:
            raise ValidationError("Enter the time of discharge too, or clear its date.", field_name="discharge_time")


@dataclass(frozen=True)
class Problem:
    """One refused field of a page's form: the input's id, and the words shown."""

    field: str
    text: str


FIELD_NAMES = {
    "date": "Date",
    "time": "Time",
    "session_id": "Session",
    "instrument": "Scale",
    "answers": "Answers",
    "id": "Form",
    "sedation": "Sedation",
    "dissociation": "Dissociation",
    "adverse_events": "Adverse events",
    "discharge_date": "Discharge date",
    "discharge_time": "Discharge time",
    "notes": "Notes",
    "vitals": "Readings",
}
VITAL_NAMES = {
    "time": "time",
    "systolic": "systolic",
    "diastolic": "diastolic",
    "heart_rate": "heart rate",
    "spo2": "SpO2",
}


def _messages(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(_messages(v) for v in value.values())
    return " ".join(value) if isinstance(value, list) else str(value)


def rating_problems(errors: dict[str, Any], instrument: str) -> list[Problem]:
    """A refused rating's problems in words; an item's by its number and name."""
    names = CATALOGUE[instrument].item_names if instrument in CATALOGUE else ()
    problems = []
    for key, value in errors.items():
        if key == "answers" and isinstance(value, dict):
            for index, messages in sorted(value.items(), key=lambda kv: int(kv[0])):
                number = int(index) + 1
                name = f" ({names[number - 1]})" if number <= len(names) else ""
                blank = "Choose a score." if "Field may not be null." in _messages(messages) else _messages(messages)
                problems.append(Problem(f"item-{number}", f"Item {number}{name}: {blank}"))
        else:
            # The API's instant is the form's date and time: a time in the future is the time's.
            key = "time" if key == "recorded_at" else key
            problems.append(Problem(key, f"{FIELD_NAMES.get(key, key)}: {_messages(value)}"))
    return problems


def monitoring_problems(errors: dict[str, Any], form: Any) -> list[Problem]:
    """A refused monitoring record's problems in words; a reading's by the row the form
    showed it in ("Reading 2, diastolic: Must be below systolic."), blank rows counted."""
    rows = [row for row, _ in vital_rows(form)]
    problems = []
    for key, value in errors.items():
        if key == "vitals" and isinstance(value, dict):
            for index, fields_ in sorted(value.items(), key=lambda kv: int(kv[0])):
                row = rows[int(index)]
                for name, messages in fields_.items():
                    label = VITAL_NAMES.get(name, name)
                    problems.append(Problem(f"vital-{row}-{name}", f"Reading {row}, {label}: {_messages(messages)}"))
        else:
            problems.append(Problem(key, f"{FIELD_NAMES.get(key, key)}: {_messages(value)}"))
    return problems


class PatientPageQuery(WindowQuery):
    # The session whose monitoring form is open (one form on the page at a time).
    monitor = Text(validate=validate.Length(max=64))
