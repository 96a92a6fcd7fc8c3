"""Staff patient endpoints: creation with an enrolment code, reading, reissuing; and the audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from diary.extensions import db
from diary.models import AuditEvent, EnrollmentCode
from diary.timeutil import UTC
from tests.helpers import denials, denied, expect_error, expect_invalid

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-01T12:00:00Z"
IN_14_DAYS_ISO = "2026-03-15T12:00:00Z"
PASSWORD = "correct horse battery"
CODE_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")
AUDIT_COLUMNS = "actor_id, actor_role, clinic_id, action, patient_id, resource_type, resource_id, request_id"


@pytest.fixture(autouse=True)
def _frozen(clock):
    """Every token and timestamp in this module comes from the fake clock."""
    return clock


def create(api, clinician, headers=None, **body):
    payload = {"display_name": "Pat Example", "timezone": "Europe/Berlin", **body}
    return api.post("/patients", payload, token=clinician.token, headers=headers or {})


def enroll(api, code: str, email: str | None = None, password: str = PASSWORD):
    email = email or f"p-{uuid.uuid4().hex[:8]}@example.test"
    return api.post("/auth/enroll", {"enrollment_code": code, "email": email, "password": password})


def without_request_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "request_id"}


def audit_rows(world) -> list[tuple]:
    return world.rows(f"SELECT {AUDIT_COLUMNS} FROM audit_events")


def audit_count(world) -> int:
    return world.rows("SELECT count(*) FROM audit_events")[0][0]


def code_rows(world, patient_id: str) -> list:
    """The patient's enrollment_codes rows, typed (aware datetimes on both backends)."""
    with world.app.app_context():
        return [
            (r.code_hash, r.created_by_id, r.created_at, r.expires_at, r.used_at)
            for r in db.session.scalars(
                select(EnrollmentCode)
                .where(EnrollmentCode.patient_id == patient_id)
                .order_by(EnrollmentCode.created_at, EnrollmentCode.expires_at)
            )
        ]


def sha256(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").encode()).hexdigest()


# --- POST /patients --------------------------------------------------------------------


def test_create_patient_returns_201_with_a_fresh_code(api, world, clinician):
    resp = create(api, clinician, external_ref="MRN-0042")
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body == {
        "id": body["id"],
        "display_name": "Pat Example",
        "timezone": "Europe/Berlin",
        "external_ref": "MRN-0042",
        "enrolled": False,
        "enrolled_at": None,
        "created_at": NOW_ISO,
        "enrollment_code": body["enrollment_code"],
        "enrollment_expires_at": IN_14_DAYS_ISO,
    }
    assert CODE_SHAPE.match(body["enrollment_code"]), body["enrollment_code"]
    assert world.rows("SELECT role, clinic_id, email, password_hash FROM users WHERE id = :id", id=body["id"]) == [
        ("patient", clinician.clinic_id, None, None)
    ]
    assert world.rows(
        "SELECT clinic_id, display_name, external_ref, timezone, created_by_id, enrolled_at "
        "FROM patient_profiles WHERE user_id = :id",
        id=body["id"],
    ) == [(clinician.clinic_id, "Pat Example", "MRN-0042", "Europe/Berlin", clinician.id, None)]


def test_create_patient_without_external_ref(api, clinician):
    resp = create(api, clinician)
    assert resp.status_code == 201
    assert resp.json["external_ref"] is None
    resp = create(api, clinician, external_ref=None)
    assert resp.status_code == 201
    assert resp.json["external_ref"] is None


def test_expiry_is_fourteen_days_after_the_clock(api, clinician, clock):
    clock.set(dt.datetime(2026, 7, 4, 23, 59, 30, tzinfo=UTC))
    # The clinician's first access token has expired by now: log in again.
    token = _fresh_token(api, clinician)
    resp = api.post("/patients", {"display_name": "Later", "timezone": "Asia/Tokyo"}, token=token)
    assert resp.status_code == 201
    assert resp.json["enrollment_expires_at"] == "2026-07-18T23:59:30Z"
    assert resp.json["created_at"] == "2026-07-04T23:59:30Z"


def _fresh_token(api, account) -> str:
    resp = api.post("/auth/token", {"email": account.email, "password": PASSWORD})
    assert resp.status_code == 200
    return resp.json["access_token"]


def test_codes_differ_between_patients(api, clinician):
    codes = {create(api, clinician).json["enrollment_code"] for _ in range(5)}
    assert len(codes) == 5


def test_only_the_sha256_of_the_code_is_stored(api, world, clinician):
    body = create(api, clinician).json
    code = body["enrollment_code"]
    rows = code_rows(world, body["id"])
    assert rows == [(sha256(code), clinician.id, NOW, NOW + dt.timedelta(days=14), None)]
    raw = world.rows("SELECT * FROM enrollment_codes")
    assert len(raw) == 1
    for value in raw[0]:
        text_value = str(value).upper()
        assert code not in text_value
        assert code.replace("-", "") not in text_value


@pytest.mark.parametrize("zone", ["Mars/Olympus", "localtime", "posixrules", "", "berlin", None, 1])
def test_create_patient_bad_timezone_is_422(api, world, clinician, zone):
    expect_invalid(create(api, clinician, timezone=zone), "timezone")
    assert world.rows("SELECT count(*) FROM users WHERE role = 'patient'") == [(0,)]
    assert world.rows("SELECT count(*) FROM enrollment_codes") == [(0,)]
    assert audit_count(world) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": ""}, "display_name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"display_name": 42}, "display_name"),
        ({"external_ref": "r" * 101}, "external_ref"),
        ({"external_ref": 7}, "external_ref"),
        ({"enrolled": True}, "enrolled"),
        ({"id": "00000000-0000-0000-0000-000000000000"}, "id"),
        ({"clinic_id": "elsewhere"}, "clinic_id"),
    ],
)
def test_create_patient_invalid_body_is_422_and_writes_nothing(api, world, clinician, body, field):
    expect_invalid(create(api, clinician, **body), field)
    assert world.rows("SELECT count(*) FROM users WHERE role = 'patient'") == [(0,)]
    assert world.rows("SELECT count(*) FROM patient_profiles") == [(0,)]
    assert audit_count(world) == 0


@pytest.mark.parametrize("missing", ["display_name", "timezone"])
def test_create_patient_missing_field_is_422(api, clinician, missing):
    body = {"display_name": "Pat", "timezone": "Europe/Berlin"}
    del body[missing]
    expect_invalid(api.post("/patients", body, token=clinician.token), missing)


def test_create_patient_length_limits_are_inclusive(api, clinician):
    resp = create(api, clinician, display_name="x" * 200, external_ref="r" * 100)
    assert resp.status_code == 201
    assert resp.json["display_name"] == "x" * 200
    assert resp.json["external_ref"] == "r" * 100
    assert create(api, clinician, display_name="x").status_code == 201


def test_ops_and_patients_may_not_create_patients(api, world, clinic, clinician):
    ops = world.staff(clinic, role="ops")
    patient = world.patient(clinician)
    before = world.rows("SELECT count(*) FROM users WHERE role = 'patient'")
    audits = audit_count(world)
    expect_error(create(api, ops), 403, "forbidden")
    expect_error(create(api, patient), 403, "forbidden")
    expect_error(api.post("/patients", {"display_name": "P", "timezone": "UTC"}), 401, "missing_token")
    assert world.rows("SELECT count(*) FROM users WHERE role = 'patient'") == before
    assert audit_count(world) == audits


# --- enrolment with the code -----------------------------------------------------------


def test_code_enrols_once(api, world, clinician):
    created = create(api, clinician, timezone="America/Chicago").json
    email = f"first-{uuid.uuid4().hex[:6]}@example.test"
    first = enroll(api, created["enrollment_code"], email=email)
    assert first.status_code == 201, first.json
    assert first.json["token_type"] == "Bearer"

    me = api.get("/me", token=first.json["access_token"]).json
    assert (me["id"], me["email"], me["timezone"]) == (created["id"], email, "America/Chicago")
    assert code_rows(world, created["id"])[0][4] == NOW
    assert world.rows("SELECT enrolled_at IS NOT NULL FROM patient_profiles WHERE user_id = :id", id=created["id"])[0][
        0
    ] in (True, 1)

    second = enroll(api, created["enrollment_code"])
    expect_error(second, 401, "invalid_enrollment_code")
    # The first enrolment stands: the email did not change.
    assert world.rows("SELECT email FROM users WHERE id = :id", id=created["id"]) == [(email,)]

    got = api.get(f"/patients/{created['id']}", token=clinician.token).json
    assert (got["enrolled"], got["enrolled_at"]) == (True, NOW_ISO)


def test_code_expires_after_fourteen_days(api, clinician, clock):
    code = create(api, clinician).json["enrollment_code"]
    clock.advance(days=14, seconds=1)
    expect_error(enroll(api, code), 401, "invalid_enrollment_code")


def test_code_expires_at_exactly_fourteen_days(api, clinician, clock):
    code = create(api, clinician).json["enrollment_code"]
    clock.advance(days=14)
    expect_error(enroll(api, code), 401, "invalid_enrollment_code")


def test_code_still_works_just_before_expiry(api, clinician, clock):
    code = create(api, clinician).json["enrollment_code"]
    clock.advance(days=14, seconds=-1)
    assert enroll(api, code).status_code == 201


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda c: c.lower(), id="lower-case"),
        pytest.param(lambda c: c.replace("-", ""), id="no-dashes"),
        pytest.param(lambda c: c.replace("-", "").lower(), id="lower-no-dashes"),
        pytest.param(lambda c: " ".join(c.split("-")), id="spaces"),
        pytest.param(lambda c: c.replace("0", "O").replace("1", "l"), id="O-for-0-l-for-1"),
    ],
)
def test_code_is_accepted_as_typed_by_a_person(api, clinician, variant):
    code = create(api, clinician).json["enrollment_code"]
    assert enroll(api, variant(code)).status_code == 201


@pytest.mark.parametrize("code", ["", "AAAA-BBBB-CCCC-DDDD", "not a code", "x" * 64])
def test_unknown_code_is_401_or_422(api, clinician, code):
    create(api, clinician)
    resp = enroll(api, code)
    if code == "":
        expect_invalid(resp, "enrollment_code")
    else:
        expect_error(resp, 401, "invalid_enrollment_code")


def test_enrol_with_email_in_use_is_409_and_code_stays_usable(api, world, clinician):
    code = create(api, clinician).json["enrollment_code"]
    expect_error(enroll(api, code, email=clinician.email), 409, "email_taken")
    expect_error(enroll(api, code, email=clinician.email.upper()), 409, "email_taken")

    other = world.patient(clinician)
    expect_error(enroll(api, code, email=other.email), 409, "email_taken")

    # Nothing was half-written: the code was not consumed.
    assert enroll(api, code).status_code == 201


def test_enrol_password_shorter_than_ten_is_422(api, world, clinician):
    created = create(api, clinician).json
    expect_invalid(enroll(api, created["enrollment_code"], password="x" * 9), "password")
    assert code_rows(world, created["id"])[0][4] is None
    assert world.rows("SELECT email FROM users WHERE id = :id", id=created["id"]) == [(None,)]
    assert enroll(api, created["enrollment_code"], password="x" * 10).status_code == 201


# --- reissue ---------------------------------------------------------------------------


def test_reissue_replaces_the_old_code(api, world, clinician, clock):
    created = create(api, clinician).json
    old = created["enrollment_code"]
    clock.advance(hours=1)
    resp = api.post(f"/patients/{created['id']}/enrollment-code", token=_fresh_token(api, clinician))
    assert resp.status_code == 201, resp.json
    assert resp.json == {
        "id": created["id"],
        "display_name": "Pat Example",
        "timezone": "Europe/Berlin",
        "external_ref": None,
        "enrolled": False,
        "enrolled_at": None,
        "created_at": NOW_ISO,
        "enrollment_code": resp.json["enrollment_code"],
        "enrollment_expires_at": "2026-03-15T13:00:00Z",
    }
    new = resp.json["enrollment_code"]
    assert CODE_SHAPE.match(new)
    assert new != old

    later = NOW + dt.timedelta(hours=1)
    assert code_rows(world, created["id"]) == [
        (sha256(old), clinician.id, NOW, later, None),
        (sha256(new), clinician.id, later, later + dt.timedelta(days=14), None),
    ]
    expect_error(enroll(api, old), 401, "invalid_enrollment_code")
    assert enroll(api, new).status_code == 201


def test_reissue_after_enrolment_is_409(api, world, clinician):
    patient = world.patient(clinician)
    resp = api.post(f"/patients/{patient.id}/enrollment-code", token=clinician.token)
    expect_error(resp, 409, "already_enrolled")
    assert world.rows("SELECT count(*) FROM enrollment_codes WHERE patient_id = :id", id=patient.id) == [(1,)]


def test_reissue_for_unknown_or_foreign_patient_is_404(api, world, clinician):
    other_clinic = world.clinic("Elsewhere")
    foreign_clinician = world.staff(other_clinic)
    foreign = create(api, foreign_clinician).json
    audits = audit_count(world)

    unknown = str(uuid.uuid4())
    resp = api.post(f"/patients/{foreign['id']}/enrollment-code", token=clinician.token)
    missing = api.post(f"/patients/{unknown}/enrollment-code", token=clinician.token)
    expect_error(resp, 404, "not_found")
    assert without_request_id(resp.json) == without_request_id(missing.json)
    # Both attempts are audited, and nothing else is.
    assert audit_count(world) == audits + 2
    assert denials(world) == sorted(
        [
            denied(clinician, "patient", foreign["id"], f"/api/v1/patients/{foreign['id']}/enrollment-code"),
            denied(clinician, "patient", unknown, f"/api/v1/patients/{unknown}/enrollment-code"),
        ]
    )
    # The foreign patient's code was not touched.
    assert enroll(api, foreign["enrollment_code"]).status_code == 201


def test_ops_and_patients_may_not_reissue(api, world, clinic, clinician):
    ops = world.staff(clinic, role="ops")
    created = create(api, clinician).json
    patient = world.patient(clinician)
    expect_error(api.post(f"/patients/{created['id']}/enrollment-code", token=ops.token), 403, "forbidden")
    expect_error(api.post(f"/patients/{created['id']}/enrollment-code", token=patient.token), 403, "forbidden")
    assert enroll(api, created["enrollment_code"]).status_code == 201


# --- GET /patients/{id} ----------------------------------------------------------------


def test_get_patient_of_own_clinic(api, clinician):
    created = create(api, clinician, external_ref="X-1", timezone="Australia/Sydney").json
    resp = api.get(f"/patients/{created['id']}", token=clinician.token)
    assert resp.status_code == 200
    assert resp.json == {
        "id": created["id"],
        "display_name": "Pat Example",
        "timezone": "Australia/Sydney",
        "external_ref": "X-1",
        "enrolled": False,
        "enrolled_at": None,
        "created_at": NOW_ISO,
    }


def test_any_clinician_of_the_clinic_may_read(api, world, clinic, clinician):
    colleague = world.staff(clinic)
    created = create(api, clinician).json
    assert api.get(f"/patients/{created['id']}", token=colleague.token).status_code == 200


def test_foreign_patient_is_404_like_a_missing_one_and_both_attempts_are_audited(api, world, clinician):
    other_clinic = world.clinic("Elsewhere")
    foreign_clinician = world.staff(other_clinic)
    foreign = world.patient(foreign_clinician)
    audits = audit_count(world)
    unknown = str(uuid.uuid4())

    resp = api.get(f"/patients/{foreign.id}", token=clinician.token)
    missing = api.get(f"/patients/{unknown}", token=clinician.token)
    expect_error(resp, 404, "not_found")
    expect_error(missing, 404, "not_found")
    assert without_request_id(resp.json) == without_request_id(missing.json)
    assert audit_count(world) == audits + 2
    assert denials(world) == sorted(
        [
            denied(clinician, "patient", foreign.id, f"/api/v1/patients/{foreign.id}"),
            denied(clinician, "patient", unknown, f"/api/v1/patients/{unknown}"),
        ]
    )

    # Their own clinic sees them.
    assert api.get(f"/patients/{foreign.id}", token=foreign_clinician.token).status_code == 200


def test_staff_and_patient_ids_are_not_patients(api, world, clinic, clinician):
    ops = world.staff(clinic, role="ops")
    expect_error(api.get(f"/patients/{ops.id}", token=clinician.token), 404, "not_found")
    expect_error(api.get(f"/patients/{clinician.id}", token=clinician.token), 404, "not_found")
    assert audit_count(world) == 2
    assert denials(world) == sorted(
        [
            denied(clinician, "patient", ops.id, f"/api/v1/patients/{ops.id}"),
            denied(clinician, "patient", clinician.id, f"/api/v1/patients/{clinician.id}"),
        ]
    )


def test_ops_and_patients_may_not_read_a_patient(api, world, clinic, clinician):
    ops = world.staff(clinic, role="ops")
    patient = world.patient(clinician)
    audits = audit_count(world)
    expect_error(api.get(f"/patients/{patient.id}", token=ops.token), 403, "forbidden")
    expect_error(api.get(f"/patients/{patient.id}", token=patient.token), 403, "forbidden")
    expect_error(api.get(f"/patients/{patient.id}"), 401, "missing_token")
    assert audit_count(world) == audits


# --- audit -----------------------------------------------------------------------------


def test_create_read_and_reissue_are_each_audited_once(api, world, clinician):
    resp = create(api, clinician, headers={"X-Request-ID": "req-create-1"})
    assert resp.status_code == 201
    assert resp.headers["X-Request-ID"] == "req-create-1"
    patient_id = resp.json["id"]
    expected = [
        (
            clinician.id,
            "clinician",
            clinician.clinic_id,
            "patient.create",
            patient_id,
            "patient",
            patient_id,
            "req-create-1",
        )
    ]
    assert audit_rows(world) == expected

    resp = api.get(f"/patients/{patient_id}", token=clinician.token, headers={"X-Request-ID": "req-read-1"})
    assert resp.status_code == 200
    assert resp.headers["X-Request-ID"] == "req-read-1"
    expected.append(
        (
            clinician.id,
            "clinician",
            clinician.clinic_id,
            "patient.read",
            patient_id,
            "patient",
            patient_id,
            "req-read-1",
        )
    )
    assert sorted(audit_rows(world)) == sorted(expected)

    resp = api.post(
        f"/patients/{patient_id}/enrollment-code", token=clinician.token, headers={"X-Request-ID": "req-code-1"}
    )
    assert resp.status_code == 201
    assert resp.headers["X-Request-ID"] == "req-code-1"
    expected.append(
        (
            clinician.id,
            "clinician",
            clinician.clinic_id,
            "patient.enrollment_code",
            patient_id,
            "patient",
            patient_id,
            "req-code-1",
        )
    )
    assert sorted(audit_rows(world)) == sorted(expected)


def test_every_read_is_audited(api, world, clinician):
    patient_id = create(api, clinician).json["id"]
    for n in range(3):
        resp = api.get(f"/patients/{patient_id}", token=clinician.token, headers={"X-Request-ID": f"read-{n}"})
        assert resp.status_code == 200
    assert sorted(world.rows("SELECT request_id FROM audit_events WHERE action = 'patient.read'")) == [
        ("read-0",),
        ("read-1",),
        ("read-2",),
    ]


def test_audit_row_time_comes_from_the_clock(api, world, clinician, clock):
    clock.advance(minutes=5)
    token = _fresh_token(api, clinician)
    patient_id = api.post("/patients", {"display_name": "A", "timezone": "UTC"}, token=token).json["id"]
    with world.app.app_context():
        ats = list(db.session.scalars(select(AuditEvent.at).where(AuditEvent.patient_id == patient_id)))
    assert ats == [NOW + dt.timedelta(minutes=5)]


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 65, "<script>"])
def test_generated_request_id_is_returned_and_stored(api, world, clinician, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    resp = create(api, clinician, headers=headers)
    assert resp.status_code == 201
    request_id = resp.headers["X-Request-ID"]
    assert request_id
    assert request_id != sent
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert world.rows("SELECT request_id FROM audit_events") == [(request_id,)]


def test_refused_writes_leave_no_audit_row(api, world, clinician):
    expect_invalid(create(api, clinician, timezone="Mars/Olympus"), "timezone")
    expect_invalid(create(api, clinician, display_name=""), "display_name")
    assert audit_count(world) == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'patient.tampered'",
        "UPDATE audit_events SET request_id = NULL WHERE action = 'patient.create'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE action = 'patient.create'",
    ],
)
def test_audit_rows_cannot_be_changed_with_raw_sql(api, world, clinician, statement):
    resp = create(api, clinician, headers={"X-Request-ID": "kept"})
    assert resp.status_code == 201
    before = audit_rows(world)
    assert len(before) == 1

    with world.app.app_context():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()

    assert audit_rows(world) == before


def test_audit_rows_cannot_be_changed_through_the_orm(api, world, clinician):
    assert create(api, clinician).status_code == 201
    before = audit_rows(world)
    with world.app.app_context():
        event = db.session.scalars(select(AuditEvent)).one()
        event.action = "patient.tampered"
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
        event = db.session.scalars(select(AuditEvent)).one()
        db.session.delete(event)
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.flush()
        db.session.rollback()
    assert audit_rows(world) == before


# --- text that cannot be stored, and time zones that drift ----------------------------

LONE_SURROGATE = "\ud83e"  # JSON can carry it; UTF-8 cannot encode it, so no database can store it


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": f"Pat {LONE_SURROGATE}"}, "display_name"),
        ({"display_name": "Pat\u0000"}, "display_name"),
        ({"external_ref": f"MRN-{LONE_SURROGATE}"}, "external_ref"),
        ({"external_ref": "MRN\u00001"}, "external_ref"),
        ({"timezone": f"Europe/Berlin{LONE_SURROGATE}"}, "timezone"),
    ],
)
def test_create_patient_with_text_that_cannot_be_stored_is_422(api, world, clinician, body, field):
    expect_invalid(create(api, clinician, **body), field)
    assert world.rows("SELECT count(*) FROM patient_profiles") == [(0,)]
    assert audit_count(world) == 0


# Legacy and fixed-offset names resolve, but to the wrong rules for a person: EST never
# observes daylight saving time, so a patient in New York set to it gets pushes an hour off
# all summer; the others are aliases or offsets, not places.
@pytest.mark.parametrize(
    "zone", ["EST", "GMT+5", "Etc/GMT+5", "US/Eastern", "EST5EDT", "CET", "GMT", "Etc/UTC", "Asia/Calcutta", "Zulu"]
)
def test_a_legacy_or_fixed_offset_zone_is_refused_by_name(api, world, clinician, zone):
    body = expect_invalid(create(api, clinician, timezone=zone), "timezone")
    assert "canonical IANA time zone of a place" in body["errors"]["timezone"][0]
    assert world.rows("SELECT count(*) FROM patient_profiles") == [(0,)]


@pytest.mark.parametrize(
    "zone", ["UTC", "America/New_York", "Asia/Kolkata", "Europe/Amsterdam", "America/Argentina/Buenos_Aires"]
)
def test_a_place_zone_or_utc_is_accepted(api, clinician, zone):
    resp = create(api, clinician, timezone=zone)
    assert resp.status_code == 201, resp.json
    assert resp.json["timezone"] == zone


def test_enrolment_email_is_trimmed_and_lower_cased(api, world, clinician):
    created = create(api, clinician).json
    resp = enroll(api, created["enrollment_code"], email="  New.Patient@Clinic.EXAMPLE ")

    assert resp.status_code == 201, resp.json
    assert world.rows("SELECT email FROM users WHERE id = :id", id=created["id"]) == [("new.patient@clinic.example",)]
    assert api.post("/auth/token", {"email": "new.patient@clinic.example", "password": PASSWORD}).status_code == 200
