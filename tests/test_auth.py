"""POST /auth/token, /auth/refresh, /auth/enroll, /auth/logout; bearer checks; rate limits."""

from __future__ import annotations

import hashlib

import jwt
import pytest

from tests.conftest import PASSWORD


def test_login_returns_a_bearer_pair(api, world, clinician, clock):
    resp = api.post("/auth/token", {"email": clinician.email, "password": PASSWORD})

    assert resp.status_code == 200
    body = resp.json
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == clinician.id
    assert claims["role"] == "clinician"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["iat"] == int(clock.now.timestamp())


def test_login_email_is_case_insensitive(api, clinician):
    resp = api.post("/auth/token", {"email": clinician.email.upper(), "password": PASSWORD})
    assert resp.status_code == 200


def test_unknown_email_and_wrong_password_answer_identically(api, clinician):
    wrong = api.post("/auth/token", {"email": clinician.email, "password": "not the password"})
    unknown = api.post("/auth/token", {"email": "nobody@example.test", "password": "not the password"})

    assert wrong.status_code == unknown.status_code == 401
    strip = lambda body: {k: v for k, v in body.items() if k != "request_id"}  # noqa: E731
    assert (
        strip(wrong.json)
        == strip(unknown.json)
        == {
            "status": 401,
            "code": "bad_credentials",
            "message": "invalid email or password",
        }
    )


def test_login_validation_names_the_fields(api):
    resp = api.post("/auth/token", {"email": "not-an-email"})
    assert resp.status_code == 422
    assert set(resp.json["errors"]) == {"email", "password"}


def test_password_is_stored_as_argon2id_and_rehashed_when_parameters_change(make_app, world, clinician):
    (before,) = world.rows("SELECT password_hash FROM users WHERE id = :id", id=clinician.id)[0]
    assert before.startswith("$argon2id$v=19$m=1024,t=1,p=1$")

    stronger = make_app(ARGON2_TIME_COST=2, ARGON2_MEMORY_KIB=2048)
    resp = stronger.test_client().post("/api/v1/auth/token", json={"email": clinician.email, "password": PASSWORD})

    assert resp.status_code == 200
    (after,) = world.rows("SELECT password_hash FROM users WHERE id = :id", id=clinician.id)[0]
    assert after.startswith("$argon2id$v=19$m=2048,t=2,p=1$")


def test_inactive_user_cannot_log_in_or_use_tokens(api, world, clinician):
    with world.app.app_context():
        from diary.extensions import db
        from diary.models import User

        db.session.get(User, clinician.id).is_active = False
        db.session.commit()

    assert api.post("/auth/token", {"email": clinician.email, "password": PASSWORD}).status_code == 401
    assert api.get(f"/patients/{clinician.id}", token=clinician.token).status_code == 401
    assert api.post("/auth/refresh", {"refresh_token": clinician.refresh_token}).status_code == 401


def test_refresh_rotates_and_the_old_token_stops_working(api, world, clinician):
    first = api.post("/auth/refresh", {"refresh_token": clinician.refresh_token})
    assert first.status_code == 200
    assert first.json["refresh_token"] != clinician.refresh_token

    second = api.post("/auth/refresh", {"refresh_token": first.json["refresh_token"]})
    assert second.status_code == 200
    assert (
        api.post("/patients", {"display_name": "A", "timezone": "UTC"}, token=second.json["access_token"]).status_code
        == 201
    )


def test_refresh_token_reuse_revokes_the_whole_family(api, world, clinician):
    rotated = api.post("/auth/refresh", {"refresh_token": clinician.refresh_token}).json

    replay = api.post("/auth/refresh", {"refresh_token": clinician.refresh_token})

    assert replay.status_code == 401
    assert replay.json["code"] == "token_reused"
    # The legitimate holder's newer tokens die with the family (RFC 9700 §4.14.2).
    assert api.post("/auth/refresh", {"refresh_token": rotated["refresh_token"]}).status_code == 401
    assert api.get(f"/patients/{clinician.id}", token=rotated["access_token"]).status_code == 401
    assert world.rows("SELECT revoked_reason FROM auth_sessions WHERE user_id = :u", u=clinician.id) == [("reuse",)]


def test_refresh_tokens_are_stored_hashed(world, clinician):
    stored = {r[0] for r in world.rows("SELECT token_hash FROM refresh_tokens")}
    assert clinician.refresh_token not in stored
    assert hashlib.sha256(clinician.refresh_token.encode()).hexdigest() in stored


def test_refresh_with_garbage_or_expired_token(api, clinician, clock):
    assert api.post("/auth/refresh", {"refresh_token": "garbage"}).status_code == 401
    clock.advance(days=30, seconds=1)
    resp = api.post("/auth/refresh", {"refresh_token": clinician.refresh_token})
    assert resp.status_code == 401
    assert resp.json["code"] == "invalid_token"


def test_logout_revokes_refresh_and_access_tokens(api, clinician):
    resp = api.post("/auth/logout", token=clinician.token)

    assert resp.status_code == 204
    assert resp.data == b""
    assert api.post("/auth/refresh", {"refresh_token": clinician.refresh_token}).status_code == 401
    assert api.post("/auth/logout", token=clinician.token).status_code == 401


def test_logout_leaves_other_logins_alone(api, world, clinician):
    other = world.login(clinician.email)
    assert api.post("/auth/logout", token=clinician.token).status_code == 204
    assert api.post("/auth/refresh", {"refresh_token": other["refresh_token"]}).status_code == 200


def test_access_token_expires_after_fifteen_minutes(api, clinician, clock):
    clock.advance(minutes=14, seconds=59)
    assert api.get(f"/patients/{clinician.id}", token=clinician.token).status_code == 404  # accepted, no such patient
    clock.advance(seconds=1)
    resp = api.get(f"/patients/{clinician.id}", token=clinician.token)
    assert resp.status_code == 401
    assert resp.json["code"] == "token_expired"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
    ],
)
def test_missing_or_malformed_bearer_is_401(api, header):
    headers = {"Authorization": header} if header is not None else {}
    resp = api.get("/me", headers=headers)
    assert resp.status_code == 401
    assert resp.json["status"] == 401


def test_tampered_and_foreign_tokens_are_401(api, world, clinician):
    claims = jwt.decode(clinician.token, options={"verify_signature": False})
    forged_role = jwt.encode(
        {**claims, "role": "admin"}, "some other key that is long enough to sign with", algorithm="HS256"
    )
    unsigned = jwt.encode(claims, None, algorithm="none")
    head, payload, sig = clinician.token.split(".")
    flipped = f"{head}.{payload}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"

    for token in (forged_role, unsigned, flipped):
        assert api.get(f"/patients/{clinician.id}", token=token).status_code == 401


def test_wrong_role_is_403(api, world, clinician, clinic):
    patient = world.patient(clinician)
    ops = world.staff(clinic, role="ops")

    assert api.post("/patients", {"display_name": "X", "timezone": "UTC"}, token=patient.token).status_code == 403
    assert api.post("/patients", {"display_name": "X", "timezone": "UTC"}, token=ops.token).status_code == 403
    assert api.get("/me", token=clinician.token).status_code == 403


def test_enrolment_issues_tokens_for_the_patient(api, world, clinician):
    invited = world.invite(clinician, timezone="America/New_York")
    resp = api.post(
        "/auth/enroll",
        {"enrollment_code": invited["enrollment_code"], "email": "New.Patient@Example.test", "password": PASSWORD},
    )

    assert resp.status_code == 201
    me = api.get("/me", token=resp.json["access_token"])
    assert me.status_code == 200
    assert me.json["id"] == invited["id"]
    assert me.json["email"] == "new.patient@example.test"
    assert me.json["timezone"] == "America/New_York"


def test_enrolment_code_works_once(api, world, clinician):
    code = world.invite(clinician)["enrollment_code"]
    first = api.post("/auth/enroll", {"enrollment_code": code, "email": "a@example.test", "password": PASSWORD})
    again = api.post("/auth/enroll", {"enrollment_code": code, "email": "b@example.test", "password": PASSWORD})

    assert first.status_code == 201
    assert again.status_code == 401
    assert again.json["code"] == "invalid_enrollment_code"
    assert world.rows("SELECT count(*) FROM users WHERE email = 'b@example.test'") == [(0,)]


def test_auth_rate_limit_answers_429(make_app):
    limited = make_app(AUTH_RATE_LIMIT="3 per minute").test_client()
    body = {"email": "nobody@example.test", "password": "whatever-password"}

    statuses = [limited.post("/api/v1/auth/token", json=body).status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]
    resp = limited.post("/api/v1/auth/token", json=body)
    assert resp.json["code"] == "rate_limited"
    # A moving window of one minute: the oldest of the three hits leaves it within 60 s.
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    enroll = {"enrollment_code": "AAAA-BBBB-CCCC-DDDD", "email": "x@example.test", "password": "whatever-password"}
    enroll_statuses = [limited.post("/api/v1/auth/enroll", json=enroll).status_code for _ in range(4)]
    assert enroll_statuses == [401, 401, 401, 429]


def test_every_limit_of_several_holds(make_app):
    limited = make_app(AUTH_RATE_LIMIT="5 per minute; 2 per hour").test_client()
    body = {"email": "nobody@example.test", "password": "whatever-password"}

    statuses = [limited.post("/api/v1/auth/token", json=body).status_code for _ in range(3)]

    assert statuses == [401, 401, 429]
    assert 3540 <= int(limited.post("/api/v1/auth/token", json=body).headers["Retry-After"]) <= 3600


def test_rate_limit_storage_down_lets_logins_through(make_app, caplog):
    """Fail open: with the counter store unreachable, a patient can still log in (and reach
    the crisis resources); the outage is logged, not answered as a 500."""
    limited = make_app(AUTH_RATE_LIMIT="1 per minute", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0").test_client()
    body = {"email": "nobody@example.test", "password": "whatever-password"}

    statuses = [limited.post("/api/v1/auth/token", json=body).status_code for _ in range(3)]

    assert statuses == [401, 401, 401]
    assert [r.getMessage() for r in caplog.records if r.name == "diary.ratelimit"] == [
        "rate-limit storage unavailable, request not limited: ConnectionError"
    ] * 3


def test_rate_limit_is_per_client_address(make_app):
    limited = make_app(AUTH_RATE_LIMIT="2 per minute").test_client()
    body = {"email": "nobody@example.test", "password": "whatever-password"}
    for _ in range(2):
        limited.post("/api/v1/auth/token", json=body, environ_base={"REMOTE_ADDR": "10.9.9.1"})

    blocked = limited.post("/api/v1/auth/token", json=body, environ_base={"REMOTE_ADDR": "10.9.9.1"})
    other = limited.post("/api/v1/auth/token", json=body, environ_base={"REMOTE_ADDR": "10.9.9.2"})

    assert (blocked.status_code, other.status_code) == (429, 401)


def test_refresh_is_not_rate_limited_by_the_auth_limit(make_app, world, clinician):
    limited = make_app(AUTH_RATE_LIMIT="1 per minute").test_client()
    token = clinician.refresh_token
    for _ in range(3):
        resp = limited.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert resp.status_code == 200
        token = resp.json["refresh_token"]


def test_hs256_vets_each_secret_once_and_still_refuses_an_asymmetric_key():
    import jwt as pyjwt

    from diary.domain.tokens import _HS256

    hs256 = _HS256()
    secret = "s" * 48
    assert hs256.prepare_key(secret) == secret.encode()
    assert hs256.prepare_key(secret) is hs256.prepare_key(secret)
    pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
    for _ in range(2):  # refused every time, not only when first seen
        with pytest.raises(pyjwt.InvalidKeyError):
            hs256.prepare_key(pem)


def test_login_email_is_trimmed_and_compared_case_insensitively(api, world, clinician):
    padded = f"  {clinician.email.upper()} "
    resp = api.post("/auth/token", {"email": padded, "password": PASSWORD})
    assert resp.status_code == 200, resp.json


@pytest.mark.parametrize("email", ["  ", " not-an-email ", "a@b@c.example", "ann@clinic.example\u0000"])
def test_a_login_email_that_is_no_address_even_trimmed_is_422(api, email):
    resp = api.post("/auth/token", {"email": email, "password": PASSWORD})
    assert resp.status_code == 422, resp.json
    assert set(resp.json["errors"]) == {"email"}


@pytest.mark.parametrize("refresh_token", ["\ud83e", "token\u0000"])
def test_a_refresh_token_that_cannot_be_stored_is_422(api, clinician, refresh_token):
    resp = api.post("/auth/refresh", {"refresh_token": refresh_token})
    assert resp.status_code == 422, resp.json
    assert set(resp.json["errors"]) == {"refresh_token"}
