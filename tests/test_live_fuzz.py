"""Schemathesis against the real server: gunicorn with gunicorn.conf.py serving wsgi:app.

tests/test_openapi_fuzz.py fuzzes the app in-process; this runs the same contract checks
over real HTTP, through the server and settings production uses (two sync workers, shared
Prometheus files), against the OpenAPI document the live server serves. It catches what the
test client cannot: the server's own parsing and limits, headers on the wire, worker
processes that build the app from the environment alone.

The server runs in another process, so the test clock does not reach it: everything here
uses real time (tokens are valid 15 minutes, the run takes well under one).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from diary.domain import maintenance
from diary.extensions import db
from diary.timeutil import utcnow
from tests.conftest import BASE_CONFIG
from tests.test_openapi_fuzz import RULES_BEYOND_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
LIVE_EXAMPLES = 15
START_TIMEOUT = 60


class LiveServer:
    def __init__(self, proc: subprocess.Popen, log_path: Path, base: str):
        self.proc, self.log_path, self.base = proc, log_path, base

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _wait_until_serving(proc: subprocess.Popen, log_path: Path) -> str:
    """The base URL once gunicorn listens (on the port the kernel picked) and /healthz answers."""
    deadline = time.monotonic() + START_TIMEOUT
    base = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        if base is None:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log_path.read_text(errors="replace"))
            base = found.group(1) if found else None
        if base is not None:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
                    if resp.status == 200:
                        return base
            except OSError:  # not accepting yet, or a worker still booting
                pass
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer /healthz in {START_TIMEOUT} s:\n{log_path.read_text()[-4000:]}")


@pytest.fixture
def live_server(db_url, tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "GUNICORN_BIND": "127.0.0.1:0",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DATABASE_URL": db_url,
        "APP_ENV": "testing",
        "SECRET_KEY": BASE_CONFIG["SECRET_KEY"],
        "ARGON2_TIME_COST": str(BASE_CONFIG["ARGON2_TIME_COST"]),
        "ARGON2_MEMORY_KIB": str(BASE_CONFIG["ARGON2_MEMORY_KIB"]),
        "ARGON2_PARALLELISM": str(BASE_CONFIG["ARGON2_PARALLELISM"]),
        "AUTH_RATE_LIMIT": BASE_CONFIG["AUTH_RATE_LIMIT"],
        "PUSH_BACKEND": "log",
        "RATELIMIT_STORAGE_URI": "memory://",
        # The heartbeat below is the only one; /readyz must not go stale during the run.
        "WORKER_STALE_SECONDS": "3600",
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = None
    try:
        server = LiveServer(proc, log_path, _wait_until_serving(proc, log_path))
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if server is not None:
        # A clean stop: SIGTERM lets the workers finish and the master exit 0.
        assert proc.returncode == 0, server.log_tail()


STAFF_PREFIXES = ("/api/v1/patients", "/api/v1/clinic", "/api/v1/alerts")


@pytest.fixture
def live_tokens(world):
    """Bearer tokens (in the server's database) for each kind of operation, and a fresh worker heartbeat."""
    with world.app.app_context():
        maintenance.heartbeat("live-fuzz-worker", utcnow())  # so /readyz is ready, not a 503
        db.session.commit()
    clinic = world.clinic()
    clinician = world.staff(clinic)
    patient = world.patient(clinician)
    return {
        "staff": clinician.token,
        "patient": patient.token,
        # Logout revokes the session of the token it is called with: it gets a login of its
        # own, or every patient operation fuzzed after it would only ever see a 401.
        "logout": world.login(patient.email)["access_token"],
    }


def _token(operation, tokens: dict[str, str]) -> str:
    if operation.label == "POST /api/v1/auth/logout":
        return tokens["logout"]
    return tokens["staff"] if operation.path.startswith(STAFF_PREFIXES) else tokens["patient"]


def test_live_server_answers_every_operation_within_the_contract(live_server, live_tokens):
    schema = schemathesis.openapi.from_url(f"{live_server.base}/api/v1/openapi.json", timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    # The token check and the worker heartbeat reach the server through the shared database.
    with urllib.request.urlopen(f"{live_server.base}/readyz", timeout=10) as ready:
        assert ready.status == 200

    failures = []
    for operation in operations:
        headers = {"Authorization": f"Bearer {_token(operation, live_tokens)}"}
        excluded = [positive_data_acceptance] if operation.label in RULES_BEYOND_SCHEMA else []

        @given(case=operation.as_strategy())
        @settings(max_examples=LIVE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case):
            case.call_and_validate(headers=headers, excluded_checks=excluded)

        try:
            exercise()
        # Collect all, so one run reports every failing operation. Several failures of one
        # operation come as a FailureGroup, a BaseExceptionGroup that `Exception` misses.
        except (Exception, FailureGroup) as exc:
            failures.append(f"### {operation.label}: {exc}")
    assert not failures, "\n\n".join(failures) + f"\n\n### gunicorn log (tail)\n{live_server.log_tail()}"


def _worker_pids(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def test_api_workers_check_tokens_without_loading_cryptography(live_server, live_tokens):
    """gunicorn.conf.py keeps PyJWT from loading cryptography's native library into API
    workers (8 MiB each): a patient's and a clinician's token still pass, and no worker has
    the library mapped."""
    for token, path in ((live_tokens["patient"], "/api/v1/me"), (live_tokens["staff"], "/api/v1/patients")):
        request = urllib.request.Request(f"{live_server.base}{path}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
    workers = _worker_pids(live_server.proc.pid)
    assert len(workers) == 2
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "/cryptography/" not in maps, f"worker {pid} loaded cryptography"
        assert "/_argon2_cffi_bindings/" in maps  # the right process: it loaded the app's native parts
