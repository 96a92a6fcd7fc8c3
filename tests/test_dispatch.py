"""The outbox and push delivery, end to end.

Patients, devices and sessions are set up through the API; a worker (its own app, as in
production) ticks on the controlled clock and pushes through the real firebase-admin
client to a local fake FCM server. Outcomes are read back from the database.

The default protocol schedules "+4h", "+1d", "+3d", "+1w" with a 12 h window. A patient
in UTC with quiet hours 03:00-03:01 makes a session at 12:00Z give a "+4h" check-in due at
16:00Z, a re-send at 22:00Z (halfway) and expiry at 04:00Z the next day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from diary.delivery import push_sender
from diary.domain import dispatch
from diary.domain.dispatch import PUSH_TEXT
from diary.extensions import db
from diary.models import Notification
from diary.timeutil import UTC
from diary.worker import Worker
from tests.conftest import Account, fcm_config
from tests.fake_fcm import PROJECT, Answer

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DUE = NOW + dt.timedelta(hours=4)
RESEND = DUE + dt.timedelta(hours=6)
EXPIRES = DUE + dt.timedelta(hours=12)
WINDOW_SECONDS = 12 * 3600

DISPLAY_NAME = "Pat Example"  # what World.invite names every patient
ENTRY_NOTE = "felt like floating above the chair NOTE-7f3a"
SESSION_NOTE = "SESSION-NOTE-bp-raised"
DOSE = 37.25

NOTHING = {"claimed": 0, "sent": 0, "retried": 0, "dead": 0, "cancelled": 0}


def message_name(n: int) -> str:
    return f"projects/{PROJECT}/messages/{n}"


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stats(**counts: int) -> dict[str, int]:
    return {**NOTHING, **counts}


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def clinician(clock, world):
    return world.staff(world.clinic())


@pytest.fixture
def fcm_worker(make_app, fake_fcm):
    """`fcm_worker(**config)`: a worker on its own app pushing to the fake FCM."""
    apps = []

    def build(worker_id: str = "w1", **overrides: Any) -> Worker:
        app = make_app(**fcm_config(fake_fcm), **overrides)
        apps.append(app)
        return Worker(app, worker_id=worker_id)

    yield build
    for app in apps:
        sender = app.extensions.get("diary.push_sender")
        if sender is not None:
            sender.close()


@pytest.fixture
def worker(fcm_worker) -> Worker:
    return fcm_worker()


def patient_utc(world, api, clinician: Account) -> Account:
    """A patient in UTC whose quiet hours (03:00-03:01) move none of the times used here."""
    patient = world.patient(clinician, timezone="UTC")
    resp = api.patch("/me", {"quiet_hours_start": "03:00", "quiet_hours_end": "03:01"}, token=patient.token)
    assert resp.status_code == 200, resp.json
    return patient


def add_device(api, account: Account, token: str, platform: str = "android") -> str:
    resp = api.post("/me/devices", {"token": token, "platform": platform}, token=account.token)
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def record_session(api, clinician: Account, patient: Account, started_at: dt.datetime = NOW) -> dict:
    body = {"started_at": iso(started_at), "route": "iv", "dose_mg": DOSE, "notes": SESSION_NOTE}
    resp = api.post(f"/patients/{patient.id}/sessions", body, token=clinician.token)
    assert resp.status_code == 201, resp.json
    return resp.json


def first_checkin(api, clinician: Account, patient: Account) -> str:
    """Records a session now (12:00Z) and returns its "+4h" check-in, due at 16:00Z."""
    checkin = record_session(api, clinician, patient)["checkins"][0]
    assert (checkin["label"], checkin["due_at"]) == ("+4h", iso(DUE))
    return checkin["id"]


def post_entry(api, patient: Account, recorded_at: dt.datetime, **extra: Any):
    body = {"id": str(uuid.uuid4()), "recorded_at": iso(recorded_at), "mood": 3, "anxiety": 8, **extra}
    resp = api.post("/me/entries", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return resp.json


def pushes(world, checkin_id: str) -> list[tuple]:
    """(kind, status, attempts, provider_message_id, last_error) of a check-in's outbox rows."""
    return world.rows(
        "SELECT kind, status, attempts, provider_message_id, last_error FROM notifications"
        " WHERE checkin_id = :c ORDER BY kind",
        c=checkin_id,
    )


def row(world, checkin_id: str, kind: str = "checkin") -> Notification:
    """One outbox row through the ORM, so timestamps come back as aware UTC datetimes."""
    with world.app.app_context():
        found = db.session.scalars(
            select(Notification).where(Notification.checkin_id == checkin_id, Notification.kind == kind)
        ).one()
        db.session.expunge(found)
        return found


def checkin_status(world, checkin_id: str) -> str:
    [(status,)] = world.rows("SELECT status FROM checkins WHERE id = :id", id=checkin_id)
    return status


def device_state(world, device_id: str) -> tuple[bool, str | None]:
    [(active, reason)] = world.rows("SELECT active, deactivated_reason FROM devices WHERE id = :id", id=device_id)
    return bool(active), reason


def relogin(world, account: Account) -> Account:
    """The same account with tokens issued now (access tokens live 15 minutes)."""
    issued = world.login(account.email)
    return dataclasses.replace(account, token=issued["access_token"], refresh_token=issued["refresh_token"])


def tokens(fake_fcm) -> list[str]:
    return sorted(m["token"] for m in fake_fcm.messages())


def tick(worker: Worker) -> dict[str, int]:
    return vars(worker.tick())


# --- the first push of a check-in ---------------------------------------------------------------


def test_nothing_is_sent_before_the_due_time(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)

    for instant in (NOW, DUE - dt.timedelta(hours=1), DUE - dt.timedelta(seconds=1)):
        clock.set(instant)
        assert tick(worker) == NOTHING
    assert fake_fcm.messages() == []
    assert pushes(world, checkin) == [
        ("checkin", "pending", 0, None, None),
        ("checkin_resend", "pending", 0, None, None),
    ]
    assert checkin_status(world, checkin) == "pending"


def test_at_due_time_one_generic_push_goes_out_exactly_once(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    device = add_device(api, patient, "tok-a")
    # Data the push must never carry: the entry's note and scores, the session's note and dose.
    post_entry(api, patient, NOW, note=ENTRY_NOTE)
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, sent=1)

    [message] = fake_fcm.messages()
    assert message["token"] == "tok-a"
    title, body = PUSH_TEXT["checkin"]
    assert message["notification"] == {"title": title, "body": body}
    assert message["data"] == {"type": "checkin", "checkin_id": checkin}
    assert message["android"] == {"priority": "high", "ttl": f"{WINDOW_SECONDS}s", "collapse_key": f"checkin-{checkin}"}
    assert message["apns"]["headers"] == {
        "apns-collapse-id": f"checkin-{checkin}",
        "apns-expiration": str(int(EXPIRES.timestamp())),
    }
    text = json.dumps(message)
    for secret in (DISPLAY_NAME, "Pat", patient.email, clinician.email, ENTRY_NOTE, "NOTE-7f3a", SESSION_NOTE):
        assert secret not in text
    for word in ("mood", "anxiety", "score", "dose", str(DOSE), "note"):
        assert word not in text.lower()

    assert pushes(world, checkin) == [
        ("checkin", "sent", 1, message_name(1), None),
        ("checkin_resend", "pending", 0, None, None),
    ]
    sent = row(world, checkin)
    assert (sent.sent_at, sent.delivered_device_ids, sent.lease_owner, sent.lease_until) == (DUE, [device], None, None)
    assert checkin_status(world, checkin) == "sent"
    listed = api.get("/me/checkins", token=relogin(world, patient).token).json
    assert [(c["id"], c["status"]) for c in listed if c["id"] == checkin] == [(checkin, "sent")]

    # Exactly once: later ticks (before the re-send) find nothing to do.
    for minutes in (0, 1, 60):
        clock.set(DUE + dt.timedelta(minutes=minutes))
        assert tick(worker) == NOTHING
    assert len(fake_fcm.messages()) == 1
    assert pushes(world, checkin)[0] == ("checkin", "sent", 1, message_name(1), None)


def test_every_active_device_of_the_patient_gets_the_push(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    phone = add_device(api, patient, "tok-a", "android")
    tablet = add_device(api, patient, "tok-b", "ios")
    removed = add_device(api, patient, "tok-removed", "web")
    assert api.delete(f"/me/devices/{removed}", token=patient.token).status_code == 204
    # Someone else's device is never a target.
    other = patient_utc(world, api, clinician)
    add_device(api, other, "tok-other")
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, sent=1)

    assert tokens(fake_fcm) == ["tok-a", "tok-b"]
    assert fake_fcm.per_checkin() == {checkin: 2}
    sent = row(world, checkin)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sorted(sent.delivered_device_ids) == sorted([phone, tablet])
    assert sent.provider_message_id in {message_name(1), message_name(2)}
    assert checkin_status(world, checkin) == "sent"

    clock.advance(minutes=5)
    assert tick(worker) == NOTHING
    assert len(fake_fcm.messages()) == 2


def test_no_active_device_cancels_the_row(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    device = add_device(api, patient, "tok-a")
    assert api.delete(f"/me/devices/{device}", token=patient.token).status_code == 204
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, cancelled=1)

    assert fake_fcm.messages() == []
    assert pushes(world, checkin) == [
        ("checkin", "cancelled", 1, None, "no active device"),
        ("checkin_resend", "pending", 0, None, None),
    ]
    assert checkin_status(world, checkin) == "pending"


def test_push_disabled_cancels_the_row_and_sends_nothing(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)
    resp = api.patch("/me", {"push_enabled": False}, token=patient.token)
    assert resp.status_code == 200
    assert resp.json["push_enabled"] is False

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, cancelled=1)
    clock.set(RESEND)
    assert tick(worker) == stats(claimed=1, cancelled=1)

    assert fake_fcm.messages() == []
    assert pushes(world, checkin) == [
        ("checkin", "cancelled", 1, None, "push disabled"),
        ("checkin_resend", "cancelled", 1, None, "push disabled"),
    ]


def test_a_deleted_session_sends_nothing(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    session = record_session(api, clinician, patient)
    checkin = session["checkins"][0]["id"]
    resp = api.delete(f"/patients/{patient.id}/sessions/{session['id']}", token=clinician.token)
    assert resp.status_code == 204

    statuses = world.rows(
        "SELECT DISTINCT status, last_error FROM notifications WHERE checkin_id IN"
        " (SELECT id FROM checkins WHERE session_id = :s)",
        s=session["id"],
    )
    assert statuses == [("cancelled", "session deleted")]
    assert world.rows("SELECT count(*) FROM notifications WHERE checkin_id IS NOT NULL") == [(8,)]

    for instant in (DUE, RESEND, NOW + dt.timedelta(days=8)):
        clock.set(instant)
        assert tick(worker) == NOTHING
    assert fake_fcm.messages() == []
    assert checkin_status(world, checkin) == "cancelled"


# --- provider answers ---------------------------------------------------------------------------


def test_an_unregistered_token_is_deactivated_and_never_used_again(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    stale = add_device(api, patient, "tok-stale")
    fresh = add_device(api, patient, "tok-fresh")
    fake_fcm.script("tok-stale", Answer("UNREGISTERED"))  # then it would succeed, if it were tried
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, sent=1)

    assert tokens(fake_fcm) == ["tok-fresh"]
    assert device_state(world, stale) == (False, "UnregisteredError")
    assert device_state(world, fresh) == (True, None)
    first = row(world, checkin)
    assert (first.status, first.attempts, first.provider_message_id) == ("sent", 1, message_name(1))
    assert first.last_error == "device deactivated: UnregisteredError"
    assert first.delivered_device_ids == [fresh]
    assert checkin_status(world, checkin) == "sent"

    # The re-send, and the next check-in of the session, reach only the live device.
    clock.set(RESEND)
    assert tick(worker) == stats(claimed=1, sent=1)
    clock.set(NOW + dt.timedelta(days=1))
    assert tick(worker) == stats(claimed=1, sent=1)
    assert tokens(fake_fcm) == ["tok-fresh"] * 3
    assert row(world, checkin, "checkin_resend").delivered_device_ids == [fresh]
    assert device_state(world, stale) == (False, "UnregisteredError")


def test_the_only_device_unregistered_cancels_the_row(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    device = add_device(api, patient, "tok-stale")
    fake_fcm.script("tok-stale", Answer("UNREGISTERED"))
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, cancelled=1)

    assert fake_fcm.messages() == []
    assert device_state(world, device) == (False, "UnregisteredError")
    assert pushes(world, checkin)[0] == ("checkin", "cancelled", 1, None, "device deactivated: UnregisteredError")
    assert checkin_status(world, checkin) == "pending"
    # The re-send finds no device left: nothing is tried against the dead token.
    clock.set(RESEND)
    assert tick(worker) == stats(claimed=1, cancelled=1)
    assert fake_fcm.messages() == []
    assert pushes(world, checkin)[1] == ("checkin_resend", "cancelled", 1, None, "no active device")


def test_quota_exceeded_waits_for_retry_after_then_sends(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    fake_fcm.script("tok-a", Answer("QUOTA_EXCEEDED", retry_after=120))
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, retried=1)

    assert fake_fcm.messages() == []
    failed = row(world, checkin)
    assert (failed.status, failed.attempts, failed.provider_message_id, failed.sent_at) == ("failed", 1, None, None)
    assert failed.last_error.startswith("QuotaExceededError")
    assert failed.next_attempt_at >= DUE + dt.timedelta(seconds=120)
    assert failed.next_attempt_at <= DUE + dt.timedelta(seconds=120 + 30)  # the floor, not far beyond it
    assert (failed.lease_owner, failed.lease_until) == (None, None)
    assert checkin_status(world, checkin) == "pending"

    clock.set(failed.next_attempt_at - dt.timedelta(seconds=1))
    assert tick(worker) == NOTHING
    assert fake_fcm.messages() == []

    retry_at = failed.next_attempt_at
    clock.set(retry_at)
    assert tick(worker) == stats(claimed=1, sent=1)
    [message] = fake_fcm.messages()
    # The TTL is what is left of the window at the moment of sending.
    assert message["android"]["ttl"] == f"{int((EXPIRES - retry_at).total_seconds())}s"
    assert pushes(world, checkin)[0] == ("checkin", "sent", 2, message_name(1), None)
    assert row(world, checkin).sent_at == retry_at
    assert checkin_status(world, checkin) == "sent"

    clock.advance(minutes=10)
    assert tick(worker) == NOTHING
    assert len(fake_fcm.messages()) == 1


def test_server_errors_back_off_until_max_attempts_then_dead(clock, world, api, clinician, fake_fcm, fcm_worker):
    worker = fcm_worker(PUSH_MAX_ATTEMPTS=3)
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    # A fourth attempt would succeed: "dead" must come from the limit, not from luck.
    fake_fcm.script("tok-a", Answer("INTERNAL"), Answer("INTERNAL"), Answer("INTERNAL"))
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    attempted_at = DUE
    waits = []
    for attempt in (1, 2):
        assert tick(worker) == stats(claimed=1, retried=1)
        failed = row(world, checkin)
        assert (failed.status, failed.attempts) == ("failed", attempt)
        assert failed.last_error.startswith("InternalError")
        waits.append((failed.next_attempt_at - attempted_at).total_seconds())
        # Not before its time.
        clock.set(failed.next_attempt_at - dt.timedelta(seconds=1))
        assert tick(worker) == NOTHING
        attempted_at = failed.next_attempt_at
        clock.set(attempted_at)
    # Exponential with jitter: base 30 s, so [15, 30] then [30, 60].
    assert 15 <= waits[0] <= 30
    assert 30 <= waits[1] <= 60

    assert tick(worker) == stats(claimed=1, dead=1)
    dead = row(world, checkin)
    assert (dead.status, dead.attempts, dead.sent_at, dead.provider_message_id) == ("dead", 3, None, None)
    assert dead.last_error.startswith("InternalError")
    assert fake_fcm.messages() == []
    assert checkin_status(world, checkin) == "pending"

    for minutes in (1, 60, 300):
        clock.set(attempted_at + dt.timedelta(minutes=minutes))
        assert vars(worker.dispatch_tick()) == NOTHING
    assert fake_fcm.messages() == []
    assert pushes(world, checkin)[0][:3] == ("checkin", "dead", 3)


def test_a_partial_failure_retries_only_the_devices_not_reached(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    flaky = add_device(api, patient, "tok-flaky")
    steady = add_device(api, patient, "tok-steady")
    fake_fcm.script("tok-flaky", Answer("UNAVAILABLE"))
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, retried=1)
    assert tokens(fake_fcm) == ["tok-steady"]
    partial = row(world, checkin)
    assert (partial.status, partial.attempts, partial.delivered_device_ids) == ("failed", 1, [steady])
    assert partial.provider_message_id == message_name(1)
    assert partial.last_error.startswith("UnavailableError")
    # The patient has been pushed: the check-in counts as sent.
    assert checkin_status(world, checkin) == "sent"

    retry_at = partial.next_attempt_at
    clock.set(retry_at)
    assert tick(worker) == stats(claimed=1, sent=1)
    # The device already reached is not pushed twice.
    assert tokens(fake_fcm) == ["tok-flaky", "tok-steady"]
    done = row(world, checkin)
    assert (done.status, done.attempts, done.last_error, done.sent_at) == ("sent", 2, None, retry_at)
    assert done.delivered_device_ids == [steady, flaky]
    assert done.provider_message_id == message_name(2)


def test_a_partial_delivery_out_of_attempts_ends_sent(clock, world, api, clinician, fake_fcm, fcm_worker):
    worker = fcm_worker(PUSH_MAX_ATTEMPTS=3)
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-broken")
    steady = add_device(api, patient, "tok-steady")
    fake_fcm.script("tok-broken", Answer("INTERNAL"), Answer("INTERNAL"), Answer("INTERNAL"))
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    for _ in (1, 2):
        assert tick(worker) == stats(claimed=1, retried=1)
        clock.set(row(world, checkin).next_attempt_at)
    last_attempt = clock.now
    assert tick(worker) == stats(claimed=1, sent=1)

    assert tokens(fake_fcm) == ["tok-steady"]
    final = row(world, checkin)
    assert (final.status, final.attempts, final.delivered_device_ids) == ("sent", 3, [steady])
    assert final.provider_message_id == message_name(1)
    assert final.last_error.startswith("InternalError")
    assert final.sent_at == last_attempt
    clock.advance(hours=1)
    assert tick(worker) == NOTHING


# --- the re-send and the end of the window -------------------------------------------------------


def test_the_half_window_resend_goes_out_while_unanswered(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)
    assert row(world, checkin, "checkin_resend").next_attempt_at == RESEND

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, sent=1)
    clock.set(RESEND - dt.timedelta(seconds=1))
    assert tick(worker) == NOTHING
    clock.set(RESEND)
    assert tick(worker) == stats(claimed=1, sent=1)

    first, resend = fake_fcm.messages()
    assert first["notification"]["title"] == PUSH_TEXT["checkin"][0]
    assert resend["notification"] == dict(zip(("title", "body"), PUSH_TEXT["checkin_resend"], strict=True))
    assert resend["data"] == {"type": "checkin", "checkin_id": checkin}
    assert resend["android"] == {"priority": "high", "ttl": "21600s", "collapse_key": f"checkin-{checkin}"}
    assert resend["apns"]["headers"]["apns-collapse-id"] == f"checkin-{checkin}"
    assert pushes(world, checkin) == [
        ("checkin", "sent", 1, message_name(1), None),
        ("checkin_resend", "sent", 1, message_name(2), None),
    ]
    assert checkin_status(world, checkin) == "sent"
    assert fake_fcm.token_requests == 1  # the OAuth token is reused across ticks

    clock.advance(hours=1)
    assert tick(worker) == NOTHING
    assert len(fake_fcm.messages()) == 2


def test_a_resend_that_reaches_the_patient_marks_the_checkin_sent(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    checkin = first_checkin(api, clinician, patient)
    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, cancelled=1)  # no device yet
    assert checkin_status(world, checkin) == "pending"

    clock.set(DUE + dt.timedelta(hours=2))  # the app is installed after all
    device = add_device(api, relogin(world, patient), "tok-late")
    clock.set(RESEND)
    assert tick(worker) == stats(claimed=1, sent=1)

    [message] = fake_fcm.messages()
    assert (message["token"], message["data"]) == ("tok-late", {"type": "checkin", "checkin_id": checkin})
    assert pushes(world, checkin) == [
        ("checkin", "cancelled", 1, None, "no active device"),
        ("checkin_resend", "sent", 1, message_name(1), None),
    ]
    assert row(world, checkin, "checkin_resend").delivered_device_ids == [device]
    assert checkin_status(world, checkin) == "sent"


def test_an_answer_cancels_the_resend(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, sent=1)
    clock.set(DUE + dt.timedelta(hours=1))
    post_entry(api, relogin(world, patient), clock.now, checkin_id=checkin)

    assert checkin_status(world, checkin) == "answered"
    assert pushes(world, checkin) == [
        ("checkin", "sent", 1, message_name(1), None),
        ("checkin_resend", "cancelled", 0, None, "answered"),
    ]
    clock.set(RESEND)
    assert tick(worker) == NOTHING
    assert len(fake_fcm.messages()) == 1


def test_an_answer_before_the_due_time_cancels_every_push(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE - dt.timedelta(minutes=30))
    post_entry(api, relogin(world, patient), clock.now, checkin_id=checkin)
    for instant in (DUE, RESEND):
        clock.set(instant)
        assert tick(worker) == NOTHING
    assert fake_fcm.messages() == []
    assert [r[:2] for r in pushes(world, checkin)] == [("checkin", "cancelled"), ("checkin_resend", "cancelled")]


def test_maintenance_expires_a_checkin_past_its_window(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)
    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, sent=1)

    # No worker ran between 16:00 and the end of the window: the re-send is still pending.
    clock.set(EXPIRES - dt.timedelta(seconds=1))
    worker.maintenance_tick()
    assert checkin_status(world, checkin) == "sent"

    clock.set(EXPIRES)
    worker.maintenance_tick()
    assert checkin_status(world, checkin) == "expired"
    assert pushes(world, checkin) == [
        ("checkin", "sent", 1, message_name(1), None),
        ("checkin_resend", "cancelled", 0, None, "expired"),
    ]
    assert vars(worker.dispatch_tick()) == NOTHING
    assert len(fake_fcm.messages()) == 1
    listed = api.get("/me/checkins", query_string={"status": "expired"}, token=relogin(world, patient).token)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json] == [checkin]


def test_expiry_cancels_a_push_still_waiting_for_its_retry(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    fake_fcm.script("tok-a", Answer("QUOTA_EXCEEDED", retry_after=WINDOW_SECONDS + 3600))
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, retried=1)
    assert row(world, checkin).next_attempt_at >= EXPIRES + dt.timedelta(hours=1)
    clock.set(RESEND)  # the re-send meets the same quota
    fake_fcm.script("tok-a", Answer("QUOTA_EXCEEDED", retry_after=WINDOW_SECONDS))
    assert tick(worker) == stats(claimed=1, retried=1)

    clock.set(EXPIRES)
    assert tick(worker) == NOTHING
    assert checkin_status(world, checkin) == "expired"
    assert pushes(world, checkin) == [
        ("checkin", "cancelled", 1, None, "expired"),
        ("checkin_resend", "cancelled", 1, None, "expired"),
    ]
    clock.set(EXPIRES + dt.timedelta(hours=2))  # past the retry time, before the "+1d" check-in
    assert vars(worker.dispatch_tick()) == NOTHING
    assert fake_fcm.messages() == []


def test_dispatch_without_maintenance_never_pushes_a_closed_window(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)

    clock.set(EXPIRES)  # both rows are overdue, but the window has closed
    assert vars(worker.dispatch_tick()) == stats(claimed=2, cancelled=2)
    assert fake_fcm.messages() == []
    assert pushes(world, checkin) == [
        ("checkin", "cancelled", 1, None, "check-in window closed"),
        ("checkin_resend", "cancelled", 1, None, "check-in window closed"),
    ]


# --- daily reminders ----------------------------------------------------------------------------

BERLIN_20H = dt.datetime(2026, 3, 1, 19, 0, tzinfo=UTC)  # 20:00 CET


def berlin_patient(world, api, clinician: Account, token: str) -> Account:
    patient = world.patient(clinician, timezone="Europe/Berlin")
    resp = api.patch("/me", {"daily_reminder_time": "20:00"}, token=patient.token)
    assert resp.status_code == 200
    assert resp.json["daily_reminder_time"] == "20:00"
    add_device(api, patient, token)
    return patient


def reminders(world) -> list[tuple]:
    return world.rows(
        "SELECT user_id, dedupe_key, status, attempts FROM notifications WHERE kind = 'reminder' ORDER BY dedupe_key"
    )


def test_daily_reminder_at_local_time_once_a_day(clock, world, api, clinician, fake_fcm, worker):
    patient = berlin_patient(world, api, clinician, "tok-r")

    clock.set(BERLIN_20H - dt.timedelta(minutes=1))
    assert tick(worker) == NOTHING
    assert reminders(world) == []

    clock.set(BERLIN_20H)
    assert tick(worker) == stats(claimed=1, sent=1)
    assert reminders(world) == [(patient.id, f"reminder:{patient.id}:2026-03-01", "sent", 1)]
    [message] = fake_fcm.messages()
    assert message["token"] == "tok-r"
    assert message["data"] == {"type": "reminder"}
    assert message["notification"] == dict(zip(("title", "body"), PUSH_TEXT["reminder"], strict=True))
    assert message["android"]["collapse_key"] == "daily-reminder"
    assert DISPLAY_NAME not in json.dumps(message)

    # Later the same local day: no second reminder.
    for hours in (0, 1, 3):
        clock.set(BERLIN_20H + dt.timedelta(hours=hours, minutes=1))
        assert tick(worker) == NOTHING
    assert len(reminders(world)) == 1
    assert len(fake_fcm.messages()) == 1

    # The next local day has its own.
    clock.set(BERLIN_20H + dt.timedelta(days=1))
    assert tick(worker) == stats(claimed=1, sent=1)
    assert [r[1] for r in reminders(world)] == [
        f"reminder:{patient.id}:2026-03-01",
        f"reminder:{patient.id}:2026-03-02",
    ]
    assert [m["data"] for m in fake_fcm.messages()] == [{"type": "reminder"}] * 2


def test_no_reminder_on_a_day_that_has_an_entry(clock, world, api, clinician, fake_fcm, worker):
    diligent = berlin_patient(world, api, clinician, "tok-diligent")
    forgetful = berlin_patient(world, api, clinician, "tok-forgetful")
    post_entry(api, diligent, NOW)  # 13:00 in Berlin, the same local day

    clock.set(BERLIN_20H)
    assert tick(worker) == stats(claimed=1, sent=1)
    assert reminders(world) == [(forgetful.id, f"reminder:{forgetful.id}:2026-03-01", "sent", 1)]
    assert tokens(fake_fcm) == ["tok-forgetful"]


def test_a_reminder_inside_quiet_hours_waits_for_their_end(clock, world, api, clinician, fake_fcm, worker):
    patient = berlin_patient(world, api, clinician, "tok-r")
    resp = api.patch("/me", {"quiet_hours_start": "19:30", "quiet_hours_end": "20:30"}, token=patient.token)
    assert resp.status_code == 200
    muted = berlin_patient(world, api, clinician, "tok-muted")
    assert api.patch("/me", {"push_enabled": False}, token=muted.token).status_code == 200

    clock.set(BERLIN_20H)
    assert tick(worker) == NOTHING  # queued for 20:30, not yet due
    assert reminders(world) == [(patient.id, f"reminder:{patient.id}:2026-03-01", "pending", 0)]
    clock.set(BERLIN_20H + dt.timedelta(minutes=29, seconds=59))
    assert tick(worker) == NOTHING
    clock.set(BERLIN_20H + dt.timedelta(minutes=30))
    assert tick(worker) == stats(claimed=1, sent=1)
    assert tokens(fake_fcm) == ["tok-r"]
    assert len(reminders(world)) == 1


def test_an_entry_after_the_reminder_was_queued_cancels_it(clock, world, api, clinician, fake_fcm, worker):
    patient = berlin_patient(world, api, clinician, "tok-r")
    clock.set(BERLIN_20H)
    worker.maintenance_tick()
    assert reminders(world) == [(patient.id, f"reminder:{patient.id}:2026-03-01", "pending", 0)]

    post_entry(api, relogin(world, patient), clock.now)
    assert vars(worker.dispatch_tick()) == stats(claimed=1, cancelled=1)
    assert fake_fcm.messages() == []
    assert world.rows("SELECT status, last_error FROM notifications WHERE kind = 'reminder'") == [
        ("cancelled", "an entry was made that day")
    ]


# --- backends, the command line, crashed workers, metrics ---------------------------------------


def test_the_log_backend_marks_rows_sent(clock, world, api, clinician, app, caplog):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-log-123456")
    checkin = first_checkin(api, clinician, patient)
    worker = Worker(app, worker_id="w1")  # the default app: PUSH_BACKEND=log

    clock.set(DUE)
    with caplog.at_level(logging.INFO, logger="diary.push"):
        assert tick(worker) == stats(claimed=1, sent=1)

    [(kind, status, attempts, message_id, error), resend] = pushes(world, checkin)
    assert (kind, status, attempts, error) == ("checkin", "sent", 1, None)
    assert re.fullmatch(r"log-[0-9a-f]{12}", message_id)
    assert resend == ("checkin_resend", "pending", 0, None, None)
    assert checkin_status(world, checkin) == "sent"
    [record] = [r for r in caplog.records if r.name == "diary.push"]
    line = record.getMessage()
    assert message_id in line
    assert checkin in line
    assert "tok-log-123456" not in line  # the token is shortened
    assert DISPLAY_NAME not in line

    clock.advance(minutes=1)
    assert tick(worker) == NOTHING


def test_worker_once_on_the_command_line(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)
    runner = worker.app.test_cli_runner()

    clock.set(DUE)
    result = runner.invoke(args=["diary", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == stats(claimed=1, sent=1)
    assert tokens(fake_fcm) == ["tok-a"]
    assert pushes(world, checkin)[0] == ("checkin", "sent", 1, message_name(1), None)
    assert world.rows("SELECT count(*) FROM worker_heartbeats") == [(1,)]

    result = runner.invoke(args=["diary", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == NOTHING
    assert len(fake_fcm.messages()) == 1


def test_rows_of_a_dead_worker_are_sent_once_its_lease_expires(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    checkin = first_checkin(api, clinician, patient)

    clock.set(DUE)
    with worker.app.app_context():
        ids = dispatch.claim("dead-worker", now=clock.now, limit=10, lease_seconds=60)
        db.session.commit()  # the worker commits its claim before delivering
        db.session.remove()
    leased = row(world, checkin)
    assert ids == [leased.id]
    assert (leased.status, leased.lease_owner, leased.lease_until, leased.attempts) == (
        "sending",
        "dead-worker",
        DUE + dt.timedelta(seconds=60),
        1,
    )

    # The lease holds: another worker leaves the row alone.
    assert tick(worker) == NOTHING
    clock.advance(seconds=59)
    assert tick(worker) == NOTHING
    assert fake_fcm.messages() == []

    clock.advance(seconds=2)  # 61 s after the claim
    assert tick(worker) == stats(claimed=1, sent=1)
    assert tokens(fake_fcm) == ["tok-a"]
    taken = row(world, checkin)
    assert (taken.status, taken.attempts, taken.lease_owner, taken.lease_until) == ("sent", 2, None, None)
    assert checkin_status(world, checkin) == "sent"

    clock.advance(seconds=61)
    assert tick(worker) == NOTHING
    # The dead worker wakes up and finishes its batch: its lease is gone, so nothing goes out.
    with worker.app.app_context():
        late = dispatch.deliver("dead-worker", ids, push_sender(worker.app))
        db.session.commit()
        db.session.remove()
    assert (late.sent, late.retried, late.dead, late.cancelled) == (0, 0, 0, 0)
    assert len(fake_fcm.messages()) == 1
    assert pushes(world, checkin)[0] == ("checkin", "sent", 2, message_name(1), None)


def metric(api, name: str, **labels: str) -> float | None:
    """The value of one sample of GET /metrics, or None when it is absent."""
    resp = api.get("/metrics")
    assert resp.status_code == 200
    for line in resp.get_data(as_text=True).splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        sample_name, _, rest = sample.partition("{")
        if sample_name == name and dict(re.findall(r'(\w+)="([^"]*)"', rest)) == labels:
            return float(value)
    return None


def test_metrics_show_outbox_depth_age_and_pushes(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    first_checkin(api, clinician, patient)
    sent_before = metric(api, "diary_pushes_total", kind="checkin", outcome="sent") or 0.0

    clock.set(DUE + dt.timedelta(seconds=30))
    text = api.get("/metrics").get_data(as_text=True)
    assert "# TYPE diary_outbox_depth gauge" in text
    assert "# TYPE diary_outbox_oldest_due_age_seconds gauge" in text
    # Four check-ins, each with a first push and a re-send; the "+4h" one waits for 30 s.
    assert metric(api, "diary_outbox_depth", kind="checkin", status="pending") == 4.0
    assert metric(api, "diary_outbox_depth", kind="checkin_resend", status="pending") == 4.0
    assert metric(api, "diary_outbox_oldest_due_age_seconds") == 30.0

    assert tick(worker) == stats(claimed=1, sent=1)

    assert metric(api, "diary_outbox_depth", kind="checkin", status="pending") == 3.0
    assert metric(api, "diary_outbox_depth", kind="checkin_resend", status="pending") == 4.0
    assert metric(api, "diary_outbox_oldest_due_age_seconds") == 0.0
    assert metric(api, "diary_pushes_total", kind="checkin", outcome="sent") == sent_before + 1


def test_metrics_count_failed_pushes(clock, world, api, clinician, fake_fcm, worker):
    patient = patient_utc(world, api, clinician)
    add_device(api, patient, "tok-a")
    fake_fcm.script("tok-a", Answer("UNAVAILABLE"))
    first_checkin(api, clinician, patient)
    failed_before = metric(api, "diary_pushes_total", kind="checkin", outcome="failed") or 0.0

    clock.set(DUE)
    assert tick(worker) == stats(claimed=1, retried=1)
    assert metric(api, "diary_pushes_total", kind="checkin", outcome="failed") == failed_before + 1
    assert metric(api, "diary_outbox_depth", kind="checkin", status="failed") == 1.0
    assert metric(api, "diary_outbox_depth", kind="checkin", status="pending") == 3.0
