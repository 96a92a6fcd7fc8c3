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

Day = tuple[str, dt.date, int, int, int]  # patient_id, local_date, entry_count, mood_sum, anxiety_sum


# --------------------------------------------------------------------------- helpers


def _date(value: Any) -> dt.date:
    """A DATE as either driver returns it to a text query (SQLite: an ISO string)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def kept_days(world, patient_id: str | None = None) -> list[Day]:
    """The rows of entry_days (of one patient, when given), ordered by patient and day."""
    rows = world.rows("SELECT patient_id, local_date, entry_count, mood_sum, anxiety_sum FROM entry_days")
    days = [(p, _date(day), count, mood, anxiety) for p, day, count, mood, anxiety in rows]
    return sorted(day for day in days if patient_id in (None, day[0]))


def days_from_entries(world) -> list[Day]:
    """The live entries summed per patient and local day in plain Python, from the raw rows."""
    totals: dict[tuple[str, dt.date], tuple[int, int, int]] = {}
    for patient_id, day, mood, anxiety in world.rows(
        "SELECT patient_id, local_date, mood, anxiety FROM entries WHERE deleted_at IS NULL"
    ):
        count, moods, anxieties = totals.get((patient_id, _date(day)), (0, 0, 0))
        totals[(patient_id, _date(day))] = (count + 1, moods + mood, anxieties + anxiety)
    return sorted((patient_id, day, *sums) for (patient_id, day), sums in totals.items())


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


FEB_27, FEB_28, MAR_1 = dt.date(2026, 2, 27), dt.date(2026, 2, 28), dt.date(2026, 3, 1)


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
    batch with a resend of its first; random writes follow. After every step the whole table
    must be the raw rows' aggregate (earlier examples' patients included)."""
    clinician = begin(clock, world)
    zones = [BERLIN, KIRITIMATI, TOKYO]
    patients = [world.patient(clinician, zones[i]) for i in range(len(histories))]
    posted: list[tuple[Account, dict[str, Any]]] = []  # (owner, the body as first posted)
    deleted: set[str] = set()

    def check(step: str) -> None:
        assert kept_days(world) == days_from_entries(world), step

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
ROUNDS = 3

Outcome = tuple[str, int | str, int | str]  # what was asked, what came back, what had to come back


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
    """Four threads post ten entries each to one local day while others, at the same moment,
    move entries between that day and the day before (both ways), delete from both, post a
    batch that writes the two days in turn and replay stored entries. Nothing may fail or
    deadlock, and each day's row must be the sum of what the requests left."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: two transactions never interleave here; PostgreSQL shows the race")
    clinician = begin(clock, world)
    pat = world.patient(clinician, BERLIN)
    # entry id -> (local day in Berlin, mood, anxiety), for every live entry: the expected sums come from here.
    live: dict[str, tuple[dt.date, int, int]] = {}

    def at(day: dt.date, minute: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(8, 0), tzinfo=UTC) + dt.timedelta(minutes=minute)

    for round_ in range(ROUNDS):
        # s1-s4 on Feb 28, o1-o4 on Feb 27 (Berlin days).
        names = [("s1", FEB_28), ("s2", FEB_28), ("s3", FEB_28), ("s4", FEB_28)]
        names += [("o1", FEB_27), ("o2", FEB_27), ("o3", FEB_27), ("o4", FEB_27)]
        seeds = {
            name: entry(at(day, 10 * round_ + n), (3 * n + round_) % 11, (5 * n + 2) % 11)
            for n, (name, day) in enumerate(names)
        }
        for name, day in names:
            post(api, pat, seeds[name])
            live[seeds[name]["id"]] = (day, seeds[name]["mood"], seeds[name]["anxiety"])

        posters = [
            [
                entry(at(FEB_28, 100 + 60 * round_ + PER_POSTER * t + i), (t + i) % 11, (3 * t + i) % 11)
                for i in range(PER_POSTER)
            ]
            for t in range(POSTERS)
        ]
        in_batch = [entry(at(FEB_27 if i % 2 == 0 else FEB_28, 300 + 10 * round_ + i), i, 10 - i) for i in range(6)]
        s1, s2, s3, o1, o2, o3 = (seeds[n]["id"] for n in ("s1", "s2", "s3", "o1", "o2", "o3"))

        def poster(bodies: list[dict[str, Any]]) -> Callable[[Api], list[Outcome]]:
            def job(client: Api) -> list[Outcome]:
                return [
                    (f"POST {b['id']}", client.post("/me/entries", b, token=pat.token).status_code, 201) for b in bodies
                ]

            return job

        def mover(client: Api) -> list[Outcome]:
            edits = [
                (s1, {"recorded_at": at(FEB_27, 500 + round_).isoformat()}),  # Feb 28 -> Feb 27
                (o1, {"recorded_at": at(FEB_28, 500 + round_).isoformat(), "anxiety": 10}),  # Feb 27 -> Feb 28
                (s2, {"mood": 10}),
                (o2, {"anxiety": 0, "mood": 1}),
            ]
            return [
                (
                    f"PATCH {entry_id}",
                    client.patch(f"/me/entries/{entry_id}", changes, token=pat.token).status_code,
                    200,
                )
                for entry_id, changes in edits
            ]

        def deleter(client: Api) -> list[Outcome]:
            return [
                (f"DELETE {entry_id}", client.delete(f"/me/entries/{entry_id}", token=pat.token).status_code, 204)
                for entry_id in (o3, s3)
            ]

        def batcher(client: Api) -> list[Outcome]:
            resp = client.post("/me/entries/batch", {"entries": [*in_batch, seeds["s4"]]}, token=pat.token)
            outcome = [("batch", resp.status_code, 200)]
            if resp.status_code == 200:
                statuses = [r["status"] for r in resp.json["results"]]
                expected = ["created"] * len(in_batch) + ["duplicate"]
                outcome += [
                    (f"batch item {n}", seen, wanted) for n, (seen, wanted) in enumerate(zip(statuses, expected))
                ]
                outcome.append(("batch results", len(statuses), len(expected)))
            return outcome

        def replayer(client: Api) -> list[Outcome]:
            return [
                (f"replay {b['id']}", client.post("/me/entries", b, token=pat.token).status_code, 200)
                for b in (seeds["o4"], seeds["s4"], seeds["o4"])
            ]

        outcomes = _run_together(app, [*(poster(b) for b in posters), mover, deleter, batcher, replayer])

        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert errors == [], errors
        failed = [(what, seen) for outcome in outcomes for what, seen, wanted in outcome if seen != wanted]
        assert failed == [], f"round {round_}: {failed}"

        # What the requests left, worked out from their bodies alone.
        for body in [b for bodies in posters for b in bodies]:
            live[body["id"]] = (FEB_28, body["mood"], body["anxiety"])
        for n, body in enumerate(in_batch):
            live[body["id"]] = (FEB_27 if n % 2 == 0 else FEB_28, body["mood"], body["anxiety"])
        live[s1] = (FEB_27, *live[s1][1:])
        live[o1] = (FEB_28, live[o1][1], 10)
        live[s2] = (live[s2][0], 10, live[s2][2])
        live[o2] = (live[o2][0], 1, 0)
        del live[o3], live[s3]
        # o4 and s4 were only replayed: counted once, by their seed POSTs.

        expected = []
        for day in (FEB_27, FEB_28):
            mine = [(mood, anxiety) for d, mood, anxiety in live.values() if d == day]
            expected.append((pat.id, day, len(mine), sum(m for m, _ in mine), sum(a for _, a in mine)))
        assert kept_days(world) == expected, f"round {round_}"
        assert kept_days(world) == days_from_entries(world), f"round {round_}"
        # 8 seeds, 40 posted, 6 in the batch, 2 deleted each round.
        assert sum(count for _, _, count, _, _ in expected) == (8 + POSTERS * PER_POSTER + 6 - 2) * (round_ + 1)
