"""Session effects stored once settled (diary.domain.effects): what every reader shows is
what the entries give at that moment, whether it was read from session_effects or computed.

A result is stored once every day it depends on lies two local days before the patient's
today; a later entry on an earlier day than the patient's today, an edit or a deletion
makes the patient's stored results stale. Every effect_days below is worked out by hand from
the entries posted (baseline mood 5 on the day before the session: tests.treatment).

The clock starts at NOW (2026-03-01 12:00Z, 13:00 in Berlin).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, update

from diary.extensions import db
from diary.models import SessionEffect
from tests.alerting import BERLIN, NOW, iso
from tests.alerting import relogin as fresh
from tests.conftest import Account, Api
from tests.treatment import ENTRY, day, local, measured_sessions, post_entries, session_on


def begin(clock, world) -> tuple[Account, Account]:
    clock.set(NOW)
    clinician = world.staff(world.clinic())
    return clinician, world.patient(clinician, BERLIN)


def effect_of(api: Api, world, clinician: Account, patient: Account, session_id: str) -> dict[str, Any]:
    """The session's baseline and effect_days as the summary shows them."""
    resp = api.get(
        f"/patients/{patient.id}/summary",
        token=fresh(world, clinician).token,
        query_string={"from": "2026-01-01"},
    )
    assert resp.status_code == 200, resp.json
    [shown] = [s for s in resp.json["sessions"] if s["id"] == session_id]
    return {"baseline": shown["baseline"]["mood"], "effect_days": shown["effect_days"]}


def stored(world, session_id: str) -> tuple[int | None, float | None] | None:
    """The (effect_days, baseline mood) of a session stored as settled, else None."""
    with world.app.app_context():
        row = db.session.get(SessionEffect, session_id)
        return None if row is None or row.of_change is not None else (row.effect_days, row.baseline_mood)


def kept_for_the_day(world, session_id: str) -> bool:
    """A result not settled yet is stored, for the patient's writes and day it was computed at."""
    with world.app.app_context():
        row = db.session.get(SessionEffect, session_id)
        return row is not None and row.of_change is not None and row.on_day is not None


def outcome_effect_days(api: Api, world, clinician: Account) -> dict[str, Any]:
    """effect_days of GET /clinic/outcomes, cohort of first sessions since Jan 1."""
    resp = api.get("/clinic/outcomes", token=fresh(world, clinician).token, query_string={"from": "2026-01-01"})
    assert resp.status_code == 200, resp.json
    return resp.json["effect_days"]


def entry_at(on: dt.date, mood: int) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "recorded_at": iso(local(on, ENTRY, BERLIN)), "mood": mood, "anxiety": 5}


def test_a_settled_effect_is_stored_and_any_later_change_to_its_days_is_seen(clock, world, api):
    clinician, patient = begin(clock, world)
    # Feb 9: 5 (baseline); Feb 10, 11, 12: 8; Feb 13: 5 ends the run: 3 days.
    [session] = measured_sessions(api, clinician, patient, [(day("2026-02-10"), 3)], BERLIN)
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": 3}
    assert stored(world, session) == (3, 5.0)  # Feb 13 is long before Mar 1
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": 3}

    # A backdated entry of 10 on Feb 13: (5 + 10) / 2 = 7.5 > 5, and no later day ends the run.
    late = entry_at(day("2026-02-13"), 10)
    resp = api.post("/me/entries", late, token=fresh(world, patient).token)
    assert resp.status_code == 201, resp.json
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": None}

    # Corrected to 1: (5 + 1) / 2 = 3 ends the run on Feb 13 again.
    resp = api.patch(f"/me/entries/{late['id']}", {"mood": 1}, token=fresh(world, patient).token)
    assert resp.status_code == 200, resp.json
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": 3}
    assert stored(world, session) == (3, 5.0)

    # Another backdated entry, 0 on Feb 11: (8 + 0) / 2 = 4 ends the run there, after 1 day.
    low = entry_at(day("2026-02-11"), 0)
    resp = api.post("/me/entries", low, token=fresh(world, patient).token)
    assert resp.status_code == 201, resp.json
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": 1}
    assert stored(world, session) == (1, 5.0)

    # Deleted: 3 again.
    resp = api.delete(f"/me/entries/{low['id']}", token=fresh(world, patient).token)
    assert resp.status_code == 204
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": 3}
    assert stored(world, session) == (3, 5.0)


def test_a_batch_with_an_entry_on_an_earlier_day_is_seen(clock, world, api):
    clinician, patient = begin(clock, world)
    [session] = measured_sessions(api, clinician, patient, [(day("2026-02-10"), 3)], BERLIN)
    assert effect_of(api, world, clinician, patient, session)["effect_days"] == 3
    # A phone syncs today's entry with one of Feb 13 it had kept offline: (5 + 9) / 2 = 7 > 5.
    post_entries(api, fresh(world, patient), [(local(day("2026-03-01"), ENTRY, BERLIN), 4)])
    assert effect_of(api, world, clinician, patient, session)["effect_days"] == 3  # today's: no change
    post_entries(
        api,
        fresh(world, patient),
        [(local(day("2026-03-01"), dt.time(12, 30), BERLIN), 4), (local(day("2026-02-13"), ENTRY, BERLIN), 9)],
    )
    # Feb 13 no longer ends it; the next day with entries is Mar 1 (mean (4 + 4) / 2 = 4): it
    # ends there, after Feb 10, 11, 12, 13: 4 days.
    assert effect_of(api, world, clinician, patient, session)["effect_days"] == 4


def test_a_result_is_stored_only_when_every_day_it_depends_on_is_two_days_back(clock, world, api):
    clock.set(local(day("2026-02-27"), dt.time(12), BERLIN))
    clinician = world.staff(world.clinic())
    patient = world.patient(clinician, BERLIN)
    # Ends on Feb 24 (3 days from Feb 21): settled from Feb 26 on.
    [ended] = measured_sessions(api, clinician, patient, [(day("2026-02-21"), 3)], BERLIN)
    # Feb 26, no entry before it in Feb 19 .. 25 but the first session's: its baseline is
    # Feb 20 (5), 21, 22, 23 (8) and 24 (5): (5 + 8 + 8 + 8 + 5) / 5 = 6.8, running (no entry after).
    running = session_on(api, clinician, patient, day("2026-02-26"), BERLIN)

    for today, settled in (("2026-02-25", set()), ("2026-02-26", {ended}), ("2026-02-27", {ended})):
        clock.set(local(day(today), dt.time(23, 59), BERLIN))
        effect_of(api, world, clinician, patient, ended)
        assert {s for s in (ended, running) if stored(world, s) is not None} == settled, today
        assert kept_for_the_day(world, ended) == (ended not in settled), today
    assert effect_of(api, world, clinician, patient, running) == {"baseline": 6.8, "effect_days": None}

    # The running one depends on every day up to its horizon, 90 days on: May 27; stored from May 29.
    clock.set(local(day("2026-05-28"), dt.time(12), BERLIN))
    assert effect_of(api, world, clinician, patient, running)["effect_days"] is None
    assert stored(world, running) is None
    clock.set(local(day("2026-05-29"), dt.time(12), BERLIN))
    assert effect_of(api, world, clinician, patient, running)["effect_days"] is None
    assert stored(world, running) == (None, 6.8)


def test_a_stored_result_of_an_older_epoch_is_never_shown(clock, world, api):
    """As if a reader had stored it while a backdated entry was being written."""
    clinician, patient = begin(clock, world)
    [session] = measured_sessions(api, clinician, patient, [(day("2026-02-10"), 3)], BERLIN)
    assert effect_of(api, world, clinician, patient, session)["effect_days"] == 3
    with world.app.app_context():
        db.session.execute(
            update(SessionEffect)
            .where(SessionEffect.session_id == session)
            .values(effect_days=40, epoch=SessionEffect.epoch - 1)
        )
        db.session.commit()
    assert effect_of(api, world, clinician, patient, session)["effect_days"] == 3
    with world.app.app_context():
        assert db.session.scalars(select(SessionEffect.effect_days)).all() == [3]  # stored again


def test_the_clinics_outcomes_count_stored_and_computed_effects_alike(clock, world, api):
    clinician, first = begin(clock, world)
    second = world.patient(clinician, BERLIN)
    # Each: 2, 2 and 5 days (runs ending Jan 7, Jan 22 and Feb 10, all settled by Mar 1).
    plan = [(day("2026-01-05"), 2), (day("2026-01-20"), 2), (day("2026-02-05"), 5)]
    [*_, last_of_first] = measured_sessions(api, clinician, first, plan, BERLIN)
    [*_, last_of_second] = measured_sessions(api, clinician, second, plan, BERLIN)

    def effect_days() -> dict[str, Any]:
        return outcome_effect_days(api, world, clinician)

    # 2, 2, 5, 2, 2, 5 -> sorted 2, 2, 2, 2, 5, 5: median (2 + 2) / 2.
    assert effect_days() == {"sessions": 6, "median": 2.0}  # computed, then stored
    assert stored(world, last_of_first) == (5, 5.0)
    assert effect_days() == {"sessions": 6, "median": 2.0}  # counted from the stored ones

    # A backdated 10 on Feb 10 for the first patient: (5 + 10) / 2 > 5, nothing after it ends
    # the run: that session has no effect_days any more. 2, 2, 2, 2, 5: median 2.
    resp = api.post("/me/entries", entry_at(day("2026-02-10"), 10), token=fresh(world, first).token)
    assert resp.status_code == 201, resp.json
    assert effect_days() == {"sessions": 5, "median": 2}

    # The second patient's 5-day session deleted: 2, 2, 2, 2.
    resp = api.delete(f"/patients/{second.id}/sessions/{last_of_second}", token=fresh(world, clinician).token)
    assert resp.status_code == 204, resp.json
    assert stored(world, last_of_second) is None
    assert effect_days() == {"sessions": 4, "median": 2.0}


def test_a_result_not_settled_is_kept_for_the_day_until_the_patient_writes(clock, world, api):
    clinician, patient = begin(clock, world)
    # Feb 25: 5 (baseline); Feb 26, 27, 28: 8 after the dose; nothing since: still running.
    [session] = measured_sessions(api, clinician, patient, [(day("2026-02-26"), None)], BERLIN)
    post_entries(api, fresh(world, patient), [(local(day(d), ENTRY, BERLIN), 8) for d in ("2026-02-27", "2026-02-28")])
    post_entries(api, fresh(world, patient), [(local(day("2026-02-26"), ENTRY, BERLIN), 8)])
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": None}
    assert kept_for_the_day(world, session)
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": None}
    assert outcome_effect_days(api, world, clinician) == {"sessions": 0, "median": None}

    # Today's entry, 3 (not above 5), ends the run after Feb 26, 27 and 28: 3 days.
    post_entries(api, fresh(world, patient), [(local(day("2026-03-01"), ENTRY, BERLIN), 3)])
    assert outcome_effect_days(api, world, clinician) == {"sessions": 1, "median": 3}
    assert effect_of(api, world, clinician, patient, session) == {"baseline": 5.0, "effect_days": 3}
    assert stored(world, session) is None  # it ended today: not settled before Mar 3
