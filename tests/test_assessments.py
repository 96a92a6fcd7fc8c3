"""The instruments of API.md v1.1: PCL-5 and the C-SSRS screen filled in by the patient
(POST /me/assessments), the MADRS rated by a clinician (POST/GET /patients/{id}/assessments),
their series and the MADRS outcome in the summary, and the patient's export.

Every total, band, risk level, change, response and remission below is worked out by hand
from the answers in the test (the arithmetic is in a comment), never read from the code.

The clock stays at NOW (2026-03-01 12:00Z: 13:00 in Berlin, 02:00 on 2 March in
Kiritimati, UTC+14 all year); data is recorded at past instants. Berlin is UTC+1 in
January and February 2026.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest

from diary.domain.dispatch import PUSH_TEXT
from diary.extensions import db
from diary.models import Assessment
from diary.worker import Worker
from tests.alerting import SAFETY as DEFAULT_SAFETY
from tests.alerting import only_alert, outbox_row, sent, stats
from tests.conftest import Account, Api
from tests.helpers import denials, denied, expect_error, expect_invalid

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
RECORDED = "2026-03-01T09:00:00Z"  # 10:00 in Berlin, three hours before NOW
BERLIN = "Europe/Berlin"
KIRITIMATI = "Pacific/Kiritimati"

CRISIS_MESSAGE = "Assessment clinic: you are not alone, call us now."
CRISIS_CONTACTS = [{"name": "Assessment Crisis Line", "phone": "+1 555 0199"}]
SAFETY = {"message": CRISIS_MESSAGE, "contacts": CRISIS_CONTACTS}

# What a clinician's rating answers with (API.md v1.1, and local_date/created_at as every
# assessment carries them).
RATING_KEYS = {
    "id",
    "instrument",
    "answers",
    "total",
    "severity",
    "recorded_at",
    "local_date",
    "created_at",
    "session_id",
    "rated_by",
}

NO_MADRS_OUTCOME = {
    "baseline": None,
    "baseline_recorded_at": None,
    "latest": None,
    "latest_recorded_at": None,
    "change": None,
    "response": None,
    "remission": None,
    "remission_cutoff": 10,
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    # Known crisis resources, so `safety` is compared exactly.
    return {"CRISIS_MESSAGE": CRISIS_MESSAGE, "CRISIS_CONTACTS": [dict(c) for c in CRISIS_CONTACTS]}


@pytest.fixture(autouse=True)
def _frozen_clock(clock):
    clock.set(NOW)
    return clock


@pytest.fixture
def patient(world, clinician) -> Account:
    return world.patient(clinician, BERLIN)


@pytest.fixture
def other_patient(world, clinician) -> Account:
    return world.patient(clinician, BERLIN)


@pytest.fixture
def stranger(world) -> tuple[Account, Account]:
    """A clinician of another clinic and their patient."""
    elsewhere = world.staff(world.clinic("Other Clinic"))
    return elsewhere, world.patient(elsewhere, BERLIN)


# --------------------------------------------------------------------------- helpers


def new_id() -> str:
    return str(uuid.uuid4())


def body_of(instrument: str, answers: list[Any], recorded_at: str = RECORDED, **extra: Any) -> dict[str, Any]:
    return {"id": new_id(), "instrument": instrument, "answers": answers, "recorded_at": recorded_at, **extra}


def fill_in(api: Api, patient: Account, body: dict[str, Any]):
    return api.post("/me/assessments", body, token=patient.token)


def filled(api: Api, patient: Account, instrument: str, answers: list[int], recorded_at: str = RECORDED) -> dict:
    resp = fill_in(api, patient, body_of(instrument, answers, recorded_at))
    assert resp.status_code == 201, resp.json
    return resp.json


def rate(api: Api, staff: Account, patient_id: str, body: dict[str, Any]):
    return api.post(f"/patients/{patient_id}/assessments", body, token=staff.token)


def rated(api: Api, staff: Account, patient_id: str, answers: list[int], recorded_at: str = RECORDED, **extra) -> dict:
    resp = rate(api, staff, patient_id, body_of("madrs", answers, recorded_at, **extra))
    assert resp.status_code == 201, resp.json
    return resp.json


def listed(api: Api, staff: Account, patient_id: str, **query: str):
    return api.get(f"/patients/{patient_id}/assessments", token=staff.token, query_string=query)


def add_session(api: Api, clinician: Account, patient_id: str, started_at: str) -> str:
    resp = api.post(
        f"/patients/{patient_id}/sessions", {"started_at": started_at, "route": "iv"}, token=clinician.token
    )
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def summary(api: Api, clinician: Account, patient_id: str, **query: str) -> dict:
    resp = api.get(f"/patients/{patient_id}/summary", token=clinician.token, query_string=query)
    assert resp.status_code == 200, resp.json
    return resp.json


def madrs(total: int) -> list[int]:
    """Ten MADRS answers (0-6) adding up to `total`, filled from the first item."""
    answers = [min(6, max(0, total - 6 * i)) for i in range(10)]
    assert sum(answers) == total
    assert all(0 <= a <= 6 for a in answers)
    return answers


def stored(world, assessment_id: str) -> dict[str, Any] | None:
    """The stored row, through the ORM (decoded answers, aware instants)."""
    with world.app.app_context():
        row = db.session.get(Assessment, assessment_id)
        if row is None:
            return None
        return {
            "patient_id": row.patient_id,
            "instrument": row.instrument,
            "answers": list(row.answers),
            "total": row.total,
            "severity": row.severity,
            "risk": row.risk,
            "rated_by_id": row.rated_by_id,
            "session_id": row.session_id,
            "recorded_at": row.recorded_at,
            "local_date": row.local_date.isoformat(),
        }


def assessment_count(world) -> int:
    return world.rows("SELECT count(*) FROM assessments")[0][0]


def alert_rows(world, patient_id: str) -> list[tuple]:
    return world.rows("SELECT rule, severity, status FROM alerts WHERE patient_id = :p", p=patient_id)


def audited(world, action: str) -> list[tuple]:
    return sorted(
        world.rows(
            "SELECT actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id"
            " FROM audit_events WHERE action = :action",
            action=action,
        )
    )


# --------------------------------------------------------------------------- PCL-5 (patient)


@pytest.mark.parametrize(
    ("answers", "total", "severity"),
    [
        ([0] * 20, 0, "below_threshold"),  # 20 x 0
        ([2] * 16 + [0] * 4, 16 * 2, "below_threshold"),  # 32: the top of 0-32
        ([2] * 16 + [1] + [0] * 3, 16 * 2 + 1, "probable_ptsd"),  # 33: the bottom of 33-80
        ([4] * 20, 20 * 4, "probable_ptsd"),  # 80: every item at its highest
    ],
)
def test_pcl5_totals_fall_on_their_band_at_the_cut_point_of_33(api, world, patient, answers, total, severity):
    body = body_of("pcl5", answers)

    resp = fill_in(api, patient, body)

    assert resp.status_code == 201, resp.json
    # A banded instrument: `severity`, no `risk` key, no crisis resources.
    assert resp.json == {
        "id": body["id"],
        "instrument": "pcl5",
        "answers": answers,
        "total": total,
        "severity": severity,
        "recorded_at": RECORDED,
        "local_date": "2026-03-01",
        "created_at": "2026-03-01T12:00:00Z",
    }
    assert stored(world, body["id"]) == {
        "patient_id": patient.id,
        "instrument": "pcl5",
        "answers": answers,
        "total": total,
        "severity": severity,
        "risk": None,
        "rated_by_id": None,
        "session_id": None,
        "recorded_at": dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
        "local_date": "2026-03-01",
    }
    assert alert_rows(world, patient.id) == []


@pytest.mark.parametrize("count", [19, 21, 9, 1, 0])
def test_pcl5_with_other_than_20_answers_is_refused_naming_answers(api, world, patient, count):
    expect_invalid(fill_in(api, patient, body_of("pcl5", [1] * count)), "answers")
    assert assessment_count(world) == 0


@pytest.mark.parametrize("bad", [5, -1, 100, True, "2", 1.5, None])
def test_a_pcl5_answer_outside_0_to_4_is_refused_naming_answers(api, world, patient, bad):
    answers = [1] * 20
    answers[7] = bad

    expect_invalid(fill_in(api, patient, body_of("pcl5", answers)), "answers")
    assert assessment_count(world) == 0


@pytest.mark.parametrize(
    ("instrument", "answers"),
    [("phq9", [1] * 8 + [0]), ("gad7", [1] * 7), ("pcl5", [1] * 20)],
)
def test_banded_instruments_carry_severity_and_no_risk(api, patient, instrument, answers):
    created = filled(api, patient, instrument, answers)
    assert "severity" in created
    assert "risk" not in created


# --------------------------------------------------------------------------- C-SSRS screen (patient)

# Items: 1 wish to be dead, 2 suicidal thoughts, 3 methods, 4 intent, 5 plan (past month),
# 6 behaviour (past 3 months). Total = the number of yes answers.
RISK_LEVELS = [
    pytest.param([0, 0, 0, 0, 0, 0], 0, "none", id="none-all-no"),
    pytest.param([1, 0, 0, 0, 0, 0], 1, "low", id="low-item-1-only"),
    pytest.param([0, 1, 0, 0, 0, 0], 1, "low", id="low-item-2-only"),
    pytest.param([1, 1, 0, 0, 0, 0], 1 + 1, "low", id="low-items-1-and-2"),
    pytest.param([1, 1, 1, 0, 0, 0], 1 + 1 + 1, "moderate", id="moderate-items-1-2-3"),
    pytest.param([0, 1, 1, 0, 0, 0], 1 + 1, "moderate", id="moderate-items-2-3"),
    pytest.param([0, 1, 0, 1, 0, 0], 1 + 1, "high", id="high-item-4-with-2"),
    pytest.param([0, 1, 0, 0, 1, 0], 1 + 1, "high", id="high-item-5-with-2"),
    pytest.param([0, 0, 0, 0, 0, 1], 1, "high", id="high-item-6-alone"),
    pytest.param([1, 0, 0, 0, 0, 1], 1 + 1, "high", id="high-item-6-with-1"),
    pytest.param([1, 1, 1, 1, 1, 1], 6, "high", id="high-every-item"),
]


@pytest.mark.parametrize(("answers", "total", "risk"), RISK_LEVELS)
def test_cssrs_screen_risk_levels(api, world, patient, answers, total, risk):
    body = body_of("cssrs_screen", answers)

    resp = fill_in(api, patient, body)

    assert resp.status_code == 201, resp.json
    expected = {
        "id": body["id"],
        "instrument": "cssrs_screen",
        "answers": answers,
        "total": total,
        "risk": risk,  # in place of `severity`: there is no severity key at all
        "recorded_at": RECORDED,
        "local_date": "2026-03-01",
        "created_at": "2026-03-01T12:00:00Z",
    }
    if risk in ("moderate", "high"):
        expected["safety"] = SAFETY
    assert resp.json == expected
    assert "severity" not in resp.json
    row = stored(world, body["id"])
    assert (row["total"], row["severity"], row["risk"], row["rated_by_id"]) == (total, None, risk, None)


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([0, 0, 1, 0, 0, 0], id="item-3-without-2"),
        pytest.param([0, 0, 0, 1, 0, 0], id="item-4-without-2"),
        pytest.param([0, 0, 0, 0, 1, 0], id="item-5-without-2"),
        pytest.param([1, 0, 1, 0, 0, 0], id="item-3-after-1-without-2"),
        pytest.param([1, 0, 0, 1, 0, 1], id="item-4-with-1-and-6-without-2"),
        pytest.param([0, 0, 1, 1, 1, 0], id="items-3-4-5-without-2"),
    ],
)
def test_cssrs_items_3_to_5_answered_without_a_yes_to_item_2_are_refused(api, world, patient, answers):
    # The screen asks items 3-5 only after a yes to item 2: these answers cannot come from it.
    body = body_of("cssrs_screen", answers)

    expect_invalid(fill_in(api, patient, body), "answers")

    assert stored(world, body["id"]) is None
    assert assessment_count(world) == 0
    assert alert_rows(world, patient.id) == []  # item 4 or 5 would have been "high": no alert either


@pytest.mark.parametrize("bad", [2, -1, True, "1", None])
def test_a_cssrs_answer_other_than_0_or_1_is_refused(api, world, patient, bad):
    expect_invalid(fill_in(api, patient, body_of("cssrs_screen", [1, 1, bad, 0, 0, 0])), "answers")
    assert assessment_count(world) == 0


@pytest.mark.parametrize("count", [5, 7])
def test_a_cssrs_screen_has_six_answers(api, world, patient, count):
    expect_invalid(fill_in(api, patient, body_of("cssrs_screen", [0] * count)), "answers")
    assert assessment_count(world) == 0


def test_a_patient_cannot_send_a_madrs(api, world, patient):
    expect_invalid(fill_in(api, patient, body_of("madrs", [3] * 10)), "instrument")
    assert assessment_count(world) == 0


# --------------------------------------------------------------------------- self-harm from a screen


@pytest.mark.parametrize(
    ("answers", "risk"),
    [
        ([1, 1, 1, 0, 0, 0], "moderate"),  # yes to 3, not to 4-6
        ([0, 1, 0, 1, 0, 0], "high"),  # yes to 4
        ([0, 1, 0, 0, 1, 0], "high"),  # yes to 5
        ([0, 0, 0, 0, 0, 1], "high"),  # yes to 6
    ],
)
def test_a_screen_at_moderate_or_high_risk_returns_the_crisis_resources_and_opens_a_critical_alert(
    api, world, patient, answers, risk
):
    body = body_of("cssrs_screen", answers)

    resp = fill_in(api, patient, body)

    assert resp.status_code == 201, resp.json
    assert (resp.json["risk"], resp.json["safety"]) == (risk, SAFETY)
    # Opened by the request itself: the row is there as soon as the 201 is.
    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.severity, alert.status, alert.opened_at) == ("self_harm", "critical", "open", NOW)
    assert alert.details == {"source": "cssrs_screen", "assessment_id": body["id"]}

    # A replay shows the resources again, and opens nothing more.
    replay = fill_in(api, patient, body)
    assert replay.status_code == 200, replay.json
    assert replay.json == resp.json
    assert alert_rows(world, patient.id) == [("self_harm", "critical", "open")]


@pytest.mark.parametrize(
    "answers",
    [[0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]],
    ids=["none", "low-1", "low-2", "low-1-2"],
)
def test_a_screen_at_no_or_low_risk_brings_no_crisis_resources_and_no_alert(api, world, patient, answers):
    resp = fill_in(api, patient, body_of("cssrs_screen", answers))

    assert resp.status_code == 201, resp.json
    assert "safety" not in resp.json
    assert alert_rows(world, patient.id) == []


@pytest.mark.parametrize(
    ("answers", "risk"),
    [([1, 1, 1, 0, 0, 0], "moderate"), ([0, 1, 0, 0, 1, 0], "high")],
)
def test_a_screen_at_risk_end_to_end_reaches_the_webhook_and_the_staff_pushes_in_one_tick(
    clock, world, clinician, ops, hook_app, receiver, fake_fcm, answers, risk
):
    client = Api(hook_app.test_client())
    patient = world.patient(clinician, BERLIN)
    elsewhere = world.staff(world.clinic("Other Clinic"))

    def add_device(account: Account, token: str, platform: str) -> str:
        resp = client.post("/me/devices", {"token": token, "platform": platform}, token=account.token)
        assert resp.status_code == 201, resp.json
        return resp.json["id"]

    staff_devices = [add_device(clinician, "tok-clinician", "ios"), add_device(ops, "tok-ops", "android")]
    add_device(patient, "tok-patient", "android")
    add_device(elsewhere, "tok-other-clinic", "android")

    body = body_of("cssrs_screen", answers, recorded_at="2026-03-01T11:58:00Z")
    resp = client.post("/me/assessments", body, token=patient.token)

    # The request: the crisis resources (this app's defaults) and the alert, at once.
    assert resp.status_code == 201, resp.json
    assert (resp.json["risk"], resp.json["safety"]) == (risk, DEFAULT_SAFETY)
    alert = only_alert(world, patient.id)
    assert (alert.rule, alert.severity, alert.status) == ("self_harm", "critical", "open")

    # One worker tick delivers both: the webhook and one push to every staff device of the clinic.
    assert stats(Worker(hook_app, worker_id="w1")) == sent(claimed=2, sent=2)

    [hook] = receiver.all()
    assert (hook.status, hook.verdict) == (200, "accepted")  # the receiver verified the signature
    signed = f"{hook.headers['X-Diary-Timestamp']}.".encode() + hook.body
    assert hook.headers["X-Diary-Signature"] == "sha256=" + hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert json.loads(hook.body) == {
        "alert_id": alert.id,
        "clinic_id": clinician.clinic_id,
        "patient_id": patient.id,
        "rule": "self_harm",
        "severity": "critical",
        "opened_at": "2026-03-01T12:00:00Z",
    }
    messages = fake_fcm.messages()
    assert sorted(m["token"] for m in messages) == ["tok-clinician", "tok-ops"]
    title, text = PUSH_TEXT["alert_push"]
    for message in messages:
        assert message["data"] == {"type": "alert", "alert_id": alert.id}
        assert message["notification"] == {"title": title, "body": text}
    # Neither channel says what was answered (the push's own "priority": "high" is FCM's, not the risk).
    for sent_text in [hook.body.decode(), *(json.dumps(m) for m in messages)]:
        for secret in (body["id"], patient.email, "cssrs", "risk", "answers", "total"):
            assert secret not in sent_text
    push = outbox_row(world, f"alert:{alert.id}:push:1")
    assert (push.status, push.attempts, push.sent_at) == ("sent", 1, NOW)
    assert sorted(push.delivered_device_ids) == sorted(staff_devices)

    clock.advance(minutes=1)
    assert stats(Worker(hook_app, worker_id="w1")) == sent()
    assert (len(receiver.all()), len(fake_fcm.messages())) == (1, 2)


# --------------------------------------------------------------------------- MADRS (clinician)


@pytest.mark.parametrize(
    ("answers", "total", "severity"),
    [
        ([0] * 10, 0, "normal"),
        ([1] * 6 + [0] * 4, 6 * 1, "normal"),  # 6: the top of 0-6
        ([1] * 7 + [0] * 3, 7 * 1, "mild"),  # 7: the bottom of 7-19
        ([2] * 9 + [1], 9 * 2 + 1, "mild"),  # 19: the top of 7-19
        ([2] * 10, 10 * 2, "moderate"),  # 20: the bottom of 20-34
        ([3] * 8 + [5, 5], 8 * 3 + 5 + 5, "moderate"),  # 34: the top of 20-34
        ([3] * 5 + [4] * 5, 5 * 3 + 5 * 4, "severe"),  # 35: the bottom of 35-60
        ([6] * 10, 10 * 6, "severe"),  # 60: every item at its highest
    ],
)
def test_madrs_bands_at_every_edge(api, world, clinician, patient, answers, total, severity):
    body = body_of("madrs", answers)

    resp = rate(api, clinician, patient.id, body)

    assert resp.status_code == 201, resp.json
    assert set(resp.json) == RATING_KEYS
    assert resp.json == {
        "id": body["id"],
        "instrument": "madrs",
        "answers": answers,
        "total": total,
        "severity": severity,
        "recorded_at": RECORDED,
        "local_date": "2026-03-01",
        "created_at": "2026-03-01T12:00:00Z",
        "session_id": None,
        "rated_by": clinician.id,
    }
    assert stored(world, body["id"]) == {
        "patient_id": patient.id,
        "instrument": "madrs",
        "answers": answers,
        "total": total,
        "severity": severity,
        "risk": None,
        "rated_by_id": clinician.id,
        "session_id": None,
        "recorded_at": dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
        "local_date": "2026-03-01",
    }
    # The clinician who rates it acts on it in the room: no alert, not even at 60 (item 10 at 6).
    assert alert_rows(world, patient.id) == []


def test_a_rating_is_tied_to_a_session_of_the_same_patient(api, world, clinician, patient):
    session_id = add_session(api, clinician, patient.id, "2026-03-01T08:00:00Z")
    explicit_null = body_of("madrs", madrs(12), session_id=None)

    tied = rated(api, clinician, patient.id, madrs(30), session_id=session_id)
    untied = rate(api, clinician, patient.id, explicit_null)

    assert tied["session_id"] == session_id
    assert stored(world, tied["id"])["session_id"] == session_id
    assert untied.status_code == 201, untied.json
    assert untied.json["session_id"] is None
    assert stored(world, explicit_null["id"])["session_id"] is None


def test_a_rating_replayed_is_200_with_the_same_body_and_other_content_is_409(
    api, world, clinician, patient, other_patient, clock
):
    session_id = add_session(api, clinician, patient.id, "2026-03-01T08:00:00Z")
    other_session = add_session(api, clinician, patient.id, "2026-02-20T08:00:00Z")
    body = body_of("madrs", madrs(27), session_id=session_id)
    created = rate(api, clinician, patient.id, body)
    clock.advance(minutes=1)

    replay = rate(api, clinician, patient.id, body)
    # The same instant written in Berlin time is the same content.
    same_instant = rate(api, clinician, patient.id, {**body, "recorded_at": "2026-03-01T10:00:00+01:00"})
    conflicts = [
        rate(api, clinician, patient.id, {**body, "answers": madrs(28)}),
        rate(api, clinician, patient.id, {**body, "recorded_at": "2026-03-01T09:00:01Z"}),
        rate(api, clinician, patient.id, {**body, "session_id": other_session}),
        rate(api, clinician, patient.id, {**body, "session_id": None}),
        # Another patient's rating may not take this id.
        rate(api, clinician, other_patient.id, {k: v for k, v in body.items() if k != "session_id"}),
    ]

    assert created.status_code == 201, created.json
    assert replay.status_code == 200, replay.json
    assert replay.json == created.json
    assert same_instant.status_code == 200, same_instant.json
    assert same_instant.json == created.json
    for resp in conflicts:
        expect_error(resp, 409, "id_conflict")
    assert assessment_count(world) == 1
    assert stored(world, body["id"])["total"] == 27
    assert stored(world, body["id"])["patient_id"] == patient.id
    # One rating, one audit event: replays and conflicts add none.
    assert audited(world, "assessment.create") == [
        (clinician.id, "clinician", clinician.clinic_id, patient.id, "assessment", body["id"])
    ]


def test_an_id_the_patient_used_cannot_be_reused_for_a_rating(api, world, clinician, patient, other_patient):
    own = body_of("phq9", [1] * 8 + [0])
    assert fill_in(api, patient, own).status_code == 201
    theirs = body_of("gad7", [1] * 7)
    assert fill_in(api, other_patient, theirs).status_code == 201

    expect_error(
        rate(api, clinician, patient.id, {**own, "instrument": "madrs", "answers": [1] * 10}), 409, "id_conflict"
    )
    expect_error(
        rate(api, clinician, patient.id, {**theirs, "instrument": "madrs", "answers": [1] * 10}), 409, "id_conflict"
    )
    assert (stored(world, own["id"])["instrument"], stored(world, theirs["id"])["instrument"]) == ("phq9", "gad7")
    assert audited(world, "assessment.create") == []


@pytest.mark.parametrize("whose", ["other_patient", "other_clinic", "deleted", "unknown"])
def test_a_rating_refuses_a_session_that_is_not_a_live_session_of_this_patient(
    api, world, clinician, patient, other_patient, stranger, whose
):
    elsewhere, their_patient = stranger
    if whose == "other_patient":
        session_id = add_session(api, clinician, other_patient.id, "2026-03-01T08:00:00Z")
    elif whose == "other_clinic":
        session_id = add_session(api, elsewhere, their_patient.id, "2026-03-01T08:00:00Z")
    elif whose == "deleted":
        session_id = add_session(api, clinician, patient.id, "2026-03-01T08:00:00Z")
        resp = api.delete(f"/patients/{patient.id}/sessions/{session_id}", token=clinician.token)
        assert resp.status_code == 204
    else:
        session_id = new_id()
    body = body_of("madrs", madrs(20), session_id=session_id)

    expect_invalid(rate(api, clinician, patient.id, body), "session_id")

    assert assessment_count(world) == 0
    assert audited(world, "assessment.create") == []


@pytest.mark.parametrize(
    ("instrument", "answers"),
    [("phq9", [1] * 8 + [0]), ("gad7", [1] * 7), ("pcl5", [1] * 20), ("cssrs_screen", [0] * 6), ("ham_d", [1] * 17)],
)
def test_an_instrument_the_patient_fills_in_is_refused_at_the_clinician_endpoint(
    api, world, clinician, patient, instrument, answers
):
    expect_invalid(rate(api, clinician, patient.id, body_of(instrument, answers)), "instrument")
    assert assessment_count(world) == 0
    assert audited(world, "assessment.create") == []


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param([1] * 11, id="11-answers"),
        pytest.param([1] * 9, id="9-answers"),
        pytest.param([], id="no-answers"),
        pytest.param([1] * 9 + [7], id="an-answer-of-7"),
        pytest.param([-1] + [1] * 9, id="an-answer-of-minus-1"),
        pytest.param([1] * 9 + [True], id="a-boolean"),
        pytest.param([1] * 9 + [2.5], id="a-fraction"),
    ],
)
def test_madrs_answers_other_than_ten_of_0_to_6_are_refused(api, world, clinician, patient, answers):
    expect_invalid(rate(api, clinician, patient.id, body_of("madrs", answers)), "answers")
    assert assessment_count(world) == 0
    assert audited(world, "assessment.create") == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recorded_at": "2026-03-01T12:05:01Z"}, "recorded_at"),  # more than 5 minutes ahead of NOW
        ({"recorded_at": "2026-03-01T09:00:00"}, "recorded_at"),  # no offset
        ({"id": "not-a-uuid"}, "id"),
        ({"session_id": "not-a-uuid"}, "session_id"),
        ({"rated_by": "someone"}, "rated_by"),  # the server says who rated it
        ({"total": 3}, "total"),
    ],
)
def test_an_invalid_rating_is_refused_naming_the_field(api, world, clinician, patient, changes, field):
    expect_invalid(rate(api, clinician, patient.id, {**body_of("madrs", [1] * 10), **changes}), field)
    assert assessment_count(world) == 0


def test_a_rating_for_another_clinics_patient_is_404_and_audited_as_denied(api, world, clinician, stranger):
    _, their_patient = stranger
    unknown = new_id()

    expect_error(rate(api, clinician, their_patient.id, body_of("madrs", [1] * 10)), 404, "not_found")
    expect_error(rate(api, clinician, unknown, body_of("madrs", [1] * 10)), 404, "not_found")

    assert assessment_count(world) == 0
    assert audited(world, "assessment.create") == []
    assert denials(world) == sorted(
        [
            denied(clinician, "patient", their_patient.id, f"/api/v1/patients/{their_patient.id}/assessments"),
            denied(clinician, "patient", unknown, f"/api/v1/patients/{unknown}/assessments"),
        ]
    )


def test_only_a_clinician_may_rate(api, world, clinician, patient, ops):
    expect_error(rate(api, patient, patient.id, body_of("madrs", [1] * 10)), 403, "forbidden")
    expect_error(rate(api, ops, patient.id, body_of("madrs", [1] * 10)), 403, "forbidden")
    expect_error(api.post(f"/patients/{patient.id}/assessments", body_of("madrs", [1] * 10)), 401, "missing_token")

    assert assessment_count(world) == 0
    assert audited(world, "assessment.create") == []
    assert denials(world) == []


def test_every_created_rating_leaves_one_audit_event(api, world, clinician, patient, other_patient):
    colleague = world.staff(clinician.clinic_id)
    first = rated(api, clinician, patient.id, madrs(30), "2026-02-01T09:00:00Z")
    second = rated(api, colleague, patient.id, madrs(14), "2026-02-15T09:00:00Z")
    third = rated(api, clinician, other_patient.id, madrs(8), "2026-02-15T09:00:00Z")

    assert second["rated_by"] == colleague.id
    assert audited(world, "assessment.create") == sorted(
        [
            (clinician.id, "clinician", clinician.clinic_id, patient.id, "assessment", first["id"]),
            (colleague.id, "clinician", clinician.clinic_id, patient.id, "assessment", second["id"]),
            (clinician.id, "clinician", clinician.clinic_id, other_patient.id, "assessment", third["id"]),
        ]
    )


# --------------------------------------------------------------------------- GET /patients/{id}/assessments


def test_the_list_is_newest_first_patient_and_clinician_rated_together(api, world, clinician, patient, other_patient):
    colleague = world.staff(clinician.clinic_id)
    phq9 = filled(api, patient, "phq9", [1] * 8 + [0], "2026-02-01T09:00:00Z")  # 8 x 1 = 8 (item 9 no)
    madrs_30 = rated(api, clinician, patient.id, madrs(30), "2026-02-02T09:00:00Z")
    screen = filled(api, patient, "cssrs_screen", [1, 0, 0, 0, 0, 0], "2026-02-10T09:00:00Z")
    pcl5 = filled(api, patient, "pcl5", [2] * 16 + [1] + [0] * 3, "2026-02-12T09:00:00Z")  # 33
    madrs_12 = rated(api, colleague, patient.id, madrs(12), "2026-02-20T09:00:00Z")
    filled(api, other_patient, "gad7", [1] * 7, "2026-02-25T09:00:00Z")  # not theirs: never listed
    rated(api, clinician, other_patient.id, madrs(5), "2026-02-25T09:00:00Z")

    resp = listed(api, clinician, patient.id)

    assert resp.status_code == 200, resp.json
    assert resp.json == [
        {**madrs_12, "rated_by": colleague.id, "session_id": None},
        {**pcl5, "rated_by": None, "session_id": None},
        {**screen, "rated_by": None, "session_id": None},
        {**madrs_30, "rated_by": clinician.id, "session_id": None},
        {**phq9, "rated_by": None, "session_id": None},
    ]
    assert [item["recorded_at"] for item in resp.json] == [
        "2026-02-20T09:00:00Z",
        "2026-02-12T09:00:00Z",
        "2026-02-10T09:00:00Z",
        "2026-02-02T09:00:00Z",
        "2026-02-01T09:00:00Z",
    ]
    by_instrument = {item["instrument"]: item for item in resp.json}
    assert (by_instrument["cssrs_screen"]["risk"], "severity" in by_instrument["cssrs_screen"]) == ("low", False)
    assert (by_instrument["pcl5"]["severity"], "risk" in by_instrument["pcl5"]) == ("probable_ptsd", False)
    assert (madrs_30["total"], madrs_30["severity"]) == (30, "moderate")  # 20 <= 30 <= 34
    assert (madrs_12["total"], madrs_12["severity"]) == (12, "mild")  # 7 <= 12 <= 19


def test_the_list_filters_by_instrument(api, world, clinician, patient):
    first = rated(api, clinician, patient.id, madrs(30), "2026-02-02T09:00:00Z")
    filled(api, patient, "phq9", [1] * 8 + [0], "2026-02-03T09:00:00Z")
    screen = filled(api, patient, "cssrs_screen", [0] * 6, "2026-02-04T09:00:00Z")
    second = rated(api, clinician, patient.id, madrs(20), "2026-02-05T09:00:00Z")

    madrs_only = listed(api, clinician, patient.id, instrument="madrs")
    screens = listed(api, clinician, patient.id, instrument="cssrs_screen")
    none_yet = listed(api, clinician, patient.id, instrument="pcl5")

    assert [item["id"] for item in madrs_only.json] == [second["id"], first["id"]]
    assert [item["id"] for item in screens.json] == [screen["id"]]
    assert none_yet.status_code == 200
    assert none_yet.json == []


@pytest.mark.parametrize("instrument", ["bdi", "MADRS", "", "madrs\u0000"])
def test_an_unknown_instrument_filter_is_refused(api, world, clinician, patient, instrument):
    expect_invalid(listed(api, clinician, patient.id, instrument=instrument), "instrument")
    assert audited(world, "assessment.list") == []


def test_the_list_is_audited_once_per_read(api, world, clinician, patient):
    rated(api, clinician, patient.id, madrs(30))
    assert listed(api, clinician, patient.id).status_code == 200
    assert listed(api, clinician, patient.id, instrument="madrs").status_code == 200

    expected = (clinician.id, "clinician", clinician.clinic_id, patient.id, "patient", patient.id)
    assert audited(world, "assessment.list") == [expected, expected]


def test_the_list_is_clinic_scoped_and_clinician_only(api, world, clinician, patient, ops, stranger):
    elsewhere, their_patient = stranger
    rated(api, elsewhere, their_patient.id, madrs(30))
    unknown = new_id()

    expect_error(listed(api, clinician, their_patient.id), 404, "not_found")
    expect_error(listed(api, clinician, unknown), 404, "not_found")
    expect_error(listed(api, patient, patient.id), 403, "forbidden")
    expect_error(listed(api, ops, patient.id), 403, "forbidden")
    expect_error(api.get(f"/patients/{patient.id}/assessments"), 401, "missing_token")

    assert audited(world, "assessment.list") == []
    assert denials(world) == sorted(
        [
            denied(clinician, "patient", their_patient.id, f"/api/v1/patients/{their_patient.id}/assessments"),
            denied(clinician, "patient", unknown, f"/api/v1/patients/{unknown}/assessments"),
        ]
    )


# --------------------------------------------------------------------------- the summary: series


def test_the_summary_has_a_series_for_every_instrument(api, world, clinician, patient):
    # Window: 1-28 February in Berlin = 2026-01-31T23:00Z up to 2026-02-28T23:00Z.
    filled(api, patient, "pcl5", [4] * 20, "2026-01-31T22:59:00Z")  # Jan 31 23:59 local: out
    filled(api, patient, "pcl5", [2] * 16 + [1] + [0] * 3, "2026-01-31T23:00:00Z")  # Feb 1 00:00: 32 + 1
    filled(api, patient, "pcl5", [2] * 16 + [0] * 4, "2026-02-20T12:00:00Z")  # 16 x 2 = 32
    filled(api, patient, "cssrs_screen", [1, 0, 0, 0, 0, 0], "2026-02-05T12:00:00Z")  # 1 yes: low
    filled(api, patient, "cssrs_screen", [1, 1, 1, 1, 0, 0], "2026-02-10T12:00:00Z")  # 4 yes, item 4: high
    filled(api, patient, "cssrs_screen", [0] * 6, "2026-02-28T22:59:00Z")  # Feb 28 23:59 local: none
    filled(api, patient, "cssrs_screen", [1, 1, 0, 0, 0, 0], "2026-02-28T23:00:00Z")  # Mar 1 local: out
    rated(api, clinician, patient.id, [3] * 5 + [4] * 5, "2026-02-03T10:00:00Z")  # 15 + 20 = 35
    rated(api, clinician, patient.id, [2] * 9 + [1], "2026-02-24T10:00:00Z")  # 18 + 1 = 19

    body = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-28"})

    assert body["assessments"] == {
        "phq9": [],
        "gad7": [],
        "pcl5": [
            {"recorded_at": "2026-01-31T23:00:00Z", "total": 33, "severity": "probable_ptsd"},
            {"recorded_at": "2026-02-20T12:00:00Z", "total": 32, "severity": "below_threshold"},
        ],
        "cssrs_screen": [
            {"recorded_at": "2026-02-05T12:00:00Z", "total": 1, "risk": "low"},
            {"recorded_at": "2026-02-10T12:00:00Z", "total": 4, "risk": "high"},
            {"recorded_at": "2026-02-28T22:59:00Z", "total": 0, "risk": "none"},
        ],
        "madrs": [
            {"recorded_at": "2026-02-03T10:00:00Z", "total": 35, "severity": "severe"},
            {"recorded_at": "2026-02-24T10:00:00Z", "total": 19, "severity": "mild"},
        ],
    }


# --------------------------------------------------------------------------- the summary: madrs_outcome


def test_madrs_baseline_is_the_last_rating_on_or_before_the_first_sessions_local_day(api, world, clinician, patient):
    # Berlin. A session deleted before treatment began does not count as the first one.
    deleted = add_session(api, clinician, patient.id, "2026-01-03T09:00:00Z")
    assert api.delete(f"/patients/{patient.id}/sessions/{deleted}", token=clinician.token).status_code == 204
    rated(api, clinician, patient.id, madrs(33), "2026-01-02T12:00:00Z")
    rated(api, clinician, patient.id, madrs(32), "2026-01-05T12:00:00Z")
    add_session(api, clinician, patient.id, "2026-01-10T09:00:00Z")  # the first session: 10 Jan, 10:00 local
    add_session(api, clinician, patient.id, "2026-01-17T09:00:00Z")
    # On the first session's day, after the dose (16:00 local): still "on or before that day".
    rated(api, clinician, patient.id, madrs(30), "2026-01-10T15:00:00Z")
    rated(api, clinician, patient.id, madrs(15), "2026-01-20T12:00:00Z")
    rated(api, clinician, patient.id, madrs(10), "2026-01-31T23:00:00Z")  # 1 Feb 00:00 local
    filled(api, patient, "phq9", [3] * 8 + [0], "2026-01-25T12:00:00Z")  # another instrument: ignored

    january = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-31"})
    february = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-28"})
    before_any_later_rating = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-19"})

    # January ends at 1 Feb 00:00 local (2026-01-31T23:00Z): the rating at that instant is past it.
    # 30 -> 15: change 15 - 30 = -15; response: 15 <= 30 / 2; remission: 15 > 10, no.
    assert january["madrs_outcome"] == {
        "baseline": 30,
        "baseline_recorded_at": "2026-01-10T15:00:00Z",
        "latest": 15,
        "latest_recorded_at": "2026-01-20T12:00:00Z",
        "change": -15,
        "response": True,
        "remission": False,
        "remission_cutoff": 10,
    }
    # 30 -> 10: change 10 - 30 = -20; response: 10 <= 15; remission: 10 <= 10.
    assert february["madrs_outcome"] == {
        "baseline": 30,
        "baseline_recorded_at": "2026-01-10T15:00:00Z",
        "latest": 10,
        "latest_recorded_at": "2026-01-31T23:00:00Z",
        "change": -20,
        "response": True,
        "remission": True,
        "remission_cutoff": 10,
    }
    # Up to 19 January no rating follows the baseline: the baseline alone.
    assert before_any_later_rating["madrs_outcome"] == {
        **NO_MADRS_OUTCOME,
        "baseline": 30,
        "baseline_recorded_at": "2026-01-10T15:00:00Z",
    }


def test_madrs_baseline_is_judged_on_the_patients_local_day_not_utc(api, world, clinician):
    # Kiritimati is UTC+14: local = UTC + 14 h.
    # Patient A: the session's local day (11 Jan) is a day after its UTC day (10 Jan).
    late = world.patient(clinician, KIRITIMATI)
    rated(api, clinician, late.id, madrs(28), "2026-01-09T20:00:00Z")  # 10 Jan 10:00 local
    add_session(api, clinician, late.id, "2026-01-10T11:00:00Z")  # 11 Jan 01:00 local
    rated(api, clinician, late.id, madrs(30), "2026-01-11T09:00:00Z")  # 11 Jan 23:00 local: the baseline
    rated(api, clinician, late.id, madrs(14), "2026-01-11T10:00:00Z")  # 12 Jan 00:00 local: after it
    # Patient B: a rating on the session's UTC day (10 Jan) that is the next local day.
    early = world.patient(clinician, KIRITIMATI)
    rated(api, clinician, early.id, madrs(20), "2026-01-09T09:00:00Z")  # 9 Jan 23:00 local: the baseline
    add_session(api, clinician, early.id, "2026-01-10T05:00:00Z")  # 10 Jan 19:00 local
    rated(api, clinician, early.id, madrs(10), "2026-01-10T10:30:00Z")  # 11 Jan 00:30 local: after it

    window = {"from": "2026-01-01", "to": "2026-01-31"}
    # A: 30 -> 14: change 14 - 30 = -16; response 14 <= 15; remission 14 > 10, no.
    # (By UTC days the baseline would be 28 and the change -14.)
    assert summary(api, clinician, late.id, **window)["madrs_outcome"] == {
        "baseline": 30,
        "baseline_recorded_at": "2026-01-11T09:00:00Z",
        "latest": 14,
        "latest_recorded_at": "2026-01-11T10:00:00Z",
        "change": -16,
        "response": True,
        "remission": False,
        "remission_cutoff": 10,
    }
    # B: 20 -> 10: change -10; response 10 <= 20 / 2; remission 10 <= 10.
    # (By UTC days the 10 would be the baseline, with nothing after it.)
    assert summary(api, clinician, early.id, **window)["madrs_outcome"] == {
        "baseline": 20,
        "baseline_recorded_at": "2026-01-09T09:00:00Z",
        "latest": 10,
        "latest_recorded_at": "2026-01-10T10:30:00Z",
        "change": -10,
        "response": True,
        "remission": True,
        "remission_cutoff": 10,
    }


@pytest.mark.parametrize(
    ("latest", "change", "response", "remission"),
    [
        (15, 15 - 30, True, False),  # 15 is exactly half of 30: a 50 % fall is a response
        (16, 16 - 30, False, False),  # 16 > 30 / 2: just short of it
        (10, 10 - 30, True, True),  # at the cutoff: 10 <= 10 is a remission
        (11, 11 - 30, True, False),  # 11 > 10: not; but 11 <= 15 is still a response
        (30, 30 - 30, False, False),  # no change
        (36, 36 - 30, False, False),  # worse
    ],
)
def test_madrs_response_at_exactly_half_and_remission_at_the_cutoff(
    api, world, clinician, patient, latest, change, response, remission
):
    rated(api, clinician, patient.id, madrs(30), "2026-01-08T12:00:00Z")
    add_session(api, clinician, patient.id, "2026-01-10T09:00:00Z")
    rated(api, clinician, patient.id, madrs(latest), "2026-01-20T12:00:00Z")

    outcome = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-31"})["madrs_outcome"]

    assert (outcome["baseline"], outcome["latest"]) == (30, latest)
    assert (outcome["change"], outcome["response"], outcome["remission"]) == (change, response, remission)


@pytest.mark.parametrize(("latest", "remission"), [(11, True), (12, True), (13, False)])
def test_the_madrs_remission_cutoff_is_configuration(make_app, world, clinician, patient, latest, remission):
    api = Api(make_app(MADRS_REMISSION_CUTOFF=12).test_client())
    rated(api, clinician, patient.id, madrs(30), "2026-01-08T12:00:00Z")
    add_session(api, clinician, patient.id, "2026-01-10T09:00:00Z")
    rated(api, clinician, patient.id, madrs(latest), "2026-01-20T12:00:00Z")

    outcome = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-31"})["madrs_outcome"]

    # Remission: latest <= 12 (11 and 12 yes, 13 no).
    assert (outcome["latest"], outcome["remission"], outcome["remission_cutoff"]) == (latest, remission, 12)


def test_madrs_outcome_is_null_without_a_session_or_without_a_baseline(api, world, clinician):
    window = {"from": "2026-01-01", "to": "2026-01-31"}
    # Ratings but no session: nothing is a baseline.
    untreated = world.patient(clinician, BERLIN)
    rated(api, clinician, untreated.id, madrs(30), "2026-01-08T12:00:00Z")
    rated(api, clinician, untreated.id, madrs(12), "2026-01-20T12:00:00Z")
    # A session, but the first rating only the day after it.
    late_start = world.patient(clinician, BERLIN)
    add_session(api, clinician, late_start.id, "2026-01-10T09:00:00Z")
    rated(api, clinician, late_start.id, madrs(30), "2026-01-10T23:00:00Z")  # 11 Jan 00:00 local
    rated(api, clinician, late_start.id, madrs(12), "2026-01-20T12:00:00Z")
    # A rating before a session that was then deleted: a deleted session is no session, so no baseline.
    nothing = world.patient(clinician, BERLIN)
    gone = add_session(api, clinician, nothing.id, "2026-01-10T09:00:00Z")
    rated(api, clinician, nothing.id, madrs(30), "2026-01-08T12:00:00Z")
    assert api.delete(f"/patients/{nothing.id}/sessions/{gone}", token=clinician.token).status_code == 204
    # A baseline and no later rating: the baseline alone.
    baseline_only = world.patient(clinician, BERLIN)
    rated(api, clinician, baseline_only.id, madrs(27), "2026-01-08T12:00:00Z")
    add_session(api, clinician, baseline_only.id, "2026-01-10T09:00:00Z")
    filled(api, baseline_only, "phq9", [1] * 8 + [0], "2026-01-20T12:00:00Z")  # not a MADRS

    assert summary(api, clinician, untreated.id, **window)["madrs_outcome"] == NO_MADRS_OUTCOME
    assert summary(api, clinician, late_start.id, **window)["madrs_outcome"] == NO_MADRS_OUTCOME
    assert summary(api, clinician, nothing.id, **window)["madrs_outcome"] == NO_MADRS_OUTCOME
    assert summary(api, clinician, baseline_only.id, **window)["madrs_outcome"] == {
        **NO_MADRS_OUTCOME,
        "baseline": 27,
        "baseline_recorded_at": "2026-01-08T12:00:00Z",
    }


# --------------------------------------------------------------------------- the export


def test_the_export_holds_every_instrument_and_names_the_rater_by_role_only(api, world, clinician, patient):
    session_id = add_session(api, clinician, patient.id, "2026-02-10T09:00:00Z")
    phq9 = filled(api, patient, "phq9", [1] * 8 + [0], "2026-02-01T09:00:00Z")  # 8 x 1 = 8: mild
    gad7 = filled(api, patient, "gad7", [2] * 7, "2026-02-02T09:00:00Z")  # 7 x 2 = 14: moderate
    pcl5 = filled(api, patient, "pcl5", [2] * 16 + [0] * 4, "2026-02-03T09:00:00Z")  # 16 x 2 = 32
    screen = filled(api, patient, "cssrs_screen", [1, 1, 0, 0, 0, 0], "2026-02-04T09:00:00Z")  # 2 yes: low
    rating = rated(api, clinician, patient.id, [3] * 10, "2026-02-10T10:00:00Z", session_id=session_id)  # 30

    resp = api.get("/me/export", token=patient.token)

    assert resp.status_code == 200, resp.json

    def exported(made: dict, rated_by: str, session: str | None = None) -> dict:
        return {
            "id": made["id"],
            "instrument": made["instrument"],
            "answers": made["answers"],
            "total": made["total"],
            "severity": made.get("severity"),
            "risk": made.get("risk"),
            "recorded_at": made["recorded_at"],
            "local_date": made["local_date"],
            "rated_by": rated_by,
            "session_id": session,
        }

    assert resp.json["assessments"] == [
        exported(phq9, "patient"),
        exported(gad7, "patient"),
        exported(pcl5, "patient"),
        exported(screen, "patient"),
        exported(rating, "clinician", session_id),
    ]
    assert [(a["total"], a["severity"], a["risk"]) for a in resp.json["assessments"]] == [
        (8, "mild", None),
        (14, "moderate", None),
        (32, "below_threshold", None),
        (2, None, "low"),
        (30, "moderate", None),  # 10 x 3 = 30: 20-34
    ]
    # Who rated it never reaches the patient: not the clinician's id, not their email.
    document = resp.get_data(as_text=True)
    assert clinician.id not in document
    assert clinician.email not in document
    assert clinician.email.split("@")[0] not in document


def test_the_export_holds_only_the_patients_own_assessments(api, world, clinician, patient, other_patient):
    mine = rated(api, clinician, patient.id, madrs(20))
    theirs = rated(api, clinician, other_patient.id, madrs(25))

    document = api.get("/me/export", token=patient.token)

    assert [a["id"] for a in document.json["assessments"]] == [mine["id"]]
    assert theirs["id"] not in document.get_data(as_text=True)
