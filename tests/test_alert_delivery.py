"""Alert delivery: escalation of unacknowledged critical alerts, the signed webhook, staff
pushes, end to end through the worker.

Data goes in through the API (POST /me/entries, POST /me/assessments) on the controlled
clock; rows are read back from the database. The clock starts at NOW (2026-03-01 12:00Z):
13:00 in Berlin, 02:00 on 2 March in Kiritimati (UTC+14), so a patient there is already on
the next local day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid

import requests

from diary.domain import alerts as alert_rules
from diary.domain.dispatch import PUSH_TEXT
from diary.extensions import db
from diary.worker import Worker
from tests.alerting import (
    DISPLAY_NAME,
    NOTE,
    NOW,
    PHQ9_20,
    SAFETY,
    dedupe_keys,
    iso,
    only_alert,
    outbox_of,
    outbox_row,
    post_phq9,
    push_row,
    relogin,
    report_self_harm,
    sent,
    stats,
    webhook_row,
)
from tests.conftest import Account, Api

# --- escalation -----------------------------------------------------------------------------------


def escalate(app, now: dt.datetime) -> int:
    with app.app_context():
        try:
            delivered = alert_rules.escalate(now)
            db.session.commit()  # the worker commits each job
            return delivered
        finally:
            db.session.remove()


def test_an_unacknowledged_critical_alert_is_delivered_again_every_15_minutes(
    clock, world, clinician, make_app, hook_config
):
    clock.set(NOW)
    app = make_app(**hook_config)
    client = Api(app.test_client())
    patient = world.patient(clinician)
    report_self_harm(client, patient)
    alert_id = only_alert(world, patient.id).id

    def keys(*ns: int) -> list[str]:
        return sorted([f"alert:{alert_id}:push:{n}" for n in ns] + [f"alert:{alert_id}:webhook:{n}" for n in ns])

    assert dedupe_keys(world, alert_id) == keys(1)

    clock.set(NOW + dt.timedelta(minutes=14))
    assert escalate(app, clock.now) == 0
    assert dedupe_keys(world, alert_id) == keys(1)

    clock.set(NOW + dt.timedelta(minutes=15))
    assert escalate(app, clock.now) == 1
    assert dedupe_keys(world, alert_id) == keys(1, 2)
    at_15 = NOW + dt.timedelta(minutes=15)
    assert outbox_of(world, alert_id)[1] == push_row(alert_id, 2, at_15)
    assert outbox_of(world, alert_id)[3] == webhook_row(alert_id, 2, at_15)
    assert escalate(app, clock.now) == 0  # the same minute again: nothing more

    clock.set(NOW + dt.timedelta(minutes=29))
    assert escalate(app, clock.now) == 0
    assert dedupe_keys(world, alert_id) == keys(1, 2)

    # The worker's maintenance tick escalates too.
    clock.set(NOW + dt.timedelta(minutes=30))
    Worker(app, worker_id="w1").maintenance_tick()
    assert dedupe_keys(world, alert_id) == keys(1, 2, 3)
    alert = only_alert(world, patient.id)
    assert (alert.deliveries, alert.last_delivery_at, alert.opened_at) == (
        3,
        NOW + dt.timedelta(minutes=30),
        NOW,
    )

    # Acknowledged: no more.
    clock.set(NOW + dt.timedelta(minutes=31))
    staff = relogin(world, clinician)
    assert client.post(f"/alerts/{alert_id}/acknowledge", token=staff.token).status_code == 200
    for minutes in (45, 46, 60, 120):
        clock.set(NOW + dt.timedelta(minutes=minutes))
        assert escalate(app, clock.now) == 0
    assert dedupe_keys(world, alert_id) == keys(1, 2, 3)


def test_warnings_never_escalate(clock, world, api, clinician, make_app, hook_config):
    clock.set(NOW)
    app = make_app(**hook_config)
    patient = world.patient(clinician)
    post_phq9(Api(app.test_client()), patient, PHQ9_20)
    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.severity, alert.status) == ("phq9_worsening", "warning", "open")

    for minutes in (15, 30, 60, 24 * 60):
        clock.set(NOW + dt.timedelta(minutes=minutes))
        assert escalate(app, clock.now) == 0
    assert dedupe_keys(world, alert.id) == [f"alert:{alert.id}:push:1", f"alert:{alert.id}:webhook:1"]


# --- the webhook ----------------------------------------------------------------------------------


def test_the_webhook_is_signed_and_carries_ids_only(clock, world, clinician, hook_app, receiver):
    clock.set(NOW)
    client = Api(hook_app.test_client())
    patient = world.patient(clinician)
    entry = report_self_harm(client, patient, level=3)
    alert = only_alert(world, patient.id)

    assert stats(Worker(hook_app, worker_id="w1")) == sent(claimed=2, sent=1, cancelled=1)  # no staff device yet

    [got] = receiver.all()
    assert (got.status, got.verdict) == (200, "accepted")
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Diary-Timestamp"] == str(int(NOW.timestamp()))
    # The receiver's own check passed; here is the arithmetic once more, spelled out.
    signed = f"{got.headers['X-Diary-Timestamp']}.".encode() + got.body
    assert got.headers["X-Diary-Signature"] == "sha256=" + hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert json.loads(got.body) == {
        "alert_id": alert.id,
        "clinic_id": clinician.clinic_id,
        "patient_id": patient.id,
        "rule": "self_harm",
        "severity": "critical",
        "opened_at": "2026-03-01T12:00:00Z",
    }
    text = got.body.decode()
    for secret in (DISPLAY_NAME, patient.email, NOTE, "NOTE-91c2", entry["id"]):
        assert secret not in text
    for word in ("name", "email", "note", "score", "total", "mood", "anxiety", "details"):
        assert word not in text.lower()

    row = outbox_row(world, f"alert:{alert.id}:webhook:1")
    assert (row.status, row.attempts, row.sent_at, row.delivered_device_ids, row.provider_message_id) == (
        "sent",
        1,
        NOW,
        ["webhook"],
        "hook-1",
    )
    # Delivered once: later ticks send nothing more.
    clock.advance(minutes=1)
    assert stats(Worker(hook_app, worker_id="w1")) == sent()
    assert len(receiver.all()) == 1


def test_a_captured_webhook_cannot_be_replayed_later(clock, world, clinician, hook_app, receiver):
    clock.set(NOW)
    patient = world.patient(clinician)
    report_self_harm(Api(hook_app.test_client()), patient)
    Worker(hook_app, worker_id="w1").dispatch_tick()
    [captured] = receiver.accepted()
    headers = {name: captured.headers[name] for name in ("Content-Type", "X-Diary-Timestamp", "X-Diary-Signature")}

    def replay(body: bytes = captured.body) -> int:
        return requests.post(receiver.url, data=body, headers=headers, timeout=5).status_code

    # The receiver really checks the signature: a body altered in flight is refused at once.
    assert replay(captured.body.replace(b'"critical"', b'"warning"')) == 401
    assert receiver.all()[-1].verdict == "bad signature"
    # Within 5 minutes the signature still verifies (a receiver dedupes on alert_id) ...
    clock.advance(minutes=5)
    assert replay() == 200
    # ... after that the timestamp is too old, and the captured request is worthless.
    clock.advance(minutes=1)
    assert replay() == 401
    assert receiver.all()[-1].verdict == "stale"
    assert [r.verdict for r in receiver.all()] == ["accepted", "bad signature", "accepted", "stale"]


def test_a_webhook_answered_500_is_retried(clock, world, clinician, hook_app, receiver):
    clock.set(NOW)
    patient = world.patient(clinician)
    report_self_harm(Api(hook_app.test_client()), patient)
    alert_id = only_alert(world, patient.id).id
    receiver.answers.append(500)
    worker = Worker(hook_app, worker_id="w1")

    assert stats(worker) == sent(claimed=2, retried=1, cancelled=1)
    failed = outbox_row(world, f"alert:{alert_id}:webhook:1")
    assert (failed.status, failed.attempts, failed.last_error, failed.sent_at) == ("failed", 1, "HTTP 500", None)
    assert NOW + dt.timedelta(seconds=15) <= failed.next_attempt_at <= NOW + dt.timedelta(seconds=30)

    clock.set(failed.next_attempt_at - dt.timedelta(seconds=1))
    assert stats(worker) == sent()
    clock.set(failed.next_attempt_at)
    assert stats(worker) == sent(claimed=1, sent=1)

    retried = outbox_row(world, f"alert:{alert_id}:webhook:1")
    assert (retried.status, retried.attempts, retried.last_error, retried.sent_at) == (
        "sent",
        2,
        None,
        failed.next_attempt_at,
    )
    first, second = receiver.all()
    assert [(r.status, r.verdict) for r in (first, second)] == [(500, "answered 500"), (200, "accepted")]
    assert second.body == first.body
    # Signed afresh at the time of the retry.
    assert second.headers["X-Diary-Timestamp"] == str(int(failed.next_attempt_at.timestamp()))


def test_a_webhook_answered_400_is_dead(clock, world, clinician, hook_app, receiver):
    clock.set(NOW)
    patient = world.patient(clinician)
    report_self_harm(Api(hook_app.test_client()), patient)
    alert_id = only_alert(world, patient.id).id
    receiver.answers.append(400)
    worker = Worker(hook_app, worker_id="w1")

    assert stats(worker) == sent(claimed=2, dead=1, cancelled=1)
    dead = outbox_row(world, f"alert:{alert_id}:webhook:1")
    assert (dead.status, dead.attempts, dead.last_error, dead.sent_at) == ("dead", 1, "rejected: HTTP 400", None)

    clock.advance(hours=1)
    assert stats(worker) == sent()
    assert [(r.status, r.verdict) for r in receiver.all()] == [(400, "answered 400")]


def test_self_harm_end_to_end(clock, world, api, clinician, ops, hook_app, receiver, fake_fcm):
    clock.set(NOW)
    client = Api(hook_app.test_client())
    patient = world.patient(clinician)
    elsewhere = world.staff(world.clinic("Other Clinic"))

    def add_device(account: Account, token: str, platform: str) -> str:
        resp = client.post("/me/devices", {"token": token, "platform": platform}, token=account.token)
        assert resp.status_code == 201, resp.json
        return resp.json["id"]

    devices = {
        "tok-clinician": add_device(clinician, "tok-clinician", "ios"),
        "tok-ops": add_device(ops, "tok-ops", "android"),
    }
    add_device(patient, "tok-patient", "android")
    add_device(elsewhere, "tok-other-clinic", "android")

    resp = client.post(
        "/me/entries",
        {
            "id": str(uuid.uuid4()),
            "recorded_at": iso(NOW),
            "mood": 1,
            "anxiety": 9,
            "self_harm_thoughts": 3,
            "note": NOTE,
        },
        token=patient.token,
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["safety"] == SAFETY
    alert = only_alert(world, patient.id)

    assert stats(Worker(hook_app, worker_id="w1")) == sent(claimed=2, sent=2)

    # The webhook: one signed request, verified by the receiver.
    [hook] = receiver.all()
    assert (hook.status, hook.verdict) == (200, "accepted")
    assert json.loads(hook.body) == {
        "alert_id": alert.id,
        "clinic_id": clinician.clinic_id,
        "patient_id": patient.id,
        "rule": "self_harm",
        "severity": "critical",
        "opened_at": iso(NOW),
    }
    # The pushes: one per staff device of the clinic, generic, ids only.
    messages = fake_fcm.messages()
    assert sorted(m["token"] for m in messages) == ["tok-clinician", "tok-ops"]
    title, body = PUSH_TEXT["alert_push"]
    for message in messages:
        assert message["data"] == {"type": "alert", "alert_id": alert.id}
        assert message["notification"] == {"title": title, "body": body}
        text = json.dumps(message)
        for secret in (DISPLAY_NAME, patient.email, patient.id, NOTE, "NOTE-91c2"):
            assert secret not in text
        for word in ("mood", "anxiety", "self_harm", "harm", "note", "score"):
            assert word not in text.lower()
    push = outbox_row(world, f"alert:{alert.id}:push:1")
    assert (push.status, push.attempts, push.sent_at) == ("sent", 1, NOW)
    assert sorted(push.delivered_device_ids) == sorted(devices.values())

    # Nothing more on the next tick.
    clock.advance(minutes=1)
    assert stats(Worker(hook_app, worker_id="w1")) == sent()
    assert len(fake_fcm.messages()) == 2
    assert len(receiver.all()) == 1


def test_an_alert_acknowledged_before_delivery_is_not_sent(clock, world, clinician, hook_app, receiver, fake_fcm):
    clock.set(NOW)
    client = Api(hook_app.test_client())
    assert client.post("/me/devices", {"token": "tok-c", "platform": "ios"}, token=clinician.token).status_code == 201
    patient = world.patient(clinician)
    report_self_harm(client, patient)
    alert_id = only_alert(world, patient.id).id
    assert client.post(f"/alerts/{alert_id}/acknowledge", token=clinician.token).status_code == 200

    assert stats(Worker(hook_app, worker_id="w1")) == sent(claimed=2, cancelled=2)

    assert fake_fcm.messages() == []
    assert receiver.all() == []
    assert [(kind, status) for kind, _, status, *_ in outbox_of(world, alert_id)] == [
        ("alert_push", "cancelled"),
        ("alert_webhook", "cancelled"),
    ]
