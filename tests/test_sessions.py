"""Treatment sessions, the clinic's check-in protocol, and the check-ins they schedule.

The clock stands at NOW = 2026-03-06T12:00Z (07:00 EST in New York, 21:00 JST in Tokyo).
Every due time below is worked out by hand from the session instant, the offset, the
patient's zone and quiet hours (default 22:00-07:00); the comments show the local times.
New York switches from EST (UTC-5) to EDT (UTC-4) on 2026-03-08.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from diary.timeutil import UTC
from tests.helpers import denials, denied, expect_error, expect_invalid

NOW = dt.datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-06T12:00:00Z"
DEFAULT_PROTOCOL = {"checkin_offsets_minutes": [240, 1440, 4320, 10080], "checkin_window_minutes": 720}
NY = "America/New_York"

# A session at 2026-03-05 19:00 EST = 2026-03-06T00:00Z, patient in New York, default protocol.
EVENING = "2026-03-05T19:00:00-05:00"
EVENING_CHECKINS = [
    # +4h: 04:00Z = 23:00 EST, quiet -> 07:00 EST Mar 6 = 12:00Z; window 12 h.
    ("+4h", 240, "2026-03-06T12:00:00Z", "2026-03-07T00:00:00Z"),
    # +1d: Mar 7 00:00Z = 19:00 EST Mar 6.
    ("+1d", 1440, "2026-03-07T00:00:00Z", "2026-03-07T12:00:00Z"),
    # +3d: Mar 9 00:00Z = 20:00 EDT Mar 8.
    ("+3d", 4320, "2026-03-09T00:00:00Z", "2026-03-09T12:00:00Z"),
    # +7d: Mar 13 00:00Z = 20:00 EDT Mar 12.
    ("+7d", 10080, "2026-03-13T00:00:00Z", "2026-03-13T12:00:00Z"),
]
# Re-sends halfway through the window (due + 6 h), moved out of quiet hours, dropped when
# that is not before the check-in expires.
EVENING_RESENDS = {
    "+4h": "2026-03-06T18:00:00Z",  # 13:00 EST
    # +1d: 06:00Z = 01:00 EST Mar 7, quiet -> 07:00 EST = 12:00Z = expires_at: no re-send.
    "+3d": "2026-03-09T11:00:00Z",  # 06:00Z = 02:00 EDT, quiet -> 07:00 EDT = 11:00Z
    "+7d": "2026-03-13T11:00:00Z",  # likewise
}

# A session at 2026-03-06 05:00 EST = 10:00Z (19:00 JST), patient in New York.
MORNING = "2026-03-06T10:00:00Z"
MORNING_CHECKINS = {
    # label: (due_at, expires_at, re-send)
    "+4h": ("2026-03-06T14:00:00Z", "2026-03-07T02:00:00Z", "2026-03-06T20:00:00Z"),  # 09:00 EST; 15:00 EST
    # 10:00Z Mar 7 = 05:00 EST, quiet -> 07:00 EST = 12:00Z; re-send 13:00 EST
    "+1d": ("2026-03-07T12:00:00Z", "2026-03-08T00:00:00Z", "2026-03-07T18:00:00Z"),
    # 10:00Z Mar 9 = 06:00 EDT, quiet -> 07:00 EDT = 11:00Z; re-send 13:00 EDT
    "+3d": ("2026-03-09T11:00:00Z", "2026-03-09T23:00:00Z", "2026-03-09T17:00:00Z"),
    "+7d": ("2026-03-13T11:00:00Z", "2026-03-13T23:00:00Z", "2026-03-13T17:00:00Z"),
}
LABELS = ["+4h", "+1d", "+3d", "+7d"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _frozen(clock):
    """Every token and timestamp in this module comes from the fake clock, set before any login."""
    clock.set(NOW)
    return clock


@pytest.fixture
def patient(world, clinician):
    return world.patient(clinician, NY)


# --------------------------------------------------------------------------- helpers


def fresh(world, account):
    """The same account with an access token issued at the clock's current time."""
    return dataclasses.replace(account, token=world.login(account.email)["access_token"])


def record(api, clinician, patient_id: str, **body: Any):
    payload = {"started_at": EVENING, "route": "iv", **body}
    return api.post(f"/patients/{patient_id}/sessions", payload, token=clinician.token)


def recorded(api, clinician, patient_id: str, **body: Any) -> dict[str, Any]:
    resp = record(api, clinician, patient_id, **body)
    assert resp.status_code == 201, resp.json
    return resp.json


def by_label(session: dict[str, Any]) -> dict[str, str]:
    return {c["label"]: c["id"] for c in session["checkins"]}


def iso(value: Any) -> str | None:
    """A timestamp column as ISO UTC text (SQLite hands back naive UTC text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def count(world, table: str) -> int:
    return world.rows(f"SELECT count(*) FROM {table}")[0][0]


def execute(world, sql: str, **params: Any) -> None:
    """A committed write behind the API's back (what the worker would have done)."""
    from sqlalchemy import text

    from diary.extensions import db

    with world.app.app_context():
        db.session.execute(text(sql), params)
        db.session.commit()


def mark_sent(world, checkin_id: str) -> None:
    """The check-in's first push went out, as the dispatcher records it."""
    execute(world, "UPDATE checkins SET status = 'sent' WHERE id = :id", id=checkin_id)
    execute(world, "UPDATE notifications SET status = 'sent' WHERE dedupe_key = :k", k=f"checkin:{checkin_id}")


def checkin_rows(world, session_id: str) -> dict[str, tuple]:
    """label -> (offset, due_at, expires_at, window, status, answered_at, answer_entry_id, patient_id)."""
    rows = world.rows(
        "SELECT label, offset_minutes, due_at, expires_at, window_minutes, status, answered_at, answer_entry_id,"
        " patient_id FROM checkins WHERE session_id = :s",
        s=session_id,
    )
    return {r[0]: (r[1], iso(r[2]), iso(r[3]), r[4], r[5], iso(r[6]), r[7], r[8]) for r in rows}


def checkin_status(world, checkin_id: str) -> tuple[str, str | None, str | None]:
    ((status, answered_at, entry_id),) = world.rows(
        "SELECT status, answered_at, answer_entry_id FROM checkins WHERE id = :id", id=checkin_id
    )
    return status, iso(answered_at), entry_id


def outbox(world, user_id: str | None = None) -> dict[str, tuple]:
    """dedupe_key -> (kind, checkin_id, status, due_at, next_attempt_at, last_error) of check-in pushes."""
    rows = world.rows(
        "SELECT dedupe_key, kind, checkin_id, status, due_at, next_attempt_at, last_error, user_id, payload,"
        " attempts FROM notifications"
    )
    found = {}
    for key, kind, checkin_id, status, due_at, next_at, error, owner, payload, attempts in rows:
        if user_id is not None and owner != user_id:
            continue
        # Ids only, never anything about the patient; nothing tried yet.
        assert as_json(payload) == {"type": "checkin", "checkin_id": checkin_id}, payload
        assert attempts == 0
        found[key] = (kind, checkin_id, status, iso(due_at), iso(next_at), error)
    return found


def planned_outbox(ids: dict[str, str], schedule: dict[str, tuple[str, str | None]]) -> dict:
    """The pushes of check-ins `ids` for label -> (due_at, re-send or None), all pending."""
    rows = {}
    for label, (due_at, resend) in schedule.items():
        cid = ids[label]
        rows[f"checkin:{cid}"] = ("checkin", cid, "pending", due_at, due_at, None)
        if resend is not None:
            rows[f"checkin:{cid}:resend"] = ("checkin_resend", cid, "pending", resend, resend, None)
    return rows


def evening_outbox(ids: dict[str, str]) -> dict:
    return planned_outbox(ids, {label: (due, EVENING_RESENDS.get(label)) for label, _, due, _ in EVENING_CHECKINS})


def morning_outbox(ids: dict[str, str]) -> dict:
    return planned_outbox(ids, {label: (due, resend) for label, (due, _, resend) in MORNING_CHECKINS.items()})


def entry(**fields: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "recorded_at": "2026-03-06T11:30:00Z", "mood": 6, "anxiety": 3, **fields}


def my_checkins(api, who, **query: Any) -> list[dict[str, Any]]:
    resp = api.get("/me/checkins", token=who.token, query_string=query)
    assert resp.status_code == 200, resp.json
    return resp.json


# --------------------------------------------------------------------------- protocol


def test_default_protocol(api, clinician):
    resp = api.get("/clinic/protocol", token=clinician.token)
    assert resp.status_code == 200
    assert resp.json == DEFAULT_PROTOCOL


def test_put_protocol_stores_it_sorted_and_reads_back(api, world, clinician):
    resp = api.put(
        "/clinic/protocol",
        {"checkin_offsets_minutes": [1440, 60, 150], "checkin_window_minutes": 90},
        token=clinician.token,
    )
    assert resp.status_code == 200, resp.json
    assert resp.json == {"checkin_offsets_minutes": [60, 150, 1440], "checkin_window_minutes": 90}
    assert api.get("/clinic/protocol", token=clinician.token).json == resp.json
    # A colleague in the same clinic sees it; another clinic keeps the default.
    assert api.get("/clinic/protocol", token=world.staff(clinician.clinic_id).token).json == resp.json
    assert api.get("/clinic/protocol", token=world.staff(world.clinic()).token).json == DEFAULT_PROTOCOL


@pytest.mark.parametrize(
    "protocol",
    [
        pytest.param({"checkin_offsets_minutes": [1], "checkin_window_minutes": 1}, id="smallest"),
        pytest.param({"checkin_offsets_minutes": [86400], "checkin_window_minutes": 86400}, id="60-days"),
        pytest.param(
            {"checkin_offsets_minutes": [60 * n for n in range(1, 13)], "checkin_window_minutes": 30}, id="12-offsets"
        ),
    ],
)
def test_put_protocol_accepts_the_edges(api, clinician, protocol):
    resp = api.put("/clinic/protocol", protocol, token=clinician.token)
    assert resp.status_code == 200, resp.json
    assert resp.json == protocol
    assert api.get("/clinic/protocol", token=clinician.token).json == protocol


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"checkin_offsets_minutes": [240, 1440, 240]}, "checkin_offsets_minutes", id="duplicate"),
        pytest.param({"checkin_offsets_minutes": [0]}, "checkin_offsets_minutes", id="zero"),
        pytest.param({"checkin_offsets_minutes": [240, -5]}, "checkin_offsets_minutes", id="negative"),
        pytest.param({"checkin_offsets_minutes": [86401]}, "checkin_offsets_minutes", id="over-60-days"),
        pytest.param({"checkin_offsets_minutes": list(range(1, 14))}, "checkin_offsets_minutes", id="13-offsets"),
        pytest.param({"checkin_offsets_minutes": []}, "checkin_offsets_minutes", id="empty"),
        pytest.param({"checkin_offsets_minutes": ["240"]}, "checkin_offsets_minutes", id="string-item"),
        pytest.param({"checkin_offsets_minutes": "240"}, "checkin_offsets_minutes", id="string"),
        pytest.param({"checkin_offsets_minutes": [240.5]}, "checkin_offsets_minutes", id="fraction"),
        pytest.param({"checkin_offsets_minutes": [True]}, "checkin_offsets_minutes", id="boolean"),
        pytest.param({"checkin_offsets_minutes": None}, "checkin_offsets_minutes", id="null"),
        pytest.param({"checkin_window_minutes": 0}, "checkin_window_minutes", id="window-zero"),
        pytest.param({"checkin_window_minutes": 86401}, "checkin_window_minutes", id="window-over-60-days"),
        pytest.param({"checkin_window_minutes": "720"}, "checkin_window_minutes", id="window-string"),
        pytest.param({"unknown": 1}, "unknown", id="unknown-field"),
    ],
)
def test_put_protocol_refuses_bad_values_by_name(api, clinician, body, field):
    protocol = {**DEFAULT_PROTOCOL, "checkin_offsets_minutes": [60, 120], **body}
    expect_invalid(api.put("/clinic/protocol", protocol, token=clinician.token), field)
    assert api.get("/clinic/protocol", token=clinician.token).json == DEFAULT_PROTOCOL


@pytest.mark.parametrize("missing", ["checkin_offsets_minutes", "checkin_window_minutes"])
def test_put_protocol_needs_both_fields(api, clinician, missing):
    body = {k: v for k, v in DEFAULT_PROTOCOL.items() if k != missing}
    expect_invalid(api.put("/clinic/protocol", body, token=clinician.token), missing)


@pytest.mark.parametrize("role", ["patient", "ops"])
def test_protocol_is_for_clinicians_only(api, world, clinician, patient, role):
    token = patient.token if role == "patient" else world.staff(clinician.clinic_id, "ops").token
    expect_error(api.get("/clinic/protocol", token=token), 403, "forbidden")
    expect_error(
        api.put("/clinic/protocol", DEFAULT_PROTOCOL | {"checkin_window_minutes": 5}, token=token), 403, "forbidden"
    )
    assert api.get("/clinic/protocol", token=clinician.token).json == DEFAULT_PROTOCOL


def test_protocol_without_a_token_is_401(api):
    expect_error(api.get("/clinic/protocol"), 401, "missing_token")
    expect_error(api.put("/clinic/protocol", DEFAULT_PROTOCOL), 401, "missing_token")


# --------------------------------------------------------------------------- recording a session


def test_recording_a_session_schedules_its_checkins(api, world, clinician, patient):
    resp = record(api, clinician, patient.id, dose_mg=35, notes="0.5 mg/kg over 40 min")

    assert resp.status_code == 201, resp.json
    body = resp.json
    ids = by_label(body)
    assert list(ids) == LABELS
    assert body == {
        "id": body["id"],
        "patient_id": patient.id,
        "started_at": "2026-03-06T00:00:00Z",
        "route": "iv",
        "dose_mg": 35.0,
        "notes": "0.5 mg/kg over 40 min",
        "created_at": NOW_ISO,
        "checkins": [
            {
                "id": ids[label],
                "label": label,
                "offset_minutes": offset,
                "due_at": due,
                "expires_at": expires,
                "status": "pending",
            }
            for label, offset, due, expires in EVENING_CHECKINS
        ],
        # Ketamine unless told otherwise; nothing observed yet (tests/test_monitoring.py).
        "medication": "ketamine",
        "monitoring": None,
        "max_systolic": None,
        "max_diastolic": None,
        "bp_alert": False,
        "observation_minutes": None,
        "short_observation": None,
    }
    assert len(set(ids.values())) == 4

    ((*stored, started_at),) = world.rows(
        "SELECT id, patient_id, clinic_id, route, dose_mg, notes, created_by_id, deleted_at, started_at"
        " FROM treatment_sessions"
    )
    assert stored == [
        body["id"],
        patient.id,
        clinician.clinic_id,
        "iv",
        35.0,
        "0.5 mg/kg over 40 min",
        clinician.id,
        None,
    ]
    assert iso(started_at) == "2026-03-06T00:00:00Z"
    assert checkin_rows(world, body["id"]) == {
        label: (offset, due, expires, 720, "pending", None, None, patient.id)
        for label, offset, due, expires in EVENING_CHECKINS
    }
    # The pushes were written in the same transaction: one per check-in, and a re-send
    # where one fits before the window closes (none for +1d).
    assert outbox(world) == evening_outbox(ids)
    assert f"checkin:{ids['+1d']}:resend" not in outbox(world)


def test_optional_fields_may_be_left_out_or_null(api, world, clinician, patient):
    left_out = recorded(api, clinician, patient.id, route="intranasal")
    nulls = recorded(api, clinician, patient.id, route="oral", dose_mg=None, notes=None)
    for body in (left_out, nulls):
        assert (body["dose_mg"], body["notes"]) == (None, None)
    assert sorted(world.rows("SELECT route, dose_mg, notes FROM treatment_sessions")) == [
        ("intranasal", None, None),
        ("oral", None, None),
    ]


@pytest.mark.parametrize("route", ["iv", "im", "intranasal", "oral", "sublingual"])
def test_every_route_is_accepted(api, clinician, patient, route):
    assert recorded(api, clinician, patient.id, route=route)["route"] == route


def test_a_protocol_change_applies_to_sessions_recorded_afterwards(api, world, clinician, patient):
    before = recorded(api, clinician, patient.id)
    resp = api.put(
        "/clinic/protocol", {"checkin_offsets_minutes": [150, 60], "checkin_window_minutes": 90}, token=clinician.token
    )
    assert resp.status_code == 200, resp.json

    # 2026-03-06 06:00 EST = 11:00Z.
    after = recorded(api, clinician, patient.id, started_at="2026-03-06T06:00:00-05:00")

    assert [(c["label"], c["offset_minutes"], c["due_at"], c["expires_at"]) for c in after["checkins"]] == [
        ("+1h", 60, "2026-03-06T12:00:00Z", "2026-03-06T13:30:00Z"),  # 07:00 EST: quiet hours just over
        ("+150m", 150, "2026-03-06T13:30:00Z", "2026-03-06T15:00:00Z"),  # 08:30 EST
    ]
    assert checkin_rows(world, after["id"]) == {
        "+1h": (60, "2026-03-06T12:00:00Z", "2026-03-06T13:30:00Z", 90, "pending", None, None, patient.id),
        "+150m": (150, "2026-03-06T13:30:00Z", "2026-03-06T15:00:00Z", 90, "pending", None, None, patient.id),
    }
    # The earlier session keeps the protocol it was recorded under.
    assert checkin_rows(world, before["id"]) == {
        label: (offset, due, expires, 720, "pending", None, None, patient.id)
        for label, offset, due, expires in EVENING_CHECKINS
    }
    new_ids = by_label(after)
    assert outbox(world) == {
        **evening_outbox(by_label(before)),
        # Re-sends halfway through the 90-minute window: 07:45 and 09:15 EST.
        **planned_outbox(
            new_ids,
            {
                "+1h": ("2026-03-06T12:00:00Z", "2026-03-06T12:45:00Z"),
                "+150m": ("2026-03-06T13:30:00Z", "2026-03-06T14:15:00Z"),
            },
        ),
    }
    listed = api.get(f"/patients/{patient.id}/sessions", token=clinician.token).json
    assert [s["checkins"] for s in listed] == [after["checkins"], before["checkins"]]


@pytest.mark.parametrize(
    ("started_at", "expected"),
    [
        pytest.param(
            # 3 days ago: 2026-03-03 07:00 EST = 12:00Z.
            "2026-03-03T12:00:00Z",
            [
                ("+4h", "2026-03-03T16:00:00Z", "2026-03-04T04:00:00Z", "expired", None),  # 11:00 EST
                ("+1d", "2026-03-04T12:00:00Z", "2026-03-05T00:00:00Z", "expired", None),  # 07:00 EST, not quiet
                ("+3d", "2026-03-06T12:00:00Z", "2026-03-07T00:00:00Z", "pending", "2026-03-06T18:00:00Z"),  # = NOW
                ("+7d", "2026-03-10T12:00:00Z", "2026-03-11T00:00:00Z", "pending", "2026-03-10T18:00:00Z"),  # 08:00 EDT
            ],
            id="three-days-ago",
        ),
        pytest.param(
            # 2026-03-02 19:00 EST = 2026-03-03T00:00Z: the +3d window closes exactly NOW.
            "2026-03-03T00:00:00Z",
            [
                ("+4h", "2026-03-03T12:00:00Z", "2026-03-04T00:00:00Z", "expired", None),  # 23:00 EST -> 07:00
                ("+1d", "2026-03-04T00:00:00Z", "2026-03-04T12:00:00Z", "expired", None),  # 19:00 EST
                ("+3d", "2026-03-06T00:00:00Z", "2026-03-06T12:00:00Z", "expired", None),  # 19:00 EST, expires NOW
                # 20:00 EDT; re-send 06:00Z = 02:00 EDT, quiet -> 07:00 EDT = 11:00Z
                ("+7d", "2026-03-10T00:00:00Z", "2026-03-10T12:00:00Z", "pending", "2026-03-10T11:00:00Z"),
            ],
            id="window-closing-now",
        ),
    ],
)
def test_a_session_recorded_late_expires_what_it_missed(api, world, clinician, patient, started_at, expected):
    body = recorded(api, clinician, patient.id, started_at=started_at)

    assert [(c["label"], c["due_at"], c["expires_at"], c["status"]) for c in body["checkins"]] == [
        row[:4] for row in expected
    ]
    stored = checkin_rows(world, body["id"])
    assert [(label, *stored[label][1:3], stored[label][4]) for label, *_ in expected] == [row[:4] for row in expected]
    ids = by_label(body)
    # Nothing is ever pushed for a check-in whose window closed before it was recorded.
    assert outbox(world) == planned_outbox(
        ids, {label: (due, resend) for label, due, _, status, resend in expected if status == "pending"}
    )
    assert [c["status"] for c in my_checkins(api, patient)] == [row[3] for row in reversed(expected)]


def test_started_at_may_be_at_most_five_minutes_ahead(api, world, clinician, patient):
    ahead = recorded(api, clinician, patient.id, started_at="2026-03-06T12:05:00Z")
    assert ahead["started_at"] == "2026-03-06T12:05:00Z"
    sessions, checkins, pushes, audits = (
        count(world, t) for t in ("treatment_sessions", "checkins", "notifications", "audit_events")
    )

    expect_invalid(record(api, clinician, patient.id, started_at="2026-03-06T12:05:01Z"), "started_at")
    expect_invalid(record(api, clinician, patient.id, started_at="2026-03-07T12:00:00+01:00"), "started_at")

    # Nothing half-written: no session, no check-in, no push, no audit row.
    assert [count(world, t) for t in ("treatment_sessions", "checkins", "notifications", "audit_events")] == [
        sessions,
        checkins,
        pushes,
        audits,
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"route": "rectal"}, "route", id="unknown-route"),
        pytest.param({"route": "IV"}, "route", id="route-case"),
        pytest.param({"route": None}, "route", id="null-route"),
        pytest.param({"dose_mg": "35"}, "dose_mg", id="dose-string"),
        pytest.param({"dose_mg": True}, "dose_mg", id="dose-boolean"),
        pytest.param({"dose_mg": 0}, "dose_mg", id="dose-zero"),
        pytest.param({"dose_mg": -10}, "dose_mg", id="dose-negative"),
        pytest.param({"started_at": "2026-03-06T10:00:00"}, "started_at", id="no-offset"),
        pytest.param({"started_at": "yesterday"}, "started_at", id="not-an-instant"),
        pytest.param({"started_at": 1772791200}, "started_at", id="epoch-number"),
        pytest.param({"notes": "x" * 2001}, "notes", id="notes-too-long"),
        pytest.param({"notes": "a\x00b"}, "notes", id="nul"),
        pytest.param({"checkins": []}, "checkins", id="unknown-field"),
    ],
)
def test_bad_session_bodies_are_refused_by_name(api, world, clinician, patient, change, field):
    expect_invalid(record(api, clinician, patient.id, **change), field)
    assert count(world, "treatment_sessions") == count(world, "checkins") == count(world, "notifications") == 0


@pytest.mark.parametrize("missing", ["started_at", "route"])
def test_session_required_fields(api, world, clinician, patient, missing):
    body = {"started_at": EVENING, "route": "iv"}
    del body[missing]
    expect_invalid(api.post(f"/patients/{patient.id}/sessions", body, token=clinician.token), missing)
    assert count(world, "treatment_sessions") == 0


def test_another_clinics_patient_is_404_and_nothing_is_written(api, world, clinician):
    theirs = world.patient(world.staff(world.clinic()), NY)
    unknown = str(uuid.uuid4())
    audits = count(world, "audit_events")

    expected = []
    for patient_id in (theirs.id, unknown):
        session_id = str(uuid.uuid4())
        expect_error(record(api, clinician, patient_id), 404, "not_found")
        expect_error(api.get(f"/patients/{patient_id}/sessions", token=clinician.token), 404, "not_found")
        expect_error(
            api.delete(f"/patients/{patient_id}/sessions/{session_id}", token=clinician.token), 404, "not_found"
        )
        sessions = f"/api/v1/patients/{patient_id}/sessions"
        expected += [denied(clinician, "patient", patient_id, path) for path in (sessions, sessions)]
        expected.append(denied(clinician, "patient", patient_id, f"{sessions}/{session_id}"))

    assert count(world, "treatment_sessions") == count(world, "checkins") == count(world, "notifications") == 0
    # Nothing but the six attempts, each audited.
    assert count(world, "audit_events") == audits + 6
    assert denials(world) == sorted(expected)


def test_another_clinics_session_under_ones_own_patient_is_404_and_audited(api, world, clinician, patient):
    other = world.staff(world.clinic())
    foreign = recorded(api, other, world.patient(other, NY).id)
    path = f"/api/v1/patients/{patient.id}/sessions/{foreign['id']}"

    expect_error(api.delete(path, token=clinician.token), 404, "not_found")

    assert world.rows("SELECT deleted_at FROM treatment_sessions WHERE id = :id", id=foreign["id"]) == [(None,)]
    assert denials(world) == [denied(clinician, "session", foreign["id"], path)]


@pytest.mark.parametrize("role", ["patient", "ops"])
def test_sessions_are_for_clinicians_only(api, world, clinician, patient, role):
    session = recorded(api, clinician, patient.id)
    token = patient.token if role == "patient" else world.staff(clinician.clinic_id, "ops").token

    expect_error(record(api, dataclasses.replace(clinician, token=token), patient.id), 403, "forbidden")
    expect_error(api.get(f"/patients/{patient.id}/sessions", token=token), 403, "forbidden")
    expect_error(api.delete(f"/patients/{patient.id}/sessions/{session['id']}", token=token), 403, "forbidden")
    assert count(world, "treatment_sessions") == 1
    assert world.rows("SELECT deleted_at FROM treatment_sessions") == [(None,)]


# --------------------------------------------------------------------------- listing and deleting


def test_list_is_newest_first_with_checkins_and_without_deleted(api, world, clinician, patient):
    evening = recorded(api, clinician, patient.id, dose_mg=35)
    older = recorded(api, clinician, patient.id, started_at="2026-03-03T12:00:00Z", route="im")
    newest = recorded(api, clinician, patient.id, started_at=MORNING, route="oral")
    other = world.patient(clinician, NY)
    recorded(api, clinician, other.id)

    resp = api.get(f"/patients/{patient.id}/sessions", token=clinician.token)

    assert resp.status_code == 200
    assert resp.json == [newest, evening, older]
    assert [c["label"] for c in resp.json[0]["checkins"]] == LABELS
    assert [c["due_at"] for c in resp.json[0]["checkins"]] == [MORNING_CHECKINS[label][0] for label in LABELS]

    assert api.delete(f"/patients/{patient.id}/sessions/{evening['id']}", token=clinician.token).status_code == 204
    assert api.get(f"/patients/{patient.id}/sessions", token=clinician.token).json == [newest, older]


def test_list_of_a_patient_without_sessions_is_empty(api, clinician, patient):
    resp = api.get(f"/patients/{patient.id}/sessions", token=clinician.token)
    assert resp.status_code == 200
    assert resp.json == []


def test_delete_cancels_what_is_still_open(api, world, clinician, patient, clock):
    session = recorded(api, clinician, patient.id)
    ids = by_label(session)
    # +4h answered by the patient; +1d already pushed (as the worker would have marked it).
    answered = api.post("/me/entries", entry(checkin_id=ids["+4h"]), token=patient.token)
    assert answered.status_code == 201, answered.json
    mark_sent(world, ids["+1d"])
    clock.advance(minutes=5)
    clinician = fresh(world, clinician)

    resp = api.delete(f"/patients/{patient.id}/sessions/{session['id']}", token=clinician.token)

    assert resp.status_code == 204
    assert resp.get_data() == b""
    stored = checkin_rows(world, session["id"])
    assert {label: row[4] for label, row in stored.items()} == {
        "+4h": "answered",
        "+1d": "cancelled",
        "+3d": "cancelled",
        "+7d": "cancelled",
    }
    assert [iso(r[0]) for r in world.rows("SELECT deleted_at FROM treatment_sessions")] == ["2026-03-06T12:05:00Z"]
    planned = evening_outbox(ids)

    def with_state(key: str, status: str, error: str | None) -> tuple:
        return (*planned[key][:2], status, *planned[key][3:5], error)

    assert outbox(world) == {
        f"checkin:{ids['+4h']}": with_state(f"checkin:{ids['+4h']}", "cancelled", "answered"),
        f"checkin:{ids['+4h']}:resend": with_state(f"checkin:{ids['+4h']}:resend", "cancelled", "answered"),
        f"checkin:{ids['+1d']}": with_state(f"checkin:{ids['+1d']}", "sent", None),
        **{
            key: with_state(key, "cancelled", "session deleted")
            for key in planned
            if ids["+3d"] in key or ids["+7d"] in key
        },
    }
    assert [(c["label"], c["status"]) for c in my_checkins(api, patient)] == [
        ("+7d", "cancelled"),
        ("+3d", "cancelled"),
        ("+1d", "cancelled"),
        ("+4h", "answered"),
    ]

    # Gone: a second delete, and a delete through another patient's path, are 404.
    expect_error(
        api.delete(f"/patients/{patient.id}/sessions/{session['id']}", token=clinician.token), 404, "not_found"
    )
    assert api.get(f"/patients/{patient.id}/sessions", token=clinician.token).json == []
    # A cancelled check-in takes no answer (the entry itself is kept).
    late = api.post("/me/entries", entry(checkin_id=ids["+3d"]), token=fresh(world, patient).token)
    assert late.status_code == 201, late.json
    assert checkin_status(world, ids["+3d"]) == ("cancelled", None, None)


def test_delete_only_through_the_sessions_own_patient(api, world, clinician, patient):
    session = recorded(api, clinician, patient.id)
    other = world.patient(clinician, NY)

    expect_error(api.delete(f"/patients/{other.id}/sessions/{session['id']}", token=clinician.token), 404, "not_found")
    expect_error(api.delete(f"/patients/{patient.id}/sessions/{uuid.uuid4()}", token=clinician.token), 404, "not_found")

    assert world.rows("SELECT deleted_at FROM treatment_sessions") == [(None,)]
    assert {row[4] for row in checkin_rows(world, session["id"]).values()} == {"pending"}
    assert {row[2] for row in outbox(world).values()} == {"pending"}


def test_create_list_and_delete_are_audited_once_each(api, world, clinician, patient):
    columns = "actor_id, actor_role, clinic_id, action, patient_id, resource_type, resource_id, request_id"
    before = set(world.rows(f"SELECT {columns} FROM audit_events"))
    mine = (clinician.id, "clinician", clinician.clinic_id)

    created = api.post(
        f"/patients/{patient.id}/sessions",
        {"started_at": EVENING, "route": "iv"},
        token=clinician.token,
        headers={"X-Request-ID": "req-create"},
    )
    assert created.status_code == 201
    session_id = created.json["id"]
    listed = api.get(f"/patients/{patient.id}/sessions", token=clinician.token, headers={"X-Request-ID": "req-list"})
    assert listed.status_code == 200
    deleted = api.delete(
        f"/patients/{patient.id}/sessions/{session_id}", token=clinician.token, headers={"X-Request-ID": "req-delete"}
    )
    assert deleted.status_code == 204
    again = api.delete(
        f"/patients/{patient.id}/sessions/{session_id}", token=clinician.token, headers={"X-Request-ID": "req-again"}
    )
    assert again.status_code == 404

    added = sorted(set(world.rows(f"SELECT {columns} FROM audit_events")) - before)
    assert count(world, "audit_events") == len(before) + 3
    assert added == sorted(
        [
            (*mine, "session.create", patient.id, "patient", patient.id, "req-create"),
            (*mine, "session.delete", patient.id, "session", session_id, "req-delete"),
            (*mine, "session.list", patient.id, "patient", patient.id, "req-list"),
        ]
    )


# --------------------------------------------------------------------------- the patient's side


def test_the_patient_sees_the_scheduled_checkins(api, clinician, patient, world):
    session = recorded(api, clinician, patient.id)
    ids = by_label(session)
    recorded(api, clinician, world.patient(clinician, NY).id)  # someone else's

    assert my_checkins(api, patient) == [
        {
            "id": ids[label],
            "session_id": session["id"],
            "label": label,
            "due_at": due,
            "expires_at": expires,
            "status": "pending",
            "answered_at": None,
            "late": False,
        }
        for label, _, due, expires in reversed(EVENING_CHECKINS)
    ]
    assert my_checkins(api, patient, status="answered") == []
    assert [c["label"] for c in my_checkins(api, patient, status="pending")] == ["+7d", "+3d", "+1d", "+4h"]


def test_an_entry_answers_a_checkin_and_stops_its_pushes(api, world, clinician, patient):
    session = recorded(api, clinician, patient.id)
    ids = by_label(session)
    body = entry(checkin_id=ids["+4h"])

    resp = api.post("/me/entries", body, token=patient.token)

    assert resp.status_code == 201, resp.json
    assert resp.json["checkin_id"] == ids["+4h"]
    assert checkin_status(world, ids["+4h"]) == ("answered", NOW_ISO, body["id"])
    planned = evening_outbox(ids)
    for key in (f"checkin:{ids['+4h']}", f"checkin:{ids['+4h']}:resend"):
        planned[key] = (*planned[key][:2], "cancelled", *planned[key][3:5], "answered")
    assert outbox(world) == planned
    mine = my_checkins(api, patient)
    assert mine[-1] == {
        "id": ids["+4h"],
        "session_id": session["id"],
        "label": "+4h",
        "due_at": "2026-03-06T12:00:00Z",
        "expires_at": "2026-03-07T00:00:00Z",
        "status": "answered",
        "answered_at": NOW_ISO,
        "late": False,
    }
    assert [c["status"] for c in mine[:-1]] == ["pending"] * 3

    # The first answer counts; a replay of the same entry changes nothing either.
    assert api.post("/me/entries", body, token=patient.token).status_code == 200
    second = entry(checkin_id=ids["+4h"])
    assert api.post("/me/entries", second, token=patient.token).status_code == 201
    assert checkin_status(world, ids["+4h"]) == ("answered", NOW_ISO, body["id"])


def test_another_patients_checkin_cannot_be_answered(api, world, clinician, patient):
    other = world.patient(clinician, NY)
    theirs = by_label(recorded(api, clinician, other.id))
    entries = count(world, "entries")

    expect_error(api.post("/me/entries", entry(checkin_id=theirs["+4h"]), token=patient.token), 404, "not_found")

    assert count(world, "entries") == entries
    assert checkin_status(world, theirs["+4h"]) == ("pending", None, None)
    assert outbox(world, other.id) == evening_outbox(theirs)


@pytest.mark.parametrize("worker_ran", [True, False], ids=["expired-by-worker", "worker-behind"])
def test_an_answer_after_the_window_is_kept_but_late(api, world, app, clinician, patient, clock, worker_ran):
    session = recorded(api, clinician, patient.id)
    ids = by_label(session)
    clock.set(dt.datetime(2026, 3, 7, 0, 0, tzinfo=UTC))  # the +4h window closes now
    patient = fresh(world, patient)
    if worker_ran:
        from diary.domain import maintenance
        from diary.extensions import db

        with app.app_context():
            assert maintenance.expire_checkins(clock.now) == 1
            db.session.commit()

    body = entry(checkin_id=ids["+4h"], recorded_at="2026-03-06T23:59:00Z")
    resp = api.post("/me/entries", body, token=patient.token)

    assert resp.status_code == 201, resp.json
    assert checkin_status(world, ids["+4h"]) == ("expired", "2026-03-07T00:00:00Z", body["id"])
    listed = {c["label"]: c for c in my_checkins(api, patient)}
    assert listed["+4h"]["status"] == "expired"
    assert listed["+4h"]["answered_at"] == "2026-03-07T00:00:00Z"
    assert listed["+4h"]["late"] is True
    assert [(listed[label]["status"], listed[label]["late"]) for label in LABELS[1:]] == [("pending", False)] * 3
    assert [c["id"] for c in my_checkins(api, patient, status="expired")] == [ids["+4h"]]
    pushes = outbox(world)
    assert {pushes[f"checkin:{ids['+4h']}"][2], pushes[f"checkin:{ids['+4h']}:resend"][2]} == {"cancelled"}
    assert pushes[f"checkin:{ids['+4h']}"][5] == "expired"


def test_an_answer_a_second_before_the_window_closes_counts(api, world, clinician, patient, clock):
    ids = by_label(recorded(api, clinician, patient.id))
    clock.set(dt.datetime(2026, 3, 6, 23, 59, 59, tzinfo=UTC))
    patient = fresh(world, patient)

    resp = api.post("/me/entries", entry(checkin_id=ids["+4h"]), token=patient.token)

    assert resp.status_code == 201, resp.json
    assert checkin_status(world, ids["+4h"])[:2] == ("answered", "2026-03-06T23:59:59Z")
    assert {c["label"]: c["late"] for c in my_checkins(api, patient)}["+4h"] is False


# --------------------------------------------------------------------------- moving a schedule


@pytest.mark.parametrize("first_sent", [False, True], ids=["all-pending", "first-already-sent"])
def test_a_timezone_change_moves_what_was_not_pushed_yet(api, world, clinician, patient, first_sent):
    session = recorded(api, clinician, patient.id, started_at=MORNING)
    ids = by_label(session)
    assert [(c["due_at"], c["expires_at"]) for c in session["checkins"]] == [
        MORNING_CHECKINS[label][:2] for label in LABELS
    ]
    assert outbox(world) == morning_outbox(ids)
    if first_sent:
        mark_sent(world, ids["+4h"])

    resp = api.patch("/me", {"timezone": "Asia/Tokyo"}, token=patient.token)

    assert resp.status_code == 200, resp.json
    assert resp.json["timezone"] == "Asia/Tokyo"
    # Tokyo is UTC+9; quiet hours still 22:00-07:00, now in Tokyo.
    tokyo = {
        # +4h: 14:00Z = 23:00 JST, quiet -> 07:00 JST Mar 7 = 22:00Z Mar 6; re-send 13:00 JST = 04:00Z.
        "+4h": ("2026-03-06T22:00:00Z", "2026-03-07T10:00:00Z", "2026-03-07T04:00:00Z"),
        # +1d: 10:00Z Mar 7 = 19:00 JST; re-send 16:00Z = 01:00 JST, quiet -> 07:00 JST = 22:00Z
        # = expires_at: no time left, the re-send is cancelled.
        "+1d": ("2026-03-07T10:00:00Z", "2026-03-07T22:00:00Z", None),
        "+3d": ("2026-03-09T10:00:00Z", "2026-03-09T22:00:00Z", None),
        "+7d": ("2026-03-13T10:00:00Z", "2026-03-13T22:00:00Z", None),
    }
    if first_sent:
        # Already pushed: it keeps its time and window. Its re-send, 20:00Z = 05:00 JST, is
        # quiet -> 07:00 JST = 22:00Z, still before it expires at 02:00Z.
        tokyo["+4h"] = ("2026-03-06T14:00:00Z", "2026-03-07T02:00:00Z", "2026-03-06T22:00:00Z")
    stored = checkin_rows(world, session["id"])
    assert {label: row[1:3] for label, row in stored.items()} == {label: t[:2] for label, t in tokyo.items()}
    assert {label: row[4] for label, row in stored.items()} == {
        label: "sent" if first_sent and label == "+4h" else "pending" for label in LABELS
    }

    expected = {}
    for label, (due, _, resend) in tokyo.items():
        cid = ids[label]
        sent = first_sent and label == "+4h"
        first_due = MORNING_CHECKINS["+4h"][0] if sent else due
        expected[f"checkin:{cid}"] = ("checkin", cid, "sent" if sent else "pending", first_due, first_due, None)
        if resend is None:
            old = MORNING_CHECKINS[label][2]
            gone = ("checkin_resend", cid, "cancelled", old, old, "no time left for a re-send")
            expected[f"checkin:{cid}:resend"] = gone
        else:
            expected[f"checkin:{cid}:resend"] = ("checkin_resend", cid, "pending", resend, resend, None)
    assert outbox(world) == expected
    assert [(c["label"], c["due_at"]) for c in my_checkins(api, patient)] == [
        (label, tokyo[label][0]) for label in reversed(LABELS)
    ]


@pytest.mark.parametrize(
    ("quiet", "moved"),
    [
        pytest.param(
            ("20:00", "09:30"),
            {
                # 14:00Z = 09:00 EST -> 09:30 EST = 14:30Z; re-send 20:30Z = 15:30 EST
                "+4h": ("2026-03-06T14:30:00Z", "2026-03-07T02:30:00Z", "2026-03-06T20:30:00Z"),
                # 10:00Z Mar 7 = 05:00 EST -> 09:30 EST = 14:30Z
                "+1d": ("2026-03-07T14:30:00Z", "2026-03-08T02:30:00Z", "2026-03-07T20:30:00Z"),
                # 10:00Z Mar 9 = 06:00 EDT -> 09:30 EDT = 13:30Z; re-send 15:30 EDT
                "+3d": ("2026-03-09T13:30:00Z", "2026-03-10T01:30:00Z", "2026-03-09T19:30:00Z"),
                "+7d": ("2026-03-13T13:30:00Z", "2026-03-14T01:30:00Z", "2026-03-13T19:30:00Z"),
            },
            id="longer-mornings",
        ),
        pytest.param(
            ("00:00", "00:00"),
            {
                # No quiet hours: every check-in at its offset, every re-send 6 h later.
                "+4h": ("2026-03-06T14:00:00Z", "2026-03-07T02:00:00Z", "2026-03-06T20:00:00Z"),
                "+1d": ("2026-03-07T10:00:00Z", "2026-03-07T22:00:00Z", "2026-03-07T16:00:00Z"),
                "+3d": ("2026-03-09T10:00:00Z", "2026-03-09T22:00:00Z", "2026-03-09T16:00:00Z"),
                "+7d": ("2026-03-13T10:00:00Z", "2026-03-13T22:00:00Z", "2026-03-13T16:00:00Z"),
            },
            id="none",
        ),
    ],
)
def test_a_quiet_hours_change_moves_pending_checkins(api, world, clinician, patient, quiet, moved):
    session = recorded(api, clinician, patient.id, started_at=MORNING)
    ids = by_label(session)

    resp = api.patch("/me", {"quiet_hours_start": quiet[0], "quiet_hours_end": quiet[1]}, token=patient.token)

    assert resp.status_code == 200, resp.json
    assert (resp.json["quiet_hours_start"], resp.json["quiet_hours_end"]) == quiet
    stored = checkin_rows(world, session["id"])
    assert {label: row[1:3] for label, row in stored.items()} == {label: m[:2] for label, m in moved.items()}
    assert outbox(world) == planned_outbox(ids, {label: (due, resend) for label, (due, _, resend) in moved.items()})


def test_other_profile_changes_leave_the_schedule_alone(api, world, clinician, patient):
    session = recorded(api, clinician, patient.id, started_at=MORNING)
    before = (checkin_rows(world, session["id"]), outbox(world))

    resp = api.patch("/me", {"push_enabled": False, "daily_reminder_time": "20:00"}, token=patient.token)

    assert resp.status_code == 200, resp.json
    assert (checkin_rows(world, session["id"]), outbox(world)) == before


def test_a_move_that_closes_a_window_already_past_expires_the_checkin(api, world, clinician, clock):
    patient = world.patient(clinician, "Asia/Tokyo")
    session = recorded(api, clinician, patient.id, started_at=MORNING)
    ids = by_label(session)
    # Tokyo: +4h = 14:00Z = 23:00 JST, quiet -> 07:00 JST = 22:00Z, open until 10:00Z Mar 7.
    assert session["checkins"][0]["due_at"] == "2026-03-06T22:00:00Z"
    clock.set(dt.datetime(2026, 3, 7, 5, 0, tzinfo=UTC))  # no worker has run since
    patient = fresh(world, patient)

    resp = api.patch("/me", {"timezone": NY}, token=patient.token)

    assert resp.status_code == 200, resp.json
    # New York: +4h = 14:00Z = 09:00 EST, so its window closed at 02:00Z, before now.
    stored = checkin_rows(world, session["id"])
    assert stored["+4h"][1:3] == ("2026-03-06T14:00:00Z", "2026-03-07T02:00:00Z")
    assert stored["+4h"][4] == "expired"
    pushes = outbox(world)
    assert [pushes[f"checkin:{ids['+4h']}{suffix}"][2:] for suffix in ("", ":resend")] == [
        ("cancelled", "2026-03-06T22:00:00Z", "2026-03-06T22:00:00Z", "expired"),
        ("cancelled", "2026-03-07T04:00:00Z", "2026-03-07T04:00:00Z", "expired"),
    ]
    # +1d: 10:00Z Mar 7 = 05:00 EST, quiet -> 07:00 EST = 12:00Z; still open.
    assert (*stored["+1d"][1:3], stored["+1d"][4]) == ("2026-03-07T12:00:00Z", "2026-03-08T00:00:00Z", "pending")
    assert pushes[f"checkin:{ids['+1d']}"][2:] == ("pending", "2026-03-07T12:00:00Z", "2026-03-07T12:00:00Z", None)


# --- dose limits and text that cannot be stored -------------------------------------------


@pytest.mark.parametrize("dose", [1000, 0.01, 999.99])
def test_a_dose_up_to_max_dose_mg_is_accepted(api, world, clinician, patient, dose):
    assert recorded(api, clinician, patient.id, dose_mg=dose)["dose_mg"] == dose


@pytest.mark.parametrize("dose", [9500, 1000.01, 0, -0.5])
def test_a_dose_outside_zero_to_max_dose_mg_is_422_and_records_nothing(api, world, clinician, patient, dose):
    body = expect_invalid(record(api, clinician, patient.id, dose_mg=dose), "dose_mg")
    assert body["errors"]["dose_mg"] == ["must be more than 0 and at most 1000 mg"]
    assert count(world, "treatment_sessions") == 0
    assert count(world, "checkins") == 0


def test_max_dose_mg_is_configuration(make_app, world, clinician, patient):
    from tests.conftest import Api

    api = Api(make_app(MAX_DOSE_MG=200.0).test_client())
    assert record(api, clinician, patient.id, dose_mg=200).status_code == 201
    body = expect_invalid(record(api, clinician, patient.id, dose_mg=200.5), "dose_mg")
    assert body["errors"]["dose_mg"] == ["must be more than 0 and at most 200 mg"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("notes", "infusion \ud83e"), ("notes", "a\u0000b"), ("started_at", "2026-03-01T09:00:00Z\u0000")],
)
def test_session_text_that_cannot_be_stored_is_422(api, world, clinician, patient, field, value):
    expect_invalid(record(api, clinician, patient.id, **{field: value}), field)
    assert count(world, "treatment_sessions") == 0
