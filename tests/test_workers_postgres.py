"""Many real worker processes against one PostgreSQL: every row sent exactly once.

Runs only in the PostgreSQL run (SKIP LOCKED is the point). The workers are real
`flask diary worker` processes sending through firebase-admin to the fake FCM server.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diary.timeutil import UTC
from tests.bulk import seed_due_checkin_pushes

ROOT = Path(__file__).resolve().parent.parent
ROWS = 10_000
WORKERS = 4


@pytest.fixture(autouse=True)
def _postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("multi-process dispatch needs PostgreSQL (FOR UPDATE SKIP LOCKED)")


def _seed_due_rows(app, world, clinician, count: int) -> list[str]:
    """`count` due check-in pushes spread over 50 patients with one device each (bulk SQL)."""
    patients = [world.patient(clinician, timezone="UTC") for _ in range(50)]
    with app.app_context():
        return seed_due_checkin_pushes(
            [(p.id, p.clinic_id) for p in patients], count // len(patients), dt.datetime.now(UTC)
        )


def _worker(
    db_url: str, fake, *, until_idle: bool = True, extra_env: dict | None = None, stderr=subprocess.PIPE
) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "APP_ENV": "testing",
        "PUSH_BACKEND": "fcm",
        "GOOGLE_APPLICATION_CREDENTIALS": fake.credentials_path,
        "FCM_ENDPOINT": fake.url,
        "DISPATCH_BATCH_SIZE": "200",
        "SCHEDULER_TICK_SECONDS": "1",
        **(extra_env or {}),
    }
    args = [sys.executable, "-m", "flask", "--app", "wsgi", "diary", "worker"]
    if until_idle:
        args += ["--until-idle", "--max-seconds", "240"]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def _status_counts(world) -> dict[str, int]:
    return dict(world.rows("SELECT status, count(*) FROM notifications GROUP BY status"))


@pytest.fixture
def clinician(world):
    return world.staff(world.clinic())


def test_four_workers_send_ten_thousand_rows_exactly_once(app, world, clinician, db_url, fake_fcm):
    checkin_ids = _seed_due_rows(app, world, clinician, ROWS)

    started = time.monotonic()
    workers = [_worker(db_url, fake_fcm) for _ in range(WORKERS)]
    for proc in workers:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    elapsed = time.monotonic() - started

    per_checkin = fake_fcm.per_checkin()
    assert _status_counts(world) == {"sent": ROWS}, world.rows(
        "SELECT status, last_error, count(*) FROM notifications WHERE status <> 'sent' GROUP BY 1, 2"
    )
    assert len(per_checkin) == ROWS
    assert set(per_checkin) == set(checkin_ids)
    assert max(per_checkin.values()) == 1, "a row was pushed twice"
    assert _status_counts(world) == {"sent": ROWS}
    # More than one worker really took part (SKIP LOCKED spread the rows).
    owners = world.rows("SELECT count(DISTINCT provider_message_id) FROM notifications")
    assert owners == [(ROWS,)]
    print(f"\n{ROWS} rows, {WORKERS} workers: {elapsed:.1f} s, {ROWS / elapsed:.0f} pushes/s")


def test_a_worker_killed_mid_batch_loses_nothing(app, world, clinician, db_url, fake_fcm):
    count = 2_000
    checkin_ids = _seed_due_rows(app, world, clinician, count)
    lease = {"DISPATCH_LEASE_SECONDS": "3"}

    victim = _worker(db_url, fake_fcm, until_idle=False, extra_env=lease, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(fake_fcm.messages()) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    in_flight = world.rows("SELECT count(*) FROM notifications WHERE status = 'sending'")[0][0]

    time.sleep(3.5)  # the dead worker's leases run out
    survivor = _worker(db_url, fake_fcm, extra_env=lease)
    _, stderr = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, stderr.decode()[-2000:]

    per_checkin = fake_fcm.per_checkin()
    assert set(per_checkin) == set(checkin_ids), "a row was lost"
    assert _status_counts(world) == {"sent": count}
    duplicates = sum(n - 1 for n in per_checkin.values())
    # Only pushes that left before the kill but were not yet recorded can repeat: at most
    # one provider call's worth (FCM_BATCH_SIZE, 100), never the whole claim.
    assert in_flight <= 200
    assert duplicates <= 100
    print(f"\nkilled with {in_flight} rows leased; duplicates after recovery: {duplicates}")
