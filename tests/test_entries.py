"""The patient's diary: /me/entries (single, batch, list, read, edit, delete) and /me/assessments.

Every test runs with the clock frozen at NOW (see `_frozen_clock`); tests that need
another day move it *before* enrolling their patients, so access tokens stay fresh.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import Integer, bindparam, literal_column, select, text

from diary.extensions import db
from diary.timeutil import UTC
from tests.conftest import sql_statements
from tests.helpers import expect_error, expect_invalid

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = dt.datetime(2026, 4, 1, 12, 0, tzinfo=UTC)  # after both 2026 spring DST changes

CRISIS_MESSAGE = "Test clinic: you are not alone, call us now."
CRISIS_CONTACTS = [
    {"name": "Test Crisis Line", "phone": "+1 555 0100"},
    {"name": "Test Emergency", "phone": "112"},
]
SAFETY = {"message": CRISIS_MESSAGE, "contacts": CRISIS_CONTACTS}

ORIGINAL_CONTENT = {
    "recorded_at": "2026-03-01T10:00:00Z",
    "mood": 6,
    "anxiety": 3,
    "sleep_hours": None,
    "side_effects": [],
    "self_harm_thoughts": None,
    "note": None,
    "checkin_id": None,
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # Known crisis resources, so `safety` can be compared exactly.
    return {"CRISIS_MESSAGE": CRISIS_MESSAGE, "CRISIS_CONTACTS": [dict(c) for c in CRISIS_CONTACTS]}


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    return clock


@pytest.fixture
def clinician(world):
    return world.staff(world.clinic())


@pytest.fixture
def patient(world, clinician):
    return world.patient(clinician, "Europe/Berlin")


@pytest.fixture
def other_patient(world, clinician):
    return world.patient(clinician, "Europe/Berlin")


# --------------------------------------------------------------------------- helpers


def new_id() -> str:
    return str(uuid.uuid4())


def entry(**fields: Any) -> dict[str, Any]:
    """A valid entry body (recorded two hours before NOW); keyword arguments override."""
    return {"id": new_id(), "recorded_at": "2026-03-01T10:00:00Z", "mood": 6, "anxiety": 3, **fields}


def without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


def log_entry(api, who, body: Any):
    return api.post("/me/entries", body, token=who.token)


def logged(api, who, **fields: Any) -> dict[str, Any]:
    """Log an entry that must be accepted; returns the response body."""
    resp = log_entry(api, who, entry(**fields))
    assert resp.status_code == 201, resp.json
    return resp.json


def sync(api, who, entries: list[Any]):
    return api.post("/me/entries/batch", {"entries": entries}, token=who.token)


def edit(api, who, entry_id: str, changes: dict[str, Any]):
    return api.patch(f"/me/entries/{entry_id}", changes, token=who.token)


def list_entries(api, who, **query: Any):
    return api.get("/me/entries", token=who.token, query_string={k.rstrip("_"): v for k, v in query.items()})


def listed_ids(api, who, **query: Any) -> list[str]:
    resp = list_entries(api, who, **query)
    assert resp.status_code == 200, resp.json
    return [item["id"] for item in resp.json["items"]]


def answer(api, who, body: dict[str, Any]):
    return api.post("/me/assessments", body, token=who.token)


def assessment(instrument: str, answers: list[int], **fields: Any) -> dict[str, Any]:
    body = {"id": new_id(), "instrument": instrument, "answers": answers, "recorded_at": "2026-03-01T09:00:00Z"}
    return {**body, **fields}


def answers_totalling(total: int, items: int, spare_last: bool = True) -> list[int]:
    """Answers 0-3 summing to `total`, filled from the first item (the last item stays 0 if it can)."""
    fill = items - 1 if spare_last and total <= 3 * (items - 1) else items
    answers = []
    for _ in range(fill):
        answers.append(min(3, total - sum(answers)))
    answers += [0] * (items - fill)
    assert sum(answers) == total
    return answers


def as_instant(value: Any) -> dt.datetime | None:
    """A timestamp column as an aware UTC datetime (SQLite hands back naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


ENTRY_COLUMNS = [
    *("patient_id", "recorded_at", "local_date", "timezone", "mood", "anxiety", "sleep_hours"),
    *("self_harm_thoughts", "note", "checkin_id", "version", "deleted_at"),
]


def entry_row(world, entry_id: str) -> dict[str, Any] | None:
    rows = world.rows(f"SELECT {', '.join(ENTRY_COLUMNS)} FROM entries WHERE id = :id", id=entry_id)
    if not rows:
        return None
    (row,) = rows
    found = dict(zip(ENTRY_COLUMNS, row, strict=True))
    found["recorded_at"] = as_instant(found["recorded_at"])
    found["deleted_at"] = as_instant(found["deleted_at"])
    found["local_date"] = str(found["local_date"])
    return found


def entry_count(world, patient_id: str | None = None) -> int:
    if patient_id is None:
        return world.rows("SELECT count(*) FROM entries")[0][0]
    return world.rows("SELECT count(*) FROM entries WHERE patient_id = :p", p=patient_id)[0][0]


def stored_side_effects(world, entry_id: str) -> list[str]:
    rows = world.rows("SELECT effect FROM entry_side_effects WHERE entry_id = :id ORDER BY effect", id=entry_id)
    return [r[0] for r in rows]


def kept_versions(world, entry_id: str) -> list[tuple[int, dict[str, Any]]]:
    rows = world.rows("SELECT version, content FROM entry_versions WHERE entry_id = :id ORDER BY version", id=entry_id)
    return [(version, as_json(content)) for version, content in rows]


def assessment_row(world, assessment_id: str) -> tuple | None:
    rows = world.rows(
        "SELECT patient_id, instrument, total, severity, local_date FROM assessments WHERE id = :id", id=assessment_id
    )
    if not rows:
        return None
    patient_id, instrument, total, severity, local_date = rows[0]
    return patient_id, instrument, total, severity, str(local_date)


def enrolled_at_this_time(world, timezone: str):
    """A patient of a new clinic, with tokens issued at the clock's current time."""
    return world.patient(world.staff(world.clinic()), timezone)


def open_checkin(app, who, status: str = "sent") -> str:
    """A check-in of a fresh treatment session of `who` (the sessions API lives elsewhere)."""
    from diary.extensions import db
    from diary.models import Checkin, TreatmentSession

    with app.app_context():
        session = TreatmentSession(
            patient_id=who.id, clinic_id=who.clinic_id, started_at=NOW, local_date=NOW.date(), route="iv"
        )
        db.session.add(session)
        db.session.flush()
        checkin = Checkin(
            session_id=session.id,
            patient_id=who.id,
            label="+4h",
            offset_minutes=240,
            due_at=NOW,
            expires_at=NOW + dt.timedelta(hours=12),
            status=status,
        )
        db.session.add(checkin)
        db.session.commit()
        return checkin.id


def checkin_state(world, checkin_id: str) -> tuple[str, dt.datetime | None]:
    ((status, answered_at),) = world.rows("SELECT status, answered_at FROM checkins WHERE id = :id", id=checkin_id)
    return status, as_instant(answered_at)


# --------------------------------------------------------------------------- POST /me/entries


def test_create_returns_201_with_the_stored_entry(api, world, patient):
    body = entry(
        recorded_at="2026-03-01T08:30:00+01:00",
        mood=7,
        anxiety=2,
        sleep_hours=6.5,
        side_effects=["nausea", "dizziness"],
        self_harm_thoughts=0,
        note="Felt floaty after the session.",
    )
    resp = log_entry(api, patient, body)

    assert resp.status_code == 201, resp.json
    assert resp.json == {
        "id": body["id"],
        "recorded_at": "2026-03-01T07:30:00Z",
        "local_date": "2026-03-01",
        "mood": 7,
        "anxiety": 2,
        "sleep_hours": 6.5,
        "side_effects": ["dizziness", "nausea"],
        "self_harm_thoughts": 0,
        "note": "Felt floaty after the session.",
        "checkin_id": None,
        "version": 1,
        "created_at": "2026-03-01T12:00:00Z",
        "updated_at": "2026-03-01T12:00:00Z",
        "deleted_at": None,
    }
    row = entry_row(world, body["id"])
    assert row == {
        "patient_id": patient.id,
        "recorded_at": dt.datetime(2026, 3, 1, 7, 30, tzinfo=UTC),
        "local_date": "2026-03-01",
        "timezone": "Europe/Berlin",
        "mood": 7,
        "anxiety": 2,
        "sleep_hours": 6.5,
        "self_harm_thoughts": 0,
        "note": "Felt floaty after the session.",
        "checkin_id": None,
        "version": 1,
        "deleted_at": None,
    }
    assert stored_side_effects(world, body["id"]) == ["dizziness", "nausea"]


def test_create_with_only_required_fields_stores_nulls(api, world, patient):
    body = entry()
    resp = log_entry(api, patient, body)

    assert resp.status_code == 201, resp.json
    assert {k: resp.json[k] for k in ORIGINAL_CONTENT} == ORIGINAL_CONTENT
    row = entry_row(world, body["id"])
    assert (row["sleep_hours"], row["self_harm_thoughts"], row["note"], row["checkin_id"]) == (None, None, None, None)
    assert stored_side_effects(world, body["id"]) == []


def test_an_upper_case_id_is_stored_in_canonical_form_and_replays_as_duplicate(api, world, patient):
    body = entry()
    shouted = {**body, "id": body["id"].upper()}

    first = log_entry(api, patient, shouted)
    again = log_entry(api, patient, shouted)

    assert first.status_code == 201, first.json
    assert first.json["id"] == body["id"]
    assert again.status_code == 200, again.json
    assert entry_count(world) == 1


def test_replay_with_same_content_returns_200_with_the_stored_entry(api, world, patient, clock):
    body = entry(side_effects=["headache", "nausea"], sleep_hours=7)
    created = log_entry(api, patient, body)
    clock.advance(minutes=3)
    # Same instant written with another offset, side effects in another order: same content.
    replay = log_entry(
        api,
        patient,
        {
            **body,
            "recorded_at": "2026-03-01T05:00:00-05:00",
            "side_effects": ["nausea", "headache"],
            "sleep_hours": 7.0,
        },
    )

    assert created.status_code == 201, created.json
    assert replay.status_code == 200, replay.json
    assert replay.json == created.json
    assert replay.json["created_at"] == "2026-03-01T12:00:00Z"
    assert entry_count(world) == 1


def test_same_id_with_other_content_is_a_409_and_keeps_the_first(api, world, patient):
    body = entry(mood=6)
    log_entry(api, patient, body)

    resp = log_entry(api, patient, {**body, "mood": 2})

    expect_error(resp, 409, "id_conflict")
    assert entry_row(world, body["id"])["mood"] == 6
    assert entry_count(world) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"recorded_at": "2026-03-01T10:00:01Z"},
        {"anxiety": 4},
        {"sleep_hours": 8},
        {"side_effects": ["nausea"]},
        {"self_harm_thoughts": 0},
        {"note": "different"},
    ],
)
def test_any_changed_field_on_replay_is_a_conflict(api, world, patient, change):
    body = entry()
    log_entry(api, patient, body)

    expect_error(log_entry(api, patient, {**body, **change}), 409, "id_conflict")
    assert entry_count(world) == 1


def test_another_patient_reusing_an_id_gets_409_and_the_owner_is_untouched(api, world, patient, other_patient):
    body = entry(mood=8, note="mine")
    log_entry(api, patient, body)

    same = log_entry(api, other_patient, body)
    other = log_entry(api, other_patient, {**body, "mood": 1})

    expect_error(same, 409, "id_conflict")
    expect_error(other, 409, "id_conflict")
    row = entry_row(world, body["id"])
    assert (row["patient_id"], row["mood"], row["note"], row["version"]) == (patient.id, 8, "mine", 1)
    assert entry_count(world, other_patient.id) == 0
    assert listed_ids(api, other_patient) == []
    expect_error(api.get(f"/me/entries/{body['id']}", token=other_patient.token), 404, "not_found")


def test_replay_of_the_original_post_after_a_patch_is_still_200(api, world, patient):
    body = entry(mood=6)
    log_entry(api, patient, body)
    patched = edit(api, patient, body["id"], {"mood": 4})
    assert patched.status_code == 200, patched.json

    original = log_entry(api, patient, body)
    current = log_entry(api, patient, {**body, "mood": 4})
    neither = log_entry(api, patient, {**body, "mood": 9})

    assert original.status_code == 200, original.json
    assert original.json == patched.json
    assert (original.json["mood"], original.json["version"]) == (4, 2)
    assert current.status_code == 200, current.json
    expect_error(neither, 409, "id_conflict")
    assert entry_count(world) == 1


def test_replay_after_delete_does_not_bring_the_entry_back(api, world, patient):
    body = entry()
    log_entry(api, patient, body)
    assert api.delete(f"/me/entries/{body['id']}", token=patient.token).status_code == 204

    resp = log_entry(api, patient, body)

    assert resp.status_code == 200, resp.json
    assert resp.json["deleted_at"] == "2026-03-01T12:00:00Z"
    assert listed_ids(api, patient) == []
    assert entry_row(world, body["id"])["deleted_at"] == NOW


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mood", "5"),
        ("mood", True),
        ("mood", 5.5),
        ("mood", 5.0),
        ("mood", None),
        ("mood", [5]),
        ("anxiety", "3"),
        ("anxiety", False),
        ("sleep_hours", "7"),
        ("sleep_hours", True),
        ("self_harm_thoughts", "1"),
        ("self_harm_thoughts", 1.0),
        ("note", 42),
        ("side_effects", "nausea"),
        ("side_effects", [1]),
        ("recorded_at", 1772359200),
        ("id", 12345),
        ("checkin_id", "not-a-uuid"),
    ],
)
def test_wrong_types_are_refused_not_coerced(api, world, patient, field, value):
    expect_invalid(log_entry(api, patient, entry(**{field: value})), field)
    assert entry_count(world) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mood", -1),
        ("mood", 11),
        ("anxiety", -1),
        ("anxiety", 11),
        ("self_harm_thoughts", -1),
        ("self_harm_thoughts", 4),
        ("sleep_hours", -0.5),
        ("sleep_hours", 24.5),
        ("note", "x" * 2001),
        ("note", "nul\x00byte"),
        ("side_effects", ["nausea", "euphoria"]),
        ("side_effects", ["Nausea"]),
        ("id", "not-a-uuid"),
        ("recorded_at", "2026-03-01T10:00:00"),
        ("recorded_at", "2026-03-01"),
        ("recorded_at", "yesterday"),
        ("recorded_at", "1999-12-31T23:59:59Z"),
    ],
)
def test_out_of_range_values_are_refused(api, world, patient, field, value):
    expect_invalid(log_entry(api, patient, entry(**{field: value})), field)
    assert entry_count(world) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mood", 0),
        ("mood", 10),
        ("anxiety", 0),
        ("anxiety", 10),
        ("self_harm_thoughts", 3),
        ("sleep_hours", 0),
        ("sleep_hours", 24),
        ("note", "x" * 2000),
        ("note", ""),
        ("side_effects", ["dissociation", "blurred_vision", "racing_heart", "high_blood_pressure", "other"]),
    ],
)
def test_values_at_the_edges_of_their_range_are_accepted(api, world, patient, field, value):
    body = entry(**{field: value})
    resp = log_entry(api, patient, body)

    assert resp.status_code == 201, resp.json
    expected = sorted(value) if field == "side_effects" else value
    assert resp.json[field] == expected
    if field == "side_effects":
        assert stored_side_effects(world, body["id"]) == expected
    else:
        assert entry_row(world, body["id"])[field] == value


@pytest.mark.parametrize("missing", ["id", "recorded_at", "mood", "anxiety"])
def test_required_fields_are_required(api, world, patient, missing):
    expect_invalid(log_entry(api, patient, without(entry(), missing)), missing)
    assert entry_count(world) == 0


def test_an_unknown_field_is_refused_by_name(api, world, patient):
    expect_invalid(log_entry(api, patient, entry(energy=5)), "energy")
    assert entry_count(world) == 0


def test_several_problems_are_all_named(api, world, patient):
    expect_invalid(log_entry(api, patient, entry(mood=11, anxiety="high", colour="blue")), "mood", "anxiety", "colour")


def test_not_a_number_sleep_is_refused(api, world, patient):
    raw = json.dumps(entry()).replace('"mood": 6', '"mood": 6, "sleep_hours": NaN')
    resp = api.post("/me/entries", token=patient.token, data=raw, content_type="application/json")

    expect_invalid(resp, "sleep_hours")
    assert entry_count(world) == 0


def test_a_body_that_is_not_json_is_400(api, world, patient):
    resp = api.post("/me/entries", token=patient.token, data="{mood: 5", content_type="application/json")

    expect_error(resp, 400, "bad_request")
    assert entry_count(world) == 0


def test_a_json_array_instead_of_an_object_is_422(api, world, patient):
    assert log_entry(api, patient, [entry()]).status_code == 422
    assert entry_count(world) == 0


def test_recorded_at_may_be_at_most_five_minutes_ahead(api, world, patient):
    edge = entry(recorded_at="2026-03-01T12:05:00Z")
    edge_offset = entry(recorded_at="2026-03-01T13:05:00+01:00")
    beyond = entry(recorded_at="2026-03-01T12:05:01Z")
    beyond_offset = entry(recorded_at="2026-03-01T07:05:01-05:00")

    assert log_entry(api, patient, edge).status_code == 201
    assert log_entry(api, patient, edge_offset).status_code == 201
    expect_invalid(log_entry(api, patient, beyond), "recorded_at")
    expect_invalid(log_entry(api, patient, beyond_offset), "recorded_at")
    assert entry_row(world, beyond["id"]) is None
    assert entry_row(world, beyond_offset["id"]) is None


def test_the_future_limit_follows_the_clock(api, world, patient, clock):
    body = entry(recorded_at="2026-03-01T12:10:00Z")
    expect_invalid(log_entry(api, patient, body), "recorded_at")

    clock.advance(minutes=5)
    resp = log_entry(api, patient, body)

    assert resp.status_code == 201, resp.json
    assert resp.json["recorded_at"] == "2026-03-01T12:10:00Z"


def _shapes(statements: list[str]) -> list[str]:
    """Each statement as its verb and first table: "SELECT users", "INSERT entries"; an
    INSERT inside a WITH as "INSERT entries + SELECT entries"."""
    shapes = []
    for statement in statements:
        found = re.fullmatch(r"WITH \w+ AS \(INSERT INTO (\w+) .*\) SELECT .*? FROM (\w+) WHERE .*", statement)
        if found:
            shapes.append(f"INSERT {found.group(1)} + SELECT {found.group(2)}")
            continue
        verb = statement.split()[0]
        table = {"SELECT": r"\bFROM (\w+)", "INSERT": r"^INSERT INTO (\w+)", "UPDATE": r"^UPDATE (\w+)"}[verb]
        found = re.search(table, statement)
        assert found, statement
        shapes.append(f"{verb} {found.group(1)}")
    return shapes


# What a new entry costs after the token's principal: on PostgreSQL the INSERT carries the
# patient's panel increment, the entry's day and the trend windows (read from the days) in
# the same statement (data-modifying CTEs); SQLite runs them apart.
WRITE_AND_TRENDS = {
    "postgresql": ["INSERT entries + SELECT entry_days"],
    "sqlite": ["INSERT entries", "UPDATE patient_panel", "INSERT entry_days", "SELECT entry_days"],
}


def test_a_new_entry_costs_two_statements_on_postgresql(app, api, patient, backend):
    """The hot path of the app: the token's principal (with the patient's timezone), then
    the INSERT and both trend windows. No lookup before the INSERT, no savepoint, no
    profile load, no read-back of the entry after the commit."""
    statements, resp = sql_statements(app, lambda: log_entry(api, patient, entry(mood=4)))

    assert resp.status_code == 201, resp.json
    assert _shapes(statements) == ["SELECT users", *WRITE_AND_TRENDS[backend]], statements
    assert "ON CONFLICT (id) DO NOTHING" in statements[1]
    assert any("UPDATE patient_panel" in s for s in statements[1:])
    assert any("INSERT INTO entry_days" in s for s in statements[1:])
    assert not any("SAVEPOINT" in s for s in statements)
    assert resp.json["side_effects"] == []
    assert resp.json["version"] == 1


def test_the_token_check_and_a_new_entrys_statement_run_on_the_driver_on_postgresql(app, api, patient, backend):
    """Both statements of the hot path skip SQLAlchemy's execution on PostgreSQL (and only
    there); the answer and the stored row are the same as through SQLAlchemy (the test above
    runs the same request with a statement listener, which takes SQLAlchemy's path)."""
    from diary.domain.entries import _ENTRY_INSERT_READING_TRENDS
    from diary.domain.tokens import _PRINCIPAL

    resp = log_entry(api, patient, entry(mood=4, anxiety=6))

    assert resp.status_code == 201, resp.json
    with app.app_context():
        dialect = db.engine.dialect
        on_driver = [_PRINCIPAL.on_driver(dialect), _ENTRY_INSERT_READING_TRENDS.on_driver(dialect)]
        stored = db.session.execute(text("SELECT mood, anxiety FROM entries WHERE id = :id"), {"id": resp.json["id"]})
        assert stored.all() == [(4, 6)]
    assert on_driver == ([True, True] if backend == "postgresql" else [False, False])
    assert (resp.json["mood"], resp.json["anxiety"], resp.json["version"]) == (4, 6, 1)


def test_a_driver_error_of_a_hot_statement_comes_out_as_sqlalchemys(app, backend):
    """The error handlers and retry_if_disconnected see the same on the driver's path as on
    SQLAlchemy's: a DBAPIError of SQLAlchemy's kind, not invalidated when the connection
    lives, and the session usable after a rollback (a lost connection: tests/test_faults.py)."""
    if backend != "postgresql":
        pytest.skip("only PostgreSQL runs hot statements on the driver (SQLite answers 1 / 0 with NULL)")
    from sqlalchemy.exc import DataError

    from diary.database import HotStatement

    failing = HotStatement(select(literal_column("1") / bindparam("zero", type_=Integer)))
    with app.app_context():
        connection = db.session.connection()
        assert failing.on_driver(connection.dialect)
        with pytest.raises(DataError, match="division by zero") as raised:
            failing.first(connection, {"zero": 0})
        assert raised.value.connection_invalidated is False
        db.session.rollback()
        assert db.session.execute(text("SELECT 1")).scalar() == 1


def test_side_effects_add_one_statement_and_a_replay_reads_the_stored_entry(app, api, patient, backend):
    body = entry(side_effects=["nausea", "dizziness"])
    statements, resp = sql_statements(app, lambda: log_entry(api, patient, body))

    assert resp.status_code == 201, resp.json
    assert _shapes(statements) == ["SELECT users", *WRITE_AND_TRENDS[backend], "INSERT entry_side_effects"]
    assert resp.json["side_effects"] == ["dizziness", "nausea"]

    statements, resp = sql_statements(app, lambda: log_entry(api, patient, body))

    assert resp.status_code == 200, resp.json
    # The INSERT does nothing; the stored entry (and its side effects) is read and compared.
    write = WRITE_AND_TRENDS[backend][:1]
    assert _shapes(statements)[:3] == ["SELECT users", *write, "SELECT entries"], statements
    assert "INSERT entry_side_effects" not in _shapes(statements)
    assert resp.json["side_effects"] == ["dizziness", "nausea"]


# --------------------------------------------------------------------------- local dates


@pytest.mark.parametrize(
    ("timezone", "recorded_at", "local_date"),
    [
        # America/New_York springs forward 2026-03-08 02:00 EST (07:00Z): UTC-5 before, UTC-4 after.
        ("America/New_York", "2026-03-08T04:59:00Z", "2026-03-07"),
        ("America/New_York", "2026-03-08T05:00:00Z", "2026-03-08"),
        ("America/New_York", "2026-03-09T03:59:00Z", "2026-03-08"),
        ("America/New_York", "2026-03-09T04:00:00Z", "2026-03-09"),  # 00:00 EDT; still 23:00 under EST
        # Europe/Berlin springs forward 2026-03-29 02:00 CET (01:00Z): UTC+1 before, UTC+2 after.
        ("Europe/Berlin", "2026-03-28T22:59:00Z", "2026-03-28"),
        ("Europe/Berlin", "2026-03-28T23:00:00Z", "2026-03-29"),
        ("Europe/Berlin", "2026-03-29T21:59:00Z", "2026-03-29"),
        ("Europe/Berlin", "2026-03-29T22:00:00Z", "2026-03-30"),  # 00:00 CEST; still 23:00 under CET
        # Pacific/Kiritimati is UTC+14: its day starts at 10:00Z the day before.
        ("Pacific/Kiritimati", "2026-03-01T09:59:59Z", "2026-03-01"),
        ("Pacific/Kiritimati", "2026-03-01T10:00:00Z", "2026-03-02"),
        # Pacific/Pago_Pago is UTC-11: its day starts at 11:00Z.
        ("Pacific/Pago_Pago", "2026-03-01T10:59:59Z", "2026-02-28"),
        ("Pacific/Pago_Pago", "2026-03-01T11:00:00Z", "2026-03-01"),
    ],
)
def test_local_date_is_the_patients_calendar_day(api, world, clock, timezone, recorded_at, local_date):
    clock.set(LATER)
    who = enrolled_at_this_time(world, timezone)
    body = entry(recorded_at=recorded_at)

    resp = log_entry(api, who, body)

    assert resp.status_code == 201, resp.json
    assert resp.json["local_date"] == local_date
    row = entry_row(world, body["id"])
    assert (row["local_date"], row["timezone"]) == (local_date, timezone)


@pytest.mark.parametrize(
    ("timezone", "local_date"), [("Pacific/Kiritimati", "2026-03-01"), ("Pacific/Pago_Pago", "2026-02-28")]
)
def test_entries_straddling_utc_midnight_share_one_local_day(api, world, clinician, timezone, local_date):
    who = world.patient(clinician, timezone)
    before = logged(api, who, recorded_at="2026-02-28T23:30:00Z")
    after = logged(api, who, recorded_at="2026-03-01T00:30:00Z")

    assert before["local_date"] == after["local_date"] == local_date
    assert listed_ids(api, who, from_=local_date, to=local_date) == [after["id"], before["id"]]


def test_local_date_is_fixed_at_write_time_in_the_zone_of_the_day(api, world, patient):
    early = logged(api, patient, recorded_at="2026-03-01T02:00:00Z")  # 03:00 in Berlin
    moved = api.patch("/me", {"timezone": "America/New_York"}, token=patient.token)
    assert moved.status_code == 200, moved.json
    late = logged(api, patient, recorded_at="2026-03-01T02:30:00Z")  # 21:30 the day before in New York
    edited = edit(api, patient, early["id"], {"mood": 2})

    assert (early["local_date"], late["local_date"]) == ("2026-03-01", "2026-02-28")
    assert edited.json["local_date"] == "2026-03-01"
    assert entry_row(world, early["id"])["local_date"] == "2026-03-01"
    assert entry_row(world, early["id"])["timezone"] == "Europe/Berlin"
    assert entry_row(world, late["id"])["timezone"] == "America/New_York"


# --------------------------------------------------------------------------- check-ins


def test_an_entry_answers_its_checkin(api, world, app, patient):
    checkin_id = open_checkin(app, patient)

    resp = log_entry(api, patient, entry(checkin_id=checkin_id))

    assert resp.status_code == 201, resp.json
    assert resp.json["checkin_id"] == checkin_id
    assert checkin_state(world, checkin_id) == ("answered", NOW)


def test_an_entry_cannot_answer_another_patients_checkin(api, world, app, patient, other_patient):
    theirs = open_checkin(app, other_patient)

    expect_error(log_entry(api, patient, entry(checkin_id=theirs)), 404, "not_found")
    expect_error(log_entry(api, patient, entry(checkin_id=new_id())), 404, "not_found")
    assert entry_count(world) == 0
    assert checkin_state(world, theirs) == ("sent", None)


# --------------------------------------------------------------------------- safety


@pytest.mark.parametrize("level", [1, 2, 3])
def test_self_harm_thoughts_bring_the_crisis_resources(api, patient, level):
    body = entry(self_harm_thoughts=level)
    created = log_entry(api, patient, body)
    replay = log_entry(api, patient, body)

    assert created.status_code == 201, created.json
    assert created.json["safety"] == SAFETY
    assert created.json["self_harm_thoughts"] == level
    assert replay.status_code == 200, replay.json
    assert replay.json["safety"] == SAFETY


@pytest.mark.parametrize("fields", [{"self_harm_thoughts": 0}, {"self_harm_thoughts": None}, {}])
def test_no_self_harm_thoughts_no_safety_key(api, patient, fields):
    resp = log_entry(api, patient, entry(**fields))

    assert resp.status_code == 201, resp.json
    assert "safety" not in resp.json


def test_a_clinics_own_crisis_resources_win_over_the_defaults(api, app, patient):
    from diary.extensions import db
    from diary.models import Clinic

    own = {"message": "Call the clinic.", "contacts": [{"name": "Clinic on call", "phone": "+49 30 1234"}]}
    with app.app_context():
        clinic = db.session.get(Clinic, patient.clinic_id)
        clinic.crisis_message, clinic.crisis_contacts = own["message"], own["contacts"]
        db.session.commit()

    resp = log_entry(api, patient, entry(self_harm_thoughts=2))

    assert resp.json["safety"] == own


def test_patching_in_self_harm_thoughts_brings_the_crisis_resources(api, patient):
    body = logged(api, patient, self_harm_thoughts=0)

    raised = edit(api, patient, body["id"], {"self_harm_thoughts": 1})
    lowered = edit(api, patient, body["id"], {"self_harm_thoughts": 0})

    assert raised.status_code == 200, raised.json
    assert raised.json["safety"] == SAFETY
    assert lowered.status_code == 200, lowered.json
    assert "safety" not in lowered.json


# --------------------------------------------------------------------------- POST /me/entries/batch


def test_batch_judges_each_entry_alone(api, world, patient, other_patient):
    already = entry(mood=5)
    changed = entry(mood=5)
    theirs = entry(mood=5)
    log_entry(api, patient, already)
    log_entry(api, patient, changed)
    log_entry(api, other_patient, theirs)
    fresh = entry(mood=7, side_effects=["nausea"])
    wrong_type = entry(mood="5")
    too_late = entry(recorded_at="2026-03-01T12:05:01Z")
    no_id = without(entry(), "id")

    resp = sync(api, patient, [fresh, already, {**changed, "mood": 1}, wrong_type, too_late, no_id, theirs])

    assert resp.status_code == 200, resp.json
    results = resp.json["results"]
    assert [(r["id"], r["status"]) for r in results] == [
        (fresh["id"], "created"),
        (already["id"], "duplicate"),
        (changed["id"], "conflict"),
        (wrong_type["id"], "invalid"),
        (too_late["id"], "invalid"),
        (None, "invalid"),
        (theirs["id"], "conflict"),
    ]
    assert set(results[3]["errors"]) == {"mood"}
    assert set(results[4]["errors"]) == {"recorded_at"}
    assert set(results[5]["errors"]) == {"id"}
    assert all("errors" not in r for r in results[:3] + results[6:])
    assert "safety" not in resp.json

    assert entry_row(world, fresh["id"])["mood"] == 7
    assert stored_side_effects(world, fresh["id"]) == ["nausea"]
    assert entry_row(world, changed["id"])["mood"] == 5
    assert entry_row(world, wrong_type["id"]) is None
    assert entry_row(world, too_late["id"]) is None
    assert entry_row(world, theirs["id"])["patient_id"] == other_patient.id
    assert entry_count(world, patient.id) == 3


def test_batch_stores_local_dates_like_single_posts(api, world, clinician):
    who = world.patient(clinician, "Pacific/Kiritimati")
    first, second = entry(recorded_at="2026-03-01T09:59:59Z"), entry(recorded_at="2026-03-01T10:00:00Z")

    resp = sync(api, who, [first, second])

    assert [r["status"] for r in resp.json["results"]] == ["created", "created"]
    assert entry_row(world, first["id"])["local_date"] == "2026-03-01"
    assert entry_row(world, second["id"])["local_date"] == "2026-03-02"


def test_batch_with_the_same_id_twice(api, world, patient):
    body = entry()

    resp = sync(api, patient, [body, body, {**body, "mood": 0}])

    assert [r["status"] for r in resp.json["results"]] == ["created", "duplicate", "conflict"]
    assert entry_row(world, body["id"])["mood"] == 6
    assert entry_count(world) == 1


def test_a_whole_batch_replayed_is_all_duplicates(api, world, patient):
    bodies = [entry(recorded_at=f"2026-03-01T0{h}:00:00Z") for h in range(3)]
    first = sync(api, patient, bodies)

    again = sync(api, patient, bodies)

    assert [r["status"] for r in first.json["results"]] == ["created"] * 3
    assert [r["status"] for r in again.json["results"]] == ["duplicate"] * 3
    assert entry_count(world) == 3


def test_batch_entry_answering_someone_elses_checkin_is_invalid(api, world, app, patient, other_patient):
    theirs = open_checkin(app, other_patient)
    good, bad = entry(), entry(checkin_id=theirs)

    resp = sync(api, patient, [good, bad])

    assert [(r["id"], r["status"]) for r in resp.json["results"]] == [(good["id"], "created"), (bad["id"], "invalid")]
    assert resp.json["results"][1]["errors"]
    assert entry_row(world, bad["id"]) is None
    assert checkin_state(world, theirs) == ("sent", None)


def test_batch_with_a_self_harm_entry_carries_safety(api, patient):
    risky = entry(self_harm_thoughts=2)

    created = sync(api, patient, [entry(), risky])
    replayed = sync(api, patient, [risky])

    assert created.status_code == 200, created.json
    assert created.json["safety"] == SAFETY
    # The phone resends when it never saw the answer: it must still learn where to find help.
    assert replayed.json["results"] == [{"id": risky["id"], "status": "duplicate"}]
    assert replayed.json["safety"] == SAFETY


def test_batch_with_an_invalid_self_harm_entry_carries_no_safety(api, patient):
    resp = sync(api, patient, [entry(), entry(self_harm_thoughts=2, mood=11)])

    assert [r["status"] for r in resp.json["results"]] == ["created", "invalid"]
    assert "safety" not in resp.json


def test_batch_of_200_entries_is_accepted(api, world, patient):
    bodies = [entry(recorded_at=f"2026-02-{1 + i // 24:02d}T{i % 24:02d}:00:00Z") for i in range(200)]

    resp = sync(api, patient, bodies)

    assert resp.status_code == 200, resp.json
    assert [r["status"] for r in resp.json["results"]] == ["created"] * 200
    assert entry_count(world) == 200


def test_batch_of_201_entries_is_refused_whole(api, world, patient):
    expect_invalid(sync(api, patient, [entry() for _ in range(201)]), "entries")
    assert entry_count(world) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"entries": []},
        {},
        {"entries": None},
        {"entries": "all of them"},
        {"entries": {"id": "x"}},
    ],
)
def test_batch_without_a_list_of_entries_is_refused(api, world, patient, body):
    expect_invalid(api.post("/me/entries/batch", body, token=patient.token), "entries")
    assert entry_count(world) == 0


@pytest.mark.parametrize("item", [5, "entry", None, ["mood", 5]])
def test_batch_item_that_is_not_an_object_refuses_the_batch(api, world, patient, item):
    expect_invalid(sync(api, patient, [entry(), item]), "entries")
    assert entry_count(world) == 0


def test_batch_with_unknown_top_level_field_is_refused(api, world, patient):
    expect_invalid(api.post("/me/entries/batch", {"entries": [entry()], "force": True}, token=patient.token), "force")
    assert entry_count(world) == 0


# --------------------------------------------------------------------------- GET /me/entries


def test_list_is_newest_first_and_only_mine(api, patient, other_patient):
    older = logged(api, patient, recorded_at="2026-02-27T08:00:00Z")
    newest = logged(api, patient, recorded_at="2026-03-01T11:00:00Z")
    middle = logged(api, patient, recorded_at="2026-02-28T20:00:00Z")
    logged(api, other_patient, recorded_at="2026-03-01T11:30:00Z")

    resp = list_entries(api, patient)

    assert resp.status_code == 200, resp.json
    assert resp.json["items"] == [newest, middle, older]
    assert resp.json["next_cursor"] is None


def test_cursor_pagination_visits_every_entry_exactly_once(api, patient):
    instants = ["2026-02-25T09:00:00Z", "2026-02-26T09:00:00Z", "2026-02-26T09:00:00Z", "2026-02-27T09:00:00Z"]
    instants += ["2026-02-28T09:00:00Z"]
    made = [logged(api, patient, recorded_at=at) for at in instants]
    expected = [e["id"] for e in sorted(made, key=lambda e: (e["recorded_at"], e["id"]), reverse=True)]

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        resp = list_entries(api, patient, **query)
        assert resp.status_code == 200, resp.json
        pages += 1
        assert len(resp.json["items"]) == (2 if pages < 3 else 1)
        seen += [item["id"] for item in resp.json["items"]]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == expected


def test_no_next_cursor_when_the_page_is_exactly_full(api, patient):
    logged(api, patient, recorded_at="2026-03-01T08:00:00Z")
    logged(api, patient, recorded_at="2026-03-01T09:00:00Z")

    resp = list_entries(api, patient, limit=2)

    assert len(resp.json["items"]) == 2
    assert resp.json["next_cursor"] is None


def test_cursor_pages_stay_stable_when_newer_entries_arrive(api, patient):
    made = [logged(api, patient, recorded_at=f"2026-03-01T0{h}:00:00Z") for h in range(1, 5)]
    first = list_entries(api, patient, limit=2).json

    logged(api, patient, recorded_at="2026-03-01T11:00:00Z")
    second = list_entries(api, patient, limit=2, cursor=first["next_cursor"]).json

    assert [i["id"] for i in first["items"]] == [made[3]["id"], made[2]["id"]]
    assert [i["id"] for i in second["items"]] == [made[1]["id"], made[0]["id"]]
    assert second["next_cursor"] is None


def test_from_and_to_filter_on_the_patients_local_date(api, patient):
    # Europe/Berlin is UTC+1 in February: 23:30Z is already the next local day.
    feb26 = logged(api, patient, recorded_at="2026-02-26T12:00:00Z")
    feb27_late = logged(api, patient, recorded_at="2026-02-27T22:59:00Z")
    feb28_early = logged(api, patient, recorded_at="2026-02-27T23:30:00Z")
    feb28 = logged(api, patient, recorded_at="2026-02-28T18:00:00Z")
    mar01 = logged(api, patient, recorded_at="2026-03-01T09:00:00Z")

    assert listed_ids(api, patient, from_="2026-02-28", to="2026-02-28") == [feb28["id"], feb28_early["id"]]
    assert listed_ids(api, patient, from_="2026-02-27", to="2026-02-27") == [feb27_late["id"]]
    assert listed_ids(api, patient, from_="2026-02-28") == [mar01["id"], feb28["id"], feb28_early["id"]]
    assert listed_ids(api, patient, to="2026-02-27") == [feb27_late["id"], feb26["id"]]
    assert listed_ids(api, patient, from_="2026-03-02") == []


def test_filters_and_cursor_work_together(api, patient):
    made = [logged(api, patient, recorded_at=f"2026-02-28T{h:02d}:00:00Z") for h in range(8, 13)]
    logged(api, patient, recorded_at="2026-03-01T09:00:00Z")

    first = list_entries(api, patient, from_="2026-02-28", to="2026-02-28", limit=3).json
    rest = list_entries(api, patient, from_="2026-02-28", to="2026-02-28", limit=3, cursor=first["next_cursor"]).json

    assert [i["id"] for i in first["items"] + rest["items"]] == [e["id"] for e in reversed(made)]
    assert rest["next_cursor"] is None


def test_from_after_to_is_422(api, patient):
    expect_invalid(list_entries(api, patient, from_="2026-03-02", to="2026-03-01"), "from")


def test_from_equal_to_to_is_one_day(api, patient):
    assert list_entries(api, patient, from_="2026-03-01", to="2026-03-01").status_code == 200


def _cursor(payload: Any) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "x" * 513,
        _cursor({"recorded_at": "2026-03-01T10:00:00Z"}),
        _cursor(["2026-03-01T10:00:00Z"]),
        _cursor(["2026-03-01T10:00:00", "id"]),
        _cursor(["not a time", "id"]),
        _cursor([None, "id"]),
        _cursor([1772359200, "id"]),
        _cursor(["2026-03-01T10:00:00Z", 7]),
        _cursor(["0001-01-01T00:00:00+01:00", "id"]),
        _cursor(["9999-12-31T23:59:59-01:00", "id"]),
        _cursor("abc"),
    ],
)
def test_a_cursor_the_api_did_not_issue_is_422(api, patient, cursor):
    logged(api, patient)
    expect_invalid(list_entries(api, patient, cursor=cursor), "cursor")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", 0),
        ("limit", 201),
        ("limit", -1),
        ("limit", "ten"),
        ("from", "2026-02-30"),
        ("from", "yesterday"),
        ("to", "01/03/2026"),
    ],
)
def test_bad_list_query_is_422(api, patient, name, value):
    resp = api.get("/me/entries", token=patient.token, query_string={name: value})
    expect_invalid(resp, name)


@pytest.mark.parametrize("limit", [1, 200])
def test_limit_bounds_are_accepted(api, patient, limit):
    logged(api, patient, recorded_at="2026-03-01T08:00:00Z")
    logged(api, patient, recorded_at="2026-03-01T09:00:00Z")

    resp = list_entries(api, patient, limit=limit)

    assert resp.status_code == 200, resp.json
    assert len(resp.json["items"]) == min(limit, 2)
    assert (resp.json["next_cursor"] is None) == (limit >= 2)


# --------------------------------------------------------------------------- GET /me/entries/{id}


def test_get_one_entry(api, patient):
    made = logged(api, patient, note="hello")

    resp = api.get(f"/me/entries/{made['id']}", token=patient.token)

    assert resp.status_code == 200, resp.json
    assert resp.json == made


def test_get_unknown_or_someone_elses_entry_is_404(api, patient, other_patient):
    theirs = logged(api, other_patient)

    expect_error(api.get(f"/me/entries/{new_id()}", token=patient.token), 404, "not_found")
    expect_error(api.get(f"/me/entries/{theirs['id']}", token=patient.token), 404, "not_found")


# --------------------------------------------------------------------------- PATCH /me/entries/{id}


def test_patch_keeps_the_previous_version(api, world, patient, clock):
    made = logged(api, patient)
    clock.advance(minutes=10)

    resp = edit(api, patient, made["id"], {"mood": 3, "side_effects": ["nausea"], "note": "worse later"})

    assert resp.status_code == 200, resp.json
    assert resp.json == {
        **made,
        "mood": 3,
        "side_effects": ["nausea"],
        "note": "worse later",
        "version": 2,
        "updated_at": "2026-03-01T12:10:00Z",
    }
    assert kept_versions(world, made["id"]) == [(1, ORIGINAL_CONTENT)]
    row = entry_row(world, made["id"])
    assert (row["mood"], row["note"], row["version"]) == (3, "worse later", 2)
    assert stored_side_effects(world, made["id"]) == ["nausea"]


def test_each_patch_adds_one_version(api, world, patient):
    made = logged(api, patient)

    second = edit(api, patient, made["id"], {"mood": 4})
    third = edit(api, patient, made["id"], {"sleep_hours": 5.5, "anxiety": 7})

    assert (second.json["version"], third.json["version"]) == (2, 3)
    assert kept_versions(world, made["id"]) == [
        (1, ORIGINAL_CONTENT),
        (2, {**ORIGINAL_CONTENT, "mood": 4}),
    ]
    row = entry_row(world, made["id"])
    assert (row["mood"], row["anxiety"], row["sleep_hours"], row["version"]) == (4, 7, 5.5, 3)


def test_patch_can_clear_optional_fields(api, world, patient):
    made = logged(api, patient, sleep_hours=7.5, note="n", side_effects=["headache"], self_harm_thoughts=0)

    resp = edit(api, patient, made["id"], {"sleep_hours": None, "note": None, "side_effects": []})

    assert resp.status_code == 200, resp.json
    assert (resp.json["sleep_hours"], resp.json["note"], resp.json["side_effects"]) == (None, None, [])
    assert stored_side_effects(world, made["id"]) == []
    assert kept_versions(world, made["id"])[0][1]["side_effects"] == ["headache"]


def test_patch_without_a_change_makes_no_version(api, world, patient):
    made = logged(api, patient)

    same = edit(api, patient, made["id"], {"mood": 6, "recorded_at": "2026-03-01T11:00:00+01:00"})
    empty = edit(api, patient, made["id"], {})

    assert same.status_code == 200, same.json
    assert empty.status_code == 200, empty.json
    assert same.json["version"] == empty.json["version"] == 1
    assert kept_versions(world, made["id"]) == []


def test_patching_recorded_at_moves_the_local_date(api, world, patient):
    made = logged(api, patient, recorded_at="2026-02-28T22:00:00Z")  # 23:00 Berlin

    resp = edit(api, patient, made["id"], {"recorded_at": "2026-02-28T23:15:00Z"})  # 00:15 Berlin

    assert resp.status_code == 200, resp.json
    assert (resp.json["recorded_at"], resp.json["local_date"], resp.json["version"]) == (
        "2026-02-28T23:15:00Z",
        "2026-03-01",
        2,
    )
    assert entry_row(world, made["id"])["local_date"] == "2026-03-01"
    assert kept_versions(world, made["id"])[0][1]["recorded_at"] == "2026-02-28T22:00:00Z"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"mood": 11}, "mood"),
        ({"mood": "4"}, "mood"),
        ({"mood": None}, "mood"),
        ({"anxiety": True}, "anxiety"),
        ({"sleep_hours": 24.5}, "sleep_hours"),
        ({"self_harm_thoughts": 4}, "self_harm_thoughts"),
        ({"note": "x" * 2001}, "note"),
        ({"side_effects": ["hiccups"]}, "side_effects"),
        ({"recorded_at": None}, "recorded_at"),
        ({"recorded_at": "2026-03-01T09:00:00"}, "recorded_at"),
        ({"recorded_at": "2026-03-01T12:05:01Z"}, "recorded_at"),
        ({"id": new_id()}, "id"),
        ({"version": 5}, "version"),
        ({"mood": 4, "colour": "blue"}, "colour"),
    ],
)
def test_invalid_patch_changes_nothing(api, world, patient, changes, field):
    made = logged(api, patient)

    expect_invalid(edit(api, patient, made["id"], changes), field)

    row = entry_row(world, made["id"])
    assert (row["mood"], row["anxiety"], row["version"]) == (6, 3, 1)
    assert kept_versions(world, made["id"]) == []


def test_patch_of_a_deleted_or_someone_elses_entry_is_404(api, world, patient, other_patient):
    gone = logged(api, patient)
    api.delete(f"/me/entries/{gone['id']}", token=patient.token)
    theirs = logged(api, other_patient)

    expect_error(edit(api, patient, gone["id"], {"mood": 1}), 404, "not_found")
    expect_error(edit(api, patient, theirs["id"], {"mood": 1}), 404, "not_found")
    expect_error(edit(api, patient, new_id(), {"mood": 1}), 404, "not_found")

    assert entry_row(world, gone["id"])["mood"] == 6
    assert (entry_row(world, theirs["id"])["mood"], entry_row(world, theirs["id"])["version"]) == (6, 1)
    assert kept_versions(world, gone["id"]) == kept_versions(world, theirs["id"]) == []


def test_patch_cannot_point_at_someone_elses_checkin(api, world, app, patient, other_patient):
    made = logged(api, patient)
    theirs = open_checkin(app, other_patient)

    expect_error(edit(api, patient, made["id"], {"checkin_id": theirs}), 404, "not_found")
    assert entry_row(world, made["id"])["checkin_id"] is None
    assert checkin_state(world, theirs) == ("sent", None)


# --------------------------------------------------------------------------- DELETE /me/entries/{id}


def test_delete_is_a_soft_delete(api, world, patient, clock):
    kept = logged(api, patient, recorded_at="2026-03-01T09:00:00Z")
    made = logged(api, patient, recorded_at="2026-03-01T10:00:00Z")
    clock.advance(minutes=7)

    resp = api.delete(f"/me/entries/{made['id']}", token=patient.token)

    assert resp.status_code == 204
    assert resp.get_data() == b""
    assert listed_ids(api, patient) == [kept["id"]]
    expect_error(api.get(f"/me/entries/{made['id']}", token=patient.token), 404, "not_found")
    expect_error(api.delete(f"/me/entries/{made['id']}", token=patient.token), 404, "not_found")
    row = entry_row(world, made["id"])
    assert row["deleted_at"] == NOW + dt.timedelta(minutes=7)
    assert (row["patient_id"], row["mood"], row["version"]) == (patient.id, 6, 1)
    assert entry_row(world, kept["id"])["deleted_at"] is None


def test_delete_of_someone_elses_or_an_unknown_entry_is_404(api, world, patient, other_patient):
    theirs = logged(api, other_patient)

    expect_error(api.delete(f"/me/entries/{theirs['id']}", token=patient.token), 404, "not_found")
    expect_error(api.delete(f"/me/entries/{new_id()}", token=patient.token), 404, "not_found")

    assert entry_row(world, theirs["id"])["deleted_at"] is None
    assert listed_ids(api, other_patient) == [theirs["id"]]


# --------------------------------------------------------------------------- POST /me/assessments


@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_severity_bands(api, world, patient, total, severity):
    answers = answers_totalling(total, 9)
    body = assessment("phq9", answers)

    resp = answer(api, patient, body)

    assert resp.status_code == 201, resp.json
    expected = {
        "id": body["id"],
        "instrument": "phq9",
        "answers": answers,
        "total": total,
        "severity": severity,
        "recorded_at": "2026-03-01T09:00:00Z",
        "local_date": "2026-03-01",
        "created_at": "2026-03-01T12:00:00Z",
    }
    if answers[8] >= 1:
        expected["safety"] = SAFETY
    assert resp.json == expected
    assert assessment_row(world, body["id"]) == (patient.id, "phq9", total, severity, "2026-03-01")


@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_severity_bands(api, world, patient, total, severity):
    answers = answers_totalling(total, 7, spare_last=False)
    body = assessment("gad7", answers)

    resp = answer(api, patient, body)

    assert resp.status_code == 201, resp.json
    assert (resp.json["total"], resp.json["severity"], resp.json["answers"]) == (total, severity, answers)
    assert "safety" not in resp.json  # GAD-7 has no self-harm item, even when its last answer is 3
    assert assessment_row(world, body["id"]) == (patient.id, "gad7", total, severity, "2026-03-01")


@pytest.mark.parametrize(
    ("instrument", "count"),
    [("phq9", 7), ("phq9", 8), ("phq9", 10), ("gad7", 6), ("gad7", 8), ("gad7", 9), ("phq9", 0)],
)
def test_wrong_number_of_answers_is_422(api, world, patient, instrument, count):
    body = assessment(instrument, [1] * count)

    expect_invalid(answer(api, patient, body), "answers")
    assert assessment_row(world, body["id"]) is None


@pytest.mark.parametrize("bad", [4, -1, "2", True, 1.5, None])
def test_an_answer_outside_0_to_3_is_422(api, world, patient, bad):
    body = assessment("phq9", [1, 1, 1, 1, bad, 1, 1, 1, 0])

    expect_invalid(answer(api, patient, body), "answers")
    assert assessment_row(world, body["id"]) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"instrument": "bdi"}, "instrument"),
        ({"instrument": "PHQ9"}, "instrument"),
        ({"id": "nope"}, "id"),
        ({"recorded_at": "2026-03-01T09:00:00"}, "recorded_at"),
        ({"recorded_at": "2026-03-01T12:05:01Z"}, "recorded_at"),
        ({"answers": "000000000"}, "answers"),
        ({"total": 0}, "total"),
    ],
)
def test_invalid_assessment_is_422(api, world, patient, changes, field):
    body = {**assessment("phq9", [0] * 9), **changes}

    expect_invalid(answer(api, patient, body), field)
    assert world.rows("SELECT count(*) FROM assessments")[0][0] == 0


@pytest.mark.parametrize("missing", ["id", "instrument", "answers", "recorded_at"])
def test_assessment_required_fields(api, patient, missing):
    expect_invalid(answer(api, patient, without(assessment("gad7", [0] * 7), missing)), missing)


@pytest.mark.parametrize(("item9", "at_risk"), [(0, False), (1, True), (3, True)])
def test_phq9_item_9_brings_the_crisis_resources(api, patient, item9, at_risk):
    body = assessment("phq9", [3, 3, 3, 3, 3, 3, 3, 3, item9])

    resp = answer(api, patient, body)
    replay = answer(api, patient, body)

    assert resp.status_code == 201, resp.json
    assert resp.json.get("safety") == (SAFETY if at_risk else None)
    assert replay.json.get("safety") == (SAFETY if at_risk else None)


def test_assessment_replay_is_200_and_other_content_is_409(api, world, patient, other_patient, clock):
    body = assessment("phq9", [1, 2, 0, 0, 1, 0, 0, 0, 0])
    created = answer(api, patient, body)
    clock.advance(minutes=1)

    replay = answer(api, patient, {**body, "recorded_at": "2026-03-01T10:00:00+01:00"})
    other_answers = answer(api, patient, {**body, "answers": [1, 2, 0, 0, 1, 0, 0, 0, 1]})
    other_time = answer(api, patient, {**body, "recorded_at": "2026-03-01T09:00:01Z"})
    other_instrument = answer(api, patient, {**body, "instrument": "gad7", "answers": [1, 2, 0, 0, 1, 0, 0]})
    someone_else = answer(api, other_patient, body)

    assert created.status_code == 201, created.json
    assert replay.status_code == 200, replay.json
    assert replay.json == created.json
    for resp in (other_answers, other_time, other_instrument, someone_else):
        expect_error(resp, 409, "id_conflict")
    assert world.rows("SELECT count(*) FROM assessments")[0][0] == 1
    assert assessment_row(world, body["id"]) == (patient.id, "phq9", 4, "minimal", "2026-03-01")


def test_assessment_local_date_uses_the_patients_zone(api, world, clinician):
    who = world.patient(clinician, "Pacific/Pago_Pago")
    body = assessment("gad7", [0] * 7, recorded_at="2026-03-01T10:30:00Z")

    resp = answer(api, who, body)

    assert resp.json["local_date"] == "2026-02-28"
    assert assessment_row(world, body["id"])[4] == "2026-02-28"


# --------------------------------------------------------------------------- who may call


ENDPOINTS = [
    ("POST", "/me/entries"),
    ("POST", "/me/entries/batch"),
    ("GET", "/me/entries"),
    ("GET", "/me/entries/{id}"),
    ("PATCH", "/me/entries/{id}"),
    ("DELETE", "/me/entries/{id}"),
    ("POST", "/me/assessments"),
]


def _call(api, method: str, path: str, entry_id: str, token: str | None):
    body = {"entries": [entry()]} if path.endswith("batch") else entry()
    if path.endswith("assessments"):
        body = assessment("gad7", [0] * 7)
    if method == "PATCH":
        body = {"mood": 1}
    return api.call(method, path.format(id=entry_id), body if method != "GET" else None, token=token)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("role", ["clinician", "ops"])
def test_staff_may_not_use_the_patient_diary(api, world, clinician, patient, method, path, role):
    made = logged(api, patient)
    staff = clinician if role == "clinician" else world.staff(clinician.clinic_id, "ops")

    expect_error(_call(api, method, path, made["id"], staff.token), 403, "forbidden")

    row = entry_row(world, made["id"])
    assert (row["mood"], row["version"], row["deleted_at"]) == (6, 1, None)
    assert entry_count(world) == 1


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("token", [None, "not-a-token", "Bearer"])
def test_no_valid_token_is_401(api, world, patient, method, path, token):
    made = logged(api, patient)

    resp = _call(api, method, path, made["id"], token)

    assert resp.status_code == 401, resp.json
    assert resp.json["status"] == 401
    row = entry_row(world, made["id"])
    assert (row["mood"], row["version"], row["deleted_at"]) == (6, 1, None)
    assert entry_count(world) == 1


def test_a_tampered_token_is_401(api, world, patient):
    head, payload, signature = patient.token.split(".")
    forged = f"{head}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"

    resp = log_entry(api, type(patient)(**{**vars(patient), "token": forged}), entry())

    expect_error(resp, 401, resp.json["code"])
    assert entry_count(world) == 0


def test_an_expired_token_is_401(api, world, patient, clock):
    clock.advance(minutes=16)

    resp = log_entry(api, patient, entry(recorded_at="2026-03-01T12:10:00Z"))

    assert resp.status_code == 401, resp.json
    assert entry_count(world) == 0


def test_no_token_is_401_before_the_body_is_looked_at(api, world):
    resp = api.post("/me/entries", {"mood": "not even close"})

    expect_error(resp, 401, "missing_token")


# --------------------------------------------------------------------------- text that cannot be stored

# Half of a surrogate pair: JSON can carry it ("\ud83e"), UTF-8 cannot encode it, so no
# database can store it. A NUL cannot sit in a PostgreSQL text value.
LONE_SURROGATE = "\ud83e"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("note", f"fine until {LONE_SURROGATE} here"),
        ("note", "a\u0000b"),
        ("recorded_at", "2026-03-01T10:00:00Z\u0000"),
        ("recorded_at", f"2026-03-01T10:00:00Z{LONE_SURROGATE}"),
        ("checkin_id", f"{uuid.UUID(int=1)}{LONE_SURROGATE}"),
        ("side_effects", [f"nausea{LONE_SURROGATE}"]),
    ],
)
def test_text_that_cannot_be_stored_is_a_422_naming_the_field(api, world, patient, field, value):
    expect_invalid(log_entry(api, patient, entry(**{field: value})), field)
    assert entry_count(world) == 0


def test_an_id_with_a_nul_is_a_422_naming_the_id(api, world, patient):
    expect_invalid(log_entry(api, patient, entry(id=f"{uuid.uuid4()}\u0000")), "id")
    assert entry_count(world) == 0


def test_a_patch_with_a_lone_surrogate_is_a_422_and_changes_nothing(api, world, patient):
    stored = logged(api, patient, note="as it was")

    expect_invalid(edit(api, patient, stored["id"], {"note": LONE_SURROGATE, "mood": 1}), "note")

    assert (entry_row(world, stored["id"])["note"], entry_row(world, stored["id"])["mood"]) == ("as it was", 6)
    assert kept_versions(world, stored["id"]) == []


def test_a_batch_item_that_cannot_be_stored_is_invalid_and_every_other_item_is_stored(api, world, patient):
    risky, broken, calm = entry(self_harm_thoughts=2), entry(note=f"x{LONE_SURROGATE}"), entry(mood=8)

    resp = sync(api, patient, [risky, broken, calm])

    assert resp.status_code == 200, resp.json
    assert [(r["id"], r["status"]) for r in resp.json["results"]] == [
        (risky["id"], "created"),
        (broken["id"], "invalid"),
        (calm["id"], "created"),
    ]
    assert set(resp.json["results"][1]["errors"]) == {"note"}
    assert resp.json["safety"] == SAFETY
    assert entry_row(world, broken["id"]) is None
    assert entry_count(world, patient.id) == 2
    assert world.rows("SELECT rule, status FROM alerts WHERE patient_id = :p", p=patient.id) == [("self_harm", "open")]


@pytest.fixture
def database_refuses_mood_seven(world, backend):
    """A real refusal by the database itself, for an entry that passed validation; dropped
    afterwards (the PostgreSQL schema outlives the test)."""
    from sqlalchemy import text

    from diary.extensions import db

    create = {
        "sqlite": [
            "CREATE TRIGGER refuse_seven BEFORE INSERT ON entries WHEN NEW.mood = 7 "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ],
        "postgresql": [
            "CREATE FUNCTION refuse_seven() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.mood = 7 THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_seven BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION refuse_seven()",
        ],
    }[backend]
    drop = {
        "sqlite": ["DROP TRIGGER refuse_seven"],
        "postgresql": ["DROP TRIGGER refuse_seven ON entries", "DROP FUNCTION refuse_seven()"],
    }[backend]

    def run(statements: list[str]) -> None:
        with world.app.app_context():
            for statement in statements:
                db.session.execute(text(statement))
            db.session.commit()

    run(create)
    yield
    run(drop)


@pytest.mark.usefixtures("database_refuses_mood_seven")
def test_a_batch_item_the_database_refuses_stands_alone(api, world, patient):
    first, refused, last = entry(mood=6), entry(mood=7), entry(mood=5, self_harm_thoughts=1)

    resp = sync(api, patient, [first, refused, last])

    assert resp.status_code == 200, resp.json
    # What the database said stays out of the answer.
    assert resp.json["results"] == [
        {"id": first["id"], "status": "created"},
        {"id": refused["id"], "status": "invalid", "errors": {"body": ["the database refused this entry"]}},
        {"id": last["id"], "status": "created"},
    ]
    assert resp.json["safety"] == SAFETY
    assert sorted(r[0] for r in world.rows("SELECT mood FROM entries")) == [5, 6]
