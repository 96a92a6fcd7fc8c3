"""GET /api/v1/clinic/outcomes (API.md v1.1 "Clinic outcomes"), on cohorts built by hand.

Every number is counted by hand from the rows posted. Where a rule is about one patient, the
patient has a first session on a day of their own and is also asked for alone (a cohort of
one day), so a right total cannot hide two wrong patients.

The clock stays at NOW (2026-03-01 12:00Z): the local today is 1 March in Berlin and 2 March
in Kiritimati (02:00, UTC+14). Sessions are at 10:00 local and PHQ-9s at 12:00 local unless
said otherwise.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from diary.domain import effects
from tests.alerting import BERLIN, KIRITIMATI, NOW, iso
from tests.conftest import Account, Api
from tests.helpers import expect_error, expect_invalid
from tests.treatment import day, delete_session, local, measured_sessions, record_session, session_on

PAGO_PAGO = "Pacific/Pago_Pago"
NOON = dt.time(12, 0)


# --- helpers ----------------------------------------------------------------------------------------


def begin(clock, world) -> Account:
    clock.set(NOW)
    return world.staff(world.clinic())


def get_outcomes(api: Api, account: Account, date_from: str | None = None, date_to: str | None = None):
    query = {key: value for key, value in (("from", date_from), ("to", date_to)) if value is not None}
    return api.get("/clinic/outcomes", token=account.token, query_string=query)


def outcomes(api: Api, clinician: Account, date_from: str, date_to: str | None = None) -> dict[str, Any]:
    """The outcomes of the cohort whose first sessions fall in [date_from, date_to] (default: that one day)."""
    resp = get_outcomes(api, clinician, date_from, date_to or date_from)
    assert resp.status_code == 200, resp.json
    return resp.json


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def phq9_counts(
    with_baseline: int = 0,
    measured_4w: int = 0,
    response_4w: int = 0,
    remission_4w: int = 0,
    measured_12w: int = 0,
    response_12w: int = 0,
    remission_12w: int = 0,
) -> dict[str, Any]:
    """The `phq9` block: the counts given, each rate = its count / measured (null when none)."""
    return {
        "with_baseline": with_baseline,
        "measured_4w": measured_4w,
        "response_4w": response_4w,
        "remission_4w": remission_4w,
        "response_rate_4w": rate(response_4w, measured_4w),
        "remission_rate_4w": rate(remission_4w, measured_4w),
        "measured_12w": measured_12w,
        "response_12w": response_12w,
        "remission_12w": remission_12w,
        "response_rate_12w": rate(response_12w, measured_12w),
        "remission_rate_12w": rate(remission_12w, measured_12w),
    }


def phq9_answers(total: int) -> list[int]:
    """PHQ-9 answers adding up to `total`, item 9 (self-harm) always 0."""
    assert 0 <= total <= 24
    answers = [0] * 9
    for i in range(total):
        answers[i % 8] += 1
    return answers


def post_phq9(api: Api, patient: Account, recorded_at: dt.datetime, total: int, instrument: str = "phq9") -> None:
    answers = phq9_answers(total) if instrument == "phq9" else [min(3, max(0, total - 3 * i)) for i in range(7)]
    body = {"id": str(uuid.uuid4()), "instrument": instrument, "answers": answers, "recorded_at": iso(recorded_at)}
    resp = api.post("/me/assessments", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    assert resp.json["total"] == total


def on_day(first: str, offset: int) -> dt.date:
    """Day `offset` counted from a first session's local day (day 0)."""
    return day(first) + dt.timedelta(days=offset)


def sessions_on(api: Api, clinician: Account, patient: Account, first: str, offsets: list[int], zone: str) -> list[str]:
    return [session_on(api, clinician, patient, on_day(first, n), zone) for n in offsets]


def audit_events(world) -> list[tuple]:
    return sorted(
        world.rows(
            "SELECT action, actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id FROM audit_events"
        )
    )


# --- the cohort ---------------------------------------------------------------------------------------


def test_the_cohort_is_the_patients_whose_first_sessions_local_day_is_in_the_window(clock, world, api):
    clinician = begin(clock, world)
    patient = {name: world.patient(clinician, BERLIN) for name in ("on_from", "on_to", "before", "after", "undone")}
    patient["kiritimati"] = world.patient(clinician, KIRITIMATI)
    patient["pago_pago"] = world.patient(clinician, PAGO_PAGO)
    world.patient(clinician, BERLIN)  # no session at all: in no cohort
    other_clinician = world.staff(world.clinic("Other Clinic"))
    elsewhere = world.patient(other_clinician, BERLIN)

    def session(name: str, on: str, at: dt.time = dt.time(10, 0), zone: str = BERLIN) -> str:
        return session_on(api, clinician, patient[name], day(on), zone, at)

    session("on_from", "2026-01-10")
    session("on_to", "2026-01-20")
    session("before", "2026-01-09")  # first session the day before `from`: out, though
    session("before", "2026-01-12")  # its second one is inside the window
    session("after", "2026-01-21")
    session("kiritimati", "2026-01-10", dt.time(1, 0), KIRITIMATI)  # 01:00 local = Jan 9 11:00Z
    session("pago_pago", "2026-01-20", dt.time(19, 0), PAGO_PAGO)  # 19:00 local = Jan 21 06:00Z
    # A session deleted: the first that counts is the next one, Jan 15.
    delete_session(api, clinician, patient["undone"], session("undone", "2026-01-05"))
    session("undone", "2026-01-15")
    session_on(api, other_clinician, elsewhere, day("2026-01-15"), BERLIN)

    # In: on_from, on_to, kiritimati (local Jan 10), pago_pago (local Jan 20), undone (Jan 15).
    body = outcomes(api, clinician, "2026-01-10", "2026-01-20")
    assert (body["from"], body["to"], body["patients"]) == ("2026-01-10", "2026-01-20", 5)
    # Each edge day alone (by UTC days, Jan 9 and Jan 21 would hold 2 each, Jan 10 and Jan 20 1 each).
    assert outcomes(api, clinician, "2026-01-09")["patients"] == 1  # before
    assert outcomes(api, clinician, "2026-01-10")["patients"] == 2  # on_from, kiritimati
    assert outcomes(api, clinician, "2026-01-20")["patients"] == 2  # on_to, pago_pago
    assert outcomes(api, clinician, "2026-01-21")["patients"] == 1  # after
    assert outcomes(api, clinician, "2026-01-12")["patients"] == 0  # before's second session
    assert outcomes(api, clinician, "2026-01-05")["patients"] == 0  # the deleted session
    assert outcomes(api, clinician, "2026-01-15")["patients"] == 1  # undone; never the other clinic's
    assert outcomes(api, other_clinician, "2026-01-10", "2026-01-20")["patients"] == 1  # elsewhere only


def test_an_empty_cohort_has_zero_counts_and_null_rates(clock, world, api):
    clinician = begin(clock, world)
    patient = world.patient(clinician, BERLIN)
    session_on(api, clinician, patient, day("2026-01-10"), BERLIN)

    assert outcomes(api, clinician, "2025-01-01", "2025-12-31") == {
        "from": "2025-01-01",
        "to": "2025-12-31",
        "patients": 0,
        "induction": {"completed": 0, "dropped_after_first": 0, "rate_completed": None},
        "phq9": phq9_counts(),
        "effect_days": {"sessions": 0, "median": None},
    }


# --- induction ----------------------------------------------------------------------------------------


def test_induction_completion_and_drop_out_after_the_first_session(clock, world, api):
    clinician = begin(clock, world)
    names = ("day_27", "day_28", "one_deleted", "single_15", "single_14", "two")
    patient = {name: world.patient(clinician, BERLIN) for name in names}
    patient["kiritimati_27"] = world.patient(clinician, KIRITIMATI)
    patient["kiritimati_15"] = world.patient(clinician, KIRITIMATI)

    # Six sessions, the 6th on day 27 (Jan 5 + 27 = Feb 1): the 28 local days are days 0 .. 27.
    sessions_on(api, clinician, patient["day_27"], "2026-01-05", [0, 5, 10, 15, 20, 27], BERLIN)
    # Six sessions, the 6th on day 28 (Feb 2): only 5 within the 28 days.
    sessions_on(api, clinician, patient["day_28"], "2026-01-06", [0, 5, 10, 15, 20, 28], BERLIN)
    # Kiritimati: day 0 at 01:00 local Jan 7 (Jan 6 11:00Z), days 5 .. 20 at 10:00, day 27 at
    # 23:00 local Feb 3 (Feb 3 09:00Z): 27 local days, but 28 UTC days (Jan 6 .. Feb 3).
    kiritimati = patient["kiritimati_27"]
    session_on(api, clinician, kiritimati, day("2026-01-07"), KIRITIMATI, dt.time(1, 0))
    sessions_on(api, clinician, kiritimati, "2026-01-07", [5, 10, 15, 20], KIRITIMATI)
    session_on(api, clinician, kiritimati, day("2026-02-03"), KIRITIMATI, dt.time(23, 0))
    # Six sessions within days 0 .. 10, one of them deleted: five.
    recorded = sessions_on(api, clinician, patient["one_deleted"], "2026-01-08", [0, 2, 4, 6, 8, 10], BERLIN)
    delete_session(api, clinician, patient["one_deleted"], recorded[3])
    # One session, Feb 14: 15 local days before today (Mar 1): dropped after the first.
    session_on(api, clinician, patient["single_15"], day("2026-02-14"), BERLIN)
    # One session, Feb 15: 14 days before today: not yet.
    session_on(api, clinician, patient["single_14"], day("2026-02-15"), BERLIN)
    # Kiritimati, one session at 23:00 local Feb 15 (09:00Z Feb 15): 15 local days before the
    # local today (Mar 2), though the UTC dates (Feb 15, Mar 1) are 14 apart: dropped.
    session_on(api, clinician, patient["kiritimati_15"], day("2026-02-15"), KIRITIMATI, dt.time(23, 0))
    # Two sessions, the first long ago: not a drop-out, not an induction.
    sessions_on(api, clinician, patient["two"], "2026-01-09", [0, 10], BERLIN)

    # 8 patients; completed: day_27, kiritimati_27; dropped: single_15, kiritimati_15.
    assert outcomes(api, clinician, "2026-01-01", "2026-02-28")["induction"] == {
        "completed": 2,
        "dropped_after_first": 2,
        "rate_completed": 2 / 8,
    }
    alone = {
        "2026-01-05": (1, 0),  # day_27
        "2026-01-06": (0, 0),  # day_28
        "2026-01-07": (1, 0),  # kiritimati_27
        "2026-01-08": (0, 0),  # one_deleted
        "2026-01-09": (0, 0),  # two
        "2026-02-14": (0, 1),  # single_15
        "2026-02-15": (0, 1),  # single_14 (not), kiritimati_15 (dropped)
    }
    for first, (completed, dropped) in alone.items():
        body = outcomes(api, clinician, first)
        patients = body["patients"]
        assert body["induction"] == {
            "completed": completed,
            "dropped_after_first": dropped,
            "rate_completed": completed / patients,
        }, first
    assert outcomes(api, clinician, "2026-02-15")["patients"] == 2


# --- PHQ-9 baseline -------------------------------------------------------------------------------------


def test_the_phq9_baseline_is_the_last_one_in_the_14_local_days_up_to_the_first_session(clock, world, api):
    clinician = begin(clock, world)
    # name: (zone, first session's day, [(PHQ-9 day offset, local time, total)], with_baseline)
    cases: dict[str, tuple[str, str, list[tuple[int, dt.time, int]], int]] = {
        "day_minus_13": (BERLIN, "2025-12-01", [(-13, NOON, 12)], 1),
        "day_minus_14": (BERLIN, "2025-12-02", [(-14, NOON, 12)], 0),
        "day_minus_15": (BERLIN, "2025-12-03", [(-15, NOON, 12)], 0),
        # The last one (9) is below 10, though an earlier one (15) was not.
        "below_10": (BERLIN, "2025-12-04", [(-5, NOON, 15), (-2, NOON, 9)], 0),
        "exactly_10": (BERLIN, "2025-12-05", [(-1, NOON, 10)], 1),
        # The first session's own day is in (12:00, after the 10:00 dose): 8 is the last, below 10.
        "on_day_0": (BERLIN, "2025-12-06", [(-5, NOON, 15), (0, NOON, 8)], 0),
        # Two the same day: the later one (18:00, 6) is the last, whatever the order they came in.
        "same_day": (BERLIN, "2025-12-08", [(-3, dt.time(18, 0), 6), (-3, dt.time(9, 0), 14)], 0),
        # Day +1 is after the first session's day: no baseline.
        "day_plus_1": (BERLIN, "2025-12-09", [(1, NOON, 18)], 0),
    }
    # Kiritimati: first session 23:00 local Dec 7 (Dec 7 09:00Z); a PHQ-9 at 01:00 local Nov 24
    # (Nov 23 11:00Z): day -13 locally, 14 UTC days before.
    cases["kiritimati_minus_13"] = (KIRITIMATI, "2025-12-07", [(-13, dt.time(1, 0), 12)], 1)
    for zone, first, scores, _ in cases.values():
        patient = world.patient(clinician, zone)
        dose = dt.time(23, 0) if zone == KIRITIMATI else dt.time(10, 0)
        session_on(api, clinician, patient, day(first), zone, dose)
        for offset, at, total in scores:
            post_phq9(api, patient, local(on_day(first, offset), at, zone), total)
    # A GAD-7 of 15 the day before is not a PHQ-9.
    gad7_only = world.patient(clinician, BERLIN)
    session_on(api, clinician, gad7_only, day("2025-12-10"), BERLIN)
    post_phq9(api, gad7_only, local(day("2025-12-09"), NOON, BERLIN), 15, instrument="gad7")

    for name, (_, first, _, with_baseline) in cases.items():
        assert outcomes(api, clinician, first)["phq9"] == phq9_counts(with_baseline=with_baseline), name
    assert outcomes(api, clinician, "2025-12-10")["phq9"] == phq9_counts()
    # day_minus_13, exactly_10, kiritimati_minus_13; none has a follow-up.
    body = outcomes(api, clinician, "2025-12-01", "2025-12-10")
    assert (body["patients"], body["phq9"]) == (10, phq9_counts(with_baseline=3))


# --- PHQ-9 follow-ups, response and remission -------------------------------------------------------

# name: (first session's day, baseline total (day -1), [(day, total)], the patient's phq9 block)
FOLLOW_UPS: dict[str, tuple[str, int, list[tuple[int, int]], dict[str, Any]]] = {
    # Week 4: nearest to day 28 within days 21 .. 35.
    # Day 21 is in; 10 from 20 is a fall of exactly 50 %: response; 10 is not below 5.
    "day_21": ("2025-10-01", 20, [(21, 10)], phq9_counts(1, measured_4w=1, response_4w=1)),
    "day_20": ("2025-10-02", 20, [(20, 10)], phq9_counts(1)),
    # Day 35 is in; 4 is below 5: remission (and a fall of 80 %).
    "day_35": ("2025-10-03", 20, [(35, 4)], phq9_counts(1, measured_4w=1, response_4w=1, remission_4w=1)),
    "day_36": ("2025-10-04", 20, [(36, 4)], phq9_counts(1)),
    # Days 27 (12) and 29 (10) are as near to 28: the later one, 10, counts: a response.
    "tie": ("2025-10-05", 20, [(29, 10), (27, 12)], phq9_counts(1, measured_4w=1, response_4w=1)),
    # Day 31 (3 days off) is nearer than day 22 (6 days off): 15 counts, not 4.
    "nearest": ("2025-10-06", 20, [(22, 4), (31, 15)], phq9_counts(1, measured_4w=1)),
    # From 19 to 10 is a fall of 9/19 = 47.4 %: just short of a response (2 x 10 = 20 > 19).
    "short_of_50": ("2025-10-07", 19, [(28, 10)], phq9_counts(1, measured_4w=1)),
    # 5 is not below 5: no remission; 20 -> 5 is a response (75 %).
    "five": ("2025-10-08", 20, [(28, 5)], phq9_counts(1, measured_4w=1, response_4w=1)),
    # A baseline of 9 leaves the patient out, follow-up and all.
    "baseline_9": ("2025-10-09", 9, [(28, 2)], phq9_counts(0)),
    # Week 12: nearest to day 84 within days 70 .. 98.
    "day_70": ("2025-10-10", 20, [(70, 10)], phq9_counts(1, measured_12w=1, response_12w=1)),
    "day_69": ("2025-10-11", 20, [(69, 10)], phq9_counts(1)),
    "day_98": ("2025-10-12", 20, [(98, 4)], phq9_counts(1, measured_12w=1, response_12w=1, remission_12w=1)),
    "day_99": ("2025-10-13", 20, [(99, 4)], phq9_counts(1)),
    # Days 83 (12) and 85 (3): the later one, 3: response and remission.
    "tie_12w": ("2025-10-14", 20, [(85, 3), (83, 12)], phq9_counts(1, measured_12w=1, response_12w=1, remission_12w=1)),
    # Day 90 (6 off) is nearer than day 71 (13 off): 15 counts, not 3.
    "nearest_12w": ("2025-10-15", 20, [(71, 3), (90, 15)], phq9_counts(1, measured_12w=1)),
    # Both weeks for one patient: day 28 (9 from 18: 50 %) and day 84 (4: below 5).
    "both": (
        "2025-10-16",
        18,
        [(28, 9), (84, 4)],
        phq9_counts(1, measured_4w=1, response_4w=1, measured_12w=1, response_12w=1, remission_12w=1),
    ),
}


def test_week_4_and_week_12_follow_ups_response_and_remission(clock, world, api):
    clinician = begin(clock, world)
    for first, baseline, follow_ups, _ in FOLLOW_UPS.values():
        patient = world.patient(clinician, BERLIN)
        session_on(api, clinician, patient, day(first), BERLIN)
        post_phq9(api, patient, local(on_day(first, -1), NOON, BERLIN), baseline)
        for offset, total in follow_ups:
            post_phq9(api, patient, local(on_day(first, offset), NOON, BERLIN), total)

    for name, (first, _, _, expected) in FOLLOW_UPS.items():
        assert outcomes(api, clinician, first)["phq9"] == expected, name

    # With a baseline: all 16 but baseline_9 -> 15.
    # Week 4 measured: day_21, day_35, tie, nearest, short_of_50, five, both = 7;
    #   responses: day_21, day_35, tie, five, both = 5; remission: day_35 = 1.
    # Week 12 measured: day_70, day_98, tie_12w, nearest_12w, both = 5;
    #   responses: day_70, day_98, tie_12w, both = 4; remission: day_98, tie_12w, both = 3.
    body = outcomes(api, clinician, "2025-10-01", "2025-10-16")
    assert body["patients"] == 16
    assert body["phq9"] == {
        "with_baseline": 15,
        "measured_4w": 7,
        "response_4w": 5,
        "remission_4w": 1,
        "response_rate_4w": 5 / 7,
        "remission_rate_4w": 1 / 7,
        "measured_12w": 5,
        "response_12w": 4,
        "remission_12w": 3,
        "response_rate_12w": 4 / 5,
        "remission_rate_12w": 3 / 5,
    }


# --- effect_days ----------------------------------------------------------------------------------------


# 0 sends every cohort through the query for many patients (one IN list, global dates trimmed).
@pytest.mark.parametrize("per_patient_conditions", [effects.PER_PATIENT_CONDITIONS, 0], ids=["each", "many"])
def test_effect_days_over_the_cohorts_sessions_with_a_measured_effect(
    clock, world, api, monkeypatch, per_patient_conditions
):
    monkeypatch.setattr(effects, "PER_PATIENT_CONDITIONS", per_patient_conditions)
    clinician = begin(clock, world)
    berlin, far, unmeasured, outsider = (world.patient(clinician, z) for z in (BERLIN, KIRITIMATI, BERLIN, BERLIN))
    other_clinician = world.staff(world.clinic("Other Clinic"))
    elsewhere = world.patient(other_clinician, BERLIN)

    # Effects of 3 and 4 days, then a session with a baseline and no entry after it (null);
    # the third is after `to` and is still one of the cohort's sessions.
    plan = [(day("2026-01-05"), 3), (day("2026-01-25"), 4), (day("2026-02-14"), None)]
    measured_sessions(api, clinician, berlin, plan, BERLIN)
    # Kiritimati: 6 and 2 days, and a session of 5 days that was deleted (left out).
    plan = [(day("2026-01-10"), 6), (day("2026-02-01"), 2), (day("2026-02-20"), 5)]
    *_, deleted = measured_sessions(api, clinician, far, plan, KIRITIMATI)
    delete_session(api, clinician, far, deleted)
    # No entries at all: no baseline, no effect_days.
    session_on(api, clinician, unmeasured, day("2026-01-15"), BERLIN)
    # Measured, but first treated before the cohort's window (Dec 20): not in the cohort.
    measured_sessions(api, clinician, outsider, [(day("2025-12-20"), 1), (day("2026-01-09"), 1)], BERLIN)
    measured_sessions(api, other_clinician, elsewhere, [(day("2026-01-05"), 1), (day("2026-01-25"), 1)], BERLIN)

    # Cohort: berlin, far, unmeasured. Measured: 3, 4, 6, 2 -> sorted 2, 3, 4, 6: median (3 + 4) / 2 = 3.5.
    # unmeasured had one session, on Jan 15, 45 days before Mar 1: dropped after the first.
    assert outcomes(api, clinician, "2026-01-01", "2026-01-31") == {
        "from": "2026-01-01",
        "to": "2026-01-31",
        "patients": 3,
        "induction": {"completed": 0, "dropped_after_first": 1, "rate_completed": 0 / 3},
        "phq9": phq9_counts(),
        "effect_days": {"sessions": 4, "median": 3.5},
    }
    # Each alone: Kiritimati 6 and 2 -> median 4; Berlin 3 and 4 -> 3.5.
    assert outcomes(api, clinician, "2026-01-10")["effect_days"] == {"sessions": 2, "median": 4.0}
    assert outcomes(api, clinician, "2026-01-05")["effect_days"] == {"sessions": 2, "median": 3.5}


def test_effect_days_median_of_an_odd_count(clock, world, api):
    clinician = begin(clock, world)
    patient = world.patient(clinician, BERLIN)
    plan = [(day("2026-01-01"), 2), (day("2026-01-21"), 7), (day("2026-02-10"), 3)]
    measured_sessions(api, clinician, patient, plan, BERLIN)
    # 2, 7, 3 -> sorted 2, 3, 7: median 3 (the mean would be 4).
    assert outcomes(api, clinician, "2026-01-01")["effect_days"] == {"sessions": 3, "median": 3.0}


# --- access, validation and audit -------------------------------------------------------------------


def test_from_after_to_and_bad_dates_are_422(clock, world, api):
    clinician = begin(clock, world)
    expect_invalid(get_outcomes(api, clinician, "2026-02-02", "2026-02-01"), "from")
    expect_invalid(get_outcomes(api, clinician, "2026-02-30", "2026-03-01"), "from")
    expect_invalid(get_outcomes(api, clinician, "2026-02-01", "tomorrow"), "to")
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'clinic.outcomes'") == [(0,)]
    # The same day as `from` and `to` is a cohort of one day, not an error.
    assert get_outcomes(api, clinician, "2026-02-01", "2026-02-01").status_code == 200


def test_only_clinicians_read_outcomes(clock, world, api):
    clinician = begin(clock, world)
    patient = world.patient(clinician, BERLIN)
    ops = world.staff(clinician.clinic_id, role="ops")
    session_on(api, clinician, patient, day("2026-01-10"), BERLIN)

    expect_error(get_outcomes(api, patient, "2026-01-01", "2026-01-31"), 403, "forbidden")
    expect_error(get_outcomes(api, ops, "2026-01-01", "2026-01-31"), 403, "forbidden")
    expect_error(api.get("/clinic/outcomes", query_string={"from": "2026-01-01"}), 401, "missing_token")
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'clinic.outcomes'") == [(0,)]


@pytest.mark.parametrize(
    ("date_from", "date_to", "cohort"),
    [
        pytest.param("2026-01-01", "2026-01-31", "2026-01-01..2026-01-31", id="window"),
        # Without dates: the year up to today (UTC): Mar 1, 2026 - 364 days = Mar 2, 2025.
        pytest.param(None, None, "2025-03-02..2026-03-01", id="default"),
    ],
)
def test_one_audit_event_names_the_cohort_and_none_names_a_patient(clock, world, api, date_from, date_to, cohort):
    clinician = begin(clock, world)
    for _ in range(3):
        patient = world.patient(clinician, BERLIN)
        record_session(api, clinician, patient, local(day("2026-01-10"), dt.time(10, 0), BERLIN))
    before = audit_events(world)

    resp = get_outcomes(api, clinician, date_from, date_to)
    assert resp.status_code == 200, resp.json
    assert resp.json["patients"] == 3
    assert (resp.json["from"], resp.json["to"]) == tuple(cohort.split(".."))

    after = audit_events(world)
    added = list(after)
    for event in before:
        added.remove(event)
    assert added == [
        ("clinic.outcomes", clinician.id, "clinician", clinician.clinic_id, None, "cohort", cohort),
    ]
