"""What the alert test modules share: the clock's starting point, helpers that post data
and read alerts back, a signed-webhook receiver, and the fixtures that wire them (loaded as
a pytest plugin by conftest.py).

The webhook goes to a receiver started here that checks the HMAC signature itself and
refuses stale timestamps, as a real one must; pushes go through the real firebase-admin
client to the fake FCM server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from diary.config import DEFAULT_CRISIS_CONTACTS, DEFAULT_CRISIS_MESSAGE
from diary.extensions import db
from diary.models import Alert, Notification
from diary.timeutil import UTC, utcnow
from diary.worker import Worker
from tests.conftest import Account, Api, fcm_config

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"
KIRITIMATI = "Pacific/Kiritimati"
SECRET = "s3cret"
SAFETY = {"message": DEFAULT_CRISIS_MESSAGE, "contacts": DEFAULT_CRISIS_CONTACTS}
DISPLAY_NAME = "Pat Example"  # what World.invite names every patient
NOTE = "I keep thinking about it NOTE-91c2"

# PHQ-9 answers by total; item 9 (the last) is 0 unless said otherwise.
PHQ9_8 = [1, 1, 1, 1, 1, 1, 1, 1, 0]
PHQ9_12 = [2, 2, 2, 2, 1, 1, 1, 1, 0]
PHQ9_13 = [2, 2, 2, 2, 2, 1, 1, 1, 0]
PHQ9_19 = [3, 3, 3, 3, 3, 3, 1, 0, 0]
PHQ9_20 = [3, 3, 3, 3, 3, 3, 1, 1, 0]
PHQ9_ITEM9 = [0, 0, 0, 0, 0, 0, 0, 0, 1]  # total 1: only item 9

ALERT_FIELDS = {
    "id",
    "patient_id",
    "rule",
    "severity",
    "status",
    "opened_at",
    "details",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "resolved_by",
    "resolution_note",
}


# --- helpers ------------------------------------------------------------------------------------


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def at_local(day: dt.date, hour: int, minute: int, timezone: str) -> dt.datetime:
    """The UTC instant of a wall-clock time on a patient's local day."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def post_entry(api: Api, patient: Account, recorded_at: dt.datetime, *, mood: int = 5, anxiety: int = 5, **extra):
    body = {"id": str(uuid.uuid4()), "recorded_at": iso(recorded_at), "mood": mood, "anxiety": anxiety, **extra}
    resp = api.post("/me/entries", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return resp.json


def post_phq9(api: Api, patient: Account, answers: list[int], recorded_at: dt.datetime = NOW) -> dict:
    body = {"id": str(uuid.uuid4()), "instrument": "phq9", "answers": answers, "recorded_at": iso(recorded_at)}
    resp = api.post("/me/assessments", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return resp.json


def report_self_harm(api: Api, patient: Account, level: int = 1, at: dt.datetime | None = None) -> dict:
    created = post_entry(api, patient, at or utcnow(), mood=2, anxiety=8, self_harm_thoughts=level, note=NOTE)
    assert created["safety"] == SAFETY
    return created


def rules(world, patient_id: str) -> list[tuple]:
    """(rule, severity, status) of a patient's alerts, straight from the table."""
    return world.rows(
        "SELECT rule, severity, status FROM alerts WHERE patient_id = :p ORDER BY opened_at, rule", p=patient_id
    )


def alerts_of(world, patient_id: str) -> list[Alert]:
    """A patient's alerts through the ORM (aware datetimes, decoded JSON), oldest first."""
    with world.app.app_context():
        found = list(
            db.session.scalars(
                select(Alert).where(Alert.patient_id == patient_id).order_by(Alert.opened_at, Alert.rule)
            )
        )
        for alert in found:
            db.session.expunge(alert)
        return found


def only_alert(world, patient_id: str) -> Alert:
    [alert] = alerts_of(world, patient_id)
    return alert


def outbox_of(world, alert_id: str) -> list[tuple]:
    """(kind, dedupe_key, status, due_at, user_id, payload) of an alert's outbox rows."""
    with world.app.app_context():
        rows = db.session.scalars(
            select(Notification).where(Notification.alert_id == alert_id).order_by(Notification.dedupe_key)
        )
        return [(n.kind, n.dedupe_key, n.status, n.due_at, n.user_id, n.payload) for n in rows]


def outbox_row(world, dedupe_key: str) -> Notification:
    with world.app.app_context():
        row = db.session.scalars(select(Notification).where(Notification.dedupe_key == dedupe_key)).one()
        db.session.expunge(row)
        return row


def push_row(alert_id: str, n: int, due_at: dt.datetime, status: str = "pending") -> tuple:
    return ("alert_push", f"alert:{alert_id}:push:{n}", status, due_at, None, {"type": "alert", "alert_id": alert_id})


def webhook_row(alert_id: str, n: int, due_at: dt.datetime, status: str = "pending") -> tuple:
    return ("alert_webhook", f"alert:{alert_id}:webhook:{n}", status, due_at, None, {})


def dedupe_keys(world, alert_id: str) -> list[str]:
    return [row[1] for row in outbox_of(world, alert_id)]


def relogin(world, account: Account) -> Account:
    """The same account with an access token issued now (they live 15 minutes)."""
    issued = world.login(account.email)
    return Account(account.id, account.email, issued["access_token"], issued["refresh_token"], account.clinic_id)


def alert_view(alert: Alert) -> dict[str, Any]:
    """What GET /alerts must show for a stored alert."""
    return {
        "id": alert.id,
        "patient_id": alert.patient_id,
        "rule": alert.rule,
        "severity": alert.severity,
        "status": alert.status,
        "opened_at": iso(alert.opened_at),
        "details": alert.details,
        "acknowledged_at": iso(alert.acknowledged_at) if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by_id,
        "resolved_at": iso(alert.resolved_at) if alert.resolved_at else None,
        "resolved_by": alert.resolved_by_id,
        "resolution_note": alert.resolution_note,
    }


def only_alert_view(world, alert_id: str) -> dict:
    with world.app.app_context():
        return alert_view(db.session.get(Alert, alert_id))


def audit_rows(world) -> list[tuple]:
    return sorted(
        world.rows(
            "SELECT action, actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id"
            " FROM audit_events WHERE action LIKE 'alert.%'"
        )
    )


@pytest.fixture
def ops(world, clinic) -> Account:
    return world.staff(clinic, role="ops")


@pytest.fixture
def hook_config() -> dict[str, str]:
    """Webhook configured (the URL is never called: for tests that only look at the outbox)."""
    return {"ALERT_WEBHOOK_URL": "http://127.0.0.1:9/never-called", "ALERT_WEBHOOK_SECRET": SECRET}


# --- the webhook receiver -------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    verdict: str


@dataclass
class Receiver:
    """An ops tool's end of the webhook: verifies the signature on the raw bytes it got,
    refuses a timestamp older than 5 minutes on the test clock, records everything."""

    clock: Any
    secret: str
    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # scripted statuses for verified requests
    lock: threading.Lock = field(default_factory=threading.Lock)

    def judge(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        stamp = headers.get("X-Diary-Timestamp", "")
        given = headers.get("X-Diary-Signature", "")
        digest = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, f"sha256={digest}"):
            return 401, "bad signature"
        if not stamp.isdigit() or self.clock.now.timestamp() - int(stamp) > 300:
            return 401, "stale"
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
        return status, "accepted" if status == 200 else f"answered {status}"

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.verdict == "accepted"]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@pytest.fixture
def receiver(clock):
    hook = Receiver(clock, SECRET)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name: value for name, value in self.headers.items()}
            status, verdict = hook.judge(headers, body)
            with hook.lock:
                hook.received.append(Received(headers, body, status, verdict))
                n = len(hook.received)
            raw = json.dumps({"verdict": verdict}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("X-Request-ID", f"hook-{n}")
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/diary-alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def hook_app(make_app, fake_fcm, receiver):
    """The app of the worker (and here also the API): webhook to the receiver, pushes to fake FCM."""
    app = make_app(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET, **fcm_config(fake_fcm))
    yield app
    push = app.extensions.get("diary.push_sender")
    if push is not None:
        push.close()
    hook = app.extensions.get("diary.webhook_sender")
    if hook is not None:
        hook.session.close()


def stats(worker: Worker) -> dict[str, int]:
    return vars(worker.dispatch_tick())


def sent(**counts: int) -> dict[str, int]:
    return {"claimed": 0, "sent": 0, "retried": 0, "dead": 0, "cancelled": 0, **counts}
