"""entry_days: a patient's live entries summed per local day, always what the raw rows give.

A kept row must equal, for its (patient_id, local_date), the live entries' count(*),
sum(mood) and sum(anxiety); a day without a live entry has no row at all. Every write of an
entry through the API keeps it: single and batch POSTs (replays counted once), PATCH (a new
mood or anxiety, or a new recorded_at that moves the entry to another local day), DELETE,
and the erasure of the patient.

NOW = 2026-03-01T12:00Z. Berlin is UTC+1 in winter, so its local midnight is 23:00Z;
Kiritimati is UTC+14, its local midnight is 10:00Z; Tokyo is UTC+9, midnight at 15:00Z.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diary.timeutil import UTC
from tests.conftest import Account, Api

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"
KIRITIMATI = "Pacific/Kiritimati"
TOKYO = "Asia/Tokyo"
FEB_27, FEB_28, MAR_1 = dt.date(2026, 2, 27), dt.date(2026, 2, 28), dt.date(2026, 3, 1)

Day = tuple[str, dt.date, int, int, int]  # patient_id, local_date, entry_count, mood_sum, anxiety_sum


# --------------------------------------------------------------------------- helpers


def _date(value: Any) -> dt.date:
    """A DATE as either driver returns it to a text query (SQLite: an ISO string)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def kept_days(world, *patient_ids: str) -> list[Day]:
    """The rows of entry_days (only these patients', when given), ordered by patient and day."""
    rows = world.rows("SELECT patient_id, local_date, entry_count, mood_sum, anxiety_sum FROM entry_days")
    days = [(p, _date(day), count, mood, anxiety) for p, day, count, mood, anxiety in rows]
    return sorted(day for day in days if not patient_ids or day[0] in patient_ids)


def days_from_entries(world, *patient_ids: str) -> list[Day]:
    """The live entries summed per patient and local day in plain Python, from the raw rows
    (only these patients', when given)."""
    totals: dict[tuple[str, dt.date], tuple[int, int, int]] = {}
    for patient_id, day, mood, anxiety in world.rows(
        "SELECT patient_id, local_date, mood, anxiety FROM entries WHERE deleted_at IS NULL"
    ):
        count, moods, anxieties = totals.get((patient_id, _date(day)), (0, 0, 0))
        totals[(patient_id, _date(day))] = (count + 1, moods + mood, anxieties + anxiety)
    days = [(patient_id, day, *sums) for (patient_id, day), sums in totals.items()]
    return sorted(day for day in days if not patient_ids or day[0] in patient_ids)


def entry(recorded_at: str | dt.datetime, mood: int, anxiety: int) -> dict[str, Any]:
    when = recorded_at if isinstance(recorded_at, str) else recorded_at.isoformat()
    return {"id": str(uuid.uuid4()), "recorded_at": when, "mood": mood, "anxiety": anxiety}


def post(api, patient: Account, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    resp = api.post("/me/entries", body, token=patient.token)
    assert resp.status_code == status, resp.json
    return resp.json


def patch(api, patient: Account, entry_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    resp = api.patch(f"/me/entries/{entry_id}", changes, token=patient.token)
    assert resp.status_code == 200, resp.json
    return resp.json


def delete(api, patient: Account, entry_id: str) -> None:
    resp = api.delete(f"/me/entries/{entry_id}", token=patient.token)
    assert resp.status_code == 204, resp.get_data(as_text=True)


def batch(api, patient: Account, bodies: list[dict[str, Any]]) -> list[str]:
    resp = api.post("/me/entries/batch", {"entries": bodies}, token=patient.token)
    assert resp.status_code == 200, resp.json
    return [result["status"] for result in resp.json["results"]]


def erase(app, patient: Account) -> dict[str, int]:
    result = app.test_cli_runner().invoke(args=["diary", "erase-patient", "--patient-id", patient.id, "--yes"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["rows"]


def begin(clock, world) -> Account:
    """Set the clock to NOW, then create a clinic and its clinician."""
    clock.set(NOW)
    return world.staff(world.clinic())


# --------------------------------------------------------------------------- by hand


def test_entries_are_summed_per_local_day_not_per_utc_day(clock, world, api):
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    post(api, pat, entry("2026-02-27T10:00:00Z", 4, 6))  # 11:00 on Feb 27 in Berlin
    late = post(api, pat, entry("2026-02-27T23:30:00Z", 8, 2))  # 00:30 on Feb 28 in Berlin
    post(api, pat, entry("2026-02-28T09:00:00Z", 6, 3))
    assert late["local_date"] == "2026-02-28"

    assert kept_days(world) == [(pat.id, FEB_27, 1, 4, 6), (pat.id, FEB_28, 2, 8 + 6, 2 + 3)]
    assert kept_days(world) == days_from_entries(world)


def test_kiritimati_days_turn_at_ten_utc(clock, world, api):
    clinician = begin(clock, world)
    pat = world.patient(clinician, KIRITIMATI)
    post(api, pat, entry("2026-02-28T09:59:00Z", 1, 2))  # 23:59 on Feb 28 in Kiritimati
    moved = post(api, pat, entry("2026-02-28T10:00:00Z", 3, 4))  # 00:00 on Mar 1
    post(api, pat, entry("2026-02-28T11:00:00Z", 5, 6))
    assert kept_days(world) == [(pat.id, FEB_28, 1, 1, 2), (pat.id, MAR_1, 2, 3 + 5, 4 + 6)]

    # One minute earlier is the day before.
    patch(api, pat, moved["id"], {"recorded_at": "2026-02-28T09:59:00Z"})
    assert kept_days(world) == [(pat.id, FEB_28, 2, 1 + 3, 2 + 4), (pat.id, MAR_1, 1, 5, 6)]
    assert kept_days(world) == days_from_entries(world)


def test_patches_and_deletes_move_the_sums_and_an_emptied_day_has_no_row(clock, world, api):
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    a = post(api, pat, entry("2026-02-27T10:00:00Z", 4, 6))["id"]  # Feb 27
    b = post(api, pat, entry("2026-02-27T23:30:00Z", 8, 2))["id"]  # Feb 28
    c = post(api, pat, entry("2026-02-28T09:00:00Z", 6, 3))["id"]  # Feb 28

    # b back before Berlin's midnight: 23:30 on Feb 27.
    assert patch(api, pat, b, {"recorded_at": "2026-02-27T22:30:00Z"})["local_date"] == "2026-02-27"
    assert kept_days(world) == [(pat.id, FEB_27, 2, 4 + 8, 6 + 2), (pat.id, FEB_28, 1, 6, 3)]

    delete(api, pat, a)
    assert kept_days(world) == [(pat.id, FEB_27, 1, 8, 2), (pat.id, FEB_28, 1, 6, 3)]

    patch(api, pat, c, {"mood": 1, "anxiety": 9})
    assert kept_days(world) == [(pat.id, FEB_27, 1, 8, 2), (pat.id, FEB_28, 1, 1, 9)]

    # A new mood and a new day in one PATCH: the old day loses the old values, the new day gains the new.
    patch(api, pat, c, {"recorded_at": "2026-02-27T12:00:00Z", "mood": 7})
    assert kept_days(world) == [(pat.id, FEB_27, 2, 8 + 7, 2 + 9)]

    # Edits that change neither day nor scores leave the sums alone.
    patch(api, pat, c, {"note": "slept badly"})
    patch(api, pat, c, {"mood": 7})
    assert kept_days(world) == [(pat.id, FEB_27, 2, 8 + 7, 2 + 9)]

    delete(api, pat, b)
    delete(api, pat, c)
    assert kept_days(world) == []
    assert days_from_entries(world) == []


def test_a_patch_or_delete_that_is_refused_changes_nothing(clock, world, api):
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    other = world.patient(clinician, BERLIN)
    kept = post(api, pat, entry("2026-02-28T09:00:00Z", 6, 3))["id"]
    gone = post(api, pat, entry("2026-02-28T10:00:00Z", 2, 2))["id"]
    delete(api, pat, gone)

    assert api.patch(f"/me/entries/{gone}", {"mood": 9}, token=pat.token).status_code == 404
    assert api.delete(f"/me/entries/{gone}", token=pat.token).status_code == 404
    assert api.patch(f"/me/entries/{kept}", {"mood": 11}, token=pat.token).status_code == 422
    future = (NOW + dt.timedelta(hours=1)).isoformat()
    assert api.patch(f"/me/entries/{kept}", {"recorded_at": future}, token=pat.token).status_code == 422
    assert api.patch(f"/me/entries/{kept}", {"mood": 0}, token=other.token).status_code == 404
    assert api.delete(f"/me/entries/{kept}", token=other.token).status_code == 404

    assert kept_days(world) == [(pat.id, FEB_28, 1, 6, 3)]


def test_replays_and_conflicts_leave_the_sums_as_they_were(clock, world, api):
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    other = world.patient(clinician, BERLIN)
    first = entry("2026-02-28T09:00:00Z", 6, 3)
    second = entry("2026-02-28T10:00:00Z", 2, 5)
    post(api, pat, first)
    post(api, pat, second)
    expected = [(pat.id, FEB_28, 2, 6 + 2, 3 + 5)]
    assert kept_days(world) == expected

    post(api, pat, first, status=200)
    assert batch(api, pat, [first, second]) == ["duplicate", "duplicate"]
    assert kept_days(world) == expected

    # Same id, other content: refused, whoever sends it.
    post(api, pat, {**first, "mood": 0}, status=409)
    post(api, other, first, status=409)
    assert batch(api, other, [second]) == ["conflict"]
    assert kept_days(world) == expected

    # The original POST replayed after an edit is still the same entry: no second count.
    patch(api, pat, first["id"], {"mood": 10, "recorded_at": "2026-02-27T09:00:00Z"})
    expected = [(pat.id, FEB_27, 1, 10, 3), (pat.id, FEB_28, 1, 2, 5)]
    assert kept_days(world) == expected
    post(api, pat, first, status=200)
    assert batch(api, pat, [first]) == ["duplicate"]
    assert kept_days(world) == expected

    # A replay does not bring a deleted entry back into the sums.
    delete(api, pat, second["id"])
    post(api, pat, second, status=200)
    assert batch(api, pat, [second]) == ["duplicate"]
    assert kept_days(world) == [(pat.id, FEB_27, 1, 10, 3)]
    assert kept_days(world) == days_from_entries(world)


def test_a_batch_counts_only_the_entries_it_stores(clock, world, api):
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    stored = entry("2026-02-26T12:00:00Z", 5, 5)
    post(api, pat, stored)
    a = entry("2026-02-27T22:59:00Z", 1, 2)  # 23:59 on Feb 27
    b = entry("2026-02-27T23:00:00Z", 3, 4)  # 00:00 on Feb 28
    c = entry("2026-02-28T20:00:00Z", 5, 6)
    future = entry(NOW + dt.timedelta(hours=1), 9, 9)
    out_of_range = {**entry("2026-02-28T20:00:00Z", 0, 0), "mood": 11}

    statuses = batch(api, pat, [a, b, stored, c, b, {**stored, "mood": 0}, future, out_of_range])

    assert statuses == ["created", "created", "duplicate", "created", "duplicate", "conflict", "invalid", "invalid"]
    assert kept_days(world) == [
        (pat.id, dt.date(2026, 2, 26), 1, 5, 5),
        (pat.id, FEB_27, 1, 1, 2),
        (pat.id, FEB_28, 2, 3 + 5, 4 + 6),
    ]
    assert kept_days(world) == days_from_entries(world)


def test_a_new_timezone_sums_later_moves_on_the_new_zones_days(clock, world, api):
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    early = post(api, pat, entry("2026-02-28T14:00:00Z", 2, 8))["id"]  # 15:00 on Feb 28 in Berlin
    post(api, pat, entry("2026-02-28T16:00:00Z", 4, 6))  # 17:00 on Feb 28 in Berlin
    assert api.patch("/me", {"timezone": TOKYO}, token=pat.token).status_code == 200

    # Kept days stay where they were written; a moved entry takes the new zone's day:
    # 15:30Z is 00:30 on Mar 1 in Tokyo.
    assert patch(api, pat, early, {"recorded_at": "2026-02-28T15:30:00Z"})["local_date"] == "2026-03-01"
    post(api, pat, entry("2026-02-28T14:00:00Z", 7, 1))  # 23:00 on Feb 28 in Tokyo
    assert kept_days(world) == [(pat.id, FEB_28, 2, 4 + 7, 6 + 1), (pat.id, MAR_1, 1, 2, 8)]
    assert kept_days(world) == days_from_entries(world)


def test_erasing_a_patient_leaves_no_days_of_theirs_and_the_others_untouched(clock, world, api, app):
    clinician = begin(clock, world)
    erased = world.patient(clinician, BERLIN)
    kept = world.patient(clinician, KIRITIMATI)
    post(api, erased, entry("2026-02-27T10:00:00Z", 4, 6))
    post(api, erased, entry("2026-02-28T10:00:00Z", 5, 5))
    deleted = post(api, erased, entry("2026-02-28T11:00:00Z", 1, 1))["id"]
    delete(api, erased, deleted)
    post(api, kept, entry("2026-02-28T09:00:00Z", 3, 7))  # 23:00 on Feb 28 in Kiritimati
    post(api, kept, entry("2026-02-28T10:00:00Z", 8, 1))  # 00:00 on Mar 1

    assert erase(app, erased)["entries"] == 3

    assert kept_days(world, erased.id) == []
    assert kept_days(world) == [(kept.id, FEB_28, 1, 3, 7), (kept.id, MAR_1, 1, 8, 1)]
    assert kept_days(world) == days_from_entries(world)


# --------------------------------------------------------------------------- whatever the history

HALF_HOURS = st.integers(0, 10 * 48)  # how long before NOW, in half hours: lands on every zone's midnight
SCORE = st.integers(0, 10)
ENTRY = st.tuples(HALF_HOURS, SCORE, SCORE)
ANY_INDEX = st.integers(0, 60)

ACTION = st.one_of(
    st.tuples(st.just("post"), ANY_INDEX, ENTRY),
    st.tuples(st.just("replay"), ANY_INDEX),
    st.tuples(st.just("replay_in_batch"), ANY_INDEX, ENTRY),
    st.tuples(st.just("conflict"), ANY_INDEX, SCORE),
    st.tuples(st.just("delete"), ANY_INDEX),
    st.tuples(st.just("scores"), ANY_INDEX, SCORE, SCORE),
    st.tuples(st.just("move"), ANY_INDEX, HALF_HOURS),
    st.tuples(st.just("move_and_score"), ANY_INDEX, HALF_HOURS, SCORE),
    st.tuples(st.just("timezone"), ANY_INDEX, st.sampled_from([BERLIN, KIRITIMATI, TOKYO])),
)


def _body(half_hours: int, mood: int, anxiety: int) -> dict[str, Any]:
    return entry(NOW - dt.timedelta(minutes=30 * half_hours), mood, anxiety)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    histories=st.lists(st.tuples(st.lists(ENTRY, max_size=8), st.integers(0, 8)), min_size=2, max_size=3),
    actions=st.lists(ACTION, max_size=14),
)
def test_the_kept_days_are_what_the_raw_rows_give_whatever_the_history(clock, world, api, histories, actions):
    """Each patient's first entries go one by one, then the rest (from `batch_from` on) in one
    batch with a resend of its first; random writes follow. After every step this example's
    patients' rows must be the raw rows' aggregate: all of them, so a write that touched
    another patient's days shows. Only theirs, though: the database outlives an example, and
    a shrunk example must fail by itself, not by what an earlier one left."""
    clinician = begin(clock, world)
    zones = [BERLIN, KIRITIMATI, TOKYO]
    patients = [world.patient(clinician, zones[i]) for i in range(len(histories))]
    posted: list[tuple[Account, dict[str, Any]]] = []  # (owner, the body as first posted)
    deleted: set[str] = set()

    def check(step: str) -> None:
        ours = [patient.id for patient in patients]
        assert kept_days(world, *ours) == days_from_entries(world, *ours), step

    for patient, (history, batch_from) in zip(patients, histories, strict=True):
        bodies = [_body(*e) for e in history]
        for body in bodies[:batch_from]:
            post(api, patient, body)
            check(f"single post {body}")
        if rest := bodies[batch_from:]:
            assert batch(api, patient, [*rest, rest[0]]) == ["created"] * len(rest) + ["duplicate"]
            check(f"batch {rest}")
        posted += [(patient, body) for body in bodies]

    for action in actions:
        kind, index, *args = action
        if kind == "post":
            patient = patients[index % len(patients)]
            body = _body(*args[0])
            post(api, patient, body)
            posted.append((patient, body))
        elif kind == "timezone":
            patient = patients[index % len(patients)]
            assert api.patch("/me", {"timezone": args[0]}, token=patient.token).status_code == 200
        elif not posted:
            continue
        else:
            patient, body = posted[index % len(posted)]
            live = body["id"] not in deleted
            path = f"/me/entries/{body['id']}"
            if kind == "replay":
                post(api, patient, body, status=200)
            elif kind == "replay_in_batch":
                fresh = _body(*args[0])
                assert batch(api, patient, [body, fresh]) == ["duplicate", "created"]
                posted.append((patient, fresh))
            elif kind == "conflict":
                # Other content under a used id: refused, or a replay when it happens to match.
                resp = api.post("/me/entries", {**body, "mood": args[0]}, token=patient.token)
                assert resp.status_code in (200, 409), resp.json
            elif kind == "delete":
                assert api.delete(path, token=patient.token).status_code == (204 if live else 404)
                deleted.add(body["id"])
            else:
                changes: dict[str, Any] = (
                    {"mood": args[0], "anxiety": args[1]}
                    if kind == "scores"
                    else {"recorded_at": _body(args[0], 0, 0)["recorded_at"], **({"mood": args[1]} if args[1:] else {})}
                )
                resp = api.patch(path, changes, token=patient.token)
                assert resp.status_code == (200 if live else 404), resp.json
        check(f"{action}")

    # The test's own account of what is live is the database's: the writes did what it meant.
    live_ids = {body["id"] for _, body in posted} - deleted
    ours = {patient.id for patient in patients}
    rows = world.rows("SELECT id, patient_id FROM entries WHERE deleted_at IS NULL")
    assert {entry_id for entry_id, patient_id in rows if patient_id in ours} == live_ids


# --------------------------------------------------------------------------- concurrent writers

POSTERS = 4
PER_POSTER = 10
ROUNDS = 6

Outcome = tuple[str, Any, Any]  # what was asked, what came back, what had to come back


def _run_together(app, jobs: list[Callable[[Api], list[Outcome]]]) -> list:
    """Each job runs in its own thread with its own test client, all released together. A job
    returns (what, status seen, status expected) for each request it made."""
    start = threading.Barrier(len(jobs), timeout=30)
    outcomes: list[Any] = [None] * len(jobs)

    def run(n: int) -> None:
        client = Api(app.test_client())
        try:
            start.wait()
            outcomes[n] = jobs[n](client)
        except Exception as error:  # reported by the test, not lost in the thread
            outcomes[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return outcomes


def test_concurrent_writers_of_one_patients_days_leave_exact_sums(clock, world, api, app, backend):
    """Four threads post ten entries each to the patient's today while others, at the same
    moment, move entries back and forth between today and yesterday, delete from both, post
    batches (one of today's entries only, two across both days) and replay stored entries.
    Nothing may fail or deadlock (a deadlock answers 503), and each day's row must be the sum
    of what the requests left, worked out from their bodies."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: two transactions never interleave here; PostgreSQL shows the race")
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    # Berlin's Mar 1 runs from 23:00Z on Feb 28 to NOW and on; Feb 28 from 23:00Z on Feb 27.
    today, yesterday = MAR_1, FEB_28
    minutes = itertools.count(1)
    # entry id -> (local day, mood, anxiety) of every live entry: the expected sums come from here.
    live: dict[str, tuple[dt.date, int, int]] = {}
    bodies_day: dict[str, dt.date] = {}  # entry id -> the local day of its recorded_at as posted

    def on(day: dt.date) -> str:
        """A fresh instant on `day` in Berlin: a minute further back from NOW (today) or from
        12:00Z (yesterday) at each call; a round uses fewer than 100, six rounds fewer than 660."""
        noon = NOW if day == today else NOW - dt.timedelta(days=1)
        return (noon - dt.timedelta(minutes=next(minutes))).isoformat()

    def new(day: dt.date, mood: int, anxiety: int) -> dict[str, Any]:
        body = entry(on(day), mood, anxiety)
        bodies_day[body["id"]] = day
        return body

    def requests(client: Api, calls: list[tuple[str, str, dict[str, Any] | None, int]]) -> list[Outcome]:
        return [
            (f"{method} {path}", client.call(method, path, body, token=pat.token).status_code, wanted)
            for method, path, body, wanted in calls
        ]

    def send_batch(client: Api, bodies: list[dict[str, Any]]) -> list[Outcome]:
        """A batch of new entries and, last, a resend: each item's status checked."""
        resp = client.post("/me/entries/batch", {"entries": bodies}, token=pat.token)
        if resp.status_code != 200:
            return [("POST /me/entries/batch", resp.status_code, 200)]
        statuses = [result["status"] for result in resp.json["results"]]
        return [("POST /me/entries/batch", statuses, ["created"] * (len(bodies) - 1) + ["duplicate"])]

    for round_ in range(ROUNDS):
        names = [("s1", today), ("s2", today), ("s3", today), ("s4", today)]
        names += [("y1", yesterday), ("y2", yesterday), ("y3", yesterday), ("y4", yesterday)]
        seeds = {name: new(day, (3 * n + round_) % 11, (5 * n + 2) % 11) for n, (name, day) in enumerate(names)}
        for name, day in names:
            post(api, pat, seeds[name])
            live[seeds[name]["id"]] = (day, seeds[name]["mood"], seeds[name]["anxiety"])
        s1, s2, s3, y1, y2, y3 = (seeds[name]["id"] for name in ("s1", "s2", "s3", "y1", "y2", "y3"))

        posters = [[new(today, (t + i) % 11, (3 * t + i) % 11) for i in range(PER_POSTER)] for t in range(POSTERS)]
        # The first batch has no backdated entry, so nothing in it locks the patient's panel
        # row before its recount does.
        batches = [
            [new(day, b + i, 10 - b - i) for i, day in enumerate(days)]
            for b, days in enumerate([(today, today), (yesterday, today), (today, yesterday)])
        ]
        moves = [
            (s1, {"recorded_at": on(yesterday)}),
            (y1, {"recorded_at": on(today), "anxiety": 10}),
            (s1, {"recorded_at": on(today)}),
            (s2, {"mood": 10}),
            (s1, {"recorded_at": on(yesterday)}),
            (y2, {"anxiety": 0, "mood": 1}),
        ]

        jobs: list[Callable[[Api], list[Outcome]]] = [
            *(
                lambda client, bodies=bodies: requests(client, [("POST", "/me/entries", b, 201) for b in bodies])
                for bodies in posters
            ),
            lambda client: requests(client, [("PATCH", f"/me/entries/{i}", change, 200) for i, change in moves]),
            lambda client: requests(client, [("DELETE", f"/me/entries/{i}", None, 204) for i in (y3, s3)]),
            lambda client: [sent for bodies in batches for sent in send_batch(client, [*bodies, seeds["s4"]])],
            lambda client: requests(client, [("POST", "/me/entries", seeds[n], 200) for n in ("y4", "s4", "y4")]),
        ]
        outcomes = _run_together(app, jobs)

        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert errors == [], errors
        failed = [(what, seen) for outcome in outcomes for what, seen, wanted in outcome if seen != wanted]
        assert failed == [], f"round {round_}: {failed}"

        # What the requests left, from their bodies alone. y4 and s4 were only replayed (and
        # resent in each batch): counted once, by their seed POSTs.
        for body in [b for bodies in [*posters, *batches] for b in bodies]:
            live[body["id"]] = (bodies_day[body["id"]], body["mood"], body["anxiety"])
        live[s1] = (yesterday, *live[s1][1:])
        live[y1] = (today, live[y1][1], 10)
        live[s2] = (live[s2][0], 10, live[s2][2])
        live[y2] = (live[y2][0], 1, 0)
        del live[y3], live[s3]

        expected = []
        for day in (yesterday, today):
            mine = [(mood, anxiety) for d, mood, anxiety in live.values() if d == day]
            expected.append((pat.id, day, len(mine), sum(m for m, _ in mine), sum(a for _, a in mine)))
        assert kept_days(world) == expected, f"round {round_}"
        assert kept_days(world) == days_from_entries(world), f"round {round_}"
        # Each round: 8 seeds, 40 single posts, 6 in batches, 2 deleted.
        assert expected[0][2] + expected[1][2] == (8 + POSTERS * PER_POSTER + 6 - 2) * (round_ + 1)
