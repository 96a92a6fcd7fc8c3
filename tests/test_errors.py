"""One JSON error envelope for every failure, request ids, and nothing half-written."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from diary.extensions import db
from diary.models import Clinic

GENERATED_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ENTRY_TABLES = ("entries", "entry_side_effects", "entry_versions")


def assert_envelope(resp, status: int, code: str) -> dict:
    """The one error shape: {status, code, message, request_id}, JSON, never HTML."""
    text = resp.get_data(as_text=True)
    assert resp.status_code == status, text
    assert resp.mimetype == "application/json", text
    body = resp.json
    assert isinstance(body, dict), text
    assert {"status", "code", "message", "request_id"} <= set(body), body
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["request_id"] == resp.headers["X-Request-ID"]
    assert "<html" not in text.lower()
    assert "Traceback" not in text
    return body


def token_body(size: int) -> bytes:
    """A well-formed login body of exactly `size` bytes (padding in the password)."""
    base = {"email": "nobody@example.test", "password": ""}
    padding = size - len(json.dumps(base).encode())
    assert padding > 0
    raw = json.dumps({**base, "password": "p" * padding}).encode()
    assert len(raw) == size
    return raw


def entry_body(**overrides) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "recorded_at": "2026-03-01T08:30:00+01:00",
        "mood": 6,
        "anxiety": 3,
        "side_effects": ["nausea"],
        **overrides,
    }


def count_rows(world, table: str) -> int:
    return world.rows(f"SELECT COUNT(*) FROM {table}")[0][0]


@pytest.fixture
def patient(world, clock):
    return world.patient(world.staff(world.clinic()))


# --- 404 / 405 -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/me/entries/x/y/z"])
def test_unknown_url_is_json_404(api, path):
    body = assert_envelope(api.get(path), 404, "not_found")
    assert "errors" not in body


def test_wrong_method_is_json_405_with_allow_header(api):
    resp = api.put("/api/v1/me/entries", {"mood": 1})
    assert_envelope(resp, 405, "method_not_allowed")
    allowed = {m.strip() for m in resp.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


def test_wrong_method_on_ops_route_is_json_405(api):
    resp = api.post("/healthz")
    assert_envelope(resp, 405, "method_not_allowed")
    assert "GET" in resp.headers["Allow"]


# --- 413 -----------------------------------------------------------------------------------


def test_body_over_configured_limit_is_json_413(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    resp = client.post("/api/v1/auth/token", data=token_body(1001), content_type="application/json")
    assert_envelope(resp, 413, "payload_too_large")


def test_body_at_configured_limit_is_read(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    resp = client.post("/api/v1/auth/token", data=token_body(1000), content_type="application/json")
    # Read and judged: an unknown account, not a size problem.
    assert_envelope(resp, 401, "bad_credentials")


def test_default_limit_is_one_mebibyte(api):
    resp = api.client.post("/api/v1/auth/token", data=token_body(1024 * 1024 + 1), content_type="application/json")
    assert_envelope(resp, 413, "payload_too_large")
    at_limit = api.client.post("/api/v1/auth/token", data=token_body(1024 * 1024), content_type="application/json")
    assert at_limit.status_code != 413
    assert_envelope(at_limit, 422, "validation_failed")  # the password is longer than allowed


def test_limit_holds_where_the_view_never_reads_the_body(make_app, world):
    app = make_app(MAX_CONTENT_LENGTH=1000)
    patient = world.patient(world.staff(world.clinic()))
    client = app.test_client()
    resp = client.post(
        "/api/v1/auth/logout",
        data=b"x" * 1001,
        content_type="application/octet-stream",
        headers={"Authorization": f"Bearer {patient.token}"},
    )
    assert_envelope(resp, 413, "payload_too_large")
    # Refused before anything happened: the session was not logged out.
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {patient.token}"}).status_code == 200


# --- 400 / 422 -----------------------------------------------------------------------------


def test_invalid_json_is_400_bad_request(api):
    resp = api.client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    body = assert_envelope(resp, 400, "bad_request")
    assert "errors" not in body


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_json_nested_too_deeply_is_400_not_a_crash(api, body):
    resp = api.client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert_envelope(resp, 400, "bad_request")


def test_invalid_utf8_is_400(api):
    resp = api.client.post("/api/v1/auth/token", data=b'{"email": "\xff"}', content_type="application/json")
    assert_envelope(resp, 400, "bad_request")


def test_invalid_json_on_protected_route_after_auth(api, patient):
    resp = api.client.post(
        "/api/v1/me/entries",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {patient.token}"},
    )
    assert_envelope(resp, 400, "bad_request")


@pytest.mark.parametrize("payload", [[1, 2], [], "a string", 42])
def test_non_object_body_is_422(api, payload):
    body = assert_envelope(api.post("/auth/token", payload), 422, "validation_failed")
    assert list(body["errors"]) == ["body"]


def test_422_names_each_offending_field(api):
    body = assert_envelope(api.post("/auth/token", {"email": "not-an-email"}), 422, "validation_failed")
    assert sorted(body["errors"]) == ["email", "password"]
    assert all(isinstance(m, list) and m for m in body["errors"].values())


def test_422_on_entry_names_the_field(api, patient):
    resp = api.post("/me/entries", entry_body(mood=11), token=patient.token)
    body = assert_envelope(resp, 422, "validation_failed")
    assert list(body["errors"]) == ["mood"]


def test_unknown_field_is_named(api, patient):
    resp = api.post("/me/entries", entry_body(colour="blue"), token=patient.token)
    body = assert_envelope(resp, 422, "validation_failed")
    assert list(body["errors"]) == ["colour"]


# --- 500 -----------------------------------------------------------------------------------


@pytest.fixture
def crashing_app(app):
    """The app with test-only routes that crash, one of them after writing a row."""

    def boom():
        raise RuntimeError("secret internals")

    def write_then_boom():
        db.session.add(Clinic(name="Half Written Clinic"))
        db.session.flush()
        raise RuntimeError("secret internals")

    app.add_url_rule("/test-only/boom", "test_only_boom", boom)
    app.add_url_rule("/test-only/write-then-boom", "test_only_write_then_boom", write_then_boom, methods=["POST"])
    # Testing mode re-raises crashes into the test; production hands them to the handlers.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_crash_is_generic_json_500(crashing_app):
    resp = crashing_app.test_client().get("/test-only/boom", headers={"X-Request-ID": "crash-1"})
    body = assert_envelope(resp, 500, "internal_error")
    text = resp.get_data(as_text=True)
    assert "secret internals" not in text
    assert "RuntimeError" not in text
    assert "errors" not in body
    assert body["request_id"] == "crash-1"


def test_crash_after_a_write_leaves_nothing_behind(crashing_app, world):
    client = crashing_app.test_client()
    assert_envelope(client.post("/test-only/write-then-boom"), 500, "internal_error")
    assert world.rows("SELECT COUNT(*) FROM clinics WHERE name = 'Half Written Clinic'") == [(0,)]
    # The session is usable again for the next request.
    assert client.get("/readyz").json["checks"]["database"] == "ok"
    world.clinic("After The Crash")
    assert world.rows("SELECT name FROM clinics") == [("After The Crash",)]


# --- request ids ---------------------------------------------------------------------------


def test_sane_request_id_is_echoed(api):
    resp = api.get("/healthz", headers={"X-Request-ID": "req-123.abc_XYZ"})
    assert resp.status_code == 200
    assert resp.headers["X-Request-ID"] == "req-123.abc_XYZ"


def test_sane_request_id_appears_in_error_body(api):
    resp = api.get("/api/v1/nope", headers={"X-Request-ID": "trace-42"})
    body = assert_envelope(resp, 404, "not_found")
    assert body["request_id"] == "trace-42"


def test_request_id_of_64_chars_is_kept(api):
    incoming = "a" * 64
    assert api.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["has spaces", "a" * 65, "a" * 200, "semi;colon", "<script>", "new\\nline", "ümlaut"],
)
def test_unsafe_request_id_is_replaced(api, incoming):
    resp = api.get("/api/v1/nope", headers={"X-Request-ID": incoming})
    body = assert_envelope(resp, 404, "not_found")
    generated = resp.headers["X-Request-ID"]
    assert generated != incoming
    assert GENERATED_ID.match(generated)
    assert body["request_id"] == generated


def test_missing_request_id_gets_a_fresh_one_per_request(api):
    first = api.get("/api/v1/nope").json["request_id"]
    second = api.get("/api/v1/nope").json["request_id"]
    assert GENERATED_ID.match(first)
    assert GENERATED_ID.match(second)
    assert first != second


# --- nothing half-written ------------------------------------------------------------------


def _entry_rows(world) -> dict[str, int]:
    return {table: count_rows(world, table) for table in ENTRY_TABLES}


NOTHING = dict.fromkeys(ENTRY_TABLES, 0)


def test_entry_failing_validation_writes_nothing(api, world, patient):
    resp = api.post("/me/entries", entry_body(mood=11, side_effects=["nausea", "dizziness"]), token=patient.token)
    assert_envelope(resp, 422, "validation_failed")
    assert _entry_rows(world) == NOTHING


def test_entry_in_the_future_writes_nothing(api, world, patient, clock):
    resp = api.post("/me/entries", entry_body(recorded_at="2026-03-01T12:06:00Z"), token=patient.token)
    body = assert_envelope(resp, 422, "validation_failed")
    assert list(body["errors"]) == ["recorded_at"]
    assert _entry_rows(world) == NOTHING


def test_entry_answering_an_unknown_checkin_writes_nothing(api, world, patient):
    resp = api.post("/me/entries", entry_body(checkin_id=str(uuid.uuid4())), token=patient.token)
    assert_envelope(resp, 404, "not_found")
    assert _entry_rows(world) == NOTHING


def test_conflicting_replay_changes_nothing(api, world, patient):
    first = entry_body()
    assert api.post("/me/entries", first, token=patient.token).status_code == 201
    before = _entry_rows(world)
    resp = api.post("/me/entries", {**first, "mood": 1, "side_effects": ["headache"]}, token=patient.token)
    assert_envelope(resp, 409, "id_conflict")
    assert _entry_rows(world) == before == {"entries": 1, "entry_side_effects": 1, "entry_versions": 0}
    assert world.rows("SELECT mood FROM entries") == [(6,)]
