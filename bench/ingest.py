"""Ingest benchmark (run by hand, not in CI): POST /me/entries through gunicorn, under locust.

    .venv/bin/python -m bench.ingest [--duration 20] [--rounds 3] [--users 20] [--patients 200]
        [--workers N] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--profile stacks.txt]

(needs requirements-bench.txt). Creates its own PostgreSQL database (dropped at the end),
migrates it, enrolls a clinic's patients with long-lived access tokens, then in one run:
  1. ours: gunicorn -c gunicorn.conf.py wsgi:app (APP_ENV=production, JSON request logs,
     multiprocess metrics), loaded by locust in a second process, headless, closed loop
     (each user posts again as soon as answered): requests/s, p50, p99;
  2. the baseline: bench/baseline_app.py (Flask + psycopg, the same token check and one
     INSERT) under the same gunicorn config and worker count, the same load;
     1 and 2 alternate for --rounds rounds, and each keeps its best (the ratio is of those);
  3. ours again at a fixed arrival rate of half its measured maximum (locust's constant
     throughput): p50, p99.
With --profile, py-spy samples our gunicorn workers in the first round while they hold the
GIL (Python CPU, not waits on the database) and writes folded stacks (one a line, with its
sample count); that round's figures are slowed by the sampling.
Every request is a valid entry with a fresh client UUID from a random patient. Everything
listens on 127.0.0.1 (ports picked by the kernel) and stops by itself. Locust shares the
machine's cores with the servers and PostgreSQL, as it does for both apps.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil  # comes with locust
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diary import create_app  # noqa: E402
from diary.domain import accounts, panel, tokens  # noqa: E402
from diary.extensions import db  # noqa: E402
from diary.models import PatientProfile, User  # noqa: E402
from diary.timeutil import UTC  # noqa: E402

SECRET_KEY = f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}"
TOKEN_TTL = 24 * 3600  # outlives any run: no request fails on an expired token
TARGET_RATIO, TARGET_P99_MS = 0.75, 50.0  # issue 15: at least 0.75 of the bare baseline
TARGET_RSS_MIB = 80.0


@dataclass
class Stats:
    requests: int
    failures: int
    rps: float
    p50: float
    p99: float
    cpu_ms: float = 0.0  # gunicorn's CPU time (master and workers) per request
    db_cpu_ms: float = 0.0  # the PostgreSQL server's CPU time (every backend) per request
    worker_rss_mib: float = 0.0  # the largest resident set of a gunicorn worker after the load

    def line(self) -> str:
        return (
            f"{self.rps:8.1f} req/s   p50 {self.p50:5.0f} ms   p99 {self.p99:5.0f} ms   "
            f"server CPU {self.cpu_ms:4.1f} ms/req   PostgreSQL CPU {self.db_cpu_ms:4.1f} ms/req   "
            f"worker RSS {self.worker_rss_mib:5.1f} MiB   ({self.requests} requests, {self.failures} failed)"
        )


def seed(app, patients: int) -> list[str]:
    """A clinic and `patients` enrolled patients, each with an open session and access token."""
    now = dt.datetime.now(UTC)
    access = []
    with app.app_context():
        clinic = accounts.create_clinic("Bench Clinic")
        for i in range(patients):
            user = User(clinic_id=clinic.id, role="patient", email=f"ingest{i}@bench.example")
            db.session.add(user)
            db.session.flush()
            zone = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")[i % 4]
            db.session.add(
                PatientProfile(
                    user_id=user.id, clinic_id=clinic.id, display_name=f"Bench {i}", timezone=zone, enrolled_at=now
                )
            )
            panel.add_patient(user.id, clinic.id)  # as accounts.create_patient does
            access.append(tokens.open_session(user).access_token)
        db.session.commit()
    return access


class Server:
    """A gunicorn master on 127.0.0.1 (port picked by the kernel), logs to a file."""

    def __init__(self, app_module: str, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self.log = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", app_module],
            cwd=ROOT,
            env={**env, "GUNICORN_BIND": "127.0.0.1:0"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.base = self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _tail(self) -> str:
        return self.log_path.read_text()[-3000:]

    def _wait_until_serving(self) -> str:
        deadline = time.monotonic() + 60
        base = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self._tail()}")
            if base is None:
                found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", self.log_path.read_text())
                base = found.group(1) if found else None
            if base is not None:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as resp:
                        if resp.status == 200:
                            return base
                except OSError:  # not listening yet, or a worker still booting
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer /healthz within 60 s:\n{self._tail()}")

    def cpu_seconds(self) -> float:
        master = psutil.Process(self.proc.pid)
        return sum(sum(p.cpu_times()[:2]) for p in [master, *master.children()])

    def worker_rss_mib(self) -> float:
        workers = psutil.Process(self.proc.pid).children()
        return max((p.memory_info().rss for p in workers), default=0) / 2**20

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this host (0 where it runs elsewhere)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        if (proc.info["name"] or "").startswith("postgres") and proc.info["cpu_times"] is not None:
            total += sum(proc.info["cpu_times"][:2])
    return total


def warm_up(base: str, access: list[str], requests: int, concurrency: int) -> None:
    """Every worker connects to the database and fills its caches before anything is timed."""

    def post(i: int) -> None:
        now = dt.datetime.now(UTC).isoformat()
        body = json.dumps({"id": str(uuid.uuid4()), "recorded_at": now, "mood": 5, "anxiety": 5}).encode()
        req = urllib.request.Request(
            f"{base}/api/v1/me/entries",
            data=body,
            headers={"Authorization": f"Bearer {access[i % len(access)]}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 201, resp.status

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(requests)))


def start_profiler(server: Server, out: Path, duration: int) -> subprocess.Popen:
    """py-spy on the gunicorn master and its workers for the timed phase (py-spy from requirements-bench)."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(server.proc.pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "250",
            "--gil",
            "--duration",
            str(duration),
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def run_locust(
    base: str,
    tokens_path: Path,
    users: int,
    duration: int,
    user_rate: float,
    prefix: Path,
    log_path: Path,
) -> Stats:
    env = {**os.environ, "BENCH_TOKENS": str(tokens_path), "BENCH_USER_RATE": str(user_rate)}
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{duration}s",
        "--stop-timeout",
        "5",
        "--host",
        base,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    with log_path.open("w") as log:
        # Exit code 1 only means some requests failed; the counts below say how many.
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=duration + 120)
    rows = list(csv.DictReader(Path(f"{prefix}_stats.csv").read_text().splitlines()))
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    if total is None or int(total["Request Count"]) == 0:
        raise RuntimeError(f"locust recorded no requests:\n{log_path.read_text()[-3000:]}")
    return Stats(
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        rps=float(total["Requests/s"]),
        p50=float(total["50%"]),
        p99=float(total["99%"]),
    )


def main() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds per phase")
    parser.add_argument("--users", type=int, default=20, help="concurrent locust users")
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 2 * cores + 1), help="gunicorn workers"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of ours and the baseline")
    parser.add_argument("--profile", type=Path, help="write py-spy's folded stacks of our workers (first round) here")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()

    name = f"diary_bench_{uuid.uuid4().hex[:8]}"
    admin = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.database_url.rpartition('/')[0]}/{name}"
    app = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_dir:
            tmp = Path(tmp_dir)
            app = create_app(
                {
                    "SQLALCHEMY_DATABASE_URI": url,
                    "APP_ENV": "testing",
                    "SECRET_KEY": SECRET_KEY,
                    "ACCESS_TOKEN_TTL_SECONDS": TOKEN_TTL,
                    "LOG_FORMAT": "none",
                }
            )
            with app.app_context():
                from flask_migrate import upgrade

                from diary.database import enable_migrations

                enable_migrations(app)

                upgrade(directory=str(ROOT / "migrations"))
            access = seed(app, args.patients)
            # Planner statistics for the fresh tables, as a live database has them: without
            # them round 1 ran while autovacuum caught up, and its plans were cached by
            # psycopg's prepared statements for the rest of the phase.
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            tokens_path = tmp / "tokens.json"
            tokens_path.write_text(json.dumps(access))

            (tmp / "prometheus").mkdir()
            common = {
                **os.environ,
                "DATABASE_URL": url,
                "SECRET_KEY": SECRET_KEY,
                "WEB_CONCURRENCY": str(args.workers),
            }
            ours_env = {**common, "APP_ENV": "production", "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus")}
            base_env = {k: v for k, v in common.items() if k != "PROMETHEUS_MULTIPROC_DIR"}

            def phase(
                label: str, module: str, env: dict[str, str], user_rate: float = 0.0, profile: Path | None = None
            ) -> Stats:
                server = Server(module, env, tmp / f"{label}-gunicorn.log")
                profiler = None
                try:
                    warm_up(server.base, access, requests=args.workers * 20, concurrency=args.workers)
                    if profile is not None:
                        profiler = start_profiler(server, profile, args.duration)
                    cpu, db_cpu = server.cpu_seconds(), postgres_cpu_seconds()
                    stats = run_locust(
                        server.base,
                        tokens_path,
                        args.users,
                        args.duration,
                        user_rate,
                        tmp / label,
                        tmp / f"{label}-locust.log",
                    )
                    stats.cpu_ms = (server.cpu_seconds() - cpu) * 1000 / stats.requests
                    stats.db_cpu_ms = (postgres_cpu_seconds() - db_cpu) * 1000 / stats.requests
                    stats.worker_rss_mib = server.worker_rss_mib()
                    if profiler is not None:
                        profiler.wait(timeout=60)
                    return stats
                finally:
                    if profiler is not None and profiler.poll() is None:
                        profiler.kill()
                    server.stop()

            # Alternating rounds: a slow spell of a shared machine (noisy neighbours, CPU
            # steal) then hits both sides instead of one; each side keeps its best round.
            rounds_ours, rounds_base = [], []
            for i in range(args.rounds):
                rounds_ours.append(phase("ours", "wsgi:app", ours_env, profile=args.profile if i == 0 else None))
                rounds_base.append(phase("baseline", "bench.baseline_app:app", base_env))
                ours_i, base_i = rounds_ours[-1], rounds_base[-1]
                print(
                    f"round {i + 1}: ours {ours_i.rps:.1f} req/s ({ours_i.cpu_ms:.2f} + {ours_i.db_cpu_ms:.2f} ms "
                    f"server + PostgreSQL CPU/req), baseline {base_i.rps:.1f} req/s ({base_i.cpu_ms:.2f} + "
                    f"{base_i.db_cpu_ms:.2f}), "
                    f"ratio {ours_i.rps / base_i.rps:.2f}",
                    flush=True,
                )
            ours = max(rounds_ours, key=lambda s: s.rps)
            baseline = max(rounds_base, key=lambda s: s.rps)
            half_rate = ours.rps / 2
            half = phase("half", "wsgi:app", ours_env, user_rate=half_rate / args.users)
    finally:
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    ratio = ours.rps / baseline.rps
    print(
        f"POST /me/entries   gunicorn workers: {args.workers}   locust users: {args.users}   "
        f"patients: {args.patients}   {args.duration} s per phase   best of {args.rounds} rounds   cores: {cores}"
    )
    print(f"ours     (wsgi:app)               {ours.line()}")
    print(f"baseline (bench.baseline_app)     {baseline.line()}")
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"ratio ours/baseline:              {ratio:8.2f}   (target >= {TARGET_RATIO}: {verdict})")
    verdict = "ok" if half.p99 < TARGET_P99_MS else "ABOVE TARGET"
    print(f"ours at half load ({half_rate:.0f} req/s offered): {half.line()}")
    print(f"p99 at half load:                 {half.p99:5.0f} ms   (target < {TARGET_P99_MS:.0f} ms: {verdict})")
    verdict = "ok" if ours.worker_rss_mib < TARGET_RSS_MIB else "ABOVE TARGET"
    print(
        f"largest API worker RSS after the load: {ours.worker_rss_mib:5.1f} MiB"
        f"   (target < {TARGET_RSS_MIB:.0f}: {verdict})"
    )
    if ours.failures or baseline.failures or half.failures:
        sys.exit("some requests failed: see the counts above")


if __name__ == "__main__":
    main()
