"""Dispatch benchmark (run by hand, not in CI): outbox → firebase-admin → fake FCM.

    .venv/bin/python -m bench.dispatch [--rows 5000] [--processes 1]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates its own PostgreSQL database (dropped at the end) and a fake FCM server on
127.0.0.1, seeds due check-in pushes, and measures in the same run:
  1. our dispatch (claim → firebase-admin send_each → record), in-process or N `flask
     diary worker` processes: pushes/s and due→sent lag p50/p95;
  2. a baseline: a raw async HTTP client (aiohttp) posting the same FCM v1 requests, with
     the same bearer token and concurrency, to the same fake: requests/s;
and prints the ratio. Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import psycopg
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diary import create_app  # noqa: E402
from diary.domain import accounts, panel  # noqa: E402
from diary.extensions import db  # noqa: E402
from diary.models import Notification, PatientProfile, User  # noqa: E402
from diary.timeutil import UTC  # noqa: E402
from diary.worker import Worker  # noqa: E402
from tests import fake_fcm  # noqa: E402
from tests.bulk import seed_due_checkin_pushes  # noqa: E402

PATIENTS = 50


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed(app, rows: int) -> dt.datetime:
    now = dt.datetime.now(UTC)
    with app.app_context():
        clinic = accounts.create_clinic("Bench Clinic")
        patients = []
        for i in range(PATIENTS):
            user = User(clinic_id=clinic.id, role="patient", email=f"bench{i}@example.test")
            db.session.add(user)
            db.session.flush()
            db.session.add(
                PatientProfile(
                    user_id=user.id, clinic_id=clinic.id, display_name=f"Bench {i}", timezone="UTC", enrolled_at=now
                )
            )
            panel.add_patient(user.id, clinic.id)
            patients.append((user.id, clinic.id))
        db.session.flush()
        seed_due_checkin_pushes(patients, rows // PATIENTS, now)
    return now


def run_ours(app, url: str, fake, processes: int) -> tuple[float, list[float]]:
    due_at = seed(app, ROWS)
    started = time.monotonic()
    if processes == 1:
        worker = Worker(app, worker_id="bench")
        while worker.dispatch_tick().claimed:
            pass
    else:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "APP_ENV": "testing",
            "PUSH_BACKEND": "fcm",
            "GOOGLE_APPLICATION_CREDENTIALS": fake.credentials_path,
            "FCM_ENDPOINT": fake.url,
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "diary", "worker", "--until-idle"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(processes)
        ]
        for proc in procs:
            proc.wait(timeout=600)
    elapsed = time.monotonic() - started
    with app.app_context():
        sent = db.session.execute(select(Notification.sent_at).where(Notification.status == "sent")).scalars().all()
        assert len(sent) == ROWS, f"only {len(sent)} of {ROWS} sent"
        lags = [(s - due_at).total_seconds() for s in sent]
    return elapsed, lags


async def run_baseline(fake, concurrency: int) -> float:
    """The same HTTP requests, as fast as a plain async client can make them."""
    endpoint = f"{fake.url}/v1/projects/{fake_fcm.PROJECT}/messages:send"
    headers = {"Authorization": f"Bearer {fake_fcm.ACCESS_TOKEN}", "Content-Type": "application/json"}
    bodies = [
        json.dumps(
            {
                "message": {
                    "token": f"token-{i % PATIENTS}",
                    "data": {"type": "checkin", "checkin_id": str(uuid.uuid4())},
                    "notification": {"title": "Time for a check-in", "body": "How are you feeling?"},
                    "android": {"priority": "high", "ttl": "43200s", "collapse_key": "c"},
                }
            }
        )
        for i in range(ROWS)
    ]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        gate = asyncio.Semaphore(concurrency)

        async def post(body: str) -> None:
            async with gate, client.post(endpoint, data=body, headers=headers) as resp:
                resp.raise_for_status()
                await resp.read()

        started = time.monotonic()
        await asyncio.gather(*(post(b) for b in bodies))
        return time.monotonic() - started


def main() -> None:
    global ROWS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    ROWS = args.rows - args.rows % PATIENTS

    name = f"diary_bench_{uuid.uuid4().hex[:8]}"
    admin = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.database_url.rpartition('/')[0]}/{name}"
    with tempfile.TemporaryDirectory() as tmp:
        # The fake runs in its own process, so neither client competes with it for the GIL.
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.fake_fcm", tmp],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        fake = argparse.Namespace(**json.loads(server.stdout.readline()))
        try:
            config = {
                "SQLALCHEMY_DATABASE_URI": url,
                "APP_ENV": "testing",
                "PUSH_BACKEND": "fcm",
                "GOOGLE_APPLICATION_CREDENTIALS": fake.credentials_path,
                "FCM_ENDPOINT": fake.url,
            }
            app = create_app(config)
            with app.app_context():
                from flask_migrate import upgrade

                from diary.database import enable_migrations

                enable_migrations(app)

                upgrade(directory=str(ROOT / "migrations"))
            elapsed, lags = run_ours(app, url, fake, args.processes)
            baseline = asyncio.run(run_baseline(fake, app.config["FCM_BATCH_SIZE"]))
        finally:
            server.stdin.close()
            server.wait(timeout=10)
            with app.app_context():
                db.engine.dispose()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    ours_rate, base_rate = ROWS / elapsed, ROWS / baseline
    print(f"rows: {ROWS}   worker processes: {args.processes}   FCM_BATCH_SIZE: {app.config['FCM_BATCH_SIZE']}")
    print(f"dispatch (firebase-admin): {ours_rate:8.0f} pushes/s   ({elapsed:.2f} s)")
    print(f"baseline (raw aiohttp):    {base_rate:8.0f} requests/s ({baseline:.2f} s)")
    print(f"ratio dispatch/baseline:   {ours_rate / base_rate:8.2f}")
    print(f"due→sent lag: p50 {statistics.median(lags):.2f} s   p95 {percentile(lags, 0.95):.2f} s")


if __name__ == "__main__":
    main()
