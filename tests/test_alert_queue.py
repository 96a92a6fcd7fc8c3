"""The alert queue: listing, paging, acknowledging and resolving, clinic isolation, audit.

Data goes in through the API (POST /me/entries, POST /me/assessments) on the controlled
clock; rows are read back from the database. The clock starts at NOW (2026-03-01 12:00Z):
13:00 in Berlin, 02:00 on 2 March in Kiritimati (UTC+14), so a patient there is already on
the next local day.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from diary.models import Alert
from tests.alerting import (
    ALERT_FIELDS,
    DISPLAY_NAME,
    NOTE,
    NOW,
    PHQ9_20,
    alert_view,
    alerts_of,
    audit_rows,
    iso,
    only_alert_view,
    outbox_of,
    post_phq9,
    push_row,
    report_self_harm,
)
from tests.conftest import Account
from tests.helpers import denials, denied, expect_error

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
