"""`flask diary ...`: clinics, staff accounts and the demo seed."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from pathlib import Path

import pytest

from diary.demo import DEMO_CLINIC, PATIENTS
from diary.worker import Worker

PASSWORD = "a-long-enough-password"


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=["diary", *args])

    return run


def printed_id(result) -> str:
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert list(payload) == ["id"]
    assert isinstance(payload["id"], str)
    assert payload["id"]
    return payload["id"]


def assert_refused(result) -> None:
    """A controlled refusal: non-zero exit through click, not a crash."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


def counts(world) -> dict[str, int]:
    tables = ("clinics", "users", "patient_profiles", "entries", "assessments", "treatment_sessions")
    return {t: world.rows(f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}


# --- create-clinic -------------------------------------------------------------------------


def test_create_clinic_prints_its_id(cli, world):
    clinic_id = printed_id(cli("create-clinic", "North Clinic"))
    assert world.rows("SELECT id, name FROM clinics") == [(clinic_id, "North Clinic")]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_clinic_refuses_a_bad_name(cli, world, name):
    assert_refused(cli("create-clinic", name))
    assert world.rows("SELECT COUNT(*) FROM clinics") == [(0,)]


def test_create_clinic_needs_a_name(cli, world):
    assert_refused(cli("create-clinic"))
    assert world.rows("SELECT COUNT(*) FROM clinics") == [(0,)]


# --- create-user ---------------------------------------------------------------------------


@pytest.fixture
def clinic_id(cli) -> str:
    return printed_id(cli("create-clinic", "North Clinic"))


def create_user(cli, clinic_id: str, role: str = "clinician", email: str = "doc@north.example", password=PASSWORD):
    return cli("create-user", "--clinic-id", clinic_id, "--role", role, "--email", email, "--password", password)


@pytest.mark.parametrize("role", ["clinician", "ops", "admin"])
def test_create_user_prints_its_id_and_can_log_in(cli, world, clinic_id, role):
    user_id = printed_id(create_user(cli, clinic_id, role=role))
    assert world.rows("SELECT id, clinic_id, role, email FROM users") == [
        (user_id, clinic_id, role, "doc@north.example")
    ]
    tokens = world.login("doc@north.example", PASSWORD)
    assert tokens["token_type"] == "Bearer"
    assert (
        world.api.post("/auth/token", {"email": "doc@north.example", "password": "wrong-password"}).status_code == 401
    )


def test_clinician_created_on_the_cli_can_work(cli, world, clinic_id):
    printed_id(create_user(cli, clinic_id))
    token = world.login("doc@north.example", PASSWORD)["access_token"]
    resp = world.api.post("/patients", {"display_name": "P", "timezone": "Europe/Berlin"}, token=token)
    assert resp.status_code == 201, resp.json


def test_create_user_stores_the_email_normalised(cli, world, clinic_id):
    printed_id(create_user(cli, clinic_id, email="  Doc@North.Example "))
    assert world.rows("SELECT email FROM users") == [("doc@north.example",)]
    world.login("DOC@north.example", PASSWORD)


def test_create_user_refuses_an_unknown_clinic(cli, world, clinic_id):
    assert_refused(create_user(cli, str(uuid.uuid4())))
    assert world.rows("SELECT COUNT(*) FROM users") == [(0,)]


@pytest.mark.parametrize("password", ["short", "123456789"])
def test_create_user_refuses_a_short_password(cli, world, clinic_id, password):
    assert_refused(create_user(cli, clinic_id, password=password))
    assert world.rows("SELECT COUNT(*) FROM users") == [(0,)]


def test_create_user_accepts_the_minimum_password_length(cli, world, clinic_id):
    printed_id(create_user(cli, clinic_id, password="1234567890"))
    world.login("doc@north.example", "1234567890")


@pytest.mark.parametrize("email", ["Doc@North.Example", "doc@north.example"])
def test_create_user_refuses_a_duplicate_email(cli, world, clinic_id, email):
    first = printed_id(create_user(cli, clinic_id))
    other_clinic = printed_id(cli("create-clinic", "South Clinic"))
    assert_refused(create_user(cli, other_clinic, role="ops", email=email))
    assert world.rows("SELECT id, clinic_id, role FROM users") == [(first, clinic_id, "clinician")]


@pytest.mark.parametrize("role", ["patient", "superuser", ""])
def test_create_user_is_for_staff_only(cli, world, clinic_id, role):
    assert_refused(create_user(cli, clinic_id, role=role))
    assert world.rows("SELECT COUNT(*) FROM users") == [(0,)]


@pytest.mark.parametrize("email", ["not-an-email", ""])
def test_create_user_refuses_a_bad_email(cli, world, clinic_id, email):
    assert_refused(create_user(cli, clinic_id, email=email))
    assert world.rows("SELECT COUNT(*) FROM users") == [(0,)]


# --- demo ----------------------------------------------------------------------------------


def run_demo(cli) -> dict:
    result = cli("demo")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_demo_is_idempotent(cli, world):
    first = run_demo(cli)
    assert first["created"] is True
    after_first = counts(world)
    second = run_demo(cli)
    assert second["created"] is False
    assert second["clinic_id"] == first["clinic_id"]
    assert counts(world) == after_first
    assert world.rows("SELECT COUNT(*) FROM clinics WHERE name = :n", n=DEMO_CLINIC) == [(1,)]


def test_demo_seeds_enrolled_patients_with_history(cli, world):
    summary = run_demo(cli)
    assert summary["patients"] == [story.email for story in PATIENTS]
    assert len(summary["patients"]) == 4
    diary_days = {story.email: story.diary_days for story in PATIENTS}

    for email in summary["patients"]:
        rows = world.rows(
            "SELECT u.id, u.clinic_id, p.enrolled_at FROM users u JOIN patient_profiles p ON p.user_id = u.id "
            "WHERE u.email = :email AND u.role = 'patient'",
            email=email,
        )
        assert len(rows) == 1, email
        user_id, clinic_id, enrolled_at = rows[0]
        assert clinic_id == summary["clinic_id"]
        assert enrolled_at is not None
        n, first_day, last_day = world.rows(
            "SELECT COUNT(*), MIN(local_date), MAX(local_date) FROM entries "
            "WHERE patient_id = :p AND checkin_id IS NULL",
            p=user_id,
        )[0]
        first, last = diary_days[email]
        # One entry a day on the days the story keeps the diary, but for about 1 in 10 missed;
        # check-in answers come on top.
        assert 0.75 * (last - first) <= n <= last - first, (email, n)
        answers = world.rows(
            "SELECT COUNT(*) FROM checkins c JOIN entries e ON e.id = c.answer_entry_id "
            "WHERE c.patient_id = :p AND c.status = 'answered' AND e.checkin_id = c.id",
            p=user_id,
        )[0][0]
        assert answers > 0, email
        assert world.rows("SELECT COUNT(*) FROM devices WHERE user_id = :p AND active", p=user_id) == [(1,)]
        span = dt.date.fromisoformat(str(last_day)) - dt.date.fromisoformat(str(first_day))
        assert span >= dt.timedelta(days=last - first - 4), (email, span)
        assert world.rows("SELECT COUNT(*) FROM treatment_sessions WHERE patient_id = :p", p=user_id)[0][0] > 0
        assert world.rows("SELECT COUNT(*) FROM assessments WHERE patient_id = :p", p=user_id)[0][0] > 0

    # Every seeded entry belongs to an enrolled demo patient.
    assert world.rows("SELECT COUNT(*) FROM entries e JOIN users u ON u.id = e.patient_id WHERE u.email IS NULL") == [
        (0,)
    ]


def test_demo_logins_work(cli, world):
    summary = run_demo(cli)
    password = summary["password_for_every_demo_login"]
    for email in summary["staff"]:
        world.login(email, password)
    clinician = world.login("clinician@demo.example", password)
    resp = world.api.get("/me", token=world.login(summary["patients"][0], password)["access_token"])
    assert resp.status_code == 200
    assert resp.json["email"] == summary["patients"][0]
    # The clinician sees the demo patients of the demo clinic.
    patient_id = summary["patient_ids"]["Alex Responder"]
    resp = world.api.get(f"/patients/{patient_id}", token=clinician["access_token"])
    assert resp.status_code == 200, resp.json


def test_demo_alerts_reach_the_clinicians_phone_in_the_log(cli, world, app, caplog):
    run_demo(cli)
    (clinician_id,) = world.rows("SELECT id FROM users WHERE email = 'clinician@demo.example'")[0]
    devices = world.rows("SELECT token, platform, active FROM devices WHERE user_id = :u", u=clinician_id)
    assert [(token, platform, bool(active)) for token, platform, active in devices] == [
        ("demo-device-clinician", "android", True)
    ]
    open_alerts = {alert_id for (alert_id,) in world.rows("SELECT id FROM alerts WHERE status = 'open'")}
    assert open_alerts, "the worsening demo patient carries an open alert"

    with caplog.at_level(logging.INFO, logger="diary.push"):
        Worker(app, worker_id="demo-worker").tick()

    pushed = [r.getMessage() for r in caplog.records if r.name == "diary.push"]
    reached = {alert_id for alert_id in open_alerts if any(f"'alert_id': '{alert_id}'" in line for line in pushed)}
    assert reached == open_alerts


def test_demo_prints_the_urls_of_where_it_is_served(cli, world):
    result = cli("demo", "--base-url", "http://127.0.0.1:5001/")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["docs"] == "http://127.0.0.1:5001/api/v1/docs"


def test_the_demo_gives_forecasts_ratings_and_outcomes_something_to_show(cli, world):
    summary = run_demo(cli)
    clinician = world.login("clinician@demo.example", summary["password_for_every_demo_login"])
    headers = {"Authorization": f"Bearer {clinician['access_token']}"}
    alex = summary["patient_ids"]["Alex Responder"]

    window = {"from": (dt.date.today() - dt.timedelta(days=120)).isoformat()}
    body = world.api.get(f"/patients/{alex}/summary", headers=headers, query_string=window).json
    assert body["forecast"]["basis_sessions"] >= 3
    assert sum(s["effect_days"] is not None for s in body["sessions"]) >= 3
    assert body["madrs_outcome"]["response"] is True

    ratings = world.api.get(f"/patients/{alex}/assessments", headers=headers, query_string={"instrument": "madrs"})
    assert len(ratings.json) >= 2
    assert {r["rated_by"] for r in ratings.json} == {world.rows("SELECT id FROM users WHERE role = 'clinician'")[0][0]}

    outcomes = world.api.get("/clinic/outcomes", headers=headers).json
    assert outcomes["induction"]["completed"] >= 1
    assert outcomes["induction"]["dropped_after_first"] >= 1
    assert outcomes["phq9"]["measured_4w"] >= 1


def test_the_db_commands_bind_migrations_only_when_run_and_serving_never_imports_alembic(tmp_path):
    """`flask db ...` is Flask-Migrate's own group, loaded when a db command runs; an app built
    to serve never imports Alembic (about 10 MiB a serving process would never use)."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "APP_ENV": "testing",
        "LOG_FORMAT": "none",
    }
    root = Path(__file__).resolve().parent.parent
    flask = [sys.executable, "-m", "flask", "--app", "wsgi", "db"]
    assert subprocess.run([*flask, "upgrade"], cwd=root, env=env, capture_output=True).returncode == 0
    current = subprocess.run([*flask, "current"], cwd=root, env=env, capture_output=True, text=True)
    assert current.stdout.strip().endswith("(head)"), current.stdout
    check = subprocess.run([*flask, "check"], cwd=root, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    serving = subprocess.run(
        [sys.executable, "-c", "import sys, wsgi; print('alembic' in sys.modules, 'flask_migrate' in sys.modules)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert serving.stdout.strip() == "False False", serving.stdout + serving.stderr
