"""GET /api/v1/patients: the clinic panel, riskiest first, every number worked out by hand.

Each test asks for the `clock` fixture first and sets it to NOW before anything is created.
NOW = 2026-03-01T12:00Z, so "the last 7 days" are the instants from 2026-02-22T12:00Z on.
Berlin is UTC+1 in February; Kiritimati is UTC+14.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diary.timeutil import UTC
from tests.conftest import PASSWORD, Account, count_statements
from tests.helpers import expect_error, expect_invalid

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"
KIRITIMATI = "Pacific/Kiritimati"


# --------------------------------------------------------------------------- helpers


def begin(clock, world) -> Account:
    """Set the clock to NOW, then create a clinic and its clinician."""
    clock.set(NOW)
    return world.staff(world.clinic())


def enroll(world, api, clinician: Account, name: str, timezone: str = BERLIN) -> Account:
    invited = world.invite(clinician, timezone, name=name)
    email = f"{uuid.uuid4().hex[:10]}@example.test"
    resp = api.post(
        "/auth/enroll", {"enrollment_code": invited["enrollment_code"], "email": email, "password": PASSWORD}
    )
    assert resp.status_code == 201, resp.json
    return Account(invited["id"], email, resp.json["access_token"], resp.json["refresh_token"], clinician.clinic_id)


def add_entry(api, patient: Account, recorded_at: str, mood: int, anxiety: int, **extra: Any) -> str:
    body = {"id": str(uuid.uuid4()), "recorded_at": recorded_at, "mood": mood, "anxiety": anxiety, **extra}
    resp = api.post("/me/entries", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return body["id"]


def add_phq9(api, patient: Account, answers: list[int], recorded_at: str) -> None:
    body = {"id": str(uuid.uuid4()), "instrument": "phq9", "answers": answers, "recorded_at": recorded_at}
    resp = api.post("/me/assessments", body, token=patient.token)
    assert resp.status_code == 201, resp.json


SEVERE_PHQ9 = [3, 3, 3, 3, 2, 2, 2, 2, 0]  # total 20, item 9 (self-harm) 0: phq9_worsening only


def alert_of(api, clinician: Account, patient: Account, rule: str) -> str:
    items = api.get("/alerts", token=clinician.token, query_string={"limit": 200}).json["items"]
    (alert_id,) = [a["id"] for a in items if a["patient_id"] == patient.id and a["rule"] == rule]
    return alert_id


def panel(api, clinician: Account, **query: Any) -> dict:
    resp = api.get("/patients", token=clinician.token, query_string=query)
    assert resp.status_code == 200, resp.json
    return resp.json


def walk(api, clinician: Account, limit: int) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        query: dict[str, Any] = {"limit": limit}
        if cursor:
            query["cursor"] = cursor
        body = panel(api, clinician, **query)
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "pagination does not end"


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def item(
    patient: Account, name: str, last: str | None, mood, anxiety, adherence, alerts=0, critical=0, wear_off=None
) -> dict:
    return {
        "id": patient.id,
        "display_name": name,
        "last_entry_at": last,
        "mood_7d_mean": mood,
        "anxiety_7d_mean": anxiety,
        "adherence_7d": adherence,
        "open_alerts": alerts,
        "open_critical_alerts": critical,
        # API.md v1.1: the forecast's wear-off date (null: no patient here has two measured sessions).
        "expected_wear_off_date": wear_off,
    }


@pytest.fixture
def ward(clock, world, api):
    """A clinic of nine patients, each a case of the panel's ordering; returns (clinician, expected items)."""
    clinician = begin(clock, world)
    p = {name: enroll(world, api, clinician, name) for name in ("Ack", "Crit", "Warn", "Resolved", "Full", "Mid")}
    p["Low"] = enroll(world, api, clinician, "Low", KIRITIMATI)
    p["Old"] = enroll(world, api, clinician, "Old")
    p["Quiet"] = enroll(world, api, clinician, "Quiet")

    # Critical, acknowledged (still unresolved): one entry, mood 3.
    add_entry(api, p["Ack"], "2026-02-27T12:00:00Z", 3, 7, self_harm_thoughts=1)
    resp = api.post(f"/alerts/{alert_of(api, clinician, p['Ack'], 'self_harm')}/acknowledge", token=clinician.token)
    assert resp.status_code == 200, resp.json
    # Critical, open: mood 8.
    add_entry(api, p["Crit"], "2026-02-28T12:00:00Z", 8, 2, self_harm_thoughts=2)
    # A warning (PHQ-9 of 20): mood (7 + 9) / 2 = 8, anxiety (3 + 1) / 2 = 2, two days.
    add_entry(api, p["Warn"], "2026-02-26T12:00:00Z", 7, 3)
    add_entry(api, p["Warn"], "2026-02-27T12:00:00Z", 9, 1)
    add_phq9(api, p["Warn"], SEVERE_PHQ9, "2026-02-27T13:00:00Z")
    # Kiritimati (UTC+14): Feb 25 05:00Z = Feb 25 19:00, Feb 25 11:00Z = Feb 26 01:00,
    # Feb 28 12:00Z = Mar 1 02:00 local: three local days (two UTC dates).
    add_entry(api, p["Low"], "2026-02-25T05:00:00Z", 2, 8)
    add_entry(api, p["Low"], "2026-02-25T11:00:00Z", 3, 7)
    add_entry(api, p["Low"], "2026-02-28T12:00:00Z", 4, 6)
    # A warning that was resolved: no open alert; mood 4.
    add_entry(api, p["Resolved"], "2026-02-24T12:00:00Z", 4, 5)
    add_phq9(api, p["Resolved"], SEVERE_PHQ9, "2026-02-24T13:00:00Z")
    resp = api.post(
        f"/alerts/{alert_of(api, clinician, p['Resolved'], 'phq9_worsening')}/resolve", {}, token=clinician.token
    )
    assert resp.status_code == 200, resp.json
    # An entry a day from Feb 22 12:30Z (13:30 CET) to Mar 1 11:00Z: 8 local days in 7 x 24 hours.
    for day in range(22, 29):
        add_entry(api, p["Full"], f"2026-02-{day}T12:30:00Z", 5, 5)
    add_entry(api, p["Full"], "2026-03-01T11:00:00Z", 5, 5)
    # Just inside and just outside the 7 days; a deleted later entry.
    add_entry(api, p["Mid"], "2026-02-22T11:59:00Z", 0, 10)  # 7 days and 1 minute ago: out
    add_entry(api, p["Mid"], "2026-02-22T12:01:00Z", 5, 3)
    add_entry(api, p["Mid"], "2026-02-24T12:00:00Z", 6, 4)
    add_entry(api, p["Mid"], "2026-02-28T12:00:00Z", 7, 5)
    deleted = add_entry(api, p["Mid"], "2026-03-01T10:00:00Z", 0, 10)
    assert api.delete(f"/me/entries/{deleted}", token=p["Mid"].token).status_code == 204
    # Only an old entry; and none at all.
    add_entry(api, p["Old"], "2026-02-10T12:00:00Z", 5, 5)

    no_recent = sorted([("Old", "2026-02-10T12:00:00Z"), ("Quiet", None)], key=lambda pair: p[pair[0]].id)
    expected = [
        item(p["Ack"], "Ack", "2026-02-27T12:00:00Z", 3.0, 7.0, 1 / 7, alerts=1, critical=1),
        item(p["Crit"], "Crit", "2026-02-28T12:00:00Z", 8.0, 2.0, 1 / 7, alerts=1, critical=1),
        item(p["Warn"], "Warn", "2026-02-27T12:00:00Z", (7 + 9) / 2, (3 + 1) / 2, 2 / 7, alerts=1),
        item(p["Low"], "Low", "2026-02-28T12:00:00Z", (2 + 3 + 4) / 3, (8 + 7 + 6) / 3, 3 / 7),
        item(p["Resolved"], "Resolved", "2026-02-24T12:00:00Z", 4.0, 5.0, 1 / 7),
        # 8 distinct local days in the period, but adherence cannot exceed 100 %.
        item(p["Full"], "Full", "2026-03-01T11:00:00Z", 5.0, 5.0, 1.0),
        item(p["Mid"], "Mid", "2026-02-28T12:00:00Z", (5 + 6 + 7) / 3, (3 + 4 + 5) / 3, 3 / 7),
        *(item(p[name], name, last, None, None, 0.0) for name, last in no_recent),
    ]
    return clinician, expected


# --------------------------------------------------------------------------- content and order


def test_panel_items_and_order(ward, api):
    clinician, expected = ward
    body = panel(api, clinician)
    assert body["next_cursor"] is None
    assert [i["display_name"] for i in body["items"]] == [e["display_name"] for e in expected]
    assert body["items"] == [pytest.approx(e) for e in expected]


def test_pages_visit_every_patient_once_in_order(ward, api):
    clinician, expected = ward
    whole = panel(api, clinician, limit=200)["items"]
    pages = walk(api, clinician, limit=2)
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    assert [i for page in pages for i in page] == whole
    assert [i["id"] for i in whole] == [e["id"] for e in expected]
    # Nine patients in pages of three: the third page ends the walk (no empty fourth page).
    pages = walk(api, clinician, limit=3)
    assert [len(page) for page in pages] == [3, 3, 3]
    assert [i for page in pages for i in page] == whole


def test_panel_reads_are_audited_per_patient(ward, api, world):
    clinician, expected = ward
    panel(api, clinician, limit=2)
    rows = world.rows(
        "SELECT actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id FROM audit_events"
        " WHERE action = 'panel.read'"
    )
    assert sorted(rows) == sorted(
        (clinician.id, "clinician", clinician.clinic_id, e["id"], "patient", e["id"]) for e in expected[:2]
    )
    panel(api, clinician)
    rows = world.rows("SELECT patient_id, count(*) FROM audit_events WHERE action = 'panel.read' GROUP BY patient_id")
    assert dict(rows) == {e["id"]: (2 if i < 2 else 1) for i, e in enumerate(expected)}


def test_no_recent_entries_sort_after_every_mean_even_ten(clock, world, api):
    clinician = begin(clock, world)
    silent = enroll(world, api, clinician, "Silent")
    happy = enroll(world, api, clinician, "Happy")
    add_entry(api, happy, "2026-03-01T11:00:00Z", 10, 0)
    items = panel(api, clinician)["items"]
    assert [i["display_name"] for i in items] == ["Happy", "Silent"]
    assert (items[1]["id"], items[1]["mood_7d_mean"], items[1]["last_entry_at"]) == (silent.id, None, None)
    pages = walk(api, clinician, limit=1)
    assert [i["display_name"] for page in pages for i in page] == ["Happy", "Silent"]


def test_warnings_come_before_low_mood_and_critical_before_warnings(clock, world, api):
    clinician = begin(clock, world)
    sad = enroll(world, api, clinician, "Sad")
    warned = enroll(world, api, clinician, "Warned")
    critical = enroll(world, api, clinician, "Critical")
    add_entry(api, sad, "2026-03-01T10:00:00Z", 0, 10)
    add_entry(api, warned, "2026-03-01T10:00:00Z", 10, 0)
    add_phq9(api, warned, SEVERE_PHQ9, "2026-03-01T10:05:00Z")
    assert [i["display_name"] for i in panel(api, clinician)["items"]] == ["Warned", "Sad", "Critical"]
    # A PHQ-9 with item 9 >= 1 opens a critical alert (and this one, 20, also a warning).
    add_phq9(api, critical, [3, 3, 3, 3, 2, 2, 2, 1, 1], "2026-03-01T10:10:00Z")
    items = panel(api, clinician)["items"]
    assert [i["display_name"] for i in items] == ["Critical", "Warned", "Sad"]
    assert (items[0]["open_alerts"], items[0]["open_critical_alerts"]) == (2, 1)
    assert (items[1]["open_alerts"], items[1]["open_critical_alerts"]) == (1, 0)


# --------------------------------------------------------------------------- validation and access


def test_bad_cursors_and_limits_are_422(clock, world, api):
    clinician = begin(clock, world)
    for name in ("A", "B", "C"):
        enroll(world, api, clinician, name)
    good = panel(api, clinician, limit=1)["next_cursor"]
    assert good
    assert len(panel(api, clinician, limit=1, cursor=good)["items"]) == 1
    garbage = [
        "garbage!",
        "%%%",
        cursor_of("not json"),
        cursor_of("[1, 2]"),
        cursor_of('{"a": 1}'),
        cursor_of('["a", 0, 1.0, "x"]'),
        cursor_of('[0, 0, "low", "x"]'),
        cursor_of("[0, 0, 1.0, 7]"),
        cursor_of('[0, 0, NaN, "x"]'),
        cursor_of('[0, 0, Infinity, "x"]'),
        cursor_of('[0, 0, 1e999, "x"]'),
        cursor_of(f'[0, 0, {10**400}, "x"]'),
        cursor_of(f'[{10**30}, 0, 1.0, "x"]'),
        cursor_of('[true, false, 1.0, "x"]'),
        cursor_of('[0, 0, 1.0, "\\u0000"]'),
        cursor_of('[0, 0, 1.0, "\\ud800"]'),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    ]
    for cursor in garbage:
        expect_invalid(api.get("/patients", token=clinician.token, query_string={"cursor": cursor}), "cursor")
    for limit in ("0", "201", "-1", "abc"):
        expect_invalid(api.get("/patients", token=clinician.token, query_string={"limit": limit}), "limit")
    assert len(panel(api, clinician, limit=200)["items"]) == 3
    assert len(panel(api, clinician, limit=1)["items"]) == 1


def test_only_the_clinicians_own_clinic_and_role(clock, world, api):
    clinician = begin(clock, world)
    mine = enroll(world, api, clinician, "Mine")
    other_clinician = world.staff(world.clinic("Other Clinic"))
    theirs = enroll(world, api, other_clinician, "Theirs")
    add_entry(api, theirs, "2026-03-01T10:00:00Z", 2, 8, self_harm_thoughts=3)
    ops = world.staff(clinician.clinic_id, role="ops")

    assert [i["id"] for i in panel(api, clinician)["items"]] == [mine.id]
    assert [i["id"] for i in panel(api, other_clinician)["items"]] == [theirs.id]
    expect_error(api.get("/patients", token=ops.token), 403, "forbidden")
    expect_error(api.get("/patients", token=mine.token), 403, "forbidden")
    expect_error(api.get("/patients"), 401, "missing_token")
    audited = world.rows("SELECT actor_id, patient_id FROM audit_events WHERE action = 'panel.read' ORDER BY actor_id")
    assert sorted(audited) == sorted([(clinician.id, mine.id), (other_clinician.id, theirs.id)])


def test_panel_follows_the_clock(clock, world, api):
    clinician = begin(clock, world)
    patient = enroll(world, api, clinician, "Pat")
    add_entry(api, patient, "2026-02-22T12:30:00Z", 2, 6)
    add_entry(api, patient, "2026-02-28T12:00:00Z", 6, 2)
    (row,) = panel(api, clinician)["items"]
    assert (row["mood_7d_mean"], row["anxiety_7d_mean"]) == (pytest.approx((2 + 6) / 2), pytest.approx(4.0))
    assert row["adherence_7d"] == pytest.approx(2 / 7)
    # An hour later the Feb 22 entry is more than 7 days old.
    clock.advance(hours=1)
    clinician = dataclasses.replace(clinician, token=world.login(clinician.email)["access_token"])
    (row,) = panel(api, clinician)["items"]
    assert (row["mood_7d_mean"], row["anxiety_7d_mean"], row["adherence_7d"]) == pytest.approx((6.0, 2.0, 1 / 7))
    assert row["last_entry_at"] == "2026-02-28T12:00:00Z"


# --------------------------------------------------------------------------- cost


def test_panel_takes_a_fixed_number_of_queries(clock, world, api, app):
    clinician = begin(clock, world)

    def add_patients(count: int) -> None:
        for n in range(count):
            patient = enroll(world, api, clinician, f"Patient {n}")
            add_entry(api, patient, "2026-02-27T12:00:00Z", n % 11, 5)
            add_entry(api, patient, "2026-02-28T12:00:00Z", 5, 5, self_harm_thoughts=1 if n % 3 == 0 else 0)
            if n % 2:
                add_phq9(api, patient, SEVERE_PHQ9, "2026-02-28T13:00:00Z")

    add_patients(3)
    small, resp = count_statements(app, lambda: api.get("/patients", token=clinician.token))
    assert resp.status_code == 200
    assert len(resp.json["items"]) == 3
    add_patients(9)
    large, resp = count_statements(app, lambda: api.get("/patients", token=clinician.token))
    assert resp.status_code == 200
    assert len(resp.json["items"]) == 12
    assert large == small
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'panel.read'") == [(3 + 12,)]


# --------------------------------------------------------------------------- the kept order key

# The panel's order key lives in patient_panel (increments on every new entry, recounts on
# edits, deletions and alerts, a moving 7-day window). Whatever happens, a page must show
# exactly what a computation from the raw rows at that moment gives.


def _oracle(world, clinic_id: str, now: dt.datetime) -> list[dict[str, Any]]:
    """The panel recomputed from the raw rows, in plain Python: order and every number."""
    since = now - dt.timedelta(days=7)
    patients = [r[0] for r in world.rows("SELECT user_id FROM patient_profiles WHERE clinic_id = :c", c=clinic_id)]
    entries = world.rows(
        "SELECT patient_id, recorded_at, local_date, mood, anxiety FROM entries "
        "WHERE deleted_at IS NULL AND patient_id IN (SELECT user_id FROM patient_profiles WHERE clinic_id = :c)",
        c=clinic_id,
    )
    alerts = world.rows(
        "SELECT patient_id, severity FROM alerts WHERE clinic_id = :c AND status IN ('open', 'acknowledged')",
        c=clinic_id,
    )
    rows = []
    for pid in patients:
        mine = [(_instant(at), day, mood, anxiety) for p, at, day, mood, anxiety in entries if p == pid]
        recent = [e for e in mine if e[0] >= since]
        n = len(recent)
        critical = sum(1 for p, s in alerts if p == pid and s == "critical")
        warning = sum(1 for p, s in alerts if p == pid and s == "warning")
        mood_key = sum(e[2] for e in recent) / n if n else 99.0
        rows.append(
            (
                (-critical, -warning, mood_key, pid),
                {
                    "id": pid,
                    "last_entry_at": max(e[0] for e in mine).isoformat().replace("+00:00", "Z") if mine else None,
                    "mood_7d_mean": sum(e[2] for e in recent) / n if n else None,
                    "anxiety_7d_mean": sum(e[3] for e in recent) / n if n else None,
                    "adherence_7d": min(len({str(e[1]) for e in recent}), 7) / 7,
                    "open_alerts": critical + warning,
                    "open_critical_alerts": critical,
                },
            )
        )
    return [item for _, item in sorted(rows, key=lambda row: row[0])]


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _all_pages(api, token: str) -> list[dict[str, Any]]:
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        resp = api.get("/patients", token=token, query_string=query)
        assert resp.status_code == 200, resp.json
        seen += [
            {k: v for k, v in item.items() if k not in ("display_name", "expected_wear_off_date")}
            for item in resp.json["items"]
        ]
        cursor = resp.json["next_cursor"]
        if cursor is None:
            return seen


ENTRY = st.tuples(st.integers(0, 12 * 24), st.integers(0, 10), st.integers(0, 10))  # hours ago, mood, anxiety


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    histories=st.lists(st.lists(ENTRY, max_size=8), min_size=2, max_size=5),
    batch=st.lists(st.booleans(), min_size=5, max_size=5),
    deletions=st.lists(st.integers(0, 40), max_size=4),
    edits=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 10)), max_size=3),
    self_harm=st.lists(st.integers(0, 4), max_size=2),
    resolve=st.booleans(),
    later_hours=st.lists(st.integers(0, 60), min_size=1, max_size=3),
)
def test_every_page_shows_what_the_raw_rows_give_whatever_the_history(
    clock, world, api, histories, batch, deletions, edits, self_harm, resolve, later_hours
):
    clock.set(NOW)
    clinician = world.staff(world.clinic())
    patients = [world.patient(clinician, BERLIN if i % 2 else KIRITIMATI) for i in range(len(histories))]
    posted: list[tuple[Account, str]] = []
    for i, (patient, history) in enumerate(zip(patients, histories, strict=True)):
        bodies = [
            {"id": str(uuid.uuid4()), "recorded_at": (NOW - dt.timedelta(hours=h)).isoformat(), "mood": m, "anxiety": a}
            for h, m, a in history
        ]
        if batch[i] and bodies:
            assert api.post("/me/entries/batch", {"entries": bodies}, token=patient.token).status_code == 200
        for body in [] if batch[i] else bodies:
            assert api.post("/me/entries", body, token=patient.token).status_code == 201
        posted += [(patient, body["id"]) for body in bodies]
    for index in deletions:
        if posted:
            patient, entry_id = posted[index % len(posted)]
            api.delete(f"/me/entries/{entry_id}", token=patient.token)
    for index, mood in edits:
        if posted:
            patient, entry_id = posted[index % len(posted)]
            api.patch(f"/me/entries/{entry_id}", {"mood": mood}, token=patient.token)
    for index in self_harm:
        patient = patients[index % len(patients)]
        body = {
            "id": str(uuid.uuid4()),
            "recorded_at": NOW.isoformat(),
            "mood": 2,
            "anxiety": 8,
            "self_harm_thoughts": 1,
        }
        assert api.post("/me/entries", body, token=patient.token).status_code == 201
    if resolve and self_harm:
        [(alert_id,)] = world.rows(
            "SELECT id FROM alerts WHERE clinic_id = :c AND status = 'open' AND rule = 'self_harm' LIMIT 1",
            c=clinician.clinic_id,
        )
        assert api.post(f"/alerts/{alert_id}/resolve", {}, token=clinician.token).status_code == 200

    assert _all_pages(api, clinician.token) == _oracle(world, clinician.clinic_id, clock.now)
    for hours in later_hours:  # entries age out of the 7 days as the clock moves on
        clock.advance(hours=hours)
        token = world.login(clinician.email)["access_token"]
        assert _all_pages(api, token) == _oracle(world, clinician.clinic_id, clock.now)
