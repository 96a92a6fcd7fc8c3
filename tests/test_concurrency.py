"""Races that the real database must settle: same entry id, same refresh token, same code.

Each runs its requests from several threads released together by a barrier; on
PostgreSQL they hit separate connections at the same moment.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest

from tests.conftest import PASSWORD

RACERS = 4


def race(app, method: str, path: str, json: dict, token: str | None = None) -> list:
    barrier = threading.Barrier(RACERS)
    results: list = [None] * RACERS

    def run(i: int) -> None:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        barrier.wait()
        resp = client.open(f"/api/v1{path}", method=method, json=json, headers=headers)
        results[i] = (resp.status_code, resp.json)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.fixture
def people(clock, world):
    clinic = world.clinic()
    clinician = world.staff(clinic)
    return world, clinician


def test_same_entry_posted_concurrently_is_stored_once(app, people):
    world, clinician = people
    patient = world.patient(clinician)
    entry = {"id": str(uuid.uuid4()), "recorded_at": "2026-03-01T11:00:00Z", "mood": 6, "anxiety": 2}

    results = race(app, "POST", "/me/entries", entry, token=patient.token)

    assert sorted(status for status, _ in results) == [200] * (RACERS - 1) + [201]
    assert world.rows("SELECT count(*) FROM entries WHERE id = :id", id=entry["id"]) == [(1,)]


def test_one_refresh_token_used_concurrently_yields_one_pair(app, people):
    world, clinician = people

    results = race(app, "POST", "/auth/refresh", {"refresh_token": clinician.refresh_token})

    statuses = Counter(status for status, _ in results)
    assert statuses == Counter({200: 1, 401: RACERS - 1})
    # The losers look like reuse, so the session is revoked: even the winner's pair is dead.
    (winner,) = [body for status, body in results if status == 200]
    assert world.api.post("/auth/refresh", {"refresh_token": winner["refresh_token"]}).status_code == 401


def test_one_enrolment_code_used_concurrently_enrols_once(app, people):
    world, clinician = people
    code = world.invite(clinician)["enrollment_code"]
    barrier = threading.Barrier(RACERS)
    statuses: list[int] = []

    def enrol(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post(
            "/api/v1/auth/enroll",
            json={"enrollment_code": code, "email": f"racer{i}@example.test", "password": PASSWORD},
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=enrol, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(statuses) == [201] + [401] * (RACERS - 1)
    assert world.rows("SELECT count(*) FROM users WHERE email LIKE 'racer%'") == [(1,)]
