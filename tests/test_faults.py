"""Failure tests against real processes on 127.0.0.1: the database going away under load,
workers SIGKILLed mid-dispatch, FCM failing for a while.

PostgreSQL only: real gunicorn and `flask diary worker` processes share one database
server, reached over TCP (which the first test cuts), and the workers claim with
FOR UPDATE SKIP LOCKED. Every wait is a poll with a deadline; every process is stopped
in a `finally`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

from diary.timeutil import UTC
from tests.bulk import seed_due_checkin_pushes
from tests.conftest import BASE_CONFIG, PASSWORD
from tests.fake_fcm import Answer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _postgres_only(backend):
    if backend != "postgresql":
        pytest.skip("fault tests need PostgreSQL: real gunicorn/worker processes share a database server over TCP")


@pytest.fixture
def clinician(world):
    # Not conftest's `clinician`: that one runs on the fake clock, and these tests talk to
    # processes that run on the real one.
    return world.staff(world.clinic())


# --------------------------------------------------------------------------- helpers


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "APP_ENV": "testing",
        "SECRET_KEY": BASE_CONFIG["SECRET_KEY"],
        "ARGON2_TIME_COST": str(BASE_CONFIG["ARGON2_TIME_COST"]),
        "ARGON2_MEMORY_KIB": str(BASE_CONFIG["ARGON2_MEMORY_KIB"]),
        "ARGON2_PARALLELISM": str(BASE_CONFIG["ARGON2_PARALLELISM"]),
        "AUTH_RATE_LIMIT": BASE_CONFIG["AUTH_RATE_LIMIT"],
        "PUSH_BACKEND": "log",
        "EMBEDDED_WORKER": "0",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def fcm_env(fake) -> dict[str, str]:
    return {"PUSH_BACKEND": "fcm", "GOOGLE_APPLICATION_CREDENTIALS": fake.credentials_path, "FCM_ENDPOINT": fake.url}


WORKER_ARGS = [sys.executable, "-m", "flask", "--app", "wsgi", "diary", "worker"]


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Stop a process we started (gracefully, then for good) and reap it."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """A process with its output in `log_path`, stopped (and reaped) however the test ends."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            stop(proc)


def status_counts(world) -> dict[str, int]:
    return dict(world.rows("SELECT status, count(*) FROM notifications GROUP BY status"))


def seed_due_rows(app, world, clinician, patients: int, per_patient: int) -> list[str]:
    accounts = [world.patient(clinician, timezone="UTC") for _ in range(patients)]
    with app.app_context():
        return seed_due_checkin_pushes([(p.id, p.clinic_id) for p in accounts], per_patient, dt.datetime.now(UTC))


# --------------------------------------------------------------------------- TCP proxy


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    server: socket.socket
    finished: int = 0

    def shutdown(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.client.close()
        self.server.close()


@dataclass(eq=False)
class TcpProxy:
    """127.0.0.1:<port> forwarding to `upstream`. `cut()` drops every connection and
    refuses new ones (accepted and closed at once) until `restore()`."""

    upstream: tuple[str, int]
    refused: int = 0
    _pairs: set[_Pair] = field(default_factory=set)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cut: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="pg-proxy", daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            server.settimeout(None)
            pair = _Pair(client, server)
            with self._lock:
                if self._cut.is_set() or self._stopping.is_set():
                    pair.close()
                    continue
                self._pairs.add(pair)
            for src, dst in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        pair.shutdown()  # one side is gone: so is the other
        with self._lock:
            pair.finished += 1
            last = pair.finished == 2
            if last:
                self._pairs.discard(pair)
        if last:
            pair.close()

    def cut(self) -> None:
        with self._lock:
            self._cut.set()
            pairs = list(self._pairs)
        for pair in pairs:
            pair.shutdown()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        self.cut()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def pg_proxy(db_url) -> Iterator[TcpProxy]:
    url = make_url(db_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        yield proxy
    finally:
        proxy.close()


# --------------------------------------------------------------------------- 1. database cut


@dataclass
class Call:
    started: float
    ended: float
    status: int | str  # an HTTP status, or the name of the exception (a hang, a reset)
    json: Any = None
    entry_id: str | None = None


def _call(session: requests.Session, method: str, url: str, **kwargs: Any) -> Call:
    started = time.monotonic()
    try:
        resp = session.request(method, url, timeout=5, **kwargs)
    except requests.RequestException as exc:
        return Call(started, time.monotonic(), type(exc).__name__)
    body: Any = resp.text[:200]
    if resp.headers.get("Content-Type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            body = resp.json()
    return Call(started, time.monotonic(), resp.status_code, body)


def test_database_cut_mid_load_answers_503_and_recovers(world, clinician, db_url, pg_proxy, tmp_path):
    proxied = make_url(db_url).set(host="127.0.0.1", port=pg_proxy.port).render_as_string(hide_password=False)
    patient = world.patient(clinician, timezone="UTC")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # A worker is "stale" after 2 s without a tick: the cut (2.5 s) makes /readyz wait for
    # the heartbeat to resume, not only for the database.
    web_env = process_env(proxied, WORKER_STALE_SECONDS="2")
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "3"]
    gunicorn += ["--no-control-socket"]  # the default control socket is one path per user: runs would collide
    web_log, worker_log = tmp_path / "gunicorn.log", tmp_path / "worker.log"
    calls: list[Call] = []
    stop_load = threading.Event()

    def load() -> None:
        with requests.Session() as session:
            while not stop_load.is_set():
                entry_id = str(uuid.uuid4())
                recorded = (dt.datetime.now(UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                call = _call(
                    session,
                    "POST",
                    f"{base}/api/v1/me/entries",
                    json={"id": entry_id, "recorded_at": recorded, "mood": 6, "anxiety": 3},
                    headers={"Authorization": f"Bearer {patient.token}"},
                )
                call.entry_id = entry_id
                calls.append(call)

    with (
        running([*gunicorn, "wsgi:app"], web_env, web_log) as web,
        running(WORKER_ARGS, process_env(proxied, SCHEDULER_TICK_SECONDS="1"), worker_log) as worker,
        requests.Session() as probe,
    ):

        def ready() -> bool:
            logs = f"\n--- gunicorn\n{tail(web_log)}\n--- worker\n{tail(worker_log)}"
            assert web.poll() is None, "gunicorn died" + logs
            assert worker.poll() is None, "the worker died" + logs
            return _call(probe, "GET", f"{base}/readyz").status == 200

        wait_for(ready, 30, "gunicorn up and a worker heartbeat")
        loaders = [threading.Thread(target=load, daemon=True) for _ in range(2)]
        for thread in loaders:
            thread.start()
        try:
            wait_for(lambda: sum(c.status == 201 for c in calls) >= 10, 10, "entries accepted before the cut")

            pg_proxy.cut()
            cut_at = time.monotonic()
            probes_during: list[Call] = []
            while time.monotonic() < cut_at + 2.5:
                probes_during.append(_call(probe, "GET", f"{base}/readyz"))
                time.sleep(0.1)
            restored_at, restored_wall = time.monotonic(), dt.datetime.now(UTC)
            pg_proxy.restore()

            probes_after: list[Call] = []

            def readyz_ok() -> bool:
                probes_after.append(_call(probe, "GET", f"{base}/readyz"))
                return probes_after[-1].status == 200

            wait_for(readyz_ok, 5, f"/readyz 200 after restore: {probes_after[-1:]}", interval=0.1)
            ready_at = time.monotonic()
            time.sleep(1.0)  # load keeps running on the recovered database
        finally:
            stop_load.set()
            for thread in loaders:
                thread.join(timeout=10)
        assert not any(t.is_alive() for t in loaders), "a request hung"
        heartbeat = world.rows("SELECT max(last_tick_at) FROM worker_heartbeats")[0][0]

    # Never a 500, never HTML, never a hang or a dropped connection: a 201 or a JSON 503.
    outcomes = Counter(c.status for c in calls)
    odd = [c for c in calls if c.status not in (201, 503)]
    assert not odd, f"{outcomes}: {odd[:3]}\n--- gunicorn\n{tail(web_log, 8000)}"
    for c in calls:
        if c.status == 503:
            assert isinstance(c.json, dict), c
            assert c.json.get("code") == "database_unavailable", c
    # Requests made wholly inside the cut all failed cleanly.
    inside = [c for c in calls if c.started > cut_at and c.ended < restored_at]
    assert inside, "no request was made during the cut"
    assert all(c.status == 503 for c in inside), Counter(c.status for c in inside)
    # /readyz during the cut: 503, database unreachable.
    probes_inside = [p for p in probes_during if p.ended < restored_at]
    assert probes_inside
    for p in probes_inside:
        assert p.status == 503, p
        assert p.json["checks"]["database"] == "unreachable", p
    # Within 5 s of restore the API serves again, and /readyz is green (heartbeat resumed).
    first_ok = min((c.ended for c in calls if c.started >= restored_at and c.status == 201), default=None)
    assert first_ok is not None, "no entry accepted after restore"
    assert first_ok - restored_at < 5, "no entry accepted within 5 s of restore"
    assert ready_at - restored_at < 5
    assert heartbeat is not None
    assert heartbeat > restored_wall, "the worker did not tick after restore"
    after = [c for c in calls if c.started >= ready_at]
    assert len(after) >= 5
    assert all(c.status == 201 for c in after), Counter(c.status for c in after)
    # Every acknowledged entry is stored (read directly, not through the proxy).
    stored = {r[0] for r in world.rows("SELECT id FROM entries WHERE patient_id = :p", p=patient.id)}
    acknowledged = {c.entry_id for c in calls if c.status == 201}
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged entries were lost"
    refused_but_stored = len({c.entry_id for c in calls if c.status == 503} & stored)
    print(
        f"\ndatabase cut 2.5 s: {outcomes[201]} x 201, {outcomes[503]} x 503 ({len(inside)} wholly inside the cut), "
        f"{len(probes_inside)} /readyz 503 during the cut; first 201 {first_ok - restored_at:.2f} s and /readyz 200 "
        f"{ready_at - restored_at:.2f} s after restore; {len(acknowledged)} acknowledged entries all stored "
        f"({refused_but_stored} answered 503 yet committed); proxy refused {pg_proxy.refused} connections"
    )


def test_connection_lost_after_the_response_is_built_still_answers(make_app, world, clinician, db_url):
    """The rare case the cut above can hit: the view committed, read the entry back for the
    response, and the connection dies before the session is closed. The closing rollback
    fails; that must not escape Flask (gunicorn would answer its own HTML 500 for a stored
    entry). Deterministic here: the backend is terminated between response and teardown."""
    from diary.extensions import db

    patient = world.patient(clinician, timezone="UTC")
    app = make_app()
    admin = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)

    @app.after_request
    def lose_the_connection(response):
        pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            wait_for(
                lambda: not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone(),
                5,
                "the backend to exit",
            )
        return response

    entry_id = str(uuid.uuid4())
    recorded = (dt.datetime.now(UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    resp = app.test_client().post(
        "/api/v1/me/entries",
        json={"id": entry_id, "recorded_at": recorded, "mood": 6, "anxiety": 3},
        headers={"Authorization": f"Bearer {patient.token}"},
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.json["id"] == entry_id
    assert world.rows("SELECT count(*) FROM entries WHERE id = :id", id=entry_id) == [(1,)]
    with app.app_context():
        assert db.engine.pool.checkedout() == 0  # the dead connection was not leaked


def _terminate_app_backends(db_url: str) -> int:
    """Kill every server process of the test database but this one: the app's pooled
    connections die as they would in a database restart. Returns how many were killed."""
    admin = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    others = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with psycopg.connect(admin, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(others)]
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_for(lambda: not conn.execute(others).fetchall(), 5, "the backends to exit")
    return len(pids)


def _post_entry(client, token: str) -> tuple[int, str]:
    entry_id = str(uuid.uuid4())
    recorded = (dt.datetime.now(UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    resp = client.post(
        "/api/v1/me/entries",
        json={"id": entry_id, "recorded_at": recorded, "mood": 6, "anxiety": 3},
        headers={"Authorization": f"Bearer {token}"},
    )
    return resp.status_code, entry_id


def test_pooled_connection_killed_between_requests_costs_no_request(make_app, world, clinician, db_url):
    """Connections in steady use are not pinged; when one died in the pool, the request's
    first statement (the token check, which writes nothing) runs again on a fresh one."""
    patient = world.patient(clinician, timezone="UTC")
    app = make_app()
    client = app.test_client()
    first, first_id = _post_entry(client, patient.token)
    assert first == 201
    assert _terminate_app_backends(db_url) >= 1
    second, second_id = _post_entry(client, patient.token)
    assert second == 201
    admin = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM entries WHERE patient_id = %s", (patient.id,))}
    assert stored == {first_id, second_id}


@pytest.mark.parametrize(("idle_seconds", "status"), [(0.0, 200), (3600.0, 503)])
def test_connection_idle_in_the_pool_is_pinged_before_use(
    make_app, world, clinician, db_url, monkeypatch, idle_seconds, status
):
    """A login's first statement is not retried; what saves it from a connection that died
    while idle is the ping on checkout. With a threshold it has not reached, no ping: 503."""
    from diary import database

    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", idle_seconds)
    app = make_app()
    client = app.test_client()
    login = {"email": clinician.email, "password": PASSWORD}
    assert client.post("/api/v1/auth/token", json=login).status_code == 200
    _terminate_app_backends(db_url)
    resp = client.post("/api/v1/auth/token", json=login)
    assert resp.status_code == status, resp.get_data(as_text=True)
    if status == 503:
        assert resp.json["code"] == "database_unavailable"
    # Either way the pool is healthy again for the next request.
    assert client.post("/api/v1/auth/token", json=login).status_code == 200


# --------------------------------------------------------------------------- 2. SIGKILLed workers


def test_workers_sigkilled_repeatedly_lose_nothing(app, world, clinician, db_url, fake_fcm, tmp_path):
    patients, per_patient, kills = 30, 50, 4
    checkin_ids = seed_due_rows(app, world, clinician, patients, per_patient)
    rows = len(checkin_ids)
    seed = int(os.environ.get("FAULTS_SEED") or time.time_ns() % 2**32)
    rng = random.Random(seed)
    env = process_env(
        db_url,
        **fcm_env(fake_fcm),
        SCHEDULER_TICK_SECONDS="1",
        FCM_BATCH_SIZE="1",  # one push in flight per worker: a kill can repeat at most one
        DISPATCH_LEASE_SECONDS="2",
        DISPATCH_BATCH_SIZE="50",
    )
    procs: list[subprocess.Popen] = []
    logs: list[Any] = []
    killed_holding: list[int] = []
    try:
        for n in range(kills):
            log = open(tmp_path / f"worker-{n}.log", "wb")  # noqa: SIM115  (closed in finally)
            logs.append(log)
            before = len(fake_fcm.messages())
            proc = subprocess.Popen(WORKER_ARGS, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            procs.append(proc)
            # Kill at a random moment once it is really dispatching.
            wait_for(lambda: len(fake_fcm.messages()) > before or proc.poll() is not None, 30, "the worker to send")
            assert proc.poll() is None, tail(tmp_path / f"worker-{n}.log")
            time.sleep(rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL
            killed_holding.append(world.rows("SELECT count(*) FROM notifications WHERE status = 'sending'")[0][0])
        sent_before_drain = len(fake_fcm.messages())

        # The last victim's leases run out; then one worker drains everything that is left.
        leased = "SELECT count(*) FROM notifications WHERE status = 'sending' AND lease_until > now()"
        wait_for(lambda: world.rows(leased)[0][0] == 0, 5, "the killed workers' leases to expire")
        log = open(tmp_path / "worker-final.log", "wb")  # noqa: SIM115  (closed in finally)
        logs.append(log)
        final = subprocess.Popen(
            [*WORKER_ARGS, "--until-idle", "--max-seconds", "90"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        procs.append(final)
        final.wait(timeout=100)
        assert final.returncode == 0, tail(tmp_path / "worker-final.log")
    finally:
        for proc in procs:
            stop(proc, signal.SIGKILL)
        for log in logs:
            log.close()

    per_checkin = fake_fcm.per_checkin()
    assert status_counts(world) == {"sent": rows}, world.rows(
        "SELECT status, last_error, count(*) FROM notifications WHERE status <> 'sent' GROUP BY 1, 2"
    )
    assert set(per_checkin) == set(checkin_ids), "a check-in was never pushed"
    duplicates = sum(n - 1 for n in per_checkin.values())
    assert duplicates <= kills, f"{duplicates} duplicate pushes after {kills} kills (seed {seed})"
    print(
        f"\n{rows} rows, {kills} SIGKILLs (seed {seed}) with {killed_holding} rows leased; "
        f"{sent_before_drain} pushes before the drain; duplicates {duplicates} <= kills {kills}"
    )


# --------------------------------------------------------------------------- 3. FCM outage


@pytest.mark.parametrize(
    "outage",
    [pytest.param(Answer("INTERNAL"), id="500"), pytest.param(Answer("QUOTA_EXCEEDED", retry_after=1), id="429")],
)
def test_fcm_outage_retries_then_delivers_once(app, world, clinician, db_url, fake_fcm, outage, tmp_path):
    checkin_ids = seed_due_rows(app, world, clinician, 10, 20)
    rows = len(checkin_ids)
    env = process_env(
        db_url,
        **fcm_env(fake_fcm),
        SCHEDULER_TICK_SECONDS="1",
        PUSH_RETRY_BASE_SECONDS="1",
        PUSH_RETRY_MAX_SECONDS="2",
        PUSH_MAX_ATTEMPTS="8",
    )
    log_path = tmp_path / "worker.log"
    fake_fcm.fail_all(outage)

    def attempts() -> tuple[int, int]:
        return world.rows("SELECT min(attempts), max(attempts) FROM notifications")[0]

    with running(WORKER_ARGS, env, log_path) as worker:
        wait_for(lambda: attempts()[0] >= 1 or worker.poll() is not None, 20, "the first attempts")
        first_failure = time.monotonic()
        # The worker retries through the outage: every row has failed at least twice.
        wait_for(lambda: attempts()[0] >= 2 or worker.poll() is not None, 10, "the first retries")
        assert worker.poll() is None, tail(log_path)
        time.sleep(max(0.0, first_failure + 3.0 - time.monotonic()))  # ~3 s of outage
        during = status_counts(world)
        low, high = attempts()
        errors = world.rows("SELECT DISTINCT last_error FROM notifications WHERE status = 'failed'")
        assert set(during) <= {"failed", "sending"}, during
        assert during.get("failed", 0) > 0
        assert high < 8, f"up to {high} attempts in ~3 s: the backoff does not back off"
        assert fake_fcm.messages() == []

        fake_fcm.fail_all(None)
        healed_at = time.monotonic()
        wait_for(lambda: status_counts(world) == {"sent": rows}, 20, "every row sent after the outage", interval=0.1)
        recovery = time.monotonic() - healed_at
        assert worker.poll() is None, tail(log_path)

    per_checkin = fake_fcm.per_checkin()
    assert set(per_checkin) == set(checkin_ids)
    assert max(per_checkin.values()) == 1, "a push was delivered twice"
    assert world.rows("SELECT count(*) FROM notifications WHERE status = 'dead'")[0][0] == 0
    print(
        f"\nFCM {outage.error}: {rows} rows, during the outage {during}, attempts {low}..{high}, "
        f"errors {[e[0][:60] for e in errors][:2]}; all sent {recovery:.1f} s after it ended, each exactly once"
    )
