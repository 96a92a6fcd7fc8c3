"""Session monitoring: PUT /patients/{id}/sessions/{sid}/monitoring, its validation, its
versions, and the flags every session carries (API.md v1.1 "Session monitoring").

The clock stands at NOW = 2026-03-06T12:00:00Z; the session under test started three hours
earlier, at START = 09:00:00Z. Readings and discharges may be up to 5 minutes (300 s,
ENTRY_FUTURE_TOLERANCE_SECONDS) past NOW, never earlier than START. Every flag below is
worked out by hand from the readings in the test; the thresholds are the defaults
(BP_ALERT_SYSTOLIC 180, BP_ALERT_DIASTOLIC 110, minimum observation ketamine 60 min,
esketamine 120 min) unless a test sets its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from diary.config import Config, ConfigError
from diary.database import enable_migrations
from diary.extensions import db
from diary.models import ADVERSE_EVENTS, OBSERVED_LEVELS
from diary.timeutil import UTC
from tests.conftest import BASE_CONFIG, PG_URL, Api, _libpq_url, count_statements, sql_statements
from tests.helpers import denials, denied, expect_error, expect_invalid
from tests.test_concurrency import RACERS, race

NOW = dt.datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
START = "2026-03-06T09:00:00Z"
OMIT = object()  # a field left out of the body

FLAGS_UNMONITORED = {
    "max_systolic": None,
    "max_diastolic": None,
    "bp_alert": False,
    "observation_minutes": None,
    "short_observation": None,
}


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(autouse=True)
def _frozen(clock):
    """Every token and timestamp of the module comes from the fake clock, set before any login."""
    clock.set(NOW)
    return clock


@pytest.fixture
def patient(world, clinician):
    return world.patient(clinician)


@pytest.fixture
def session(api, clinician, patient) -> dict[str, Any]:
    return add_session(api, clinician, patient.id)


def add_session(api, clinician, patient_id: str, started_at: str = START, **extra: Any) -> dict[str, Any]:
    resp = api.post(
        f"/patients/{patient_id}/sessions", {"started_at": started_at, "route": "iv", **extra}, token=clinician.token
    )
    assert resp.status_code == 201, resp.json
    return resp.json


def without_omitted(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not OMIT}


def vital(**fields: Any) -> dict[str, Any]:
    """A reading well inside every limit, changed by `fields` (OMIT leaves one out)."""
    return without_omitted(
        {"at": "2026-03-06T09:15:00Z", "systolic": 120, "diastolic": 80, "heart_rate": 70, "spo2": 98, **fields}
    )


def utc_text(instant: str) -> str:
    return dt.datetime.fromisoformat(instant).astimezone(UTC).isoformat().replace("+00:00", "Z")


def observed(**fields: Any) -> dict[str, Any]:
    """A whole monitoring record, changed by `fields` (OMIT leaves one out)."""
    return without_omitted(
        {
            "vitals": [vital()],
            "sedation": "mild",
            "dissociation": "moderate",
            "adverse_events": [],
            "discharged_at": "2026-03-06T10:30:00Z",
            **fields,
        }
    )


def monitoring_path(patient_id: str, session_id: str) -> str:
    return f"/patients/{patient_id}/sessions/{session_id}/monitoring"


def put(api, staff, patient_id: str, session_id: str, body: dict[str, Any]):
    return api.put(monitoring_path(patient_id, session_id), body, token=staff.token)


def monitored(api, staff, patient_id: str, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = put(api, staff, patient_id, session_id, body)
    assert resp.status_code == 200, resp.json
    return resp.json


def flags(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in FLAGS_UNMONITORED}


def listed(api, clinician, patient_id: str) -> list[dict[str, Any]]:
    resp = api.get(f"/patients/{patient_id}/sessions", token=clinician.token)
    assert resp.status_code == 200, resp.json
    return resp.json


def summary_sessions(api, clinician, patient_id: str) -> list[dict[str, Any]]:
    resp = api.get(f"/patients/{patient_id}/summary", token=clinician.token)
    assert resp.status_code == 200, resp.json
    return resp.json["sessions"]


def stored(world) -> list[tuple]:
    """(session_id, version, sedation, systolic of each reading) of every stored version."""
    rows = world.rows("SELECT session_id, version, sedation, vitals FROM session_monitoring ORDER BY version")
    return [
        (sid, version, sedation, [r["systolic"] for r in (json.loads(v) if isinstance(v, str) else v)])
        for sid, version, sedation, v in rows
    ]


def monitoring_audits(world) -> list[tuple]:
    return world.rows(
        "SELECT actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id FROM audit_events"
        " WHERE action = 'session.monitoring'"
    )


def nothing_written(world) -> bool:
    return stored(world) == [] and monitoring_audits(world) == []


def nested_fields(body: dict[str, Any], index: int) -> set[str]:
    """The fields named for the reading at `index`; no other reading is named."""
    assert set(body["errors"]["vitals"]) == {str(index)}, body["errors"]
    return set(body["errors"]["vitals"][str(index)])


# --------------------------------------------------------------------------- medication


def test_a_session_is_ketamine_unless_told_otherwise(api, world, clinician, patient):
    plain = add_session(api, clinician, patient.id)
    nasal = add_session(api, clinician, patient.id, started_at="2026-03-05T09:00:00Z", medication="esketamine")

    assert (plain["medication"], nasal["medication"]) == ("ketamine", "esketamine")
    assert sorted(world.rows("SELECT id, medication FROM treatment_sessions")) == sorted(
        [(plain["id"], "ketamine"), (nasal["id"], "esketamine")]
    )
    assert [(s["id"], s["medication"]) for s in listed(api, clinician, patient.id)] == [
        (plain["id"], "ketamine"),
        (nasal["id"], "esketamine"),
    ]
    assert [(s["id"], s["medication"]) for s in summary_sessions(api, clinician, patient.id)] == [
        (nasal["id"], "esketamine"),
        (plain["id"], "ketamine"),
    ]


@pytest.mark.parametrize("medication", ["Ketamine", "midazolam", "", None, 1, ["ketamine"], "ketamine\x00"])
def test_an_unknown_medication_is_a_422_and_no_session(api, world, clinician, patient, medication):
    resp = api.post(
        f"/patients/{patient.id}/sessions",
        {"started_at": START, "route": "iv", "medication": medication},
        token=clinician.token,
    )
    expect_invalid(resp, "medication")
    assert world.rows("SELECT count(*) FROM treatment_sessions") == [(0,)]


def test_the_export_gives_the_patient_medication_and_every_monitoring_version(api, world, clinician, patient):
    session = add_session(api, clinician, patient.id, medication="esketamine")
    monitored(api, clinician, patient.id, session["id"], observed(notes="first"))
    monitored(api, clinician, patient.id, session["id"], observed(sedation="none", notes="corrected"))

    (exported,) = api.get("/me/export", token=patient.token).json["treatment_sessions"]

    assert exported["medication"] == "esketamine"
    # Both versions, oldest first; who recorded them stays out of the patient's copy.
    assert exported["monitoring"] == [
        {
            "version": version,
            "vitals": [{"at": "2026-03-06T09:15:00Z", "systolic": 120, "diastolic": 80, "heart_rate": 70, "spo2": 98}],
            "sedation": sedation,
            "dissociation": "moderate",
            "adverse_events": [],
            "discharged_at": "2026-03-06T10:30:00Z",
            "notes": notes,
            "recorded_at": "2026-03-06T12:00:00Z",
        }
        for version, sedation, notes in ((1, "mild", "first"), (2, "none", "corrected"))
    ]
    assert clinician.id not in json.dumps(exported)


# --------------------------------------------------------------------------- recording


def test_a_record_is_stored_audited_and_answered_with_its_flags(api, world, clinician, patient, session):
    body = observed(
        vitals=[
            vital(at="2026-03-06T09:00:00Z", systolic=126, diastolic=78, heart_rate=72, spo2=98),
            # 10:20 at UTC+1 is 09:20Z; no oximeter reading this time.
            vital(at="2026-03-06T10:20:00+01:00", systolic=171, diastolic=96, heart_rate=88, spo2=OMIT),
            vital(at="2026-03-06T09:40:00Z", systolic=158, diastolic=101, heart_rate=84, spo2=None),
        ],
        sedation="moderate",
        dissociation="severe",
        adverse_events=["nausea", "hypertension"],
        discharged_at="2026-03-06T10:35:30Z",
        notes="Settled by discharge.",
    )

    resp = put(api, clinician, patient.id, session["id"], body)

    assert resp.status_code == 200, resp.json
    assert resp.json == {
        "session_id": session["id"],
        "version": 1,
        "vitals": [
            {"at": "2026-03-06T09:00:00Z", "systolic": 126, "diastolic": 78, "heart_rate": 72, "spo2": 98},
            {"at": "2026-03-06T09:20:00Z", "systolic": 171, "diastolic": 96, "heart_rate": 88, "spo2": None},
            {"at": "2026-03-06T09:40:00Z", "systolic": 158, "diastolic": 101, "heart_rate": 84, "spo2": None},
        ],
        "sedation": "moderate",
        "dissociation": "severe",
        "adverse_events": ["nausea", "hypertension"],
        "discharged_at": "2026-03-06T10:35:30Z",
        "notes": "Settled by discharge.",
        "recorded_by": clinician.id,
        "recorded_at": "2026-03-06T12:00:00Z",
        # The highest systolic (171 < 180) and diastolic (101 < 110) come from different
        # readings: no alert. 09:00:00 -> 10:35:30 is 95.5 minutes, 95 whole; ketamine needs 60.
        "max_systolic": 171,
        "max_diastolic": 101,
        "bp_alert": False,
        "observation_minutes": 95,
        "short_observation": False,
    }
    assert stored(world) == [(session["id"], 1, "moderate", [126, 171, 158])]
    # One audit row, in the same transaction: the write, with the session it touched.
    assert monitoring_audits(world) == [
        (clinician.id, "clinician", clinician.clinic_id, patient.id, "session", session["id"])
    ]
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'patient.read'") == [(0,)]


def test_the_session_list_and_the_summary_carry_the_record_and_its_flags(api, world, clinician, patient, session):
    unmonitored = add_session(api, clinician, patient.id, started_at="2026-03-05T09:00:00Z")
    answer = monitored(api, clinician, patient.id, session["id"], observed(vitals=[vital(systolic=181, diastolic=100)]))
    record = {key: value for key, value in answer.items() if key not in FLAGS_UNMONITORED}
    # 181 >= 180: an alert; 09:00 -> 10:30 is 90 minutes, not short for ketamine (60).
    expected = {"max_systolic": 181, "max_diastolic": 100, "bp_alert": True, "observation_minutes": 90}
    expected["short_observation"] = False

    newest, older = listed(api, clinician, patient.id)
    assert (newest["id"], newest["monitoring"], flags(newest)) == (session["id"], record, expected)
    assert (older["id"], older["monitoring"], flags(older)) == (unmonitored["id"], None, FLAGS_UNMONITORED)

    first, second = summary_sessions(api, clinician, patient.id)
    assert (first["id"], first["medication"], first["monitoring"], flags(first)) == (
        unmonitored["id"],
        "ketamine",
        None,
        FLAGS_UNMONITORED,
    )
    assert (second["id"], second["medication"], second["monitoring"], flags(second)) == (
        session["id"],
        "ketamine",
        record,
        expected,
    )


def test_every_version_is_kept_and_the_latest_is_shown(api, world, clinician, patient, session):
    colleague = world.staff(clinician.clinic_id)
    other = add_session(api, clinician, patient.id, started_at="2026-03-06T08:00:00Z")

    first = monitored(api, clinician, patient.id, session["id"], observed(vitals=[vital(systolic=130)]))
    second = monitored(
        api, colleague, patient.id, session["id"], observed(sedation="none", vitals=[vital(systolic=185)])
    )
    elsewhere = monitored(api, clinician, patient.id, other["id"], observed(vitals=[vital(systolic=140)]))

    assert (first["version"], second["version"], elsewhere["version"]) == (1, 2, 1)
    assert (first["recorded_by"], second["recorded_by"]) == (clinician.id, colleague.id)
    # Both versions of the session stay as they were written; the other session counts its own.
    assert sorted(stored(world)) == sorted(
        [
            (session["id"], 1, "mild", [130]),
            (session["id"], 2, "none", [185]),
            (other["id"], 1, "mild", [140]),
        ]
    )
    by_id = {s["id"]: s for s in listed(api, clinician, patient.id)}
    assert (by_id[session["id"]]["monitoring"]["version"], by_id[session["id"]]["monitoring"]["sedation"]) == (
        2,
        "none",
    )
    assert (by_id[session["id"]]["max_systolic"], by_id[session["id"]]["bp_alert"]) == (185, True)
    assert by_id[other["id"]]["monitoring"]["version"] == 1
    in_summary = {s["id"]: s for s in summary_sessions(api, clinician, patient.id)}
    assert in_summary[session["id"]]["monitoring"] == by_id[session["id"]]["monitoring"]
    assert len(monitoring_audits(world)) == 3


def test_an_empty_record_is_allowed_and_flags_nothing(api, world, clinician, patient, session):
    answer = monitored(
        api, clinician, patient.id, session["id"], observed(vitals=[], discharged_at=OMIT, adverse_events=[])
    )
    assert (answer["vitals"], answer["discharged_at"], answer["notes"]) == ([], None, None)
    assert flags(answer) == FLAGS_UNMONITORED

    answer = monitored(api, clinician, patient.id, session["id"], observed(vitals=[], discharged_at=None, notes=None))
    assert (answer["version"], flags(answer)) == (2, FLAGS_UNMONITORED)


def test_concurrent_records_of_one_session_each_get_their_own_version(app, world, clinician, patient, session):
    results = race(app, "PUT", monitoring_path(patient.id, session["id"]), observed(), token=clinician.token)

    assert sorted(status for status, _ in results) == [200] * RACERS, results
    assert sorted(body["version"] for _, body in results) == list(range(1, RACERS + 1))
    assert sorted(version for _, version, _, _ in stored(world)) == list(range(1, RACERS + 1))


# --------------------------------------------------------------------------- flags at their thresholds


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        # Systolic 179 with diastolic 109: each one below its threshold.
        pytest.param([(179, 109)], (179, 109, False), id="179-109-no-alert"),
        pytest.param([(180, 90)], (180, 90, True), id="systolic-180-alert"),
        pytest.param([(150, 110)], (150, 110, True), id="diastolic-110-alert"),
        # The highest of each need not be the same reading, and neither reaches its threshold.
        pytest.param([(130, 85), (179, 100), (160, 109)], (179, 109, False), id="maxima-of-different-readings"),
        pytest.param([(130, 85), (182, 100), (120, 80)], (182, 100, True), id="one-reading-over-is-enough"),
    ],
)
def test_blood_pressure_flags(api, world, clinician, patient, session, readings, expected):
    vitals = [
        vital(at=f"2026-03-06T09:{10 * i:02d}:00Z", systolic=systolic, diastolic=diastolic)
        for i, (systolic, diastolic) in enumerate(readings)
    ]
    answer = monitored(api, clinician, patient.id, session["id"], observed(vitals=vitals))
    assert (answer["max_systolic"], answer["max_diastolic"], answer["bp_alert"]) == expected


@pytest.mark.parametrize(
    ("medication", "discharged_at", "minutes", "short"),
    [
        # From START 09:00:00Z, in whole minutes rounded down.
        pytest.param("ketamine", "2026-03-06T09:59:00Z", 59, True, id="ketamine-59"),
        pytest.param("ketamine", "2026-03-06T09:59:59Z", 59, True, id="ketamine-59m59s-rounds-down"),
        pytest.param("ketamine", "2026-03-06T10:00:00Z", 60, False, id="ketamine-60"),
        pytest.param("esketamine", "2026-03-06T10:59:00Z", 119, True, id="esketamine-119"),
        pytest.param("esketamine", "2026-03-06T10:59:59Z", 119, True, id="esketamine-119m59s"),
        pytest.param("esketamine", "2026-03-06T11:00:00Z", 120, False, id="esketamine-120"),
        pytest.param("esketamine", "2026-03-06T10:00:00Z", 60, True, id="esketamine-at-ketamine-minimum"),
        pytest.param("ketamine", START, 0, True, id="discharged-at-the-start"),
    ],
)
def test_observation_flags_per_medication(api, world, clinician, patient, medication, discharged_at, minutes, short):
    session = add_session(api, clinician, patient.id, medication=medication)
    answer = monitored(api, clinician, patient.id, session["id"], observed(discharged_at=discharged_at))
    assert (answer["observation_minutes"], answer["short_observation"]) == (minutes, short)
    (listed_session,) = listed(api, clinician, patient.id)
    assert (listed_session["observation_minutes"], listed_session["short_observation"]) == (minutes, short)


def test_flags_follow_the_thresholds_configured_now(api, world, make_app, clinician, patient, session):
    """Flags are computed on read: the same stored record, read by an app with other
    thresholds, is flagged by those."""
    monitored(
        api,
        clinician,
        patient.id,
        session["id"],
        observed(vitals=[vital(systolic=165, diastolic=99)], discharged_at="2026-03-06T10:15:00Z"),
    )
    # Defaults: 165 < 180, 99 < 110; 75 minutes >= 60.
    (default,) = listed(api, clinician, patient.id)
    assert (default["bp_alert"], default["observation_minutes"], default["short_observation"]) == (False, 75, False)

    stricter = Api(
        make_app(BP_ALERT_SYSTOLIC=165, MIN_OBSERVATION_MINUTES={"ketamine": 90, "esketamine": 120}).test_client()
    )
    (strict,) = listed(stricter, clinician, patient.id)
    # 165 >= 165: an alert; 75 < 90: short.
    assert (strict["bp_alert"], strict["observation_minutes"], strict["short_observation"]) == (True, 75, True)
    assert len(stored(world)) == 1

    diastolic_only = Api(make_app(BP_ALERT_DIASTOLIC=99).test_client())
    (by_diastolic,) = listed(diastolic_only, clinician, patient.id)
    assert by_diastolic["bp_alert"] is True  # 99 >= 99


# --------------------------------------------------------------------------- validation of a reading


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"systolic": 50, "diastolic": 30}, id="systolic-50-diastolic-30-lowest"),
        pytest.param({"systolic": 300, "diastolic": 200}, id="systolic-300-diastolic-200-highest"),
        pytest.param({"systolic": 120, "diastolic": 119}, id="diastolic-one-below-systolic"),
        pytest.param({"heart_rate": 20}, id="heart-rate-20"),
        pytest.param({"heart_rate": 250}, id="heart-rate-250"),
        pytest.param({"spo2": 50}, id="spo2-50"),
        pytest.param({"spo2": 100}, id="spo2-100"),
        pytest.param({"spo2": None}, id="spo2-null"),
        pytest.param({"spo2": OMIT}, id="spo2-left-out"),
        pytest.param({"at": START}, id="at-the-session-start"),
        pytest.param({"at": "2026-03-06T10:00:00+01:00"}, id="at-the-start-with-an-offset"),
        # NOW + 300 s: within the tolerance for a clock running ahead.
        pytest.param({"at": "2026-03-06T12:05:00Z"}, id="at-five-minutes-ahead"),
    ],
)
def test_readings_at_the_limits_are_accepted(api, world, clinician, patient, session, changes):
    reading = vital(**changes)
    answer = monitored(api, clinician, patient.id, session["id"], observed(vitals=[vital(), reading]))
    # Stored as sent, the time in UTC (10:00+01:00 is 09:00Z), a left-out spo2 as null.
    expected = {"spo2": None, **reading, "at": utc_text(reading["at"])}
    assert answer["vitals"][1] == expected
    assert len(stored(world)) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"systolic": 49, "diastolic": 30}, "systolic", id="systolic-49"),
        pytest.param({"systolic": 301}, "systolic", id="systolic-301"),
        pytest.param({"diastolic": 29}, "diastolic", id="diastolic-29"),
        pytest.param({"systolic": 250, "diastolic": 201}, "diastolic", id="diastolic-201"),
        pytest.param({"systolic": 120, "diastolic": 120}, "diastolic", id="diastolic-equal-to-systolic"),
        pytest.param({"systolic": 110, "diastolic": 120}, "diastolic", id="diastolic-above-systolic"),
        pytest.param({"heart_rate": 19}, "heart_rate", id="heart-rate-19"),
        pytest.param({"heart_rate": 251}, "heart_rate", id="heart-rate-251"),
        pytest.param({"spo2": 49}, "spo2", id="spo2-49"),
        pytest.param({"spo2": 101}, "spo2", id="spo2-101"),
        pytest.param({"systolic": "120"}, "systolic", id="systolic-text"),
        pytest.param({"systolic": True}, "systolic", id="systolic-boolean"),
        pytest.param({"systolic": 120.5}, "systolic", id="systolic-fraction"),
        pytest.param({"systolic": 120.0}, "systolic", id="systolic-float"),
        pytest.param({"systolic": None}, "systolic", id="systolic-null"),
        pytest.param({"systolic": OMIT}, "systolic", id="systolic-missing"),
        pytest.param({"diastolic": False}, "diastolic", id="diastolic-boolean"),
        pytest.param({"diastolic": OMIT}, "diastolic", id="diastolic-missing"),
        pytest.param({"heart_rate": "70"}, "heart_rate", id="heart-rate-text"),
        pytest.param({"heart_rate": 70.5}, "heart_rate", id="heart-rate-fraction"),
        pytest.param({"heart_rate": OMIT}, "heart_rate", id="heart-rate-missing"),
        pytest.param({"spo2": "98"}, "spo2", id="spo2-text"),
        pytest.param({"spo2": 97.5}, "spo2", id="spo2-fraction"),
        pytest.param({"at": OMIT}, "at", id="at-missing"),
        pytest.param({"at": None}, "at", id="at-null"),
        pytest.param({"at": "2026-03-06T09:15:00"}, "at", id="at-without-offset"),
        pytest.param({"at": "soon"}, "at", id="at-not-a-time"),
        pytest.param({"at": 1772788500}, "at", id="at-a-number"),
        pytest.param({"at": "2026-03-06T09:15:00Z\x00"}, "at", id="at-with-nul"),
        pytest.param({"pulse": 70}, "pulse", id="unknown-field"),
    ],
)
def test_a_bad_reading_is_a_422_naming_it_by_its_place(api, world, clinician, patient, session, changes, field):
    resp = put(api, clinician, patient.id, session["id"], observed(vitals=[vital(), vital(**changes), vital()]))

    body = expect_invalid(resp, "vitals")
    # errors["vitals"]["1"][field]: the second reading, that field, and nothing else.
    assert nested_fields(body, 1) == {field}
    assert nothing_written(world)


def test_a_reading_with_systolic_and_diastolic_both_out_of_range_names_both(api, world, clinician, patient, session):
    resp = put(api, clinician, patient.id, session["id"], observed(vitals=[vital(systolic=301, diastolic=210)]))
    body = expect_invalid(resp, "vitals")
    # The diastolic-below-systolic rule is only checked between two valid numbers.
    assert body["errors"]["vitals"]["0"] == {
        "systolic": ["Must be greater than or equal to 50 and less than or equal to 300."],
        "diastolic": ["Must be greater than or equal to 30 and less than or equal to 200."],
    }
    resp = put(api, clinician, patient.id, session["id"], observed(vitals=[vital(systolic=90, diastolic=95)]))
    assert expect_invalid(resp, "vitals")["errors"]["vitals"] == {"0": {"diastolic": ["Must be below systolic."]}}
    assert nothing_written(world)


@pytest.mark.parametrize(("count", "status"), [(50, 200), (51, 422)])
def test_at_most_50_readings(api, world, clinician, patient, session, count, status):
    # One reading a minute from the start: 09:00 .. 09:49 (50) or 09:50 (51).
    start = dt.datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    vitals = [vital(at=(start + dt.timedelta(minutes=i)).isoformat()) for i in range(count)]

    resp = put(api, clinician, patient.id, session["id"], observed(vitals=vitals))

    if status == 200:
        assert resp.status_code == 200, resp.json
        assert len(resp.json["vitals"]) == 50
    else:
        assert expect_invalid(resp, "vitals")["errors"]["vitals"] == ["Longer than maximum length 50."]
        assert nothing_written(world)


# --------------------------------------------------------------------------- times against the session and the clock


@pytest.mark.parametrize(
    ("at", "accepted"),
    [
        pytest.param("2026-03-06T08:59:59Z", False, id="one-second-before-the-start"),
        pytest.param("2026-03-06T09:59:59+01:00", False, id="one-second-before-the-start-with-an-offset"),
        pytest.param(START, True, id="at-the-start"),
        pytest.param("2026-03-06T12:05:00Z", True, id="five-minutes-ahead-of-the-clock"),
        pytest.param("2026-03-06T12:05:01Z", False, id="beyond-five-minutes-ahead"),
    ],
)
def test_reading_times_against_the_session_and_the_clock(api, world, clinician, patient, session, at, accepted):
    resp = put(api, clinician, patient.id, session["id"], observed(vitals=[vital(), vital(at=at)]))
    if accepted:
        assert resp.status_code == 200, resp.json
    else:
        assert nested_fields(expect_invalid(resp, "vitals"), 1) == {"at"}
        assert nothing_written(world)


@pytest.mark.parametrize(
    ("discharged_at", "accepted"),
    [
        pytest.param("2026-03-06T08:59:59Z", False, id="one-second-before-the-start"),
        pytest.param(START, True, id="at-the-start"),
        pytest.param("2026-03-06T12:05:00Z", True, id="five-minutes-ahead-of-the-clock"),
        pytest.param("2026-03-06T12:05:01Z", False, id="beyond-five-minutes-ahead"),
        pytest.param("2026-03-06T10:30:00", False, id="without-offset"),
        pytest.param("", False, id="empty"),
        pytest.param(36000, False, id="a-number"),
    ],
)
def test_discharge_time_against_the_session_and_the_clock(
    api, world, clinician, patient, session, discharged_at, accepted
):
    resp = put(api, clinician, patient.id, session["id"], observed(discharged_at=discharged_at))
    if accepted:
        assert resp.status_code == 200, resp.json
    else:
        expect_invalid(resp, "discharged_at")
        assert nothing_written(world)


def test_every_time_refused_is_named_at_once(api, world, clinician, patient, session):
    body = observed(
        vitals=[
            vital(at="2026-03-06T08:30:00Z"),  # before the start
            vital(at="2026-03-06T09:30:00Z"),
            vital(at="2026-03-06T13:00:00Z"),  # an hour ahead of the clock
        ],
        discharged_at="2026-03-06T08:00:00Z",
    )
    resp = put(api, clinician, patient.id, session["id"], body)
    errors = expect_invalid(resp, "vitals", "discharged_at")["errors"]
    assert errors == {
        "vitals": {
            "0": {"at": ["must not be before the session started (2026-03-06T09:00:00Z)"]},
            "2": {"at": ["must not be more than 5 minutes in the future"]},
        },
        "discharged_at": ["must not be before the session started (2026-03-06T09:00:00Z)"],
    }
    assert resp.json["message"] == "validation failed: discharged_at, vitals"
    assert nothing_written(world)


# --------------------------------------------------------------------------- validation of the rest


@pytest.mark.parametrize(
    "changes",
    [
        *[pytest.param({"sedation": level}, id=f"sedation-{level}") for level in OBSERVED_LEVELS],
        *[pytest.param({"dissociation": level}, id=f"dissociation-{level}") for level in OBSERVED_LEVELS],
        pytest.param({"adverse_events": list(ADVERSE_EVENTS)}, id="every-adverse-event"),
        pytest.param({"notes": "n" * 2000}, id="notes-2000"),
        pytest.param({"notes": None}, id="notes-null"),
        pytest.param({"notes": OMIT}, id="notes-left-out"),
        pytest.param({"discharged_at": None}, id="discharge-null"),
        pytest.param({"discharged_at": OMIT}, id="discharge-left-out"),
    ],
)
def test_the_rest_at_its_limits_is_accepted(api, world, clinician, patient, session, changes):
    answer = monitored(api, clinician, patient.id, session["id"], observed(**changes))
    for key, value in changes.items():
        assert answer[key] == (None if value is OMIT else value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"vitals": OMIT}, "vitals", id="vitals-missing"),
        pytest.param({"vitals": None}, "vitals", id="vitals-null"),
        pytest.param({"vitals": vital()}, "vitals", id="vitals-not-a-list"),
        pytest.param({"vitals": ["120/80"]}, "vitals", id="vitals-not-readings"),
        pytest.param({"sedation": OMIT}, "sedation", id="sedation-missing"),
        pytest.param({"sedation": "Mild"}, "sedation", id="sedation-case"),
        pytest.param({"sedation": "heavy"}, "sedation", id="sedation-unknown"),
        pytest.param({"sedation": ""}, "sedation", id="sedation-empty"),
        pytest.param({"sedation": None}, "sedation", id="sedation-null"),
        pytest.param({"sedation": 2}, "sedation", id="sedation-a-number"),
        pytest.param({"dissociation": OMIT}, "dissociation", id="dissociation-missing"),
        pytest.param({"dissociation": "extreme"}, "dissociation", id="dissociation-unknown"),
        pytest.param({"dissociation": "mild\x00"}, "dissociation", id="dissociation-nul"),
        pytest.param({"adverse_events": OMIT}, "adverse_events", id="adverse-events-missing"),
        pytest.param({"adverse_events": None}, "adverse_events", id="adverse-events-null"),
        pytest.param({"adverse_events": "nausea"}, "adverse_events", id="adverse-events-not-a-list"),
        pytest.param({"adverse_events": ["headache"]}, "adverse_events", id="adverse-event-unknown"),
        pytest.param({"adverse_events": ["nausea", "nausea"]}, "adverse_events", id="adverse-event-twice"),
        pytest.param({"adverse_events": [1]}, "adverse_events", id="adverse-event-a-number"),
        pytest.param({"notes": "n" * 2001}, "notes", id="notes-2001"),
        pytest.param({"notes": "a\x00b"}, "notes", id="notes-nul"),
        pytest.param({"notes": "\ud800"}, "notes", id="notes-lone-surrogate"),
        pytest.param({"notes": 5}, "notes", id="notes-a-number"),
        pytest.param({"blood_pressure": "120/80"}, "blood_pressure", id="unknown-field"),
    ],
)
def test_a_bad_field_is_a_422_naming_it_and_nothing_is_written(api, world, clinician, patient, session, changes, field):
    expect_invalid(put(api, clinician, patient.id, session["id"], observed(**changes)), field)
    assert nothing_written(world)


def test_adverse_events_are_named_by_their_place_or_as_a_list(api, world, clinician, patient, session):
    resp = put(api, clinician, patient.id, session["id"], observed(adverse_events=["nausea", "headache"]))
    assert set(expect_invalid(resp, "adverse_events")["errors"]["adverse_events"]) == {"1"}
    resp = put(api, clinician, patient.id, session["id"], observed(adverse_events=["panic", "other", "panic"]))
    assert expect_invalid(resp, "adverse_events")["errors"]["adverse_events"] == ["Must not contain duplicates."]


def test_a_body_that_is_not_json_is_a_400(api, world, clinician, patient, session):
    resp = api.put(
        monitoring_path(patient.id, session["id"]),
        data="{vitals",
        headers={"Authorization": f"Bearer {clinician.token}", "Content-Type": "application/json"},
    )
    expect_error(resp, 400, "bad_request")
    assert nothing_written(world)


def test_a_refused_correction_leaves_the_latest_version_as_it_was(api, world, clinician, patient, session):
    first = monitored(api, clinician, patient.id, session["id"], observed(vitals=[vital(systolic=150)]))

    refused = put(api, clinician, patient.id, session["id"], observed(vitals=[vital(systolic=150, diastolic=150)]))
    expect_invalid(refused, "vitals")
    too_early = put(api, clinician, patient.id, session["id"], observed(discharged_at="2026-03-06T08:00:00Z"))
    expect_invalid(too_early, "discharged_at")

    assert stored(world) == [(session["id"], 1, "mild", [150])]
    assert len(monitoring_audits(world)) == 1
    (shown,) = listed(api, clinician, patient.id)
    assert shown["monitoring"] == {key: value for key, value in first.items() if key not in FLAGS_UNMONITORED}


# --------------------------------------------------------------------------- who may record


def test_another_clinics_patient_or_an_unknown_one_is_404_and_audited(api, world, clinician):
    other = world.staff(world.clinic())
    theirs = world.patient(other)
    their_session = add_session(api, other, theirs.id)
    unknown = str(uuid.uuid4())

    expected = []
    for patient_id, session_id in ((theirs.id, their_session["id"]), (unknown, str(uuid.uuid4()))):
        resp = put(api, clinician, patient_id, session_id, observed())
        expect_error(resp, 404, "not_found")
        expected.append(denied(clinician, "patient", patient_id, f"/api/v1{monitoring_path(patient_id, session_id)}"))

    assert nothing_written(world)
    assert denials(world) == sorted(expected)


def test_another_clinics_session_under_ones_own_patient_is_404_and_audited(api, world, clinician, patient):
    other = world.staff(world.clinic())
    foreign = add_session(api, other, world.patient(other).id)
    path = monitoring_path(patient.id, foreign["id"])

    expect_error(put(api, clinician, patient.id, foreign["id"], observed()), 404, "not_found")

    assert nothing_written(world)
    assert denials(world) == [denied(clinician, "session", foreign["id"], f"/api/v1{path}")]


def test_a_session_of_another_patient_deleted_or_unknown_is_404(api, world, clinician, patient, session):
    sibling = world.patient(clinician)
    siblings_session = add_session(api, clinician, sibling.id)
    deleted = add_session(api, clinician, patient.id, started_at="2026-03-05T09:00:00Z")
    assert api.delete(f"/patients/{patient.id}/sessions/{deleted['id']}", token=clinician.token).status_code == 204

    for session_id in (siblings_session["id"], deleted["id"], str(uuid.uuid4())):
        expect_error(put(api, clinician, patient.id, session_id, observed()), 404, "not_found")
    # Not a UUID: no route at all.
    expect_error(api.put(f"/patients/{patient.id}/sessions/not-an-id/monitoring", observed()), 404, "not_found")

    assert nothing_written(world)


@pytest.mark.parametrize("role", ["patient", "ops"])
def test_only_clinicians_record_monitoring(api, world, clinician, patient, session, role):
    token = patient.token if role == "patient" else world.staff(clinician.clinic_id, "ops").token
    staff = dataclasses.replace(clinician, token=token)
    expect_error(put(api, staff, patient.id, session["id"], observed()), 403, "forbidden")
    expect_error(api.put(monitoring_path(patient.id, session["id"]), observed()), 401, "missing_token")
    assert nothing_written(world)
    assert denials(world) == []


# --------------------------------------------------------------------------- a fixed number of queries


def test_the_session_list_and_the_summary_read_monitoring_in_one_query(api, world, app, clinician, patient):
    first = add_session(api, clinician, patient.id, started_at="2026-03-01T09:00:00Z")
    monitored(api, clinician, patient.id, first["id"], observed(vitals=[], discharged_at=None))

    def sessions_request():
        return api.get(f"/patients/{patient.id}/sessions", token=clinician.token)

    def summary_request():
        return api.get(f"/patients/{patient.id}/summary", token=clinician.token)

    list_before, resp = count_statements(app, sessions_request)
    assert resp.status_code == 200
    # Counted with the session effects stored (the first read after a change stores them).
    summary_request()
    summary_before, resp = count_statements(app, summary_request)
    assert resp.status_code == 200

    # Eight more sessions in the window, each with three versions, and one without any.
    for day in range(2, 10):
        extra = add_session(api, clinician, patient.id, started_at=f"2026-02-{18 + day:02d}T09:00:00Z")
        for systolic in (130, 150, 170):
            monitored(
                api,
                clinician,
                patient.id,
                extra["id"],
                observed(vitals=[vital(at=f"2026-02-{18 + day:02d}T09:30:00Z", systolic=systolic)], discharged_at=None),
            )
    add_session(api, clinician, patient.id, started_at="2026-03-06T08:00:00Z")

    list_statements, resp = sql_statements(app, sessions_request)
    assert len(resp.json) == 10
    assert sorted(s["max_systolic"] or 0 for s in resp.json) == [0, 0] + [170] * 8
    summary_request()
    summary_statements, resp = sql_statements(app, summary_request)
    assert len(resp.json["sessions"]) == 10
    assert {s["monitoring"]["version"] for s in resp.json["sessions"] if s["monitoring"]} == {1, 3}

    assert len(list_statements) == list_before
    assert len(summary_statements) == summary_before
    for statements in (list_statements, summary_statements):
        assert sum("session_monitoring" in statement for statement in statements) == 1


# --------------------------------------------------------------------------- erasure, migration, configuration, demo


def test_erasing_a_patient_erases_their_monitoring(app, api, world, clinician, patient, session):
    other = world.patient(clinician)
    kept = add_session(api, clinician, other.id)
    monitored(api, clinician, patient.id, session["id"], observed())
    monitored(api, clinician, patient.id, session["id"], observed(sedation="none"))
    monitored(api, clinician, other.id, kept["id"], observed())

    result = app.test_cli_runner().invoke(args=["diary", "erase-patient", "--patient-id", patient.id, "--yes"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"]["session_monitoring"] == 2
    assert [(sid, version) for sid, version, _, _ in stored(world)] == [(kept["id"], 1)]


def _scratch_database(backend: str, tmp_path):
    """An empty database of the backend, and how to drop it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'scratch.sqlite3'}", lambda: None
    name = f"diary_migration_{uuid.uuid4().hex[:10]}"
    admin = _libpq_url(PG_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_URL.rpartition('/')[0]}/{name}", drop


def test_sessions_recorded_before_the_migration_become_ketamine(backend, tmp_path):
    from diary import create_app

    url, drop = _scratch_database(backend, tmp_path)
    try:
        app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
        enable_migrations(app)
        with app.app_context():
            upgrade(revision="0004")
            created = "2026-01-01 00:00:00+00:00"
            for statement in (
                "INSERT INTO clinics (id, name, created_at) VALUES ('c1', 'Old Clinic', :at)",
                "INSERT INTO users (id, clinic_id, role, is_active, created_at)"
                " VALUES ('u1', 'c1', 'patient', true, :at)",
                "INSERT INTO treatment_sessions (id, patient_id, clinic_id, started_at, route, created_at)"
                " VALUES ('s1', 'u1', 'c1', :at, 'iv', :at)",
            ):
                db.session.execute(text(statement), {"at": created})
            db.session.commit()
            upgrade()
            assert db.session.execute(text("SELECT id, medication FROM treatment_sessions")).all() == [
                ("s1", "ketamine")
            ]
            # Migration 0006 gave it a local day: UTC's, as the old patient has no profile.
            assert [str(day) for (day,) in db.session.execute(text("SELECT local_date FROM treatment_sessions"))] == [
                "2026-01-01"
            ]
            assert db.session.execute(text("SELECT count(*) FROM session_monitoring")).scalar() == 0
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


def test_default_thresholds_and_their_environment_variables(monkeypatch):
    for key in ("BP_ALERT_SYSTOLIC", "BP_ALERT_DIASTOLIC", "MIN_OBSERVATION_MINUTES"):
        monkeypatch.delenv(key, raising=False)
    config = Config.from_env()
    assert (config.BP_ALERT_SYSTOLIC, config.BP_ALERT_DIASTOLIC) == (180, 110)
    assert config.MIN_OBSERVATION_MINUTES == {"ketamine": 60, "esketamine": 120}

    monkeypatch.setenv("BP_ALERT_SYSTOLIC", "170")
    monkeypatch.setenv("BP_ALERT_DIASTOLIC", "105")
    monkeypatch.setenv("MIN_OBSERVATION_MINUTES", '{"ketamine": 45, "esketamine": 120}')
    config = Config.from_env()
    config.validate()
    assert (config.BP_ALERT_SYSTOLIC, config.BP_ALERT_DIASTOLIC) == (170, 105)
    assert config.MIN_OBSERVATION_MINUTES == {"ketamine": 45, "esketamine": 120}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"BP_ALERT_SYSTOLIC": 0}, "BP_ALERT_SYSTOLIC must be a positive whole number"),
        ({"BP_ALERT_DIASTOLIC": -1}, "BP_ALERT_DIASTOLIC must be a positive whole number"),
        ({"BP_ALERT_SYSTOLIC": 180.5}, "BP_ALERT_SYSTOLIC must be a positive whole number"),
        ({"BP_ALERT_DIASTOLIC": True}, "BP_ALERT_DIASTOLIC must be a positive whole number"),
        ({"MIN_OBSERVATION_MINUTES": [60, 120]}, "MIN_OBSERVATION_MINUTES must be a JSON object"),
        ({"MIN_OBSERVATION_MINUTES": {"ketamine": 60}}, "must give esketamine a positive whole number"),
        ({"MIN_OBSERVATION_MINUTES": {"ketamine": 0, "esketamine": 120}}, "must give ketamine a positive"),
        ({"MIN_OBSERVATION_MINUTES": {"ketamine": "60", "esketamine": 120}}, "must give ketamine a positive"),
        ({"MIN_OBSERVATION_MINUTES": {"ketamine": 60, "esketamine": 120.0}}, "must give esketamine a positive"),
        (
            {"MIN_OBSERVATION_MINUTES": {"ketamine": 60, "esketamine": 120, "esketamin": 120}},
            "names unknown medications: esketamin",
        ),
    ],
)
def test_bad_monitoring_settings_stop_the_start(settings, message):
    with pytest.raises(ConfigError, match=message):
        Config(**settings).validate()


def test_a_bad_environment_value_stops_the_start(monkeypatch):
    monkeypatch.delenv("BP_ALERT_DIASTOLIC", raising=False)
    monkeypatch.setenv("MIN_OBSERVATION_MINUTES", "ketamine=60")
    with pytest.raises(ConfigError, match="MIN_OBSERVATION_MINUTES must be JSON"):
        Config.from_env()
    monkeypatch.setenv("MIN_OBSERVATION_MINUTES", "")
    monkeypatch.setenv("BP_ALERT_SYSTOLIC", "high")
    with pytest.raises(ConfigError, match="BP_ALERT_SYSTOLIC must be an integer"):
        Config.from_env()


def test_the_demo_sessions_carry_monitoring_and_one_blood_pressure_flag(app, api, world):
    result = app.test_cli_runner().invoke(args=["diary", "demo"])
    assert result.exit_code == 0, result.output
    seeded = json.loads(result.output)
    token = world.login("clinician@demo.example", seeded["password_for_every_demo_login"])["access_token"]

    flagged = []
    for patient_id in seeded["patient_ids"].values():
        resp = api.get(f"/patients/{patient_id}/sessions", token=token)
        assert resp.status_code == 200, resp.json
        for session in resp.json:
            record = session["monitoring"]
            assert record is not None, session["id"]
            gaps = [
                (dt.datetime.fromisoformat(b["at"]) - dt.datetime.fromisoformat(a["at"])).total_seconds() / 60
                for a, b in zip(record["vitals"], record["vitals"][1:], strict=False)
            ]
            assert gaps, session["id"]
            assert all(15 <= gap <= 30 for gap in gaps), gaps
            assert record["discharged_at"] is not None
            assert session["short_observation"] is False
            if session["bp_alert"]:
                flagged.append((session["max_systolic"], session["max_diastolic"]))
    assert flagged == [(184, 112)]
