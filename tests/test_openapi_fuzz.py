"""Schemathesis over every operation of the served OpenAPI document, in-process.

Every generated request must get a documented, well-formed answer and never a 5xx.
Patient operations are called with a patient's token, staff operations with a
clinician's, so the fuzzer reaches validation and business logic behind authentication.
(schemathesis' pytest fixture loader does not work under pytest 9, so each operation's
Hypothesis strategy is driven directly; a failure names the operation.)
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

FUZZ_EXAMPLES = 25

# Operations with rules OpenAPI cannot state, where a schema-valid body may rightly get 422.
# Only the "valid data is accepted" check is relaxed for them; every other check still runs.
RULES_BEYOND_SCHEMA = {
    "PATCH /api/v1/me": "timezone must be an IANA zone name",
    "POST /api/v1/patients": "timezone must be an IANA zone name",
    "POST /api/v1/me/entries": "recorded_at at most 5 minutes in the future",
    "PATCH /api/v1/me/entries/{entry_id}": "recorded_at at most 5 minutes in the future",
    "POST /api/v1/me/assessments": "answers per instrument (count, range, C-SSRS skip rule); recorded_at not ahead",
    "POST /api/v1/patients/{patient_id}/assessments": "answers per instrument; recorded_at not ahead; own session",
    "POST /api/v1/patients/{patient_id}/sessions": "started_at not in the future",
    "GET /api/v1/me/entries": "an opaque cursor must be one the API issued; from <= to",
    "GET /api/v1/patients": "an opaque cursor must be one the API issued",
    "GET /api/v1/alerts": "an opaque cursor must be one the API issued",
    "GET /api/v1/patients/{patient_id}/summary": "from <= to, at most 2 years apart",
    "GET /api/v1/clinic/outcomes": "from <= to, years 1900 to 2999, at most ten years apart",
    # OpenAPI compares a value with constants only, never with another field or the session.
    "PUT /api/v1/patients/{patient_id}/sessions/{session_id}/monitoring": (
        "diastolic below systolic; each time from the session start to now"
    ),
}


@pytest.fixture
def fuzz_world(clock, world):
    from diary.domain import maintenance
    from diary.extensions import db

    with world.app.app_context():
        maintenance.heartbeat("fuzz-worker", clock.now)  # so /readyz is ready, not a 503
        db.session.commit()
    clinic = world.clinic()
    clinician = world.staff(clinic)
    patient = world.patient(clinician)
    return {"clinician": clinician, "patient": patient}


def _operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_schema_lists_every_operation(app):
    labels = {op.label for op in _operations(app)}
    assert "POST /api/v1/me/entries" in labels
    assert "POST /api/v1/patients" in labels
    assert len(labels) >= 20


def test_every_operation_answers_within_the_contract(app, world, fuzz_world):
    failures = []
    for operation in _operations(app):
        role = "clinician" if operation.path.startswith("/api/v1/patients") else "patient"
        token = fuzz_world[role].token
        if operation.path == "/api/v1/auth/logout":
            # Its own login: logging out the shared token would leave every later
            # operation answering 401 and the fuzzer testing nothing.
            token = world.login(fuzz_world["patient"].email)["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        excluded = [positive_data_acceptance] if operation.label in RULES_BEYOND_SCHEMA else []

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case):
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        try:
            exercise()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            # collect all, so one run reports every failing operation
            failures.append(f"### {operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


# Text no database can store: a NUL (PostgreSQL text refuses it) and a lone surrogate (no
# UTF-8 encoding exists). Hypothesis' text strategies never draw surrogates, so they are
# sent on purpose, into every string field of every JSON body the document describes.
UNSTORABLE = ["\u0000", "\ud83e", "2026-03-01T10:00:00Z\u0000"]


def _string_fields(spec: dict, schema: dict) -> list[str]:
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return [
        name
        for name, prop in schema.get("properties", {}).items()
        if prop.get("type") == "string" and not prop.get("readOnly")
    ]


def test_unstorable_text_in_any_string_field_is_a_422_naming_that_field(app, world, fuzz_world):
    spec = app.test_client().get("/api/v1/openapi.json").json
    checked = []
    for operation in _operations(app):
        body = operation.definition.raw.get("requestBody", {})
        schema = body.get("content", {}).get("application/json", {}).get("schema")
        if not schema or operation.path.startswith("/api/v1/auth/logout"):
            continue
        staff_paths = ("/api/v1/patients", "/api/v1/clinic", "/api/v1/alerts")
        role = "clinician" if operation.path.startswith(staff_paths) else "patient"
        headers = {"Authorization": f"Bearer {fuzz_world[role].token}"}
        # Bodies are validated before any lookup, so any well-formed id serves.
        path_parameters = {name: fuzz_world["patient"].id for name in re.findall(r"{(\w+)}", operation.path)}
        for field in _string_fields(spec, schema):
            for value in UNSTORABLE:
                case = operation.Case(
                    body={field: value}, path_parameters=path_parameters, media_type="application/json"
                )
                resp = case.call(headers=headers)
                if resp.status_code == 404:
                    continue  # an id the path needs does not exist for this caller: nothing was parsed
                assert resp.status_code == 422, (operation.label, field, resp.status_code, resp.text)
                assert field in resp.json()["errors"], (operation.label, field, resp.json())
                checked.append((operation.label, field))
    # The fields that carry people's text are among those covered.
    labels = {label for label, _ in checked}
    assert {"POST /api/v1/me/entries", "POST /api/v1/patients", "POST /api/v1/me/devices"} <= labels
    assert ("POST /api/v1/me/entries", "note") in checked
    assert ("POST /api/v1/auth/token", "email") in checked
