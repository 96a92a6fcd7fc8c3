"""Alert rules, the alert lifecycle, escalation and delivery (API.md "Alert rules").

Data goes in through the API (POST /me/entries, POST /me/assessments) on the controlled
clock; rows are read back from the database. The webhook goes to a receiver started here
that checks the HMAC signature itself and refuses stale timestamps, as a real one must;
pushes go through the real firebase-admin client to the fake FCM server.

The clock starts at NOW (2026-03-01 12:00Z): 13:00 in Berlin, 02:00 on 2 March in
Kiritimati (UTC+14), so a patient there is already on the next local day.
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
import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from diary.config import DEFAULT_CRISIS_CONTACTS, DEFAULT_CRISIS_MESSAGE
from diary.domain import alerts as alert_rules
from diary.domain import maintenance
from diary.domain.dispatch import PUSH_TEXT
from diary.extensions import db
from diary.models import Alert, Notification
from diary.timeutil import UTC, local_date, utcnow
from diary.worker import Worker
from tests.conftest import Account, Api, fcm_config
from tests.helpers import denials, denied, expect_error

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


# --- mood_drop and anxiety_rise -------------------------------------------------------------------

OTHER = {"mood": "anxiety", "anxiety": "mood"}
RULE = {"mood": "mood_drop", "anxiety": "anxiety_rise"}


@pytest.mark.parametrize(
    ("measure", "baseline", "recent", "fires"),
    [
        # mean 6 -> 4: a drop of exactly 2.0
        pytest.param("mood", [6] * 5, [4], True, id="mood-minus-2.0"),
        # 41/5 = 8.2 -> 31/5 = 6.2: exactly -2.0, though in floats 6.2 - 8.2 > -2.0
        pytest.param("mood", [8, 8, 8, 8, 9], [7, 6, 6, 6, 6], True, id="mood-minus-2.0-in-fractions"),
        # 59/10 = 5.9 -> 4: -1.9
        pytest.param("mood", [6] * 9 + [5], [4], False, id="mood-minus-1.9"),
        pytest.param("mood", [6] * 4, [0], False, id="mood-only-4-baseline-entries"),
        pytest.param("anxiety", [2] * 5, [4], True, id="anxiety-plus-2.0"),
        # 9/5 = 1.8 -> 19/5 = 3.8: exactly +2.0, though in floats 3.8 - 1.8 < 2.0
        pytest.param("anxiety", [2, 2, 2, 2, 1], [3, 4, 4, 4, 4], True, id="anxiety-plus-2.0-in-fractions"),
        # 31/10 = 3.1 -> 5: +1.9
        pytest.param("anxiety", [3] * 9 + [4], [5], False, id="anxiety-plus-1.9"),
        pytest.param("anxiety", [2] * 4, [10], False, id="anxiety-only-4-baseline-entries"),
    ],
)
def test_trend_rules_fire_at_exactly_the_threshold(clock, world, api, clinician, measure, baseline, recent, fires):
    clock.set(NOW)
    patient = world.patient(clinician, timezone=BERLIN)
    today = local_date(NOW, BERLIN)
    steady = {OTHER[measure]: 5}
    # One baseline entry a day, from the day before the recent window backwards.
    for i, value in enumerate(baseline):
        post_entry(
            api, patient, at_local(today - dt.timedelta(days=3 + i), 10, 0, BERLIN), **{measure: value}, **steady
        )
    assert rules(world, patient.id) == []

    # The recent entries, in an order whose running mean reaches the threshold only at the end.
    for i, value in enumerate(recent):
        if i:
            assert rules(world, patient.id) == [], f"fired before the mean reached the threshold (entry {i})"
        post_entry(api, patient, at_local(today - dt.timedelta(days=i % 3), 9, i, BERLIN), **{measure: value}, **steady)

    if not fires:
        assert rules(world, patient.id) == []
        assert world.rows("SELECT count(*) FROM notifications WHERE alert_id IS NOT NULL") == [(0,)]
        return
    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.severity, alert.status, alert.opened_at) == (RULE[measure], "warning", "open", NOW)
    change = -2.0 if measure == "mood" else 2.0
    assert alert.details == {f"{measure}_change": change, f"{OTHER[measure]}_change": 0.0}
    # A new alert is delivered, like every other.
    assert outbox_of(world, alert.id) == [push_row(alert.id, 1, NOW)]


@pytest.mark.parametrize(("days_back", "fires"), [(16, True), (17, False)])
def test_the_baseline_is_the_14_local_days_before_the_recent_3(clock, world, api, clinician, days_back, fires):
    clock.set(NOW)
    patient = world.patient(clinician, timezone=BERLIN)
    today = local_date(NOW, BERLIN)
    # Four baseline entries inside the window, and a fifth on its first day (16 days back) or just before.
    for back in (3, 4, 5, 6, days_back):
        post_entry(api, patient, at_local(today - dt.timedelta(days=back), 10, 0, BERLIN), mood=6)
    post_entry(api, patient, at_local(today - dt.timedelta(days=2), 10, 0, BERLIN), mood=4)

    assert rules(world, patient.id) == ([("mood_drop", "warning", "open")] if fires else [])


@pytest.mark.parametrize(("timezone", "fires"), [(KIRITIMATI, True), ("UTC", False)])
def test_the_recent_window_is_the_patients_last_3_local_days(clock, world, api, clinician, timezone, fires):
    """The same instants for two patients. At NOW (12:00Z on 1 March) it is 2 March in
    Kiritimati: its last 3 days are 28 Feb - 2 Mar, so 27 Feb 23:30 local is baseline and
    a drop of 2.0 shows. In UTC the last 3 days are 27 Feb - 1 Mar: the entry of 27 Feb
    09:30Z is recent and only 4 baseline entries are left, so nothing fires."""
    clock.set(NOW)
    patient = world.patient(clinician, timezone=timezone)
    for day in (23, 24, 25, 26, 27):
        post_entry(api, patient, dt.datetime(2026, 2, day, 9, 30, tzinfo=UTC), mood=6)
    # 00:30 on 2 March in Kiritimati; still 1 March in UTC.
    last = post_entry(api, patient, dt.datetime(2026, 3, 1, 10, 30, tzinfo=UTC), mood=4)
    assert last["local_date"] == ("2026-03-02" if timezone == KIRITIMATI else "2026-03-01")

    if fires:
        alert = only_alert(world, patient.id)
        assert (alert.rule, alert.status, alert.details) == (
            "mood_drop",
            "open",
            {"mood_change": -2.0, "anxiety_change": 0.0},
        )
    else:
        assert rules(world, patient.id) == []


@pytest.mark.parametrize(
    ("days_back", "recent", "baseline"),
    [
        pytest.param(-1, (0, 0, 0), (0, 0, 0), id="tomorrow-not-counted"),
        pytest.param(0, (1, 7, 2), (0, 0, 0), id="today-recent"),
        pytest.param(2, (1, 7, 2), (0, 0, 0), id="first-recent-day"),
        pytest.param(3, (0, 0, 0), (1, 7, 2), id="last-baseline-day"),
        pytest.param(16, (0, 0, 0), (1, 7, 2), id="first-baseline-day"),
        pytest.param(17, (0, 0, 0), (0, 0, 0), id="before-the-windows"),
    ],
)
def test_a_new_entry_is_added_to_the_window_its_local_day_falls_in(app_ctx, days_back, recent, baseline):
    """On PostgreSQL the INSERT's own aggregate cannot see the row it inserts: the entry is
    added to the windows in Python, and must land exactly where the aggregate would count it."""
    today = dt.date(2026, 3, 1)
    windows = alert_rules.TrendWindows.ending(today)
    assert (windows.recent_first, windows.base_first) == (dt.date(2026, 2, 27), dt.date(2026, 2, 13))
    added = windows.adding(today - dt.timedelta(days=days_back), mood=7, anxiety=2)
    assert (added.recent, added.baseline) == (recent, baseline)


def test_a_trend_that_persists_updates_its_one_open_alert(clock, world, api, clinician):
    clock.set(NOW)
    patient = world.patient(clinician, timezone=BERLIN)
    today = local_date(NOW, BERLIN)
    for back in range(3, 8):
        post_entry(api, patient, at_local(today - dt.timedelta(days=back), 10, 0, BERLIN), mood=6)
    post_entry(api, patient, at_local(today, 8, 0, BERLIN), mood=4)
    clock.advance(minutes=10)
    post_entry(api, patient, at_local(today, 9, 0, BERLIN), mood=2)

    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.status, alert.opened_at) == ("mood_drop", "open", NOW)
    assert alert.details == {
        "mood_change": -3.0,
        "anxiety_change": 0.0,
        "last_triggered_at": iso(NOW + dt.timedelta(minutes=10)),
    }
    assert dedupe_keys(world, alert.id) == [f"alert:{alert.id}:push:1"]


# --- phq9_worsening -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "total", "fires"),
    [pytest.param(PHQ9_13, 13, True, id="8-to-13"), pytest.param(PHQ9_12, 12, False, id="8-to-12")],
)
def test_phq9_rise_of_5_from_the_previous_one(clock, world, api, clinician, second, total, fires):
    clock.set(NOW)
    patient = world.patient(clinician)
    assert post_phq9(api, patient, PHQ9_8, NOW - dt.timedelta(days=7))["total"] == 8
    assert rules(world, patient.id) == []

    latest = post_phq9(api, patient, second)
    assert latest["total"] == total
    assert "safety" not in latest

    if not fires:
        assert rules(world, patient.id) == []
        return
    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.severity, alert.status) == ("phq9_worsening", "warning", "open")
    assert alert.details == {"assessment_id": latest["id"], "total": 13, "previous_total": 8}
    assert outbox_of(world, alert.id) == [push_row(alert.id, 1, NOW)]


@pytest.mark.parametrize(
    ("answers", "total", "fires"),
    [pytest.param(PHQ9_20, 20, True, id="first-20"), pytest.param(PHQ9_19, 19, False, id="first-19")],
)
def test_phq9_of_20_or_more_fires_on_its_own(clock, world, api, clinician, answers, total, fires):
    clock.set(NOW)
    patient = world.patient(clinician)

    first = post_phq9(api, patient, answers)

    assert (first["total"], first["severity"]) == (total, "severe" if fires else "moderately_severe")
    if not fires:
        assert rules(world, patient.id) == []
        return
    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.severity, alert.status) == ("phq9_worsening", "warning", "open")
    assert alert.details == {"assessment_id": first["id"], "total": 20, "previous_total": None}


def test_a_gad7_never_raises_phq9_worsening(clock, world, api, clinician):
    clock.set(NOW)
    patient = world.patient(clinician)
    body = {"id": str(uuid.uuid4()), "instrument": "gad7", "answers": [3] * 7, "recorded_at": iso(NOW)}

    resp = api.post("/me/assessments", body, token=patient.token)

    assert resp.status_code == 201, resp.json
    assert resp.json["total"] == 21
    assert rules(world, patient.id) == []


# --- self_harm ------------------------------------------------------------------------------------


@pytest.mark.parametrize("webhook", [False, True], ids=["push-only", "push-and-webhook"])
def test_a_self_harm_entry_raises_a_critical_alert_in_the_same_request(
    clock, world, api, clinician, make_app, hook_config, webhook
):
    clock.set(NOW)
    patient = world.patient(clinician)
    client = Api(make_app(**hook_config).test_client()) if webhook else api

    entry = post_entry(client, patient, NOW, mood=2, self_harm_thoughts=1, note=NOTE)

    assert entry["safety"] == SAFETY
    # Committed with the entry: a fresh session sees it.
    [(alert_id, clinic_id, rule, severity, status)] = world.rows(
        "SELECT id, clinic_id, rule, severity, status FROM alerts WHERE patient_id = :p", p=patient.id
    )
    assert (clinic_id, rule, severity, status) == (clinician.clinic_id, "self_harm", "critical", "open")
    alert = only_alert(world, patient.id)
    assert alert.details == {"source": "entry", "entry_id": entry["id"]}
    assert (alert.opened_at, alert.deliveries, alert.last_delivery_at) == (NOW, 1, NOW)
    assert alert.acknowledged_at is alert.acknowledged_by_id is alert.resolved_at is None
    expected = [push_row(alert_id, 1, NOW)] + ([webhook_row(alert_id, 1, NOW)] if webhook else [])
    assert outbox_of(world, alert_id) == expected


@pytest.mark.parametrize("webhook", [False, True], ids=["push-only", "push-and-webhook"])
def test_a_phq9_with_item_9_raises_the_self_harm_alert(clock, world, api, clinician, make_app, hook_config, webhook):
    clock.set(NOW)
    patient = world.patient(clinician)
    client = Api(make_app(**hook_config).test_client()) if webhook else api

    assessment = post_phq9(client, patient, PHQ9_ITEM9)

    assert assessment["safety"] == SAFETY
    assert assessment["total"] == 1
    [(alert_id, rule, severity, status)] = world.rows(
        "SELECT id, rule, severity, status FROM alerts WHERE patient_id = :p", p=patient.id
    )
    assert (rule, severity, status) == ("self_harm", "critical", "open")
    assert only_alert(world, patient.id).details == {"source": "phq9", "assessment_id": assessment["id"]}
    expected = [push_row(alert_id, 1, NOW)] + ([webhook_row(alert_id, 1, NOW)] if webhook else [])
    assert outbox_of(world, alert_id) == expected


@pytest.mark.parametrize("level", [0, None])
def test_no_self_harm_thoughts_no_alert(clock, world, api, clinician, level):
    clock.set(NOW)
    patient = world.patient(clinician)

    entry = post_entry(api, patient, NOW, self_harm_thoughts=level)
    assessment = post_phq9(api, patient, PHQ9_8)

    assert "safety" not in entry
    assert "safety" not in assessment
    assert rules(world, patient.id) == []
    assert world.rows("SELECT count(*) FROM notifications") == [(0,)]


def test_self_harm_in_a_batch_or_an_edit_raises_the_alert(clock, world, api, clinician):
    clock.set(NOW)
    batched, edited = world.patient(clinician), world.patient(clinician)
    entry_id = str(uuid.uuid4())
    batch = {"entries": [{"id": entry_id, "recorded_at": iso(NOW), "mood": 3, "anxiety": 7, "self_harm_thoughts": 2}]}

    resp = api.post("/me/entries/batch", batch, token=batched.token)
    assert resp.status_code == 200, resp.json
    assert resp.json["safety"] == SAFETY
    assert rules(world, batched.id) == [("self_harm", "critical", "open")]
    assert only_alert(world, batched.id).details == {"source": "entry", "entry_id": entry_id}

    calm = post_entry(api, edited, NOW, self_harm_thoughts=0)
    assert rules(world, edited.id) == []
    resp = api.patch(f"/me/entries/{calm['id']}", {"self_harm_thoughts": 1}, token=edited.token)
    assert resp.status_code == 200, resp.json
    assert rules(world, edited.id) == [("self_harm", "critical", "open")]
    assert only_alert(world, edited.id).details == {"source": "entry", "entry_id": calm["id"]}


def test_a_second_report_while_open_updates_the_one_alert(clock, world, api, clinician):
    clock.set(NOW)
    patient = world.patient(clinician)
    first = report_self_harm(api, patient)
    alert_id = only_alert(world, patient.id).id

    clock.advance(minutes=10)
    second = report_self_harm(api, patient, level=3)
    clock.advance(minutes=1)
    phq9 = post_phq9(api, patient, PHQ9_ITEM9)

    assert second["id"] != first["id"]
    assert phq9["safety"] == SAFETY
    assert world.rows(
        "SELECT id, status FROM alerts WHERE patient_id = :p AND status IN ('open', 'acknowledged')", p=patient.id
    ) == [(alert_id, "open")]
    alert = only_alert(world, patient.id)
    assert (alert.opened_at, alert.deliveries) == (NOW, 1)
    assert alert.details == {
        "source": "phq9",
        "entry_id": second["id"],
        "assessment_id": phq9["id"],
        "last_triggered_at": iso(NOW + dt.timedelta(minutes=11)),
    }
    # Still open, someone is being paged already: no second delivery.
    assert dedupe_keys(world, alert_id) == [f"alert:{alert_id}:push:1"]


def test_a_self_harm_report_after_acknowledge_reopens_the_alert(clock, world, api, clinician, make_app, hook_config):
    clock.set(NOW)
    client = Api(make_app(**hook_config).test_client())
    patient = world.patient(clinician)
    report_self_harm(client, patient)
    alert_id = only_alert(world, patient.id).id

    clock.advance(minutes=5)
    acked = client.post(f"/alerts/{alert_id}/acknowledge", token=clinician.token)
    assert acked.status_code == 200, acked.json
    assert acked.json["status"] == "acknowledged"

    clock.advance(minutes=5)
    again = report_self_harm(client, patient, level=2)

    alert = only_alert(world, patient.id)
    assert alert.id == alert_id
    assert (alert.status, alert.acknowledged_at, alert.acknowledged_by_id) == ("open", None, None)
    assert (alert.opened_at, alert.deliveries, alert.last_delivery_at) == (NOW, 2, NOW + dt.timedelta(minutes=10))
    assert alert.details["entry_id"] == again["id"]
    assert outbox_of(world, alert_id) == [
        push_row(alert_id, 1, NOW),
        push_row(alert_id, 2, NOW + dt.timedelta(minutes=10)),
        webhook_row(alert_id, 1, NOW),
        webhook_row(alert_id, 2, NOW + dt.timedelta(minutes=10)),
    ]


def test_a_warning_trigger_on_an_acknowledged_warning_does_not_reopen_it(clock, world, api, clinician):
    clock.set(NOW)
    patient = world.patient(clinician)
    post_phq9(api, patient, PHQ9_20)
    alert_id = only_alert(world, patient.id).id
    assert api.post(f"/alerts/{alert_id}/acknowledge", token=clinician.token).status_code == 200

    clock.advance(minutes=5)
    post_phq9(api, patient, PHQ9_20)

    alert = only_alert(world, patient.id)
    assert (alert.id, alert.status, alert.acknowledged_by_id, alert.deliveries) == (
        alert_id,
        "acknowledged",
        clinician.id,
        1,
    )
    assert dedupe_keys(world, alert_id) == [f"alert:{alert_id}:push:1"]


# --- one unresolved alert per patient and rule, in the database ----------------------------------


def test_the_database_refuses_a_second_unresolved_alert_for_a_patient_and_rule(clock, world, clinician, app):
    clock.set(NOW)
    patient = world.patient(clinician)

    def add(status: str, rule: str = "self_harm") -> None:
        db.session.add(
            Alert(
                clinic_id=clinician.clinic_id,
                patient_id=patient.id,
                rule=rule,
                severity=alert_rules.SEVERITY[rule],
                status=status,
                opened_at=NOW,
                details={},
                deliveries=0,
            )
        )
        db.session.commit()

    with app.app_context():
        add("open")
        for status in ("open", "acknowledged"):
            with pytest.raises(IntegrityError):
                add(status)
            db.session.rollback()
        # Resolved alerts do not count, and another rule is another alert.
        add("resolved")
        add("resolved")
        add("acknowledged", rule="mood_drop")
        # Nor can a resolved one be brought back while another is unresolved.
        resolved = db.session.scalars(select(Alert).where(Alert.status == "resolved")).first()
        resolved.status = "open"
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()

    assert sorted(world.rows("SELECT rule, status FROM alerts WHERE patient_id = :p", p=patient.id)) == [
        ("mood_drop", "acknowledged"),
        ("self_harm", "open"),
        ("self_harm", "resolved"),
        ("self_harm", "resolved"),
    ]


def test_two_concurrent_self_harm_reports_open_one_alert(clock, world, clinician, app, backend, monkeypatch):
    """Two requests at once, each in its own test client and thread. Both look for an
    unresolved alert before either has written one (the look-up waits for the other at a
    barrier), so both try to insert: the database lets one win and the other updates it."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers: two transactions never interleave here; PostgreSQL shows the race")
    clock.set(NOW)
    patient = world.patient(clinician)

    real_lookup = alert_rules._unresolved
    lookups: list[bool] = []
    lock = threading.Lock()
    both_looked = threading.Barrier(2, timeout=20)

    def racing_lookup(patient_id: str, rule: str):
        found = real_lookup(patient_id, rule)
        with lock:
            lookups.append(found is None)
            first_two = len(lookups) <= 2
        if first_two:
            both_looked.wait()
        return found

    monkeypatch.setattr(alert_rules, "_unresolved", racing_lookup)
    start = threading.Barrier(2, timeout=20)
    results: dict[int, Any] = {}

    def report(n: int) -> None:
        client = Api(app.test_client())
        body = {"id": str(uuid.uuid4()), "recorded_at": iso(NOW), "mood": 1, "anxiety": 9, "self_harm_thoughts": 3}
        start.wait()
        try:
            resp = client.post("/me/entries", body, token=patient.token)
            results[n] = (resp.status_code, resp.json)
        except Exception as error:  # reported below, not lost in the thread
            results[n] = error

    threads = [threading.Thread(target=report, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [results[n][0] for n in (1, 2)] == [201, 201], results
    assert all(results[n][1]["safety"] == SAFETY for n in (1, 2))
    # Both looked and found nothing; the loser's insert failed and its second look found the winner's.
    assert lookups == [True, True, False]
    [(alert_id, status)] = world.rows(
        "SELECT id, status FROM alerts WHERE patient_id = :p AND rule = 'self_harm'", p=patient.id
    )
    assert status == "open"
    alert = only_alert(world, patient.id)
    assert alert.details["entry_id"] in {results[1][1]["id"], results[2][1]["id"]}
    assert "last_triggered_at" in alert.details  # the loser updated the winner's alert
    assert dedupe_keys(world, alert_id) == [f"alert:{alert_id}:push:1"]
    assert world.rows("SELECT count(*) FROM entries WHERE patient_id = :p", p=patient.id) == [(2,)]


# --- disengaged -----------------------------------------------------------------------------------


def evaluate_disengagement(app, now: dt.datetime) -> int:
    with app.app_context():
        try:
            maintenance.expire_checkins(now)  # as the worker's tick does first
            raised = alert_rules.evaluate_disengagement(now)
            db.session.commit()  # the worker commits each job
            return raised
        finally:
            db.session.remove()


@pytest.mark.parametrize(
    ("evaluated_at", "last_entry_at", "days", "fires"),
    [
        # 02:00 on 2 Mar in Kiritimati; last entry 23:30 on 26 Feb local: 4 local days, only 3 days 2.5 h ago
        # (and 3 days by UTC dates).
        pytest.param(NOW, dt.datetime(2026, 2, 26, 9, 30, tzinfo=UTC), 4, True, id="4-local-days"),
        # 23:00 on 2 Mar local; last entry 01:00 on 27 Feb local: 3 local days, though 3 days 22 h ago
        # (and 4 days by UTC dates).
        pytest.param(
            dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            dt.datetime(2026, 2, 26, 11, 0, tzinfo=UTC),
            3,
            False,
            id="3-local-days",
        ),
        # No entry at all: counted from enrolment (02:00 on 2 Mar local).
        pytest.param(dt.datetime(2026, 3, 5, 10, 0, tzinfo=UTC), None, 4, True, id="enrolled-4-local-days-ago"),
        pytest.param(dt.datetime(2026, 3, 5, 9, 59, tzinfo=UTC), None, 3, False, id="enrolled-3-local-days-ago"),
    ],
)
def test_disengaged_after_4_local_days_without_an_entry(
    clock, world, api, app, clinician, evaluated_at, last_entry_at, days, fires
):
    clock.set(NOW)
    patient = world.patient(clinician, timezone=KIRITIMATI)
    world.invite(clinician, timezone=KIRITIMATI)  # invited, never enrolled: not watched
    if last_entry_at is not None:
        post_entry(api, patient, last_entry_at)

    clock.set(evaluated_at)
    raised = evaluate_disengagement(app, evaluated_at)

    if not fires:
        assert raised == 0
        assert world.rows("SELECT count(*) FROM alerts") == [(0,)]
        return
    assert raised == 1
    assert world.rows("SELECT count(*) FROM alerts") == [(1,)]
    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.severity, alert.status, alert.opened_at) == (
        "disengaged",
        "warning",
        "open",
        evaluated_at,
    )
    assert alert.details == {"days_without_entry": days, "expired_checkins_in_a_row": 0}
    assert outbox_of(world, alert.id) == [push_row(alert.id, 1, evaluated_at)]

    # The next scan finds the same patient: still one alert, no second delivery.
    clock.advance(minutes=1)
    assert evaluate_disengagement(app, clock.now) == 1
    assert rules(world, patient.id) == [("disengaged", "warning", "open")]
    assert dedupe_keys(world, alert.id) == [f"alert:{alert.id}:push:1"]


def record_session(api: Api, clinician: Account, patient: Account, started_at: dt.datetime) -> list[dict]:
    body = {"started_at": iso(started_at), "route": "iv", "dose_mg": 35.0}
    resp = api.post(f"/patients/{patient.id}/sessions", body, token=clinician.token)
    assert resp.status_code == 201, resp.json
    return resp.json["checkins"]


def test_disengaged_when_the_last_2_checkins_expired(clock, world, api, app, clinician):
    """Patients in UTC; the default protocol (+4h, +1d, +3d, +1w; 12 h window)."""
    clock.set(NOW)
    missed_both, answered, missing = (world.patient(clinician, timezone="UTC") for _ in range(3))
    # 27 Feb 12:00: "+4h" and "+1d" closed before NOW (recorded late: expired at once).
    record_session(api, clinician, missed_both, NOW - dt.timedelta(days=2))
    # 28 Feb 11:00: "+4h" closed 03:00 today, "+1d" due 11:00 today, open until 23:00.
    for patient in (answered, missing):
        checkins = record_session(api, clinician, patient, NOW - dt.timedelta(days=1, hours=1))
        assert [c["label"] for c in checkins[:2]] == ["+4h", "+1d"]
        assert checkins[1]["due_at"] == iso(NOW - dt.timedelta(hours=1))
        if patient is answered:
            post_entry(api, patient, NOW, checkin_id=checkins[1]["id"])
        else:
            post_entry(api, patient, NOW)
    post_entry(api, missed_both, NOW)  # entries today: only the check-ins can make them disengaged

    assert evaluate_disengagement(app, NOW) == 1
    assert [(p.id, rules(world, p.id)) for p in (missed_both, answered, missing)] == [
        (missed_both.id, [("disengaged", "warning", "open")]),
        (answered.id, []),
        (missing.id, []),
    ]
    assert only_alert(world, missed_both.id).details == {"days_without_entry": 0, "expired_checkins_in_a_row": 2}

    # 23:00: the unanswered "+1d" expires; its patient has now missed two in a row.
    later = NOW + dt.timedelta(hours=11)
    clock.set(later)
    assert evaluate_disengagement(app, later) == 2
    assert rules(world, answered.id) == []
    alert = only_alert(world, missing.id)
    assert (alert.rule, alert.opened_at) == ("disengaged", later)
    assert alert.details == {"days_without_entry": 0, "expired_checkins_in_a_row": 2}


# --- the alert queue: list, acknowledge, resolve ------------------------------------------------


@pytest.fixture
def queue(clock, world, api, clinician):
    """Four alerts in the clinic (two opened at the same instant) and one in another clinic."""
    clock.set(NOW)
    p1, p2 = world.patient(clinician), world.patient(clinician)
    report_self_harm(api, p1)  # self_harm, p1, NOW
    clock.advance(minutes=1)
    post_phq9(api, p2, [3, 3, 3, 3, 3, 3, 1, 0, 1])  # total 20 with item 9: self_harm and phq9_worsening, NOW+1m
    clock.advance(minutes=1)
    post_phq9(api, p1, PHQ9_20)  # phq9_worsening, p1, NOW+2m
    elsewhere = world.staff(world.clinic("Other Clinic"))
    stranger = world.patient(elsewhere)
    clock.advance(minutes=1)
    report_self_harm(api, stranger)
    clock.advance(minutes=1)
    [a1, a4] = alerts_of(world, p1.id)
    [a2, a3] = sorted(alerts_of(world, p2.id), key=lambda a: a.id, reverse=True)
    [foreign] = alerts_of(world, stranger.id)
    return {
        "patients": (p1, p2),
        "alerts": [a4, a2, a3, a1],  # newest first; equal opened_at: higher id first
        "foreign": foreign,
        "elsewhere": elsewhere,
    }


def test_the_queue_lists_the_clinics_alerts_newest_first(clock, world, api, clinician, ops, queue):
    a4, a2, a3, a1 = queue["alerts"]
    p1, p2 = queue["patients"]
    assert [(a.patient_id, a.rule, a.opened_at) for a in (a4, a2, a3, a1)] == [
        (p1.id, "phq9_worsening", NOW + dt.timedelta(minutes=2)),
        (p2.id, a2.rule, NOW + dt.timedelta(minutes=1)),
        (p2.id, a3.rule, NOW + dt.timedelta(minutes=1)),
        (p1.id, "self_harm", NOW),
    ]
    assert {a2.rule, a3.rule} == {"self_harm", "phq9_worsening"}

    for staff in (clinician, ops):
        resp = api.get("/alerts", token=staff.token)
        assert resp.status_code == 200, resp.json
        assert resp.json == {"next_cursor": None, "items": [alert_view(a) for a in queue["alerts"]]}

    [item] = [i for i in resp.json["items"] if i["id"] == a1.id]
    assert set(item) == ALERT_FIELDS
    assert item == {
        "id": a1.id,
        "patient_id": p1.id,
        "rule": "self_harm",
        "severity": "critical",
        "status": "open",
        "opened_at": "2026-03-01T12:00:00Z",
        "details": {"source": "entry", "entry_id": a1.details["entry_id"]},
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolution_note": None,
    }
    [phq9] = [i for i in resp.json["items"] if i["id"] == a4.id]
    assert (phq9["severity"], phq9["details"]["total"], phq9["details"]["previous_total"]) == ("warning", 20, None)
    # Nothing of the other clinic, and no names, emails or notes.
    text = json.dumps(resp.json)
    assert queue["foreign"].id not in text
    for secret in (DISPLAY_NAME, p1.email, p2.email, NOTE):
        assert secret not in text


def test_the_queue_filters_by_status(clock, world, api, clinician, queue):
    a4, a2, a3, a1 = queue["alerts"]
    assert api.post(f"/alerts/{a1.id}/acknowledge", token=clinician.token).status_code == 200
    assert api.post(f"/alerts/{a2.id}/resolve", {}, token=clinician.token).status_code == 200

    def listed(status: str) -> list[str]:
        resp = api.get(f"/alerts?status={status}", token=clinician.token)
        assert resp.status_code == 200, resp.json
        assert all(item["status"] == status for item in resp.json["items"])
        return [item["id"] for item in resp.json["items"]]

    assert listed("open") == [a4.id, a3.id]
    assert listed("acknowledged") == [a1.id]
    assert listed("resolved") == [a2.id]


def test_the_queue_pages_with_a_cursor_visiting_every_alert_once(clock, world, api, clinician, queue):
    seen, cursor, pages = [], None, 0
    while True:
        resp = api.get("/alerts?limit=1" + (f"&cursor={cursor}" if cursor else ""), token=clinician.token)
        assert resp.status_code == 200, resp.json
        assert len(resp.json["items"]) == 1
        seen.append(resp.json["items"][0]["id"])
        pages += 1
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
        assert pages < 10

    assert seen == [a.id for a in queue["alerts"]]

    # Two to a page: the two alerts opened at the same instant are split across pages correctly too.
    first = api.get("/alerts?limit=2", token=clinician.token).json
    second = api.get(f"/alerts?limit=2&cursor={first['next_cursor']}", token=clinician.token).json
    assert [i["id"] for i in first["items"] + second["items"]] == seen
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field_name"),
    [("status=bogus", "status"), ("status=OPEN", "status"), ("limit=0", "limit"), ("limit=201", "limit")],
)
def test_a_bad_queue_query_is_422(clock, api, clinician, queue, query, field_name):
    resp = api.get(f"/alerts?{query}", token=clinician.token)

    expect_error(resp, 422, "validation_failed")
    assert field_name in resp.json["errors"]


def test_another_clinics_alert_is_not_found(clock, world, api, clinician, queue):
    foreign = queue["foreign"]

    expected = []
    for action, body in (("acknowledge", None), ("resolve", {"note": "not ours"})):
        unknown = str(uuid.uuid4())
        expect_error(api.post(f"/alerts/{foreign.id}/{action}", body, token=clinician.token), 404, "not_found")
        expect_error(api.post(f"/alerts/{unknown}/{action}", body, token=clinician.token), 404, "not_found")
        expected += [
            denied(clinician, "alert", alert_id, f"/api/v1/alerts/{alert_id}/{action}")
            for alert_id in (foreign.id, unknown)
        ]
    assert world.rows("SELECT status, acknowledged_at FROM alerts WHERE id = :id", id=foreign.id) == [("open", None)]
    # Each attempt is audited: who asked, for which id, by which path.
    assert denials(world) == sorted(expected)
    # Their own staff see it, and only it.
    resp = api.get("/alerts", token=queue["elsewhere"].token)
    assert [i["id"] for i in resp.json["items"]] == [foreign.id]


def test_a_patient_may_not_touch_the_queue(clock, world, api, queue):
    p1, _ = queue["patients"]
    a1 = queue["alerts"][-1]

    expect_error(api.get("/alerts", token=p1.token), 403, "forbidden")
    expect_error(api.post(f"/alerts/{a1.id}/acknowledge", token=p1.token), 403, "forbidden")
    expect_error(api.post(f"/alerts/{a1.id}/resolve", {}, token=p1.token), 403, "forbidden")
    expect_error(api.get("/alerts"), 401, "missing_token")
    assert world.rows("SELECT status FROM alerts WHERE id = :id", id=a1.id) == [("open",)]


def test_acknowledge_then_resolve(clock, world, api, clinician, ops, queue):
    a1 = queue["alerts"][-1]

    clock.advance(minutes=2)  # NOW+6m
    acked = api.post(f"/alerts/{a1.id}/acknowledge", token=clinician.token)
    assert acked.status_code == 200, acked.json
    expected = {
        **alert_view(a1),
        "status": "acknowledged",
        "acknowledged_at": iso(NOW + dt.timedelta(minutes=6)),
        "acknowledged_by": clinician.id,
    }
    assert acked.json == expected

    # Acknowledging again (someone else, later) changes nothing.
    clock.advance(minutes=1)
    again = api.post(f"/alerts/{a1.id}/acknowledge", token=ops.token)
    assert again.status_code == 200, again.json
    assert again.json == expected

    clock.advance(minutes=1)  # NOW+8m
    resolved = api.post(f"/alerts/{a1.id}/resolve", {"note": "called patient"}, token=ops.token)
    assert resolved.status_code == 200, resolved.json
    assert resolved.json == {
        **expected,
        "status": "resolved",
        "resolved_at": iso(NOW + dt.timedelta(minutes=8)),
        "resolved_by": ops.id,
        "resolution_note": "called patient",
    }
    assert world.rows("SELECT status, resolution_note FROM alerts WHERE id = :id", id=a1.id) == [
        ("resolved", "called patient")
    ]

    for action, body in (("resolve", {"note": "again"}), ("acknowledge", None)):
        expect_error(api.post(f"/alerts/{a1.id}/{action}", body, token=clinician.token), 409, "alert_resolved")
    assert only_alert_view(world, a1.id) == resolved.json


def test_resolving_an_open_alert_acknowledges_it_too(clock, world, api, clinician, queue):
    a4 = queue["alerts"][0]

    resp = api.post(f"/alerts/{a4.id}/resolve", {}, token=clinician.token)

    assert resp.status_code == 200, resp.json
    stamp = iso(NOW + dt.timedelta(minutes=4))
    assert resp.json == {
        **alert_view(a4),
        "status": "resolved",
        "acknowledged_at": stamp,
        "acknowledged_by": clinician.id,
        "resolved_at": stamp,
        "resolved_by": clinician.id,
        "resolution_note": None,
    }


def test_a_resolution_note_is_at_most_2000_characters(clock, world, api, clinician, queue):
    a1 = queue["alerts"][-1]

    resp = api.post(f"/alerts/{a1.id}/resolve", {"note": "x" * 2001}, token=clinician.token)

    expect_error(resp, 422, "validation_failed")
    assert "note" in resp.json["errors"]
    assert world.rows("SELECT status FROM alerts WHERE id = :id", id=a1.id) == [("open",)]


@pytest.mark.parametrize("note", ["called \ud83e", "called\u0000"])
def test_a_resolution_note_that_cannot_be_stored_is_422_and_resolves_nothing(clock, world, api, clinician, queue, note):
    a1 = queue["alerts"][-1]

    resp = api.post(f"/alerts/{a1.id}/resolve", {"note": note}, token=clinician.token)

    expect_error(resp, 422, "validation_failed")
    assert set(resp.json["errors"]) == {"note"}
    assert world.rows("SELECT status, resolution_note FROM alerts WHERE id = :id", id=a1.id) == [("open", None)]


def test_a_resolved_alert_no_longer_blocks_a_new_one(clock, world, api, clinician, queue):
    p1, _ = queue["patients"]
    a1 = queue["alerts"][-1]
    assert api.post(f"/alerts/{a1.id}/resolve", {"note": "called patient"}, token=clinician.token).status_code == 200

    report_self_harm(api, p1)

    rows = world.rows(
        "SELECT id, status FROM alerts WHERE patient_id = :p AND rule = 'self_harm' ORDER BY opened_at", p=p1.id
    )
    assert [status for _, status in rows] == ["resolved", "open"]
    new_id = rows[1][0]
    assert new_id != a1.id
    assert outbox_of(world, new_id) == [push_row(new_id, 1, NOW + dt.timedelta(minutes=4))]
    listed = api.get("/alerts?status=open", token=clinician.token).json["items"]
    assert listed[0]["id"] == new_id


def test_staff_access_to_alerts_is_audited(clock, world, api, clinician, ops, queue):
    a4, a2, a3, a1 = queue["alerts"]
    clinic_id = clinician.clinic_id
    assert world.rows("SELECT count(*) FROM audit_events WHERE action LIKE 'alert.%'") == [(0,)]

    assert api.get("/alerts?status=acknowledged", token=clinician.token).status_code == 200  # empty: nothing read
    assert api.get("/alerts?limit=2", token=clinician.token).status_code == 200  # a4, a2
    assert api.post(f"/alerts/{a1.id}/acknowledge", token=clinician.token).status_code == 200
    assert api.post(f"/alerts/{a1.id}/resolve", {"note": "called patient"}, token=ops.token).status_code == 200
    # Refused requests leave no trace of access.
    assert api.post(f"/alerts/{queue['foreign'].id}/acknowledge", token=ops.token).status_code == 404
    assert api.post(f"/alerts/{a1.id}/resolve", {}, token=ops.token).status_code == 409

    def row(action: str, staff: Account, role: str, alert: Alert) -> tuple:
        return (action, staff.id, role, clinic_id, alert.patient_id, "alert", alert.id)

    assert audit_rows(world) == sorted(
        [
            row("alert.read", clinician, "clinician", a4),
            row("alert.read", clinician, "clinician", a2),
            row("alert.acknowledge", clinician, "clinician", a1),
            row("alert.resolve", ops, "ops", a1),
        ]
    )
    assert a3.id not in {r[6] for r in audit_rows(world)}


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
