"""The worker as a real process: it ticks (heartbeat, readiness) and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_worker_ticks_and_stops_on_sigterm(app, api, db_url, world):
    env = {**os.environ, "DATABASE_URL": db_url, "APP_ENV": "testing", "SCHEDULER_TICK_SECONDS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "diary", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not world.rows("SELECT worker_id FROM worker_heartbeats"):
            time.sleep(0.1)
        assert world.rows("SELECT count(*) FROM worker_heartbeats") == [(1,)]
        ready = api.get("/readyz")
        assert ready.status_code == 200
        assert ready.json["checks"] == {"database": "ok", "worker": "ok"}
        time.sleep(3)  # a few more ticks (1 s each), with nothing to deliver

        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-2000:]
    # Structured logs: every line one JSON object with time, level, logger and message.
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert records
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    assert any("stopping on signal 15" in m for m in messages)
    assert "stopped" in messages[-1]
    # A quiet worker: idle ticks log nothing (APScheduler's per-job lines are DEBUG detail),
    # only that it started, was asked to stop, and stopped.
    assert [r["logger"] for r in records if r["logger"].startswith("apscheduler")] == []
    assert len(records) <= 4, messages
