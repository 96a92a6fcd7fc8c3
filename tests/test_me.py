"""The patient's own profile, push devices, check-ins and data export (/api/v1/me)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from diary.extensions import db
from diary.models import Checkin, PatientProfile, TreatmentSession
from diary.timeutil import UTC
from tests.helpers import expect_error, expect_invalid

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-01T12:00:00Z"


@pytest.fixture(autouse=True)
def _frozen(clock):
    """Every token and timestamp in this module comes from the fake clock."""
    return clock


@pytest.fixture
def patient(world, clinician):
    return world.patient(clinician, timezone="America/New_York")


def profile_row(world, user_id: str) -> tuple:
    """The stored patient_profiles row, with column types applied on both backends."""
    table = PatientProfile.__table__
    with world.app.app_context():
        row = db.session.execute(
            select(
                table.c.timezone,
                table.c.daily_reminder_time,
                table.c.quiet_hours_start,
                table.c.quiet_hours_end,
                table.c.push_enabled,
            ).where(table.c.user_id == user_id)
        ).one()
        return tuple(row)


def device_row(world, device_id: str) -> tuple:
    rows = world.rows(
        "SELECT user_id, platform, active, deactivated_at, deactivated_reason FROM devices WHERE id = :id",
        id=device_id,
    )
    assert len(rows) == 1
    user_id, platform, active, deactivated_at, reason = rows[0]
    return user_id, platform, bool(active), deactivated_at is not None, reason


def entry_body(**overrides) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": "2026-03-01T06:30:00-05:00",
        "mood": 6,
        "anxiety": 3,
    }
    body.update(overrides)
    return body


# --- profile ---------------------------------------------------------------------------


def test_get_me_returns_exact_default_profile(api, patient):
    resp = api.get("/me", token=patient.token)
    assert resp.status_code == 200
    assert resp.json == {
        "id": patient.id,
        "email": patient.email,
        "timezone": "America/New_York",
        "daily_reminder_time": None,
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:00",
        "push_enabled": True,
    }


def test_get_me_without_token_is_401(api, patient):
    expect_error(api.get("/me"), 401, "missing_token")


def test_get_me_with_tampered_token_is_401(api, patient):
    resp = api.get("/me", token=patient.token[:-2] + ("AA" if not patient.token.endswith("AA") else "BB"))
    assert resp.status_code == 401
    assert resp.json["status"] == 401


def test_clinician_may_not_read_or_patch_me(api, clinician):
    expect_error(api.get("/me", token=clinician.token), 403, "forbidden")
    expect_error(api.patch("/me", {"push_enabled": False}, token=clinician.token), 403, "forbidden")


@pytest.mark.parametrize(
    ("field", "value", "stored_index", "stored"),
    [
        ("timezone", "Asia/Kolkata", 0, "Asia/Kolkata"),
        ("daily_reminder_time", "20:15", 1, dt.time(20, 15)),
        ("daily_reminder_time", "00:00", 1, dt.time(0, 0)),
        ("quiet_hours_start", "23:30", 2, dt.time(23, 30)),
        ("quiet_hours_end", "06:05", 3, dt.time(6, 5)),
        ("push_enabled", False, 4, False),
    ],
)
def test_patch_me_changes_one_field_and_stores_it(api, world, patient, field, value, stored_index, stored):
    before = api.get("/me", token=patient.token).json
    resp = api.patch("/me", {field: value}, token=patient.token)
    assert resp.status_code == 200, resp.json
    assert resp.json == {**before, field: value}
    assert api.get("/me", token=patient.token).json == {**before, field: value}

    defaults = ["America/New_York", None, dt.time(22, 0), dt.time(7, 0), True]
    expected = list(defaults)
    expected[stored_index] = stored
    assert list(profile_row(world, patient.id)) == expected


def test_patch_me_several_fields_at_once(api, world, patient):
    resp = api.patch(
        "/me",
        {
            "timezone": "Europe/London",
            "daily_reminder_time": "09:00",
            "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:00",
            "push_enabled": False,
        },
        token=patient.token,
    )
    assert resp.status_code == 200
    assert resp.json == {
        "id": patient.id,
        "email": patient.email,
        "timezone": "Europe/London",
        "daily_reminder_time": "09:00",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "push_enabled": False,
    }
    assert profile_row(world, patient.id) == (
        "Europe/London",
        dt.time(9, 0),
        dt.time(21, 0),
        dt.time(8, 0),
        False,
    )


def test_patch_me_empty_body_changes_nothing(api, world, patient):
    before = api.get("/me", token=patient.token).json
    resp = api.patch("/me", {}, token=patient.token)
    assert resp.status_code == 200
    assert resp.json == before
    assert profile_row(world, patient.id) == ("America/New_York", None, dt.time(22, 0), dt.time(7, 0), True)


def test_daily_reminder_time_null_clears_it(api, world, patient):
    assert api.patch("/me", {"daily_reminder_time": "19:45"}, token=patient.token).json["daily_reminder_time"] == (
        "19:45"
    )
    assert profile_row(world, patient.id)[1] == dt.time(19, 45)

    resp = api.patch("/me", {"daily_reminder_time": None}, token=patient.token)
    assert resp.status_code == 200
    assert resp.json["daily_reminder_time"] is None
    assert api.get("/me", token=patient.token).json["daily_reminder_time"] is None
    assert profile_row(world, patient.id)[1] is None


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "posixrules", "", "europe/berlin", "UTC+1"])
def test_patch_me_unknown_timezone_is_422_naming_timezone(api, world, patient, zone):
    body = expect_invalid(api.patch("/me", {"timezone": zone}, token=patient.token), "timezone")
    assert isinstance(body["errors"]["timezone"], list)
    assert body["errors"]["timezone"]
    assert profile_row(world, patient.id)[0] == "America/New_York"


@pytest.mark.parametrize("zone", [None, 5, ["Europe/Berlin"]])
def test_patch_me_timezone_of_wrong_type_is_422(api, world, patient, zone):
    expect_invalid(api.patch("/me", {"timezone": zone}, token=patient.token), "timezone")
    assert profile_row(world, patient.id)[0] == "America/New_York"


@pytest.mark.parametrize("field", ["daily_reminder_time", "quiet_hours_start", "quiet_hours_end"])
@pytest.mark.parametrize("value", ["25:00", "7:00", 700, "07:60", "07:00:00", "24:00", "", True])
def test_patch_me_bad_clock_time_is_422_naming_the_field(api, world, patient, field, value):
    expect_invalid(api.patch("/me", {field: value}, token=patient.token), field)
    assert profile_row(world, patient.id) == ("America/New_York", None, dt.time(22, 0), dt.time(7, 0), True)


@pytest.mark.parametrize("field", ["quiet_hours_start", "quiet_hours_end"])
def test_patch_me_quiet_hours_may_not_be_null(api, world, patient, field):
    expect_invalid(api.patch("/me", {field: None}, token=patient.token), field)
    assert profile_row(world, patient.id) == ("America/New_York", None, dt.time(22, 0), dt.time(7, 0), True)


@pytest.mark.parametrize("value", ["true", "false", 1, 0, None])
def test_patch_me_push_enabled_must_be_a_real_boolean(api, world, patient, value):
    expect_invalid(api.patch("/me", {"push_enabled": value}, token=patient.token), "push_enabled")
    assert profile_row(world, patient.id)[4] is True


@pytest.mark.parametrize("field", ["id", "email", "display_name", "clinic_id", "enrolled_at", "bogus"])
def test_patch_me_refuses_read_only_and_unknown_fields(api, world, patient, field):
    value = "someone-else@example.test" if field == "email" else str(uuid.uuid4())
    resp = api.patch("/me", {field: value, "push_enabled": False}, token=patient.token)
    expect_invalid(resp, field)
    # Nothing half-written: the valid field of the refused request was not applied.
    assert api.get("/me", token=patient.token).json["push_enabled"] is True
    me = api.get("/me", token=patient.token).json
    assert (me["id"], me["email"]) == (patient.id, patient.email)
    assert profile_row(world, patient.id)[4] is True


def test_patch_me_valid_and_invalid_field_writes_nothing(api, world, patient):
    resp = api.patch("/me", {"timezone": "Asia/Tokyo", "quiet_hours_end": "7:00"}, token=patient.token)
    expect_invalid(resp, "quiet_hours_end")
    assert profile_row(world, patient.id)[0] == "America/New_York"


def test_patch_me_body_not_json_object(api, patient):
    resp = api.call("PATCH", "/me", token=patient.token, data="{not json", headers={"Content-Type": "application/json"})
    expect_error(resp, 400, "bad_request")
    resp = api.patch("/me", ["timezone"], token=patient.token)
    assert resp.status_code == 422


def test_patch_me_changes_only_my_own_profile(api, world, clinician, patient):
    other = world.patient(clinician, timezone="Europe/Berlin")
    assert api.patch("/me", {"timezone": "Asia/Tokyo"}, token=patient.token).status_code == 200
    assert profile_row(world, other.id)[0] == "Europe/Berlin"
    assert api.get("/me", token=other.token).json["timezone"] == "Europe/Berlin"


# --- devices ---------------------------------------------------------------------------


def test_register_new_device_is_201(api, world, patient):
    resp = api.post("/me/devices", {"token": "fcm-token-1", "platform": "android"}, token=patient.token)
    assert resp.status_code == 201
    assert resp.json == {
        "id": resp.json["id"],
        "token": "fcm-token-1",
        "platform": "android",
        "active": True,
        "created_at": NOW_ISO,
    }
    assert device_row(world, resp.json["id"]) == (patient.id, "android", True, False, None)
    assert world.rows("SELECT count(*) FROM devices") == [(1,)]


def test_same_token_again_is_200_same_device(api, world, patient):
    first = api.post("/me/devices", {"token": "fcm-token-1", "platform": "android"}, token=patient.token)
    again = api.post("/me/devices", {"token": "fcm-token-1", "platform": "ios"}, token=patient.token)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert again.json["platform"] == "ios"
    assert again.json["active"] is True
    assert device_row(world, first.json["id"]) == (patient.id, "ios", True, False, None)
    assert world.rows("SELECT count(*) FROM devices") == [(1,)]


def test_delete_device_then_register_again_reactivates_it(api, world, patient):
    device_id = api.post("/me/devices", {"token": "tok-a", "platform": "web"}, token=patient.token).json["id"]

    resp = api.delete(f"/me/devices/{device_id}", token=patient.token)
    assert resp.status_code == 204
    assert resp.get_data() == b""
    assert device_row(world, device_id) == (patient.id, "web", False, True, "removed")

    again = api.post("/me/devices", {"token": "tok-a", "platform": "web"}, token=patient.token)
    assert again.status_code == 200
    assert again.json["id"] == device_id
    assert again.json["active"] is True
    assert device_row(world, device_id) == (patient.id, "web", True, False, None)


def test_token_of_patient_a_moves_to_patient_b(api, world, clinician, patient):
    other = world.patient(clinician)
    mine = api.post("/me/devices", {"token": "shared-phone", "platform": "android"}, token=patient.token)
    assert mine.status_code == 201
    theirs = api.post("/me/devices", {"token": "shared-phone", "platform": "android"}, token=other.token)
    assert theirs.status_code == 201  # new for B
    assert theirs.json["id"] == mine.json["id"]
    assert world.rows("SELECT user_id FROM devices WHERE token = 'shared-phone'") == [(other.id,)]
    # A no longer owns it: A cannot remove it, B can.
    expect_error(api.delete(f"/me/devices/{mine.json['id']}", token=patient.token), 404, "not_found")
    assert device_row(world, mine.json["id"])[:3] == (other.id, "android", True)
    assert api.delete(f"/me/devices/{mine.json['id']}", token=other.token).status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "t", "platform": "blackberry"}, "platform"),
        ({"token": "t", "platform": "Android"}, "platform"),
        ({"token": "t", "platform": None}, "platform"),
        ({"token": "t"}, "platform"),
        ({"token": "", "platform": "ios"}, "token"),
        ({"token": None, "platform": "ios"}, "token"),
        ({"token": 12345, "platform": "ios"}, "token"),
        ({"token": "x" * 1025, "platform": "ios"}, "token"),
        ({"token": "t\x00u", "platform": "ios"}, "token"),
        ({"platform": "ios"}, "token"),
        ({"token": "t", "platform": "ios", "user_id": "x"}, "user_id"),
    ],
)
def test_register_device_invalid_is_422(api, world, patient, body, field):
    expect_invalid(api.post("/me/devices", body, token=patient.token), field)
    assert world.rows("SELECT count(*) FROM devices") == [(0,)]


def test_register_device_with_longest_allowed_token(api, world, patient):
    resp = api.post("/me/devices", {"token": "x" * 1024, "platform": "ios"}, token=patient.token)
    assert resp.status_code == 201
    assert resp.json["token"] == "x" * 1024


def test_register_device_without_token_is_401(api, world, patient):
    expect_error(api.post("/me/devices", {"token": "t", "platform": "ios"}), 401, "missing_token")
    assert world.rows("SELECT count(*) FROM devices") == [(0,)]


def test_delete_device_twice_is_404(api, patient):
    device_id = api.post("/me/devices", {"token": "tok", "platform": "ios"}, token=patient.token).json["id"]
    assert api.delete(f"/me/devices/{device_id}", token=patient.token).status_code == 204
    expect_error(api.delete(f"/me/devices/{device_id}", token=patient.token), 404, "not_found")


def test_delete_unknown_device_is_404(api, patient):
    expect_error(api.delete(f"/me/devices/{uuid.uuid4()}", token=patient.token), 404, "not_found")


def test_delete_another_users_device_is_404_and_leaves_it_active(api, world, clinician, patient):
    other = world.patient(clinician)
    device_id = api.post("/me/devices", {"token": "theirs", "platform": "ios"}, token=other.token).json["id"]
    foreign = api.delete(f"/me/devices/{device_id}", token=patient.token)
    missing = api.delete(f"/me/devices/{uuid.uuid4()}", token=patient.token)
    expect_error(foreign, 404, "not_found")
    assert {k: v for k, v in foreign.json.items() if k != "request_id"} == {
        k: v for k, v in missing.json.items() if k != "request_id"
    }
    assert device_row(world, device_id) == (other.id, "ios", True, False, None)


def test_clinician_can_register_and_remove_a_device(api, world, clinician):
    resp = api.post("/me/devices", {"token": "staff-phone", "platform": "ios"}, token=clinician.token)
    assert resp.status_code == 201
    assert device_row(world, resp.json["id"]) == (clinician.id, "ios", True, False, None)
    assert api.delete(f"/me/devices/{resp.json['id']}", token=clinician.token).status_code == 204
    assert device_row(world, resp.json["id"])[2] is False


def test_ops_can_register_a_device(api, world, clinic):
    ops = world.staff(clinic, role="ops")
    resp = api.post("/me/devices", {"token": "ops-phone", "platform": "android"}, token=ops.token)
    assert resp.status_code == 201
    assert device_row(world, resp.json["id"])[0] == ops.id


# --- check-ins -------------------------------------------------------------------------


def add_checkins(world, patient_id: str, clinic_id: str) -> list[tuple[str, str]]:
    with world.app.app_context():
        session = TreatmentSession(
            patient_id=patient_id,
            clinic_id=clinic_id,
            started_at=NOW - dt.timedelta(days=2),
            local_date=(NOW - dt.timedelta(days=2)).date(),
            route="iv",
        )
        db.session.add(session)
        db.session.flush()
        ids = []
        for label, offset, status in [("+4h", 240, "answered"), ("+1d", 1440, "sent"), ("+3d", 4320, "pending")]:
            due = session.started_at + dt.timedelta(minutes=offset)
            checkin = Checkin(
                session_id=session.id,
                patient_id=patient_id,
                label=label,
                offset_minutes=offset,
                due_at=due,
                expires_at=due + dt.timedelta(minutes=720),
                status=status,
                answered_at=due + dt.timedelta(minutes=30) if status == "answered" else None,
            )
            db.session.add(checkin)
            db.session.flush()
            ids.append((checkin.id, session.id))
        db.session.commit()
        return ids


def test_checkins_empty_list(api, patient):
    resp = api.get("/me/checkins", token=patient.token)
    assert resp.status_code == 200
    assert resp.json == []


def test_checkins_bogus_status_is_422(api, patient):
    expect_invalid(api.get("/me/checkins?status=bogus", token=patient.token), "status")


def test_checkins_lists_only_mine_newest_due_first_and_filters(api, world, clinician, patient):
    other = world.patient(clinician)
    add_checkins(world, other.id, clinician.clinic_id)
    ids = add_checkins(world, patient.id, clinician.clinic_id)
    session_id = ids[0][1]

    resp = api.get("/me/checkins", token=patient.token)
    assert resp.status_code == 200
    assert resp.json == [
        {
            "id": ids[2][0],
            "session_id": session_id,
            "label": "+3d",
            "due_at": "2026-03-02T12:00:00Z",
            "expires_at": "2026-03-03T00:00:00Z",
            "status": "pending",
            "answered_at": None,
            "late": False,
        },
        {
            "id": ids[1][0],
            "session_id": session_id,
            "label": "+1d",
            "due_at": "2026-02-28T12:00:00Z",
            "expires_at": "2026-03-01T00:00:00Z",
            "status": "sent",
            "answered_at": None,
            "late": False,
        },
        {
            "id": ids[0][0],
            "session_id": session_id,
            "label": "+4h",
            "due_at": "2026-02-27T16:00:00Z",
            "expires_at": "2026-02-28T04:00:00Z",
            "status": "answered",
            "answered_at": "2026-02-27T16:30:00Z",
            "late": False,
        },
    ]
    sent = api.get("/me/checkins?status=sent", token=patient.token)
    assert sent.status_code == 200
    assert [c["id"] for c in sent.json] == [ids[1][0]]
    assert api.get("/me/checkins?status=expired", token=patient.token).json == []


def test_clinician_may_not_list_my_checkins(api, clinician):
    expect_error(api.get("/me/checkins", token=clinician.token), 403, "forbidden")


# --- export ----------------------------------------------------------------------------


def test_export_contains_everything_and_is_audited(api, world, clinician, patient, clock):
    api.patch("/me", {"daily_reminder_time": "20:00"}, token=patient.token)
    kept = entry_body(side_effects=["nausea", "dizziness"], note="first", sleep_hours=7.5)
    edited = entry_body(recorded_at="2026-03-01T06:00:00-05:00", mood=4, anxiety=5)
    deleted = entry_body(recorded_at="2026-02-28T22:00:00-05:00", mood=2, anxiety=8)
    for body in (kept, edited, deleted):
        assert api.post("/me/entries", body, token=patient.token).status_code == 201

    clock.advance(minutes=1)
    resp = api.patch(f"/me/entries/{edited['id']}", {"mood": 7}, token=patient.token)
    assert resp.status_code == 200, resp.json
    clock.advance(minutes=1)
    assert api.delete(f"/me/entries/{deleted['id']}", token=patient.token).status_code == 204
    assessment_id = str(uuid.uuid4())
    resp = api.post(
        "/me/assessments",
        {"id": assessment_id, "instrument": "gad7", "answers": [1, 1, 2, 0, 1, 1, 0], "recorded_at": NOW_ISO},
        token=patient.token,
    )
    assert resp.status_code == 201
    device = api.post("/me/devices", {"token": "tok", "platform": "ios"}, token=patient.token).json
    # Another patient's data never leaks into my export.
    other = world.patient(clinician)
    assert api.post("/me/entries", entry_body(), token=other.token).status_code == 201

    clock.advance(minutes=1)
    resp = api.get("/me/export", token=patient.token, headers={"X-Request-ID": "export-req-1"})
    assert resp.status_code == 200
    doc = resp.json
    assert doc["exported_at"] == "2026-03-01T12:03:00Z"
    assert doc["profile"] == {
        "id": patient.id,
        "email": patient.email,
        "display_name": "Pat Example",
        "external_ref": None,
        "timezone": "America/New_York",
        "daily_reminder_time": "20:00",
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:00",
        "push_enabled": True,
        "created_at": NOW_ISO,
        "enrolled_at": NOW_ISO,
    }
    by_id = {e["id"]: e for e in doc["entries"]}
    assert [e["id"] for e in doc["entries"]] == [deleted["id"], edited["id"], kept["id"]]  # by recorded_at

    assert by_id[kept["id"]] == {
        "id": kept["id"],
        "recorded_at": "2026-03-01T11:30:00Z",
        "local_date": "2026-03-01",
        "timezone": "America/New_York",
        "mood": 6,
        "anxiety": 3,
        "sleep_hours": 7.5,
        "side_effects": ["dizziness", "nausea"],
        "self_harm_thoughts": None,
        "note": "first",
        "checkin_id": None,
        "version": 1,
        "created_at": NOW_ISO,
        "updated_at": NOW_ISO,
        "deleted_at": None,
        "previous_versions": [],
    }
    assert by_id[edited["id"]]["mood"] == 7
    assert by_id[edited["id"]]["version"] == 2
    assert by_id[edited["id"]]["updated_at"] == "2026-03-01T12:01:00Z"
    assert by_id[edited["id"]]["deleted_at"] is None
    assert by_id[edited["id"]]["previous_versions"] == [
        {
            "version": 1,
            "replaced_at": "2026-03-01T12:01:00Z",
            "content": {
                "recorded_at": "2026-03-01T11:00:00Z",
                "mood": 4,
                "anxiety": 5,
                "sleep_hours": None,
                "side_effects": [],
                "self_harm_thoughts": None,
                "note": None,
                "checkin_id": None,
            },
        }
    ]
    assert by_id[deleted["id"]]["deleted_at"] == "2026-03-01T12:02:00Z"
    assert by_id[deleted["id"]]["local_date"] == "2026-02-28"
    assert by_id[deleted["id"]]["mood"] == 2
    assert doc["assessments"] == [
        {
            "id": assessment_id,
            "instrument": "gad7",
            "answers": [1, 1, 2, 0, 1, 1, 0],
            "total": 6,
            "severity": "mild",
            "risk": None,
            "recorded_at": NOW_ISO,
            "local_date": "2026-03-01",
            # v1.1: who rated it, by role only; the session a clinician's rating belongs to.
            "rated_by": "patient",
            "session_id": None,
        }
    ]
    assert doc["devices"] == [
        {"id": device["id"], "platform": "ios", "active": True, "created_at": "2026-03-01T12:02:00Z"}
    ]
    assert doc["treatment_sessions"] == []
    assert doc["checkins"] == []
    assert resp.headers["X-Request-ID"] == "export-req-1"

    rows = world.rows(
        "SELECT actor_id, actor_role, clinic_id, action, patient_id, resource_type, resource_id, request_id "
        "FROM audit_events WHERE action = 'patient.export'"
    )
    assert rows == [
        (
            patient.id,
            "patient",
            clinician.clinic_id,
            "patient.export",
            patient.id,
            "patient",
            patient.id,
            "export-req-1",
        )
    ]


def test_export_of_a_new_patient_is_empty_but_complete(api, world, patient):
    resp = api.get("/me/export", token=patient.token)
    assert resp.status_code == 200
    doc = resp.json
    assert set(doc) == {
        "exported_at",
        "profile",
        "entries",
        "assessments",
        "treatment_sessions",
        "checkins",
        "devices",
    }
    assert doc["entries"] == doc["assessments"] == doc["checkins"] == doc["devices"] == []
    assert doc["profile"]["daily_reminder_time"] is None
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'patient.export'") == [(1,)]


def test_export_includes_sessions_and_checkins(api, world, clinician, patient):
    ids = add_checkins(world, patient.id, clinician.clinic_id)
    doc = api.get("/me/export", token=patient.token).json
    assert doc["treatment_sessions"] == [
        {
            "id": ids[0][1],
            "started_at": "2026-02-27T12:00:00Z",
            "route": "iv",
            "medication": "ketamine",
            "dose_mg": None,
            "notes": None,
            "deleted_at": None,
            "monitoring": [],
        }
    ]
    assert [(c["id"], c["label"], c["status"]) for c in doc["checkins"]] == [
        (ids[0][0], "+4h", "answered"),
        (ids[1][0], "+1d", "sent"),
        (ids[2][0], "+3d", "pending"),
    ]


def test_export_is_patient_only_and_not_audited_when_refused(api, world, clinician):
    expect_error(api.get("/me/export", token=clinician.token), 403, "forbidden")
    expect_error(api.get("/me/export"), 401, "missing_token")
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'patient.export'") == [(0,)]


# --- text that cannot be stored, and time zones that drift ----------------------------

LONE_SURROGATE = "\ud83e"


@pytest.mark.parametrize("token", [f"fcm-{LONE_SURROGATE}", "fcm\u0000token"])
def test_a_device_token_that_cannot_be_stored_is_422(api, world, patient, token):
    expect_invalid(api.post("/me/devices", {"token": token, "platform": "android"}, token=patient.token), "token")
    assert world.rows("SELECT count(*) FROM devices") == [(0,)]


@pytest.mark.parametrize("zone", ["US/Eastern", "EST", "GMT+5", f"Europe/Berlin{LONE_SURROGATE}"])
def test_patch_me_refuses_a_legacy_or_broken_zone_and_keeps_the_old_one(api, world, patient, zone):
    expect_invalid(api.patch("/me", {"timezone": zone}, token=patient.token), "timezone")
    assert profile_row(world, patient.id)[0] == "America/New_York"  # the fixture patient's zone


def test_patch_me_refuses_a_clock_time_with_a_nul(api, world, patient):
    expect_invalid(api.patch("/me", {"quiet_hours_end": "07:00\u0000"}, token=patient.token), "quiet_hours_end")
