"""When a patient's treatment effect is expected to wear off (API.md v1.1 "Forecast"), on the
summary and on the panel, and the `effect_waning` alert the worker raises from it.

Every expected date is worked out by hand in the test from the entries posted: sessions are
built by tests.treatment.measured_sessions so that each one's effect_days is known by
construction (baseline mood 5 the day before, mood 8 for `effect` days from the dose, then 5).

The clock starts at NOW (2026-03-01 12:00Z): 13:00 in Berlin (UTC+1 in winter), 02:00 on
2 March in Kiritimati (UTC+14), 01:00 on 1 March in Pago Pago (UTC-11).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from sqlalchemy import select

from diary.domain import alerts as alert_rules
from diary.extensions import db
from diary.models import Alert
from diary.worker import Worker
from tests.alerting import (
    BERLIN,
    KIRITIMATI,
    NOW,
    iso,
    outbox_of,
    push_row,
    relogin,
    webhook_row,
)
from tests.conftest import Account, Api
from tests.treatment import (
    ABOVE_BASELINE,
    ENTRY,
    day,
    delete_session,
    local,
    measured_sessions,
    post_entries,
    session_on,
)

PAGO_PAGO = "Pacific/Pago_Pago"


# --- helpers ----------------------------------------------------------------------------------------


def begin(clock, world, timezone: str = BERLIN) -> tuple[Account, Account]:
    """The clock at NOW, then a clinic, its clinician and an enrolled patient."""
    clock.set(NOW)
    clinician = world.staff(world.clinic())
    return clinician, world.patient(clinician, timezone)


def summary(api: Api, clinician: Account, patient: Account, **window: str) -> dict[str, Any]:
    resp = api.get(f"/patients/{patient.id}/summary", token=clinician.token, query_string=window)
    assert resp.status_code == 200, resp.json
    return resp.json


def effect_days(api: Api, clinician: Account, patient: Account) -> dict[str, int | None]:
    """Each session's effect_days as the summary shows it (window: 2025 and 2026 so far)."""
    body = summary(api, clinician, patient, **{"from": "2025-01-01", "to": "2026-03-01"})
    return {s["id"]: s["effect_days"] for s in body["sessions"]}


def panel_wear_off(api: Api, clinician: Account) -> dict[str, str | None]:
    """expected_wear_off_date of every patient on the panel, walked one item a page."""
    found: dict[str, str | None] = {}
    cursor = None
    while True:
        query: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        resp = api.get("/patients", token=clinician.token, query_string=query)
        assert resp.status_code == 200, resp.json
        for item in resp.json["items"]:
            assert item["id"] not in found
            found[item["id"]] = item["expected_wear_off_date"]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            return found


def forecast(expected: str, earliest: str, latest: str, based_on: list[str]) -> dict[str, Any]:
    """The summary's forecast; the dates count from the last session's day (from_session_id)."""
    return {
        "expected_wear_off_date": expected,
        "earliest": earliest,
        "latest": latest,
        "basis_sessions": len(based_on),
        "based_on": based_on,
        "from_session_id": based_on[-1],
    }


def expect_forecast(api: Api, clinician: Account, patient: Account, expected: dict[str, Any] | None) -> None:
    """The summary's forecast is `expected`, and the panel shows its date (null without one)."""
    assert summary(api, clinician, patient)["forecast"] == expected
    wear_off = expected["expected_wear_off_date"] if expected else None
    assert panel_wear_off(api, clinician)[patient.id] == wear_off


# --- the forecast -----------------------------------------------------------------------------------


def test_two_measured_sessions_give_the_median_of_two_a_half_day_rounded_up(clock, world, api):
    clinician, patient = begin(clock, world)
    s1, s2 = measured_sessions(api, clinician, patient, [(day("2026-01-20"), 3), (day("2026-02-09"), 4)], BERLIN)
    assert effect_days(api, clinician, patient) == {s1: 3, s2: 4}

    # From the latest session's day, Feb 9: median (3 + 4) / 2 = 3.5, a half day rounds up to 4 ->
    # Feb 13; earliest + 3 -> Feb 12; latest + 4 -> Feb 13. Session s1 lies outside the summary's
    # default window (Jan 31 .. Mar 1) and still counts: the basis is over all time.
    expect_forecast(api, clinician, patient, forecast("2026-02-13", "2026-02-12", "2026-02-13", [s1, s2]))


def test_three_measured_sessions_give_the_middle_one_of_three(clock, world, api):
    clinician, patient = begin(clock, world)
    plan = [(day("2026-01-01"), 3), (day("2026-01-21"), 6), (day("2026-02-10"), 2)]
    s1, s2, s3 = measured_sessions(api, clinician, patient, plan, BERLIN)
    assert effect_days(api, clinician, patient) == {s1: 3, s2: 6, s3: 2}

    # Sorted 2, 3, 6: the median is 3 (not the mean 11/3, not the latest's 2). From Feb 10:
    # + 3 -> Feb 13; earliest + 2 -> Feb 12; latest + 6 -> Feb 16.
    expect_forecast(api, clinician, patient, forecast("2026-02-13", "2026-02-12", "2026-02-16", [s1, s2, s3]))


def test_only_the_last_6_measured_sessions_by_start_count(clock, world, api):
    clinician, patient = begin(clock, world)
    starts = ["2025-09-01", "2025-09-21", "2025-10-11", "2025-10-31", "2025-11-20", "2025-12-10", "2025-12-30"]
    effects = [10, 3, 8, 1, 7, 2, 6]
    # Recorded newest first: the basis is ordered by start, not by when a session was entered.
    plan = list(reversed([(day(s), e) for s, e in zip(starts, effects, strict=True)]))
    ids = list(reversed(measured_sessions(api, clinician, patient, plan, BERLIN)))
    assert effect_days(api, clinician, patient) == dict(zip(ids, effects, strict=True))

    # The last 6 by start: 3, 8, 1, 7, 2, 6 -> sorted 1, 2, 3, 6, 7, 8: median (3 + 6) / 2 = 4.5 -> 5.
    # From Dec 30: + 5 -> Jan 4; earliest + 1 -> Dec 31; latest + 8 -> Jan 7.
    # Had the oldest (10) counted: 1, 2, 3, 6, 7, 8, 10 -> median 6 (Jan 5), latest + 10 (Jan 9).
    expect_forecast(api, clinician, patient, forecast("2026-01-04", "2025-12-31", "2026-01-07", ids[1:]))


def test_measured_sessions_older_than_a_dozen_unmeasured_ones_still_count(clock, world, api):
    clinician, patient = begin(clock, world)
    s1, s2 = measured_sessions(api, clinician, patient, [(day("2025-09-01"), 3), (day("2025-09-21"), 4)], BERLIN)
    # Eleven daily sessions, Oct 3 .. Oct 13, with no entry in the 7 days before any of them (s2's
    # last entry is on Sep 25): no baseline, no effect_days. The newest 12 sessions hold only one
    # measured one (s2).
    unmeasured = [session_on(api, clinician, patient, day(f"2025-10-{d:02d}"), BERLIN) for d in range(3, 14)]
    assert effect_days(api, clinician, patient) == {s1: 3, s2: 4, **dict.fromkeys(unmeasured)}

    # Basis s1, s2 over all time: median 3.5 -> 4 from the latest session's Oct 13: Oct 17;
    # earliest + 3 -> Oct 16; latest + 4 -> Oct 17.
    expected = forecast("2025-10-17", "2025-10-16", "2025-10-17", [s1, s2])
    expect_forecast(api, clinician, patient, {**expected, "from_session_id": unmeasured[-1]})


def test_one_measured_session_gives_no_forecast(clock, world, api):
    clinician, patient = begin(clock, world)
    [measured] = measured_sessions(api, clinician, patient, [(day("2026-01-10"), 3)], BERLIN)
    # A later session with no entry in the 7 days before it: no baseline, no effect_days.
    unmeasured = session_on(api, clinician, patient, day("2026-02-10"), BERLIN)
    assert effect_days(api, clinician, patient) == {measured: 3, unmeasured: None}

    expect_forecast(api, clinician, patient, None)


def test_a_latest_session_still_in_effect_counts_the_dates_from_its_own_day(clock, world, api):
    clinician, patient = begin(clock, world)
    plan = [(day("2026-01-18"), 2), (day("2026-02-07"), 5), (day("2026-02-27"), None)]
    s1, s2, running = measured_sessions(api, clinician, patient, plan, BERLIN)
    # Mood 8 (above its baseline of 5) after the dose on Feb 27, Feb 28 and Mar 1 (12:00 CET =
    # 11:00Z, before NOW): the run has not ended, so its effect_days is null.
    post_entries(
        api,
        patient,
        [(local(day(d), ENTRY, BERLIN), ABOVE_BASELINE) for d in ("2026-02-27", "2026-02-28", "2026-03-01")],
    )
    assert effect_days(api, clinician, patient) == {s1: 2, s2: 5, running: None}

    # Basis s1, s2: median (2 + 5) / 2 = 3.5 -> 4, counted from the latest session's day, Feb 27
    # (not from s2's Feb 7): Mar 3; earliest + 2 -> Mar 1; latest + 5 -> Mar 4.
    expected = forecast("2026-03-03", "2026-03-01", "2026-03-04", [s1, s2])
    expect_forecast(api, clinician, patient, {**expected, "from_session_id": running})


@pytest.mark.parametrize(
    ("timezone", "dose", "entry", "started_at"),
    [
        # 10:00 on Feb 9 in Kiritimati (UTC+14) is 20:00Z on Feb 8.
        pytest.param(KIRITIMATI, dt.time(10, 0), dt.time(12, 0), "2026-02-08T20:00:00Z", id="kiritimati"),
        # 19:00 on Feb 9 in Pago Pago (UTC-11) is 06:00Z on Feb 10; entries at 21:00 local.
        pytest.param(PAGO_PAGO, dt.time(19, 0), dt.time(21, 0), "2026-02-10T06:00:00Z", id="pago-pago"),
    ],
)
def test_a_far_from_utc_patient_counts_from_the_sessions_local_day(
    clock, world, api, timezone, dose, entry, started_at
):
    clinician, patient = begin(clock, world, timezone)
    plan = [(day("2026-01-20"), 2), (day("2026-02-09"), 3)]
    s1, s2 = measured_sessions(api, clinician, patient, plan, timezone, dose=dose, entry=entry)
    [latest] = [s for s in summary(api, clinician, patient)["sessions"] if s["id"] == s2]
    assert latest["started_at"] == started_at  # its UTC day is not its local day, Feb 9
    assert effect_days(api, clinician, patient) == {s1: 2, s2: 3}

    # Median (2 + 3) / 2 = 2.5 -> 3 from the local Feb 9: Feb 12 (from the UTC day it would be
    # Feb 11 or Feb 13); earliest + 2 -> Feb 11; latest + 3 -> Feb 12.
    expect_forecast(api, clinician, patient, forecast("2026-02-12", "2026-02-11", "2026-02-12", [s1, s2]))


def test_deleted_sessions_are_left_out_of_the_basis_and_of_the_latest(clock, world, api):
    clinician, patient = begin(clock, world)
    plan = [(day("2025-12-12"), 2), (day("2026-01-01"), 4), (day("2026-01-21"), 9), (day("2026-02-10"), 6)]
    s1, s2, s3, s4 = measured_sessions(api, clinician, patient, plan, BERLIN)

    # 2, 4, 9, 6 -> sorted 2, 4, 6, 9: median (4 + 6) / 2 = 5. From Feb 10: Feb 15; Feb 12; Feb 19.
    expect_forecast(api, clinician, patient, forecast("2026-02-15", "2026-02-12", "2026-02-19", [s1, s2, s3, s4]))

    delete_session(api, clinician, patient, s2)
    # 2, 9, 6 -> sorted 2, 6, 9: median 6. From Feb 10: Feb 16; earliest Feb 12; latest Feb 19.
    expect_forecast(api, clinician, patient, forecast("2026-02-16", "2026-02-12", "2026-02-19", [s1, s3, s4]))

    delete_session(api, clinician, patient, s4)
    # The latest is now s3 (Jan 21): 2, 9 -> median 5.5 -> 6: Jan 27; earliest + 2 -> Jan 23; + 9 -> Jan 30.
    expect_forecast(api, clinician, patient, forecast("2026-01-27", "2026-01-23", "2026-01-30", [s1, s3]))

    delete_session(api, clinician, patient, s1)
    expect_forecast(api, clinician, patient, None)  # only s3 is left measured


def test_the_panel_shows_each_patients_forecast_date(clock, world, api):
    clock.set(NOW)
    clinician = world.staff(world.clinic())
    two, far, one, none = (world.patient(clinician, zone) for zone in (BERLIN, KIRITIMATI, BERLIN, BERLIN))
    measured_sessions(api, clinician, two, [(day("2026-01-20"), 3), (day("2026-02-09"), 4)], BERLIN)
    # Kiritimati: sessions at 10:00 local on Jan 20 and Feb 9 (Feb 8 20:00Z).
    measured_sessions(api, clinician, far, [(day("2026-01-20"), 2), (day("2026-02-09"), 3)], KIRITIMATI)
    measured_sessions(api, clinician, one, [(day("2026-01-10"), 3)], BERLIN)
    other_clinician = world.staff(world.clinic("Other Clinic"))
    elsewhere = world.patient(other_clinician, BERLIN)
    measured_sessions(api, other_clinician, elsewhere, [(day("2026-01-20"), 3), (day("2026-02-09"), 4)], BERLIN)

    # two: Feb 9 + ceil(3.5) = Feb 13; far: local Feb 9 + ceil(2.5) = Feb 12; one, none: no forecast.
    expected = {two.id: "2026-02-13", far.id: "2026-02-12", one.id: None, none.id: None}
    assert panel_wear_off(api, clinician) == expected
    for patient in (two, far, one, none):
        found = summary(api, clinician, patient)["forecast"]
        assert (found["expected_wear_off_date"] if found else None) == expected[patient.id]
    assert panel_wear_off(api, other_clinician) == {elsewhere.id: "2026-02-13"}


def test_the_panel_orders_by_soonest_wear_off_when_asked_and_pages_through(clock, world, api):
    clock.set(NOW)
    clinician = world.staff(world.clinic())
    later, sooner, tied_a, tied_b, none = (world.patient(clinician, BERLIN) for _ in range(5))
    # later: Feb 9 + ceil((3 + 5) / 2) = Feb 13; sooner: Feb 9 + ceil((1 + 2) / 2) = Feb 11;
    # tied_a, tied_b: Feb 9 + ceil((2 + 3) / 2) = Feb 12 each, ordered by id; none: no forecast, last.
    measured_sessions(api, clinician, later, [(day("2026-01-20"), 3), (day("2026-02-09"), 5)], BERLIN)
    measured_sessions(api, clinician, sooner, [(day("2026-01-20"), 1), (day("2026-02-09"), 2)], BERLIN)
    for patient in (tied_a, tied_b):
        measured_sessions(api, clinician, patient, [(day("2026-01-20"), 2), (day("2026-02-09"), 3)], BERLIN)
    tied = sorted([tied_a.id, tied_b.id])
    expected = [(sooner.id, "2026-02-11"), (tied[0], "2026-02-12"), (tied[1], "2026-02-12")]
    expected += [(later.id, "2026-02-13"), (none.id, None)]

    seen, cursor = [], None
    for _ in range(5):
        query = {"order": "wears_off", "limit": 2, **({"cursor": cursor} if cursor else {})}
        resp = api.get("/patients", token=clinician.token, query_string=query)
        assert resp.status_code == 200, resp.json
        seen += [(item["id"], item["expected_wear_off_date"]) for item in resp.json["items"]]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    bad = api.get("/patients", token=clinician.token, query_string={"order": "wears_off", "cursor": "bm9wZQ"})
    assert bad.status_code == 422
    assert api.get("/patients", token=clinician.token, query_string={"order": "alphabet"}).status_code == 422


# --- the effect_waning alert ----------------------------------------------------------------------

# Sessions on Jan 20 (effect 3 days), Feb 9 (5 days) and Mar 1 at 10:00 local (a baseline, no
# entry after it yet: not measured). Basis Jan 20, Feb 9: median (3 + 5) / 2 = 4, counted from
# Mar 1: expected Mar 5, earliest + 3 -> Mar 4, latest + 5 -> Mar 6. With WANING_LEAD_DAYS 2
# the alert is due from the patient's local Mar 3 (Mar 5 - 2).
WANING_PLAN = [(day("2026-01-20"), 3), (day("2026-02-09"), 5), (day("2026-03-01"), None)]
WANING_DETAILS = {"expected_wear_off_date": "2026-03-05", "earliest": "2026-03-04", "latest": "2026-03-06"}


def waning_patient(world, api: Api, clinician: Account, timezone: str = BERLIN) -> tuple[Account, list[str]]:
    patient = world.patient(clinician, timezone)
    return patient, measured_sessions(api, clinician, patient, WANING_PLAN, timezone)


def evaluate_waning(app, now: dt.datetime) -> int:
    """One run of the rule, committed as the worker commits each job."""
    with app.app_context():
        try:
            raised = alert_rules.evaluate_waning(now)
            db.session.commit()
            return raised
        finally:
            db.session.remove()


def evaluate_at(app, clock, instant: dt.datetime) -> int:
    clock.set(instant)
    return evaluate_waning(app, instant)


def waning_alerts(world, patient_id: str) -> list[Alert]:
    """The patient's effect_waning alerts, oldest first, detached from the session."""
    with world.app.app_context():
        found = list(
            db.session.scalars(
                select(Alert)
                .where(Alert.patient_id == patient_id, Alert.rule == "effect_waning")
                .order_by(Alert.opened_at)
            )
        )
        for alert in found:
            db.session.expunge(alert)
        return found


def only_waning(world, patient_id: str) -> Alert:
    [alert] = waning_alerts(world, patient_id)
    return alert


def at_midnight(on: str, timezone: str, minutes: int = 0) -> dt.datetime:
    """`minutes` after the start of the patient's local day `on` (negative: before it)."""
    return local(day(on), dt.time(0, 0), timezone) + dt.timedelta(minutes=minutes)


@pytest.mark.parametrize("timezone", [BERLIN, KIRITIMATI])
def test_effect_waning_is_raised_on_the_lead_day_and_not_the_day_before(
    clock, world, api, make_app, hook_config, timezone
):
    clinician, _ = begin(clock, world)
    app = make_app(**hook_config)
    patient, (_, _, latest) = waning_patient(world, api, clinician, timezone)
    # One measured session (Jan 20) and a later one with no baseline: no forecast, never warned.
    unforecast = world.patient(clinician, timezone)
    measured_sessions(api, clinician, unforecast, [(day("2026-01-20"), 3)], timezone)
    session_on(api, clinician, unforecast, day("2026-03-01"), timezone)

    # 23:59 on the patient's Mar 2 (Berlin: 22:59Z; Kiritimati: 09:59Z): Mar 2 < Mar 3.
    assert evaluate_at(app, clock, at_midnight("2026-03-03", timezone, -1)) == 0
    assert waning_alerts(world, patient.id) == []

    # 00:00 on the patient's Mar 3 (Berlin: Mar 2 23:00Z; Kiritimati: Mar 2 10:00Z).
    lead_day = at_midnight("2026-03-03", timezone)
    assert evaluate_at(app, clock, lead_day) == 1
    alert = only_waning(world, patient.id)
    assert (alert.clinic_id, alert.severity, alert.status, alert.opened_at) == (
        clinician.clinic_id,
        "warning",
        "open",
        lead_day,
    )
    assert alert.details == {"session_id": latest, **WANING_DETAILS, "basis_sessions": 2}
    # Delivered like every alert: the webhook and a push to the clinic's staff devices.
    assert outbox_of(world, alert.id) == [push_row(alert.id, 1, lead_day), webhook_row(alert.id, 1, lead_day)]
    assert waning_alerts(world, unforecast.id) == []

    # Later ticks that day and the next find the same latest session: no second alert, no new delivery.
    for later in (lead_day + dt.timedelta(minutes=15), lead_day + dt.timedelta(days=1)):
        assert evaluate_at(app, clock, later) == 0
        assert [(a.id, a.status) for a in waning_alerts(world, patient.id)] == [(alert.id, "open")]
        assert only_waning(world, patient.id).details == alert.details
        assert outbox_of(world, alert.id) == [push_row(alert.id, 1, lead_day), webhook_row(alert.id, 1, lead_day)]


def test_waning_lead_days_is_configuration(clock, world, api, make_app):
    clinician, _ = begin(clock, world)
    app = make_app(WANING_LEAD_DAYS=0)
    patient, (_, _, latest) = waning_patient(world, api, clinician)

    # Lead 0: due on the expected day itself, Mar 5 (Berlin).
    assert evaluate_at(app, clock, at_midnight("2026-03-03", BERLIN)) == 0
    assert evaluate_at(app, clock, at_midnight("2026-03-05", BERLIN, -1)) == 0
    assert waning_alerts(world, patient.id) == []
    assert evaluate_at(app, clock, at_midnight("2026-03-05", BERLIN)) == 1
    assert only_waning(world, patient.id).details == {"session_id": latest, **WANING_DETAILS, "basis_sessions": 2}


def test_the_worker_raises_effect_waning_once_and_delivers_it(clock, world, hook_app, receiver, fake_fcm):
    clinician, _ = begin(clock, world)
    client = Api(hook_app.test_client())
    resp = client.post("/me/devices", {"token": "tok-clinician", "platform": "ios"}, token=clinician.token)
    assert resp.status_code == 201, resp.json
    patient, (_, _, latest) = waning_patient(world, client, clinician)

    # Each tick by a worker that has just started (a fresh one checks the rule at once).
    clock.set(at_midnight("2026-03-03", BERLIN, -1))
    Worker(hook_app, worker_id="w1").maintenance_tick()
    assert waning_alerts(world, patient.id) == []

    lead_day = at_midnight("2026-03-03", BERLIN)  # Mar 2 23:00Z
    clock.set(lead_day)
    worker = Worker(hook_app, worker_id="w2")
    worker.maintenance_tick()
    alert = only_waning(world, patient.id)
    assert (alert.status, alert.opened_at, alert.details) == (
        "open",
        lead_day,
        {"session_id": latest, **WANING_DETAILS, "basis_sessions": 2},
    )
    worker.dispatch_tick()

    [hook] = [r for r in receiver.all() if json.loads(r.body)["alert_id"] == alert.id]
    assert (hook.status, hook.verdict) == (200, "accepted")
    assert json.loads(hook.body) == {
        "alert_id": alert.id,
        "clinic_id": clinician.clinic_id,
        "patient_id": patient.id,
        "rule": "effect_waning",
        "severity": "warning",
        "opened_at": "2026-03-02T23:00:00Z",
    }
    [push] = [m for m in fake_fcm.messages() if m["data"].get("alert_id") == alert.id]
    assert (push["token"], push["data"]) == ("tok-clinician", {"type": "alert", "alert_id": alert.id})

    # Another worker an hour later, and one the next day: still the one alert, delivered once.
    for later in (lead_day + dt.timedelta(hours=1), lead_day + dt.timedelta(days=1)):
        clock.set(later)
        Worker(hook_app, worker_id="w3").tick()
        assert [a.id for a in waning_alerts(world, patient.id)] == [alert.id]
        assert [key for _, key, *_ in outbox_of(world, alert.id)] == [
            f"alert:{alert.id}:push:1",
            f"alert:{alert.id}:webhook:1",
        ]
    assert len([r for r in receiver.all() if json.loads(r.body)["alert_id"] == alert.id]) == 1


def test_a_resolved_waning_alert_is_not_raised_again_for_the_same_session(clock, world, api, app):
    clinician, _ = begin(clock, world)
    patient, _ = waning_patient(world, api, clinician)
    lead_day = at_midnight("2026-03-03", BERLIN)
    assert evaluate_at(app, clock, lead_day) == 1
    alert = only_waning(world, patient.id)

    clock.set(lead_day + dt.timedelta(hours=9))
    staff = relogin(world, clinician)
    resp = api.post(f"/alerts/{alert.id}/resolve", {"note": "called, booked for Thursday"}, token=staff.token)
    assert resp.status_code == 200, resp.json

    for later in (lead_day + dt.timedelta(days=1), lead_day + dt.timedelta(days=10)):
        assert evaluate_at(app, clock, later) == 0
        [again] = waning_alerts(world, patient.id)
        assert (again.id, again.status, again.resolved_by_id) == (alert.id, "resolved", clinician.id)


def test_a_new_session_resolves_the_open_waning_alert_and_allows_a_new_one(clock, world, api, app):
    clinician, _ = begin(clock, world)
    patient, (_, _, followed) = waning_patient(world, api, clinician)
    assert evaluate_at(app, clock, at_midnight("2026-03-03", BERLIN)) == 1
    alert = only_waning(world, patient.id)

    # The next session, at 10:00 CET on Mar 3, recorded at 11:00 CET (10:00Z).
    recorded = local(day("2026-03-03"), dt.time(11, 0), BERLIN)
    clock.set(recorded)
    staff = relogin(world, clinician)
    new_session = session_on(api, staff, patient, day("2026-03-03"), BERLIN)

    [moot] = waning_alerts(world, patient.id)
    assert (moot.id, moot.status, moot.resolved_at, moot.resolved_by_id, moot.details["session_id"]) == (
        alert.id,
        "resolved",
        recorded,
        None,
        followed,
    )
    assert isinstance(moot.resolution_note, str)
    assert moot.resolution_note.strip()
    resp = api.get("/alerts", token=staff.token, query_string={"status": "resolved"})
    assert resp.status_code == 200, resp.json
    [listed] = resp.json["items"]
    assert (listed["id"], listed["resolved_by"], listed["resolution_note"]) == (alert.id, None, moot.resolution_note)

    # From Mar 3 (same basis, median 4): expected Mar 7, earliest Mar 6, latest Mar 8; due from Mar 5.
    assert evaluate_at(app, clock, at_midnight("2026-03-05", BERLIN, -1)) == 0
    assert evaluate_at(app, clock, at_midnight("2026-03-05", BERLIN)) == 1
    first, second = waning_alerts(world, patient.id)
    assert (first.id, first.status) == (alert.id, "resolved")
    assert (second.status, second.details) == (
        "open",
        {
            "session_id": new_session,
            "expected_wear_off_date": "2026-03-07",
            "earliest": "2026-03-06",
            "latest": "2026-03-08",
            "basis_sessions": 2,
        },
    )


def test_deleting_the_latest_session_resolves_the_waning_alert_that_followed_it(clock, world, api, app):
    clinician, _ = begin(clock, world)
    patient = world.patient(clinician, BERLIN)
    # WANING_PLAN with an older measured session before it (Dec 31, 4 days): basis 4, 3, 5 ->
    # median 4, earliest 3, latest 5: the same dates from Mar 1 as WANING_PLAN alone.
    plan = [(day("2025-12-31"), 4), *WANING_PLAN]
    s0, _, s2, s3 = measured_sessions(api, clinician, patient, plan, BERLIN)
    lead_day = at_midnight("2026-03-03", BERLIN)
    assert evaluate_at(app, clock, lead_day) == 1
    alert = only_waning(world, patient.id)
    assert alert.details == {"session_id": s3, **WANING_DETAILS, "basis_sessions": 3}

    # Deleting an older session leaves the alert that follows the latest one alone.
    clock.set(lead_day + dt.timedelta(hours=8))
    staff = relogin(world, clinician)
    delete_session(api, staff, patient, s0)
    assert [(a.id, a.status) for a in waning_alerts(world, patient.id)] == [(alert.id, "open")]

    delete_session(api, staff, patient, s3)
    [moot] = waning_alerts(world, patient.id)
    assert (moot.id, moot.status, moot.resolved_at, moot.resolved_by_id) == (alert.id, "resolved", clock.now, None)
    assert moot.resolution_note.strip()

    # The latest session is Feb 9's again, never followed by an alert: its own forecast (basis
    # Jan 20, Feb 9: median 4 from Feb 9 -> Feb 13, earliest Feb 12, latest Feb 14) is long due.
    assert evaluate_at(app, clock, clock.now + dt.timedelta(minutes=15)) == 1
    old, new = waning_alerts(world, patient.id)
    assert (old.id, old.status) == (alert.id, "resolved")
    assert (new.status, new.details) == (
        "open",
        {
            "session_id": s2,
            "expected_wear_off_date": "2026-02-13",
            "earliest": "2026-02-12",
            "latest": "2026-02-14",
            "basis_sessions": 2,
        },
    )


def test_two_workers_at_the_same_moment_open_one_waning_alert(
    clock, world, api, make_app, hook_config, backend, monkeypatch
):
    """Two workers (two apps, each its own connections) evaluate at the same instant. Both read
    the alerts already raised before either writes (they wait for each other at a barrier
    right after that read), so both try to open one: the database lets one win."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers: two transactions never interleave here; PostgreSQL shows the race")
    clinician, _ = begin(clock, world)
    patient, (_, _, latest) = waning_patient(world, api, clinician)
    apps = [make_app(**hook_config), make_app(**hook_config)]
    lead_day = at_midnight("2026-03-03", BERLIN)
    clock.set(lead_day)

    real_resolve = alert_rules.resolve_moot_waning
    both_read = threading.Barrier(2, timeout=20)

    def resolve_then_wait(*args: Any, **kwargs: Any) -> int:
        resolved = real_resolve(*args, **kwargs)
        both_read.wait()
        return resolved

    monkeypatch.setattr(alert_rules, "resolve_moot_waning", resolve_then_wait)
    start = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def work(app) -> None:
        start.wait()
        try:
            evaluate_waning(app, lead_day)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    alert = only_waning(world, patient.id)
    assert (alert.status, alert.details["session_id"]) == ("open", latest)
    assert [key for _, key, *_ in outbox_of(world, alert.id)] == [
        f"alert:{alert.id}:push:1",
        f"alert:{alert.id}:webhook:1",
    ]
    assert iso(alert.opened_at) == iso(lead_day)
