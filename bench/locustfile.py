"""Locust load for bench/ingest.py: many patients posting valid diary entries.

Each request is one POST /api/v1/me/entries as a random patient (of the tokens in the JSON
file BENCH_TOKENS) with a fresh client UUID, recorded in the last 12 hours. BENCH_USER_RATE
is each simulated user's pace in requests/s (locust's constant throughput); 0 or unset
means as fast as the server answers (a closed loop).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import time
import uuid
from pathlib import Path

import gevent
from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

TOKENS: list[str] = json.loads(Path(os.environ["BENCH_TOKENS"]).read_text())
USER_RATE = float(os.environ.get("BENCH_USER_RATE") or 0)


class Patient(FastHttpUser):
    wait_time = constant_throughput(USER_RATE) if USER_RATE > 0 else constant(0)

    def on_start(self) -> None:
        if USER_RATE > 0:
            # constant_throughput keeps each user on the phase it was created at, and locust
            # creates a second's worth of users in one batch: every user would fire within a
            # few ms of the others, a burst of N requests per period instead of a steady rate.
            # A random phase, then restart locust's pacing clock from it (locust 2.47 names it
            # _cp_last_run; fail loudly if that changes rather than silently measure bursts).
            assert hasattr(self, "_cp_last_run"), "locust's constant_pacing internals changed"
            gevent.sleep(random.uniform(0, 1 / USER_RATE))
            self._cp_last_run = time.perf_counter()

    @task
    def post_entry(self) -> None:
        recorded_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=random.uniform(0, 12 * 3600))
        body = {
            "id": str(uuid.uuid4()),
            "recorded_at": recorded_at.isoformat(timespec="seconds"),
            "mood": random.randint(0, 10),
            "anxiety": random.randint(0, 10),
            "sleep_hours": random.choice([None, 5.5, 7.0, 8.5]),
            "self_harm_thoughts": 0,
        }
        headers = {"Authorization": f"Bearer {random.choice(TOKENS)}"}
        with self.client.post(
            "/api/v1/me/entries", json=body, headers=headers, name="POST /me/entries", catch_response=True
        ) as resp:
            if resp.status_code != 201:
                resp.failure(f"{resp.status_code}: {resp.text[:200]}")
