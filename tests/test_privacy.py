"""Privacy and hardening: no PHI in logs, security headers, CORS closed by default, erasure."""

from __future__ import annotations

import json
import logging
import uuid

from tests.conftest import PASSWORD

NOTE = "zebra-orchid-7731 felt like the walls were breathing"
EMAIL = "distinctive.person.4417@example.test"


def _everything_logged(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(json.dumps({k: str(v) for k, v in vars(record).items()}))
    return "\n".join(parts)


def test_logs_carry_no_phi(app, api, world, clinician, caplog):
    from diary.worker import Worker

    caplog.set_level(logging.DEBUG)
    code = world.invite(clinician, name="Quentin Uniquename")["enrollment_code"]
    tokens = api.post("/auth/enroll", {"enrollment_code": code, "email": EMAIL, "password": PASSWORD}).json
    assert (
        api.post(
            "/me/devices", {"token": "device-token-abc123", "platform": "ios"}, token=tokens["access_token"]
        ).status_code
        == 201
    )
    entry = {
        "id": str(uuid.uuid4()),
        "recorded_at": "2026-03-01T11:00:00Z",
        "mood": 2,
        "anxiety": 9,
        "self_harm_thoughts": 2,
        "note": NOTE,
    }
    assert api.post("/me/entries", entry, token=tokens["access_token"]).status_code == 201
    conflict = {**entry, "note": NOTE + " (edited)"}
    assert api.post("/me/entries", conflict, token=tokens["access_token"]).status_code == 409
    assert api.post("/auth/token", {"email": EMAIL, "password": "wrong password"}).status_code == 401
    assert api.get("/me/export", token=tokens["access_token"]).status_code == 200
    Worker(app, worker_id="w-privacy").tick()

    logged = _everything_logged(caplog)
    assert caplog.records, "the scenario should have produced log records"
    assert NOTE not in logged
    assert "zebra-orchid" not in logged
    assert EMAIL not in logged
    assert "Quentin" not in logged


def test_api_responses_carry_security_headers(api):
    resp = api.get("/me")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in resp.headers  # plain http in tests
    secure = api.get("/healthz", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_a_header_the_view_set_is_kept_and_each_default_added_once(make_app):
    app = make_app()

    @app.get("/api/v1/test-only/own-headers")
    def own_headers():
        return {"ok": True}, 200, {"cache-control": "private, max-age=60", "X-Frame-Options": "SAMEORIGIN"}

    resp = app.test_client().get("/api/v1/test-only/own-headers")
    assert resp.headers.getlist("Cache-Control") == ["private, max-age=60"]
    assert resp.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    for name in ("X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy", "X-Request-ID"):
        assert len(resp.headers.getlist(name)) == 1, name


def test_docs_page_may_run_its_local_scripts(api):
    resp = api.get("/api/v1/docs")
    assert resp.status_code == 200
    assert "script-src 'self' 'unsafe-inline'" in resp.headers["Content-Security-Policy"]
    assert "Cache-Control" not in resp.headers or resp.headers["Cache-Control"] != "no-store"


def test_cors_is_closed_by_default(api):
    resp = api.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    preflight = api.call(
        "OPTIONS",
        "/api/v1/me/entries",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_allows_only_configured_origins(make_app):
    client = make_app(CORS_ORIGINS=["https://dashboard.clinic.example"]).test_client()
    allowed = client.options(
        "/api/v1/patients",
        headers={
            "Origin": "https://dashboard.clinic.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://dashboard.clinic.example"
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    other = client.get("/api/v1/openapi.json", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_erase_patient_leaves_ids_only(app, api, world, clinician):
    patient = world.patient(clinician)
    api.post("/me/devices", {"token": "erase-me-device", "platform": "android"}, token=patient.token)
    api.post(
        "/me/entries",
        {
            "id": str(uuid.uuid4()),
            "recorded_at": "2026-03-01T11:00:00Z",
            "mood": 3,
            "anxiety": 5,
            "self_harm_thoughts": 1,
            "note": NOTE,
            "side_effects": ["nausea"],
        },
        token=patient.token,
    )
    api.post(
        "/me/assessments",
        {"id": str(uuid.uuid4()), "instrument": "gad7", "answers": [1] * 7, "recorded_at": "2026-03-01T11:00:00Z"},
        token=patient.token,
    )
    api.post(
        f"/patients/{patient.id}/sessions", {"started_at": "2026-03-01T08:00:00Z", "route": "iv"}, token=clinician.token
    )
    api.get(f"/patients/{patient.id}", token=clinician.token)

    result = app.test_cli_runner().invoke(args=["diary", "erase-patient", "--patient-id", patient.id, "--yes"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert rows["entries"] == 1
    assert rows["assessments"] == 1
    assert rows["devices"] == 1
    assert rows["alerts"] == 1
    for table, column in (
        ("entries", "patient_id"),
        ("assessments", "patient_id"),
        ("checkins", "patient_id"),
        ("treatment_sessions", "patient_id"),
        ("alerts", "patient_id"),
        ("devices", "user_id"),
        ("patient_profiles", "user_id"),
        ("auth_sessions", "user_id"),
    ):
        assert world.rows(f"SELECT count(*) FROM {table} WHERE {column} = :p", p=patient.id) == [(0,)], table
    assert world.rows("SELECT email, password_hash, is_active FROM users WHERE id = :p", p=patient.id) == [
        (None, None, False)
    ]
    actions = [
        r[0] for r in world.rows("SELECT action FROM audit_events WHERE patient_id = :p ORDER BY at", p=patient.id)
    ]
    assert "patient.read" in actions
    assert actions[-1] == "patient.erase"
    dump = json.dumps(world.rows("SELECT * FROM audit_events"), default=str)
    assert NOTE not in dump
    assert patient.email not in dump
    # The erased patient can no longer log in or use a token.
    assert api.post("/auth/token", {"email": patient.email, "password": PASSWORD}).status_code == 401
    assert api.get("/me", token=patient.token).status_code == 401


def test_erase_needs_confirmation_and_a_patient(app, world, clinician):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["diary", "erase-patient", "--patient-id", clinician.id]).exit_code != 0
    refused = runner.invoke(args=["diary", "erase-patient", "--patient-id", clinician.id, "--yes"])
    assert refused.exit_code != 0
    assert "patient not found" in refused.output
