"""Alert rules (API.md "Alert rules"): the trends, PHQ-9 worsening, self-harm in the
request, one unresolved alert per patient and rule, disengagement.

Data goes in through the API (POST /me/entries, POST /me/assessments) on the controlled
clock; rows are read back from the database. The clock starts at NOW (2026-03-01 12:00Z):
13:00 in Berlin, 02:00 on 2 March in Kiritimati (UTC+14), so a patient there is already on
the next local day.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from diary.domain import alerts as alert_rules
from diary.domain import maintenance
from diary.extensions import db
from diary.models import Alert
from diary.timeutil import UTC, local_date
from tests.alerting import (
    BERLIN,
    KIRITIMATI,
    NOTE,
    NOW,
    PHQ9_8,
    PHQ9_12,
    PHQ9_13,
    PHQ9_19,
    PHQ9_20,
    PHQ9_ITEM9,
    SAFETY,
    at_local,
    dedupe_keys,
    iso,
    only_alert,
    outbox_of,
    post_entry,
    post_phq9,
    push_row,
    report_self_harm,
    rules,
    webhook_row,
)
from tests.conftest import Account, Api

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


def _concurrently(app, patient: Account, bodies: list[tuple[str, dict]]) -> dict[int, Any]:
    """Each (path, body) posted at the same moment from its own thread and test client."""
    start = threading.Barrier(len(bodies), timeout=20)
    results: dict[int, Any] = {}

    def post(n: int, path: str, body: dict) -> None:
        client = Api(app.test_client())
        start.wait()
        try:
            resp = client.post(path, body, token=patient.token)
            results[n] = (resp.status_code, resp.json)
        except Exception as error:  # reported below, not lost in the thread
            results[n] = error

    threads = [threading.Thread(target=post, args=(n, path, body)) for n, (path, body) in enumerate(bodies, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_concurrent_self_harm_reports_wait_for_each_other_and_open_one_alert(clock, world, clinician, app, backend):
    """Two self-harm entries of one patient at once: the second waits on the patient's lock
    (taken by the first entry's own INSERT statement) and then finds the first one's alert."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers: two transactions never interleave here; PostgreSQL shows the race")
    clock.set(NOW)
    patient = world.patient(clinician)
    entry = {"recorded_at": iso(NOW), "mood": 1, "anxiety": 9, "self_harm_thoughts": 3}
    bodies = [("/me/entries", {"id": str(uuid.uuid4()), **entry}) for _ in range(2)]

    results = _concurrently(app, patient, bodies)

    assert [results[n][0] for n in (1, 2)] == [201, 201], results
    assert all(results[n][1]["safety"] == SAFETY for n in (1, 2))
    [(alert_id, status)] = world.rows(
        "SELECT id, status FROM alerts WHERE patient_id = :p AND rule = 'self_harm'", p=patient.id
    )
    assert status == "open"
    assert "last_triggered_at" in only_alert(world, patient.id).details  # the second updated the first's
    assert dedupe_keys(world, alert_id) == [f"alert:{alert_id}:push:1"]
    assert world.rows("SELECT count(*) FROM entries WHERE patient_id = :p", p=patient.id) == [(2,)]


def test_without_the_patient_lock_the_database_still_opens_one_alert(
    clock, world, clinician, app, backend, monkeypatch
):
    """The database's own guard, behind the lock: with the lock taken away, two PHQ-9s with
    item 9 answered both look for an unresolved alert before either has written one (the
    look-up waits for the other at a barrier), so both insert: the partial unique index lets
    one win and the other updates the winner's alert."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers: two transactions never interleave here; PostgreSQL shows the race")
    from diary.domain import panel

    clock.set(NOW)
    patient = world.patient(clinician)
    monkeypatch.setattr(panel, "lock", lambda patient_id: None)
    real_lookup = alert_rules._unresolved
    lookups: list[bool] = []
    guard = threading.Lock()
    both_looked = threading.Barrier(2, timeout=20)

    def racing_lookup(patient_id: str, rule: str):
        found = real_lookup(patient_id, rule)
        with guard:
            lookups.append(found is None)
            first_two = len(lookups) <= 2
        if first_two:
            both_looked.wait()
        return found

    monkeypatch.setattr(alert_rules, "_unresolved", racing_lookup)
    phq9 = {"instrument": "phq9", "answers": [2] * 8 + [3], "recorded_at": iso(NOW)}
    bodies = [("/me/assessments", {"id": str(uuid.uuid4()), **phq9}) for _ in range(2)]

    results = _concurrently(app, patient, bodies)

    assert [results[n][0] for n in (1, 2)] == [201, 201], results
    # Both looked and found nothing; the loser's insert failed and its second look found the winner's.
    assert lookups == [True, True, False]
    [(alert_id, status)] = world.rows(
        "SELECT id, status FROM alerts WHERE patient_id = :p AND rule = 'self_harm'", p=patient.id
    )
    assert status == "open"
    assert "last_triggered_at" in only_alert(world, patient.id).details
    assert dedupe_keys(world, alert_id) == [f"alert:{alert_id}:push:1"]


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
