"""GET /api/v1/patients/{id}/summary: every number worked out by hand from the raw entries.

Each test asks for the `clock` fixture first and sets it before anything is created, so
every "now" (tokens, check-in statuses, the patient's "today") is under the test's control.
Data is written at past instants with the clock at the test's NOW (recorded_at may not be
more than 5 minutes after the clock); tokens are issued at NOW and stay valid while the
clock is moved back.

Zones: Europe/Berlin is UTC+1 in January and February 2026; Pacific/Kiritimati is UTC+14
all year; America/New_York moves from EST (UTC-5) to EDT (UTC-4) on 2026-03-08 at 02:00.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from diary.extensions import db
from diary.models import SIDE_EFFECTS
from tests.conftest import Account, Api, count_statements
from tests.helpers import expect_error, expect_invalid

BERLIN = "Europe/Berlin"
KIRITIMATI = "Pacific/Kiritimati"
NEW_YORK = "America/New_York"

NO_SIDE_EFFECTS = dict.fromkeys(SIDE_EFFECTS, 0)


# --------------------------------------------------------------------------- helpers


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def begin(clock, world, now: str, timezone: str = BERLIN) -> tuple[Account, Account]:
    """Set the clock, then create a clinic, a clinician and an enrolled patient on it."""
    clock.set(at(now))
    clinician = world.staff(world.clinic())
    return clinician, world.patient(clinician, timezone)


def fresh(world, account: Account) -> Account:
    """The same account with an access token issued at the clock's current time."""
    return dataclasses.replace(account, token=world.login(account.email)["access_token"])


def add_entry(api, patient: Account, recorded_at: str, mood: int, anxiety: int, **extra: Any) -> str:
    body = {"id": str(uuid.uuid4()), "recorded_at": recorded_at, "mood": mood, "anxiety": anxiety, **extra}
    resp = api.post("/me/entries", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return body["id"]


def delete_entry(api, patient: Account, entry_id: str) -> None:
    resp = api.delete(f"/me/entries/{entry_id}", token=patient.token)
    assert resp.status_code == 204, resp.json


def add_assessment(api, patient: Account, instrument: str, answers: list[int], recorded_at: str) -> dict:
    body = {"id": str(uuid.uuid4()), "instrument": instrument, "answers": answers, "recorded_at": recorded_at}
    resp = api.post("/me/assessments", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return resp.json


def add_session(api, clinician: Account, patient: Account, started_at: str, **extra: Any) -> dict:
    body = {"started_at": started_at, "route": "iv", **extra}
    resp = api.post(f"/patients/{patient.id}/sessions", body, token=clinician.token)
    assert resp.status_code == 201, resp.json
    return resp.json


def get_summary(api, clinician: Account, patient_id: str, **query: str):
    return api.get(f"/patients/{patient_id}/summary", token=clinician.token, query_string=query)


def summary(api, clinician: Account, patient_id: str, **query: str) -> dict:
    resp = get_summary(api, clinician, patient_id, **query)
    assert resp.status_code == 200, resp.json
    return resp.json


def approx_rows(rows: list[dict]) -> list:
    return [pytest.approx(row) for row in rows]


def execute(world, sql: str, **params: Any) -> None:
    """A committed write behind the API's back (what the worker would have done)."""
    from sqlalchemy import text

    with world.app.app_context():
        db.session.execute(text(sql), params)
        db.session.commit()


def phq9(total: int) -> list[int]:
    """PHQ-9 answers adding up to `total`, item 9 (self-harm) always 0."""
    assert 0 <= total <= 24
    answers = [0] * 9
    for i in range(total):
        answers[i % 8] += 1
    return answers


# --------------------------------------------------------------------------- scales and daily means


def test_stats_and_daily_use_the_patients_local_date(clock, world, api):
    clinician, patient = begin(clock, world, "2026-02-10T00:00:00Z", KIRITIMATI)
    # Kiritimati is UTC+14: local = UTC + 14 h.
    add_entry(api, patient, "2026-02-01T09:59:00Z", 0, 10)  # Feb 1 23:59 local: before the window
    add_entry(api, patient, "2026-02-01T11:00:00Z", 6, 4)  # Feb 2 01:00 local (UTC date Feb 1)
    add_entry(api, patient, "2026-02-02T05:00:00Z", 4, 2)  # Feb 2 19:00 local (UTC date Feb 2)
    add_entry(api, patient, "2026-02-02T10:30:00Z", 7, 3)  # Feb 3 00:30 local (UTC date Feb 2)
    add_entry(api, patient, "2026-02-04T09:59:00Z", 8, 1)  # Feb 4 23:59 local
    add_entry(api, patient, "2026-02-04T10:00:00Z", 1, 9)  # Feb 5 00:00 local: after the window

    body = summary(api, clinician, patient.id, **{"from": "2026-02-02", "to": "2026-02-04"})

    assert body["patient_id"] == patient.id
    assert (body["from"], body["to"]) == ("2026-02-02", "2026-02-04")
    # Different UTC dates, same local date (Feb 2); same UTC date (Feb 2), different local dates.
    assert body["daily"] == approx_rows(
        [
            {"date": "2026-02-02", "mood_mean": (6 + 4) / 2, "anxiety_mean": (4 + 2) / 2, "n": 2},
            {"date": "2026-02-03", "mood_mean": 7.0, "anxiety_mean": 3.0, "n": 1},
            {"date": "2026-02-04", "mood_mean": 8.0, "anxiety_mean": 1.0, "n": 1},
        ]
    )
    # Daily mood means 5, 7, 8 on days 0, 1, 2: mean_x = 1, mean_y = 20/3,
    # sxy = (-1)(5 - 20/3) + (1)(8 - 20/3) = 5/3 + 4/3 = 3, sxx = 2 -> 1.5 a day -> 10.5 a week.
    assert body["mood"] == pytest.approx(
        {"n": 4, "mean": (6 + 4 + 7 + 8) / 4, "min": 4, "max": 8, "latest": 8, "slope_per_week": 1.5 * 7}
    )
    # Daily anxiety means 3, 3, 1: mean_y = 7/3, sxy = (-1)(3 - 7/3) + (1)(1 - 7/3) = -2/3 - 4/3 = -2,
    # sxx = 2 -> -1 a day -> -7 a week.
    assert body["anxiety"] == pytest.approx(
        {"n": 4, "mean": (4 + 2 + 3 + 1) / 4, "min": 1, "max": 4, "latest": 1, "slope_per_week": -1.0 * 7}
    )
    assert body["adherence"]["days_with_entry"] == 3
    assert body["adherence"]["days_in_window"] == 3


def test_slope_is_fitted_to_daily_means_against_the_date(clock, world, api):
    clinician, patient = begin(clock, world, "2026-02-01T12:00:00Z")
    # Berlin, 12:00Z = 13:00 local. Days 0, 1, 3 and 6 of the window have entries.
    for day, mood, anxiety in [
        ("05", 3, 6),
        ("05", 5, 8),
        ("06", 5, 6),
        ("08", 6, 5),
        ("08", 7, 4),
        ("08", 8, 3),
        ("11", 6, 5),
    ]:
        add_entry(api, patient, f"2026-01-{day}T{10 + mood}:00:00Z", mood, anxiety)

    body = summary(api, clinician, patient.id, **{"from": "2026-01-05", "to": "2026-01-11"})

    assert body["daily"] == approx_rows(
        [
            {"date": "2026-01-05", "mood_mean": (3 + 5) / 2, "anxiety_mean": (6 + 8) / 2, "n": 2},
            {"date": "2026-01-06", "mood_mean": 5.0, "anxiety_mean": 6.0, "n": 1},
            {"date": "2026-01-08", "mood_mean": (6 + 7 + 8) / 3, "anxiety_mean": (5 + 4 + 3) / 3, "n": 3},
            {"date": "2026-01-11", "mood_mean": 6.0, "anxiety_mean": 5.0, "n": 1},
        ]
    )
    # x = 0, 1, 3, 6 (days since `from`), mood y = 4, 5, 7, 6: mean_x = 2.5, mean_y = 5.5,
    # dx = -2.5, -1.5, 0.5, 3.5; dy = -1.5, -0.5, 1.5, 0.5;
    # sxx = 6.25 + 2.25 + 0.25 + 12.25 = 21; sxy = 3.75 + 0.75 + 0.75 + 1.75 = 7;
    # slope = 7/21 = 1/3 a day -> 7/3 a week.
    mood_slope = (3.75 + 0.75 + 0.75 + 1.75) / (6.25 + 2.25 + 0.25 + 12.25) * 7
    assert mood_slope == pytest.approx(7 / 3)
    # anxiety y = 7, 6, 4, 5: mean 5.5, dy = 1.5, 0.5, -1.5, -0.5; sxy = -7 -> -7/3 a week.
    assert body["mood"] == pytest.approx(
        {
            "n": 7,
            "mean": (3 + 5 + 5 + 6 + 7 + 8 + 6) / 7,
            "min": 3,
            "max": 8,
            "latest": 6,
            "slope_per_week": mood_slope,
        }
    )
    assert body["anxiety"] == pytest.approx(
        {
            "n": 7,
            "mean": (6 + 8 + 6 + 5 + 4 + 3 + 5) / 7,
            "min": 3,
            "max": 8,
            "latest": 5,
            "slope_per_week": -7 / 3,
        }
    )


def test_window_across_a_dst_change_uses_local_midnights(clock, world, api):
    clinician, patient = begin(clock, world, "2026-03-20T12:00:00Z", NEW_YORK)
    # 2026-03-08 is 23 hours long in New York: 00:00 EST = 05:00Z, next midnight 00:00 EDT = 04:00Z.
    add_entry(api, patient, "2026-03-08T04:59:00Z", 0, 10)  # Mar 7 23:59 EST: out
    add_entry(api, patient, "2026-03-08T05:00:00Z", 5, 5)  # Mar 8 00:00 EST: in
    add_entry(api, patient, "2026-03-09T03:59:00Z", 7, 3)  # Mar 8 23:59 EDT: in
    add_entry(api, patient, "2026-03-09T04:00:00Z", 10, 0)  # Mar 9 00:00 EDT: out (23:00 at a fixed -5)
    add_session(api, clinician, patient, "2026-03-08T04:30:00Z")  # Mar 7 23:30 EST: out
    inside_1 = add_session(api, clinician, patient, "2026-03-08T05:30:00Z")  # Mar 8 00:30 EST: in
    inside_2 = add_session(api, clinician, patient, "2026-03-09T03:30:00Z")  # Mar 8 23:30 EDT: in
    add_session(api, clinician, patient, "2026-03-09T04:30:00Z")  # Mar 9 00:30 EDT: out

    body = summary(api, clinician, patient.id, **{"from": "2026-03-08", "to": "2026-03-08"})

    assert body["daily"] == approx_rows([{"date": "2026-03-08", "mood_mean": 6.0, "anxiety_mean": 4.0, "n": 2}])
    assert body["mood"] == pytest.approx(
        {"n": 2, "mean": (5 + 7) / 2, "min": 5, "max": 7, "latest": 7, "slope_per_week": None}
    )
    assert body["anxiety"] == pytest.approx(
        {"n": 2, "mean": (5 + 3) / 2, "min": 3, "max": 5, "latest": 3, "slope_per_week": None}
    )
    assert [s["id"] for s in body["sessions"]] == [inside_1["id"], inside_2["id"]]
    # Check-ins due in [Mar 8 05:00Z, Mar 9 04:00Z), all expired (recorded after their window):
    # the first session's +4h (08:30Z = 04:30 EDT, quiet -> 07:00 EDT = 11:00Z) and the second's
    # (09:30Z = 05:30 EDT -> 11:00Z); every other one is due on Mar 9 or later.
    assert body["adherence"] == {
        "days_with_entry": 1,
        "days_in_window": 1,
        "checkins_sent": 2,
        "checkins_answered": 0,
        "checkin_rate": 0.0,
    }

    # Two local days: Mar 8 (23 hours) and Mar 9, whose midnight is 04:00Z.
    body = summary(api, clinician, patient.id, **{"from": "2026-03-08", "to": "2026-03-09"})
    assert [d["date"] for d in body["daily"]] == ["2026-03-08", "2026-03-09"]
    assert body["mood"]["n"] == 3
    assert body["adherence"]["days_in_window"] == 2
    assert len(body["sessions"]) == 3


def test_deleted_entries_never_count_and_edits_count_with_their_new_values(clock, world, api):
    clinician, patient = begin(clock, world, "2026-02-10T12:00:00Z")
    add_entry(api, patient, "2026-02-02T12:00:00Z", 5, 4, side_effects=["nausea", "headache"])
    edited = add_entry(api, patient, "2026-02-03T12:00:00Z", 3, 6, side_effects=["nausea"])
    moved = add_entry(api, patient, "2026-02-04T12:00:00Z", 6, 3)
    last = add_entry(api, patient, "2026-02-04T13:00:00Z", 4, 5, side_effects=["other", "dissociation"])
    deleted = add_entry(api, patient, "2026-02-04T18:00:00Z", 10, 0, side_effects=["dissociation", "confusion"])
    delete_entry(api, patient, deleted)
    resp = api.patch(
        f"/me/entries/{edited}", {"mood": 7, "anxiety": 2, "side_effects": ["dizziness", "nausea"]}, token=patient.token
    )
    assert resp.status_code == 200, resp.json
    # Feb 4 13:00 CET -> Feb 3 19:00 CET: the entry moves to another local day.
    resp = api.patch(f"/me/entries/{moved}", {"recorded_at": "2026-02-03T18:00:00Z"}, token=patient.token)
    assert resp.status_code == 200, resp.json

    body = summary(api, clinician, patient.id, **{"from": "2026-02-02", "to": "2026-02-04"})

    # Live entries: Feb 2 (5, 4); Feb 3 (7, 2) edited and (6, 3) moved; Feb 4 (4, 5).
    assert body["daily"] == approx_rows(
        [
            {"date": "2026-02-02", "mood_mean": 5.0, "anxiety_mean": 4.0, "n": 1},
            {"date": "2026-02-03", "mood_mean": (7 + 6) / 2, "anxiety_mean": (2 + 3) / 2, "n": 2},
            {"date": "2026-02-04", "mood_mean": 4.0, "anxiety_mean": 5.0, "n": 1},
        ]
    )
    # Daily mood 5, 6.5, 4 on days 0, 1, 2: sxy = (-1)(5 - 5.5) + (1)(4 - 5.5) = -1, sxx = 2.
    assert body["mood"] == pytest.approx(
        {"n": 4, "mean": (5 + 7 + 6 + 4) / 4, "min": 4, "max": 7, "latest": 4, "slope_per_week": -0.5 * 7}
    )
    # Daily anxiety 4, 2.5, 5: sxy = (-1)(4 - 11.5/3) + (1)(5 - 11.5/3) = 1, sxx = 2.
    assert body["anxiety"] == pytest.approx(
        {"n": 4, "mean": (4 + 2 + 3 + 5) / 4, "min": 2, "max": 5, "latest": 5, "slope_per_week": 0.5 * 7}
    )
    assert body["side_effects"] == {
        **NO_SIDE_EFFECTS,
        "nausea": 2,  # the first entry and the edited one
        "headache": 1,
        "dizziness": 1,  # added by the edit
        "other": 1,
        "dissociation": 1,  # the deleted entry's does not count
    }
    assert list(body["side_effects"]) == list(SIDE_EFFECTS)
    assert body["adherence"]["days_with_entry"] == 3

    # Deleting the only live entry of Feb 4 removes the day; the latest is then the moved
    # entry (Feb 3 19:00 CET, mood 6, anxiety 3), recorded after the edited one (13:00 CET).
    delete_entry(api, patient, last)
    body = summary(api, clinician, patient.id, **{"from": "2026-02-02", "to": "2026-02-04"})
    assert [d["date"] for d in body["daily"]] == ["2026-02-02", "2026-02-03"]
    assert (body["mood"]["latest"], body["anxiety"]["latest"]) == (6, 3)
    assert (body["mood"]["max"], body["anxiety"]["min"]) == (7, 2)
    assert body["side_effects"] == {**NO_SIDE_EFFECTS, "nausea": 2, "headache": 1, "dizziness": 1}
    assert body["adherence"]["days_with_entry"] == 2


# --------------------------------------------------------------------------- sessions


def test_session_baseline_and_effect_days(clock, world, api):
    clinician, patient = begin(clock, world, "2026-02-01T12:00:00Z")
    # Berlin (UTC+1); entries at 12:00Z = 13:00 local. Session A: Jan 10, 10:00 local.
    add_entry(api, patient, "2026-01-02T12:00:00Z", 10, 0)  # 8 days before: not in the baseline
    a_moods, a_anx = [4, 5, 4, 5, 4, 5, 4], [6, 6, 7, 6, 6, 7, 6]  # Jan 3 .. Jan 9
    for i, (mood, anxiety) in enumerate(zip(a_moods, a_anx, strict=True)):
        add_entry(api, patient, f"2026-01-{3 + i:02d}T12:00:00Z", mood, anxiety)
    delete_entry(api, patient, add_entry(api, patient, "2026-01-05T15:00:00Z", 0, 10))  # deleted: no weight
    a_baseline = (4 + 5 + 4 + 5 + 4 + 5 + 4) / 7  # 31/7 = 4.43
    add_entry(api, patient, "2026-01-10T12:00:00Z", 6, 5)  # day of the session: above
    add_entry(api, patient, "2026-01-11T12:00:00Z", 7, 5)  # above
    # Jan 12: no entry (neither extends nor ends the run)
    add_entry(api, patient, "2026-01-13T10:00:00Z", 6, 5)
    add_entry(api, patient, "2026-01-13T14:00:00Z", 4, 5)  # Jan 13 mean (6 + 4)/2 = 5: above
    add_entry(api, patient, "2026-01-14T10:00:00Z", 5, 5)
    add_entry(api, patient, "2026-01-14T14:00:00Z", 3, 5)  # Jan 14 mean (5 + 3)/2 = 4: not above -> ends
    add_entry(api, patient, "2026-01-15T12:00:00Z", 8, 5)  # after the end: irrelevant
    # Session B: Jan 24, 10:00 local; baseline Jan 17 .. Jan 23 has a mean of exactly 6.
    b_moods, b_anx = [5, 7, 6, 6, 6, 6, 6], [4, 3, 3, 4, 3, 3, 4]
    for i, (mood, anxiety) in enumerate(zip(b_moods, b_anx, strict=True)):
        add_entry(api, patient, f"2026-01-{17 + i:02d}T12:00:00Z", mood, anxiety)
    add_entry(api, patient, "2026-01-16T12:00:00Z", 0, 10)  # 8 days before B: not in its baseline
    add_entry(api, patient, "2026-01-24T12:00:00Z", 7, 3)  # above 6
    add_entry(api, patient, "2026-01-25T12:00:00Z", 6, 3)  # equal to the baseline: not above -> ends
    add_entry(api, patient, "2026-01-26T12:00:00Z", 8, 3)
    session_a = add_session(api, clinician, patient, "2026-01-10T09:00:00Z", dose_mg=35.0)
    session_b = add_session(api, clinician, patient, "2026-01-24T09:00:00Z", route="intranasal")

    body = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-31"})

    sessions = body["sessions"]
    assert [s["id"] for s in sessions] == [session_a["id"], session_b["id"]]
    first, second = sessions
    assert (first["started_at"], first["route"], first["dose_mg"]) == ("2026-01-10T09:00:00Z", "iv", 35.0)
    assert (second["started_at"], second["route"], second["dose_mg"]) == ("2026-01-24T09:00:00Z", "intranasal", None)
    assert first["baseline"] == pytest.approx({"mood": a_baseline, "anxiety": (6 + 6 + 7 + 6 + 6 + 7 + 6) / 7})
    assert first["effect_days"] == 3  # Jan 10, 11 and 13
    assert second["baseline"] == pytest.approx({"mood": 42 / 7, "anxiety": (4 + 3 + 3 + 4 + 3 + 3 + 4) / 7})
    assert second["effect_days"] == 1  # Jan 24 only
    # Both recorded after every window had closed: all check-ins expired, none answered.
    for session, day in ((first, 10), (second, 24)):
        # 10:00 CET sessions: +4h at 14:00 CET, the others at 10:00 CET, none in quiet hours.
        due = [f"2026-01-{day:02d}T13:00:00Z"] + [f"2026-01-{day + d:02d}T09:00:00Z" for d in (1, 3, 7)]
        assert session["checkins"] == [
            {"label": label, "due_at": due_at, "status": "expired", "mood": None, "anxiety": None}
            for label, due_at in zip(["+4h", "+1d", "+3d", "+7d"], due, strict=True)
        ]


def test_effect_days_null_while_the_run_goes_on_or_without_baseline(clock, world, api):
    clinician, ongoing = begin(clock, world, "2026-02-14T12:00:00Z")
    no_baseline = world.patient(clinician, BERLIN)
    no_effect = world.patient(clinician, BERLIN)

    # Baseline Feb 3 .. Feb 9: mood 5 every day, anxiety 4.
    for patient in (ongoing, no_effect):
        for day in range(3, 10):
            add_entry(api, patient, f"2026-02-{day:02d}T12:00:00Z", 5, 4)
    for day, mood in ((10, 6), (11, 7), (13, 6)):  # all above 5, nothing after: not over yet
        add_entry(api, ongoing, f"2026-02-{day:02d}T12:00:00Z", mood, 4)
    add_entry(api, no_effect, "2026-02-10T12:00:00Z", 5, 4)  # the session's day is not above: 0 days
    add_entry(api, no_effect, "2026-02-11T12:00:00Z", 9, 4)

    # Only an entry 8 days before, then entries after the session.
    add_entry(api, no_baseline, "2026-02-02T12:00:00Z", 1, 9)
    add_entry(api, no_baseline, "2026-02-10T12:00:00Z", 6, 4)
    add_entry(api, no_baseline, "2026-02-11T12:00:00Z", 0, 4)

    sessions = {
        p.id: add_session(api, clinician, p, "2026-02-10T09:00:00Z")["id"] for p in (ongoing, no_baseline, no_effect)
    }
    window = {"from": "2026-02-01", "to": "2026-02-14"}

    body = summary(api, clinician, ongoing.id, **window)
    assert [s["id"] for s in body["sessions"]] == [sessions[ongoing.id]]
    assert body["sessions"][0]["baseline"] == {"mood": 5.0, "anxiety": 4.0}
    assert body["sessions"][0]["effect_days"] is None

    body = summary(api, clinician, no_baseline.id, **window)
    assert [s["id"] for s in body["sessions"]] == [sessions[no_baseline.id]]
    assert body["sessions"][0]["baseline"] == {"mood": None, "anxiety": None}
    assert body["sessions"][0]["effect_days"] is None

    body = summary(api, clinician, no_effect.id, **window)
    assert body["sessions"][0]["baseline"] == {"mood": 5.0, "anxiety": 4.0}
    assert body["sessions"][0]["effect_days"] == 0


def test_effect_days_count_the_session_day_from_the_dose_on(clock, world, api):
    """API.md v1.1: on the session's local day only the entries recorded after its start count.
    Sessions at 2026-02-10 09:00Z = 10:00 CET; baseline Feb 3..9 mood 5 for both patients."""
    clinician, improved = begin(clock, world, "2026-02-14T12:00:00Z")
    only_before = world.patient(clinician, BERLIN)
    for patient in (improved, only_before):
        for day in range(3, 10):
            add_entry(api, patient, f"2026-02-{day:02d}T12:00:00Z", 5, 4)

    # Feb 10: 2 at 08:00 CET (before the dose), 7 and 6 after it. The whole day's mean,
    # (2 + 7 + 6) / 3 = 5, is not above 5; after the dose, (7 + 6) / 2 = 6.5 is.
    add_entry(api, improved, "2026-02-10T07:00:00Z", 2, 4)
    add_entry(api, improved, "2026-02-10T11:00:00Z", 7, 4)
    add_entry(api, improved, "2026-02-10T15:00:00Z", 6, 4)
    add_entry(api, improved, "2026-02-11T12:00:00Z", 8, 4)  # 8 > 5: the run goes on
    # Feb 12: no entry, neither extends nor ends the run.
    add_entry(api, improved, "2026-02-13T12:00:00Z", 5, 4)  # 5 is not above 5: the run ends at 2

    # Feb 10: entries before the dose and at its very instant only (not after it): the session's
    # day has no value, so it neither extends nor ends the run; Feb 11 (7) counts, Feb 12 (4) ends it.
    add_entry(api, only_before, "2026-02-10T06:00:00Z", 1, 4)
    add_entry(api, only_before, "2026-02-10T09:00:00Z", 1, 4)
    add_entry(api, only_before, "2026-02-11T12:00:00Z", 7, 4)
    add_entry(api, only_before, "2026-02-12T12:00:00Z", 4, 4)

    for patient in (improved, only_before):
        add_session(api, clinician, patient, "2026-02-10T09:00:00Z")
    window = {"from": "2026-02-01", "to": "2026-02-14"}

    first = summary(api, clinician, improved.id, **window)["sessions"][0]
    assert first["baseline"] == {"mood": 5.0, "anxiety": 4.0}
    assert first["effect_days"] == 2  # Feb 10 (6.5 after the dose) and Feb 11 (8)

    second = summary(api, clinician, only_before.id, **window)["sessions"][0]
    assert second["effect_days"] == 1  # Feb 11 only
    # The daily means themselves are still whole-day means.
    daily = {d["date"]: d["mood_mean"] for d in summary(api, clinician, improved.id, **window)["daily"]}
    assert daily["2026-02-10"] == 5.0


def test_session_checkins_and_adherence(clock, world, api):
    clinician, patient = begin(clock, world, "2026-02-17T08:00:00Z")
    # Session at 10:00 CET, default protocol: +4h 14:00 CET, +1d/+3d/+7d at 10:00 CET; 12 h windows.
    clock.set(at("2026-02-10T09:30:00Z"))
    session = add_session(api, clinician, patient, "2026-02-10T09:00:00Z", dose_mg=0.5)
    ids = {c["label"]: c["id"] for c in session["checkins"]}
    clock.set(at("2026-02-10T14:00:00Z"))
    add_entry(api, patient, "2026-02-10T14:00:00Z", 7, 2, checkin_id=ids["+4h"])  # in time: answered
    execute(world, "UPDATE checkins SET status = 'sent' WHERE id = :id", id=ids["+1d"])  # pushed, never answered
    # A second session, answered in time, then deleted: neither listed nor counted.
    clock.set(at("2026-02-12T09:30:00Z"))
    deleted = add_session(api, clinician, patient, "2026-02-12T09:00:00Z")
    clock.set(at("2026-02-12T13:30:00Z"))
    deleted_4h = next(c["id"] for c in deleted["checkins"] if c["label"] == "+4h")
    add_entry(api, patient, "2026-02-12T13:30:00Z", 8, 1, checkin_id=deleted_4h)
    # +3d answered late (its window closed Feb 13 21:00Z): kept, but the check-in stays expired.
    clock.set(at("2026-02-14T08:00:00Z"))
    late = add_entry(api, patient, "2026-02-14T08:00:00Z", 4, 6, checkin_id=ids["+3d"])
    clock.set(at("2026-02-17T08:00:00Z"))
    resp = api.delete(f"/patients/{patient.id}/sessions/{deleted['id']}", token=clinician.token)
    assert resp.status_code == 204

    body = summary(api, clinician, patient.id, **{"from": "2026-02-10", "to": "2026-02-17"})

    assert [s["id"] for s in body["sessions"]] == [session["id"]]
    assert body["sessions"][0]["dose_mg"] == 0.5
    assert body["sessions"][0]["checkins"] == [
        {"label": "+4h", "due_at": "2026-02-10T13:00:00Z", "status": "answered", "mood": 7, "anxiety": 2},
        {"label": "+1d", "due_at": "2026-02-11T09:00:00Z", "status": "sent", "mood": None, "anxiety": None},
        {"label": "+3d", "due_at": "2026-02-13T09:00:00Z", "status": "expired", "mood": 4, "anxiety": 6},
        {"label": "+7d", "due_at": "2026-02-17T09:00:00Z", "status": "pending", "mood": None, "anxiety": None},
    ]
    # Offered (sent, answered or expired): +4h, +1d, +3d; the pending +7d and the deleted
    # session's check-ins do not count. Entries on Feb 10, 12 and 14.
    assert body["adherence"] == pytest.approx(
        {
            "days_with_entry": 3,
            "days_in_window": 8,
            "checkins_sent": 3,
            "checkins_answered": 1,
            "checkin_rate": 1 / 3,
        }
    )

    # Once the late answer is deleted its scores are shown nowhere, nor its day.
    delete_entry(api, patient, late)
    body = summary(api, clinician, patient.id, **{"from": "2026-02-10", "to": "2026-02-17"})
    assert body["sessions"][0]["checkins"][2] == {
        "label": "+3d",
        "due_at": "2026-02-13T09:00:00Z",
        "status": "expired",
        "mood": None,
        "anxiety": None,
    }
    assert body["adherence"]["days_with_entry"] == 2


def test_checkin_rate_is_null_when_nothing_was_sent(clock, world, api):
    clinician, patient = begin(clock, world, "2026-02-10T12:00:00Z")
    add_entry(api, patient, "2026-02-09T12:00:00Z", 5, 5)
    # A session whose check-ins are all still pending.
    add_session(api, clinician, patient, "2026-02-10T11:00:00Z")

    body = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-10"})

    assert body["adherence"] == {
        "days_with_entry": 1,
        "days_in_window": 10,
        "checkins_sent": 0,
        "checkins_answered": 0,
        "checkin_rate": None,
    }
    assert [c["status"] for c in body["sessions"][0]["checkins"]] == ["pending"] * 4


# --------------------------------------------------------------------------- side effects, assessments, alerts


def test_side_effects_count_every_key(clock, world, api):
    clinician, patient = begin(clock, world, "2026-02-10T12:00:00Z")
    add_entry(api, patient, "2026-02-05T12:00:00Z", 5, 5, side_effects=["dissociation", "nausea", "racing_heart"])
    add_entry(api, patient, "2026-02-06T12:00:00Z", 5, 5, side_effects=["dissociation", "high_blood_pressure"])
    add_entry(api, patient, "2026-02-07T12:00:00Z", 5, 5, side_effects=["dissociation", "blurred_vision"])
    add_entry(api, patient, "2026-02-07T13:00:00Z", 5, 5)
    add_entry(api, patient, "2026-01-20T12:00:00Z", 5, 5, side_effects=["headache"])  # before the window

    body = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-10"})

    assert body["side_effects"] == {
        "dissociation": 3,
        "dizziness": 0,
        "nausea": 1,
        "headache": 0,
        "drowsiness": 0,
        "blurred_vision": 1,
        "racing_heart": 1,
        "high_blood_pressure": 1,
        "confusion": 0,
        "other": 0,
    }


def test_assessments_and_phq9_outcome(clock, world, api, make_app):
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z")
    partial = world.patient(clinician, BERLIN)
    # Before the first session (Jan 10): 16 then 14; the baseline is the first one.
    add_assessment(api, patient, "phq9", phq9(16), "2026-01-05T12:00:00Z")
    add_assessment(api, patient, "phq9", phq9(14), "2026-01-08T12:00:00Z")
    add_assessment(api, patient, "gad7", [2, 2, 2, 2, 2, 1, 1], "2026-01-08T12:00:00Z")  # 12
    add_assessment(api, patient, "phq9", phq9(8), "2026-01-20T12:00:00Z")
    add_assessment(api, patient, "gad7", [1, 1, 1, 1, 0, 0, 0], "2026-01-20T12:00:00Z")  # 4
    add_assessment(api, patient, "phq9", phq9(4), "2026-02-10T12:00:00Z")
    add_session(api, clinician, patient, "2026-01-10T09:00:00Z")
    add_session(api, clinician, patient, "2026-01-17T09:00:00Z")

    body = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-31"})

    assert body["assessments"] == {
        "phq9": [
            {"recorded_at": "2026-01-05T12:00:00Z", "total": 16, "severity": "moderately_severe"},
            {"recorded_at": "2026-01-08T12:00:00Z", "total": 14, "severity": "moderate"},
            {"recorded_at": "2026-01-20T12:00:00Z", "total": 8, "severity": "mild"},
        ],
        "gad7": [
            {"recorded_at": "2026-01-08T12:00:00Z", "total": 12, "severity": "moderate"},
            {"recorded_at": "2026-01-20T12:00:00Z", "total": 4, "severity": "minimal"},
        ],
        # API.md v1.1: a series for every instrument of the catalogue, empty when none.
        "pcl5": [],
        "cssrs_screen": [],
        "madrs": [],
    }
    # 16 -> 8: exactly a 50 % reduction is a response; 8 is not below 5: no remission.
    assert body["phq9_outcome"] == {
        "baseline_total": 16,
        "baseline_recorded_at": "2026-01-05T12:00:00Z",
        "latest_total": 8,
        "latest_recorded_at": "2026-01-20T12:00:00Z",
        "change_percent": -50.0,  # (8 - 16) / 16
        "response": True,
        "remission": False,
        "remission_cutoff": 5,
    }
    # Up to the end of February the latest is 4: (4 - 16) / 16 = -75 %, remission (4 < 5).
    body = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-28"})
    assert body["assessments"] == {
        "phq9": [{"recorded_at": "2026-02-10T12:00:00Z", "total": 4, "severity": "minimal"}],
        "gad7": [],
        "pcl5": [],
        "cssrs_screen": [],
        "madrs": [],
    }
    assert body["phq9_outcome"] == {
        "baseline_total": 16,
        "baseline_recorded_at": "2026-01-05T12:00:00Z",
        "latest_total": 4,
        "latest_recorded_at": "2026-02-10T12:00:00Z",
        "change_percent": -75.0,
        "response": True,
        "remission": True,
        "remission_cutoff": 5,
    }
    # A window ending before the first session: the latest is a pre-treatment score, no response yet.
    body = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-09"})
    assert body["phq9_outcome"] == {
        "baseline_total": 16,
        "baseline_recorded_at": "2026-01-05T12:00:00Z",
        "latest_total": 14,
        "latest_recorded_at": "2026-01-08T12:00:00Z",
        "change_percent": None,
        "response": None,
        "remission": False,
        "remission_cutoff": 5,
    }

    # 16 -> 9 is not a response (9 > 16 / 2); 16 -> 5 is, and 5 is not a remission (5 is not < 5).
    add_assessment(api, partial, "phq9", phq9(16), "2026-01-05T12:00:00Z")
    add_session(api, clinician, partial, "2026-01-10T09:00:00Z")
    add_assessment(api, partial, "phq9", phq9(9), "2026-01-20T12:00:00Z")
    add_assessment(api, partial, "phq9", phq9(5), "2026-02-10T12:00:00Z")
    body = summary(api, clinician, partial.id, **{"from": "2026-01-01", "to": "2026-01-31"})
    assert body["phq9_outcome"] == {
        "baseline_total": 16,
        "baseline_recorded_at": "2026-01-05T12:00:00Z",
        "latest_total": 9,
        "latest_recorded_at": "2026-01-20T12:00:00Z",
        "change_percent": -43.8,  # (9 - 16) / 16 = -43.75 %
        "response": False,
        "remission": False,
        "remission_cutoff": 5,
    }
    body = summary(api, clinician, partial.id, **{"from": "2026-02-01", "to": "2026-02-28"})
    assert (body["phq9_outcome"]["latest_total"], body["phq9_outcome"]["change_percent"]) == (5, -68.8)
    assert (body["phq9_outcome"]["response"], body["phq9_outcome"]["remission"]) == (True, False)

    # The remission cutoff is configuration: below 10, 8 is a remission.
    other = Api(make_app(REMISSION_PHQ9_CUTOFF=10).test_client())
    body = summary(other, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-31"})
    assert (body["phq9_outcome"]["remission"], body["phq9_outcome"]["remission_cutoff"]) == (True, 10)


def test_phq9_outcome_without_sessions_or_scores(clock, world, api):
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z")
    body = summary(api, clinician, patient.id)
    assert body["phq9_outcome"] == {
        "baseline_total": None,
        "baseline_recorded_at": None,
        "latest_total": None,
        "latest_recorded_at": None,
        "change_percent": None,
        "response": None,
        "remission": None,
        "remission_cutoff": 5,
    }
    add_assessment(api, patient, "phq9", phq9(3), "2026-02-20T12:00:00Z")
    body = summary(api, clinician, patient.id)
    assert body["phq9_outcome"] == {
        "baseline_total": None,
        "baseline_recorded_at": None,
        "latest_total": 3,
        "latest_recorded_at": "2026-02-20T12:00:00Z",
        "change_percent": None,
        "response": None,
        "remission": True,
        "remission_cutoff": 5,
    }


def test_alerts_open_or_opened_in_the_window(clock, world, api):
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z")
    clock.set(at("2026-01-05T12:00:00Z"))
    add_entry(api, patient, "2026-01-05T12:00:00Z", 3, 7, self_harm_thoughts=1)
    clock.set(at("2026-02-05T12:00:00Z"))
    add_assessment(api, patient, "phq9", phq9(20), "2026-02-05T12:00:00Z")
    clock.set(at("2026-03-01T12:00:00Z"))
    listed = api.get("/alerts", token=clinician.token).json["items"]
    by_rule = {a["rule"]: a for a in listed}
    assert set(by_rule) == {"self_harm", "phq9_worsening"}
    resp = api.post(f"/alerts/{by_rule['self_harm']['id']}/resolve", {}, token=clinician.token)
    assert resp.status_code == 200

    # February: the resolved January alert is left out; the unresolved one is in.
    body = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-28"})
    assert [(a["rule"], a["severity"], a["status"]) for a in body["alerts"]] == [("phq9_worsening", "warning", "open")]
    # January: the alert opened then (though resolved), and the one still unresolved, newest first.
    body = summary(api, clinician, patient.id, **{"from": "2026-01-01", "to": "2026-01-31"})
    assert [(a["rule"], a["status"], a["opened_at"]) for a in body["alerts"]] == [
        ("phq9_worsening", "open", "2026-02-05T12:00:00Z"),
        ("self_harm", "resolved", "2026-01-05T12:00:00Z"),
    ]
    # December: only the unresolved one.
    body = summary(api, clinician, patient.id, **{"from": "2025-12-01", "to": "2025-12-31"})
    assert [a["rule"] for a in body["alerts"]] == ["phq9_worsening"]


# --------------------------------------------------------------------------- windows


def test_window_without_entries_is_empty_not_an_error(clock, world, api):
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z")
    add_entry(api, patient, "2026-01-15T12:00:00Z", 5, 5, side_effects=["nausea"])
    add_entry(api, patient, "2026-02-11T12:00:00Z", 6, 2)  # just after the window

    body = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-10"})

    empty_scale = {"n": 0, "mean": None, "min": None, "max": None, "latest": None, "slope_per_week": None}
    assert body == {
        "patient_id": patient.id,
        "from": "2026-02-01",
        "to": "2026-02-10",
        "timezone": BERLIN,
        "mood": empty_scale,
        "anxiety": empty_scale,
        "daily": [],
        "assessments": {"phq9": [], "gad7": [], "pcl5": [], "cssrs_screen": [], "madrs": []},
        "phq9_outcome": {
            "baseline_total": None,
            "baseline_recorded_at": None,
            "latest_total": None,
            "latest_recorded_at": None,
            "change_percent": None,
            "response": None,
            "remission": None,
            "remission_cutoff": 5,
        },
        "madrs_outcome": {
            "baseline": None,
            "baseline_recorded_at": None,
            "latest": None,
            "latest_recorded_at": None,
            "change": None,
            "response": None,
            "remission": None,
            "remission_cutoff": 10,
        },
        "forecast": None,  # API.md v1.1: null with fewer than 2 sessions of measured effect
        "sessions": [],
        "adherence": {
            "days_with_entry": 0,
            "days_in_window": 10,
            "checkins_sent": 0,
            "checkins_answered": 0,
            "checkin_rate": None,
        },
        "side_effects": NO_SIDE_EFFECTS,
        "alerts": [],
    }

    # One day with entries: means, but no slope (a line needs two days).
    body = summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-11"})
    assert body["mood"] == {"n": 1, "mean": 6.0, "min": 6, "max": 6, "latest": 6, "slope_per_week": None}
    assert body["anxiety"] == {"n": 1, "mean": 2.0, "min": 2, "max": 2, "latest": 2, "slope_per_week": None}


def test_default_window_is_the_last_30_local_days(clock, world, api):
    # 2026-03-01 12:00Z is 2026-03-02 02:00 in Kiritimati: "today" there is March 2.
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z", KIRITIMATI)
    add_entry(api, patient, "2026-01-31T09:00:00Z", 1, 1)  # Jan 31 23:00 local: out
    add_entry(api, patient, "2026-01-31T11:00:00Z", 4, 6)  # Feb 1 01:00 local: first day in
    add_entry(api, patient, "2026-03-01T11:00:00Z", 8, 2)  # Mar 2 01:00 local: today

    body = summary(api, clinician, patient.id)
    assert (body["from"], body["to"]) == ("2026-02-01", "2026-03-02")
    assert body["adherence"]["days_in_window"] == 30
    assert [d["date"] for d in body["daily"]] == ["2026-02-01", "2026-03-02"]
    assert body["mood"]["mean"] == pytest.approx((4 + 8) / 2)

    # Only `to`: the 30 days ending then.
    body = summary(api, clinician, patient.id, to="2026-02-10")
    assert (body["from"], body["to"]) == ("2026-01-12", "2026-02-10")
    assert body["mood"]["n"] == 2  # Jan 31 and Feb 1 local
    # Only `from`: up to today.
    body = summary(api, clinician, patient.id, **{"from": "2026-02-15"})
    assert (body["from"], body["to"]) == ("2026-02-15", "2026-03-02")
    assert body["adherence"]["days_in_window"] == 16
    assert body["mood"]["latest"] == 8


def test_window_validation(clock, world, api):
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z")
    expect_invalid(get_summary(api, clinician, patient.id, **{"from": "2026-02-10", "to": "2026-02-09"}), "from")
    # 2024-01-01 .. 2026-01-02 is 732 days; 731 (two years) is the most.
    expect_invalid(get_summary(api, clinician, patient.id, **{"from": "2024-01-01", "to": "2026-01-02"}), "from")
    body = summary(api, clinician, patient.id, **{"from": "2024-01-01", "to": "2025-12-31"})
    assert body["adherence"]["days_in_window"] == 731
    expect_invalid(get_summary(api, clinician, patient.id, **{"from": "not-a-date"}), "from")
    expect_invalid(get_summary(api, clinician, patient.id, to="2026-02-30"), "to")
    # Dates at the ends of the calendar are refused, not an overflow (a 500) in the window arithmetic.
    expect_invalid(get_summary(api, clinician, patient.id, **{"from": "9999-12-30"}), "from")
    expect_invalid(get_summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "9999-12-31"}), "to")
    expect_invalid(get_summary(api, clinician, patient.id, to="0001-01-10"), "to")
    # A single day is a window.
    body = summary(api, clinician, patient.id, **{"from": "2026-02-10", "to": "2026-02-10"})
    assert body["adherence"]["days_in_window"] == 1


# --------------------------------------------------------------------------- access and audit


def test_access_is_clinic_scoped_role_checked_and_audited(clock, world, api):
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z")
    other_clinician = world.staff(world.clinic("Other Clinic"))
    stranger = world.patient(other_clinician, BERLIN)
    ops = world.staff(clinician.clinic_id, role="ops")

    expect_error(get_summary(api, clinician, stranger.id), 404, "not_found")
    expect_error(get_summary(api, clinician, str(uuid.uuid4())), 404, "not_found")
    expect_error(get_summary(api, ops, patient.id), 403, "forbidden")
    expect_error(get_summary(api, patient, patient.id), 403, "forbidden")
    expect_error(api.get(f"/patients/{patient.id}/summary"), 401, "missing_token")
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'patient.summary'") == [(0,)]

    summary(api, clinician, patient.id)
    summary(api, clinician, patient.id, **{"from": "2026-02-01", "to": "2026-02-02"})
    rows = world.rows(
        "SELECT actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id FROM audit_events"
        " WHERE action = 'patient.summary'"
    )
    expected = (clinician.id, "clinician", clinician.clinic_id, patient.id, "patient", patient.id)
    assert rows == [expected, expected]


def test_summary_takes_a_fixed_number_of_queries(clock, world, api, app):
    clinician, patient = begin(clock, world, "2026-03-01T12:00:00Z")
    for day in range(1, 11):
        add_entry(api, patient, f"2026-02-{day:02d}T12:00:00Z", day % 10, 5, side_effects=["nausea"])
    add_session(api, clinician, patient, "2026-02-05T09:00:00Z")
    add_assessment(api, patient, "phq9", phq9(12), "2026-02-03T12:00:00Z")
    add_entry(api, patient, "2026-02-08T12:00:00Z", 5, 5, self_harm_thoughts=1)  # an open alert
    window = {"from": "2026-02-01", "to": "2026-02-28"}

    # Counted once the settled session effects are stored (the first read stores them: a few
    # statements more, as many whatever the history).
    get_summary(api, clinician, patient.id, **window)
    before, resp = count_statements(app, lambda: get_summary(api, clinician, patient.id, **window))
    assert resp.status_code == 200
    assert resp.json["mood"]["n"] == 11

    # A long history before the window: 360 entries over 2025, more sessions and scores.
    history = [
        {
            "id": str(uuid.uuid4()),
            "recorded_at": (at("2025-01-01T12:00:00Z") + dt.timedelta(hours=23 * i)).isoformat(),
            "mood": i % 11,
            "anxiety": (i * 3) % 11,
            "side_effects": ["headache", "nausea"],
        }
        for i in range(360)
    ]
    for chunk in (history[:180], history[180:]):
        resp = api.post("/me/entries/batch", {"entries": chunk}, token=patient.token)
        assert resp.status_code == 200, resp.json
        assert {r["status"] for r in resp.json["results"]} == {"created"}
    for month in range(1, 13):
        add_session(api, clinician, patient, f"2025-{month:02d}-15T09:00:00Z")
        add_assessment(api, patient, "phq9", phq9(month), f"2025-{month:02d}-14T12:00:00Z")

    cold, resp = count_statements(app, lambda: get_summary(api, clinician, patient.id, **window))
    assert resp.status_code == 200
    after, resp = count_statements(app, lambda: get_summary(api, clinician, patient.id, **window))
    assert resp.status_code == 200
    assert resp.json["mood"]["n"] == 11
    assert after == before
    # Computing the effects not stored yet and storing them: 3 statements, for the window and for the forecast.
    assert cold <= before + 6


def test_summary_for_a_patient_never_enrolled(clock, world, api):
    clock.set(at("2026-03-01T12:00:00Z"))
    clinician = world.staff(world.clinic())
    invited = world.invite(clinician, KIRITIMATI, name="Not Yet")
    body = summary(api, clinician, invited["id"], **{"from": "2026-02-01", "to": "2026-02-03"})
    assert body["timezone"] == KIRITIMATI
    assert body["mood"]["n"] == 0
    assert body["daily"] == []


def test_the_daily_rows_dump_exactly_as_the_nested_schema_would():
    """diary.schemas.fields.Rows is a fast path for long lists: same JSON as List(Nested)."""
    from marshmallow import Schema, fields

    from diary.schemas.fields import Rows
    from diary.schemas.summary import DailySchema

    rows = [
        {"date": dt.date(2026, 2, 28), "mood_mean": 7, "anxiety_mean": 3.5, "n": 2},
        {"date": dt.date(2026, 3, 1), "mood_mean": 2 / 3, "anxiety_mean": None, "n": 3},
    ]

    class Fast(Schema):
        daily = Rows(DailySchema)

    class Slow(Schema):
        daily = fields.List(fields.Nested(DailySchema))

    assert Fast().dump({"daily": rows}) == Slow().dump({"daily": rows})
    assert Fast().dump({"daily": rows})["daily"][0] == {
        "date": "2026-02-28",
        "mood_mean": 7.0,
        "anxiety_mean": 3.5,
        "n": 2,
    }

    class Deep(Schema):
        inner = fields.Nested(DailySchema)

    with pytest.raises(TypeError, match=r"Deep\.inner is not a flat column"):
        Rows(Deep)
