"""Summary and panel benchmark on PostgreSQL (run by hand, not in CI).

    .venv/bin/python -m bench.summary [--requests 200] [--panel-patients 2000 10000]
        [--outcomes-patients 2000] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates its own database (dropped at the end) and measures, through the real HTTP stack
(Flask test client: auth, audit, serialisation):
  1. GET /patients/{id}/summary, 30-day window, for a patient with 2 years of history
     (~2,200 entries, sessions, check-ins, PHQ-9s): p50/p95;
  2. the same for a patient with 10x older history (~22,000 entries): p50/p95 and the
     ratio to 1 — the summary's cost should follow the window, not the history;
  3. the 2-year patient's summary over a 730-day window: p50/p95 and the ratio to the
     30-day one (target < 1.5); 1 to 3 are timed in turn, request by request, so a slow
     spell of a shared machine weighs on all three alike;
  4. GET /patients?limit=50 over clinics of N patients (--panel-patients 2000 10000: 60 days
     of one entry a day each, a session every 3 weeks, forecasts computed as the worker
     would), in the risk order and by wear-off: p50/p95, and the p95 ratio of the largest
     clinic to the smallest (target < 1.3);
  5. GET /clinic/outcomes over each of those clinics (every patient in the cohort), and over
     a clinic of --outcomes-patients patients with 2 years of history each, every one of
     them in the cohort (target p95 < 300 ms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diary import create_app  # noqa: E402
from diary.domain import accounts, entry_days, panel  # noqa: E402
from diary.domain.instruments import score  # noqa: E402
from diary.extensions import db  # noqa: E402
from diary.models import Assessment, Checkin, Entry, PatientProfile, TreatmentSession, User  # noqa: E402
from diary.timeutil import UTC, local_date  # noqa: E402

PASSWORD = "bench-password-1"
ZONE = "America/New_York"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def add_patient(clinic_id: str, name: str) -> str:
    user = User(clinic_id=clinic_id, role="patient", email=f"{uuid.uuid4().hex[:10]}@bench.example")
    db.session.add(user)
    db.session.flush()
    db.session.add(
        PatientProfile(
            user_id=user.id, clinic_id=clinic_id, display_name=name, timezone=ZONE, enrolled_at=dt.datetime.now(UTC)
        )
    )
    panel.add_patient(user.id, clinic_id)  # as accounts.create_patient does
    return user.id


def history(patient_id: str, days: int, per_day: int, now: dt.datetime, rng: random.Random) -> None:
    """`per_day` entries a day for `days` days, sessions every 3 weeks, PHQ-9 every 2 weeks."""
    rows = []
    for day in range(days):
        for k in range(per_day):
            at = now - dt.timedelta(days=day, hours=k * 5 + rng.uniform(0, 3))
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "patient_id": patient_id,
                    "recorded_at": at,
                    "local_date": local_date(at, ZONE),
                    "timezone": ZONE,
                    "mood": rng.randint(2, 9),
                    "anxiety": rng.randint(1, 8),
                    "sleep_hours": 7.0,
                    "version": 1,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        if len(rows) >= 5000:
            db.session.execute(insert(Entry), rows)
            rows = []
    if rows:
        db.session.execute(insert(Entry), rows)
    entry_days.recount([patient_id])  # as the writes would have summed them
    sessions, checkins, phq9 = [], [], []
    for day in range(0, days, 21):
        started = now - dt.timedelta(days=day, hours=6)
        sid = str(uuid.uuid4())
        sessions.append(
            {
                "id": sid,
                "patient_id": patient_id,
                "clinic_id": None,
                "started_at": started,
                "local_date": local_date(started, ZONE),
                "route": "iv",
                "dose_mg": 35.0,
                "created_at": started,
            }
        )
        for label, offset in (("+4h", 240), ("+1d", 1440), ("+3d", 4320), ("+7d", 10080)):
            due = started + dt.timedelta(minutes=offset)
            checkins.append(
                {
                    "id": str(uuid.uuid4()),
                    "session_id": sid,
                    "patient_id": patient_id,
                    "label": label,
                    "offset_minutes": offset,
                    "due_at": due,
                    "expires_at": due + dt.timedelta(hours=12),
                    "status": rng.choice(["answered", "expired"]),
                    "window_minutes": 720,
                    "created_at": due,
                }
            )
    for day in range(0, days, 14):
        at = now - dt.timedelta(days=day, hours=2)
        answers = [rng.randint(0, 3) for _ in range(8)] + [0]
        scored = score("phq9", answers)
        phq9.append(
            {
                "id": str(uuid.uuid4()),
                "patient_id": patient_id,
                "instrument": "phq9",
                "answers": answers,
                "total": scored.total,
                "severity": scored.severity,
                "recorded_at": at,
                "local_date": local_date(at, ZONE),
                "timezone": ZONE,
                "created_at": at,
            }
        )
    return sessions, checkins, phq9


def timed(client, path: str, headers: dict, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        resp = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, resp.json
    return samples


def interleaved(client, paths: list[str], headers: dict, n: int) -> list[list[float]]:
    """`n` timings of each path, taken in turn (a, b, c, a, b, c, ...): a shared machine's
    slow spell then hits every path alike instead of whichever ran during it, so their
    ratios hold still."""
    samples: list[list[float]] = [[] for _ in paths]
    for _ in range(n):
        for path, taken in zip(paths, samples, strict=True):
            taken.extend(timed(client, path, headers, 1))
    return samples


def seed_clinic(name: str, patients: int, days: int, now: dt.datetime, rng: random.Random) -> str:
    """A clinic of `patients` patients, `days` days of one entry a day each (7 days of recent
    entries, older history behind), a session every 3 weeks and a PHQ-9 every 2, their panel
    rows counted and their forecasts computed as the writes and the worker would have."""
    clinic = accounts.create_clinic(name)
    accounts.create_staff(clinic, "clinician", f"{name.lower().replace(' ', '-')}@bench.example", PASSWORD)
    ids = []
    for i in range(patients):
        pid = add_patient(clinic.id, f"Panel {i:05d}")
        sessions, checkins, phq9 = history(pid, days, 1, now, rng)
        for s in sessions:
            s["clinic_id"] = clinic.id
        db.session.execute(insert(TreatmentSession), sessions)
        db.session.execute(insert(Checkin), checkins)
        db.session.execute(insert(Assessment), phq9)
        panel.forecast_may_move(pid)
        ids.append(pid)
    db.session.flush()
    for start in range(0, len(ids), 1000):
        panel.recount_moods(ids[start : start + 1000], now - panel.WEEK)
    db.session.execute(db.text("ANALYZE"))
    started = time.perf_counter()
    panel.refresh_forecasts(now, clinic.id)
    print(f"{name}: {patients} forecasts computed in {time.perf_counter() - started:.1f} s", flush=True)
    return clinic.id


def login(client, email: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD}).json["access_token"]
    return {"Authorization": f"Bearer {token}"}


def panel_pages(client, headers: dict, n: int, order: str = "risk") -> list[float]:
    """Page through the panel (50 a page, starting over at the end) `n` times; ms each."""
    samples, cursor = [], None
    for _ in range(n):
        path = f"/api/v1/patients?limit=50&order={order}" + (f"&cursor={cursor}" if cursor else "")
        started = time.perf_counter()
        resp = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, resp.json
        cursor = resp.json["next_cursor"]  # None: start over from the first page
    return samples


def report(label: str, samples: list[float]) -> str:
    return f"{label}: p50 {statistics.median(samples):6.1f} ms  p95 {percentile(samples, 0.95):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--panel-patients", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--outcomes-patients",
        type=int,
        default=2000,
        help="a clinic of this many patients with 2 years of history each, all in the outcomes cohort (0: none)",
    )
    args = parser.parse_args()
    rng = random.Random(7)

    name = f"diary_bench_{uuid.uuid4().hex[:8]}"
    admin = args.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.database_url.rpartition('/')[0]}/{name}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "APP_ENV": "testing",
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 1024,
            "ARGON2_PARALLELISM": 1,
            "AUTH_RATE_LIMIT": "100000 per minute",
        }
    )
    lines = []
    try:
        with app.app_context():
            from flask_migrate import upgrade

            from diary.database import enable_migrations

            enable_migrations(app)

            upgrade(directory=str(ROOT / "migrations"))
            now = dt.datetime.now(UTC)
            clinic = accounts.create_clinic("Bench Clinic")
            accounts.create_staff(clinic, "clinician", "bench-clinician@bench.example", PASSWORD)
            two_years = add_patient(clinic.id, "Two Years")
            twenty_years = add_patient(clinic.id, "Twenty Years")
            for pid, days in ((two_years, 730), (twenty_years, 7300)):
                sessions, checkins, phq9 = history(pid, days, 3, now, rng)
                for s in sessions:
                    s["clinic_id"] = clinic.id
                db.session.execute(insert(TreatmentSession), sessions)
                db.session.execute(insert(Checkin), checkins)
                db.session.execute(insert(Assessment), phq9)
            panel.recount_moods([two_years, twenty_years], now - panel.WEEK)
            for size in args.panel_patients:
                seed_clinic(f"Panel Clinic {size}", size, 60, now, rng)
            if args.outcomes_patients:
                seed_clinic("Outcomes Clinic", args.outcomes_patients, 730, now, rng)
            db.session.commit()
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
            counts = dict(
                db.session.execute(
                    db.text(
                        "SELECT patient_id, count(*) FROM entries WHERE patient_id IN (:a, :b) GROUP BY patient_id"
                    ),
                    {"a": two_years, "b": twenty_years},
                ).all()
            )

        client = app.test_client()
        headers = login(client, "bench-clinician@bench.example")
        summary = f"/api/v1/patients/{two_years}/summary"
        long_window = {"from": (now - dt.timedelta(days=729)).date().isoformat()}
        timed(client, summary, headers, 10)  # warm up
        short, long, wide = interleaved(
            client,
            [summary, f"/api/v1/patients/{twenty_years}/summary", summary + "?from=" + long_window["from"]],
            headers,
            args.requests,
        )
        lines += [
            report(f"summary, 30-day window, {counts[two_years]} entries (2 years)", short),
            report(f"summary, 30-day window, {counts[twenty_years]} entries (20 years)", long),
            f"ratio 10x history / 1x (p50): {statistics.median(long) / statistics.median(short):.2f}",
            report(f"summary, 730-day window, {counts[two_years]} entries (2 years)", wide),
            f"ratio 730-day / 30-day window (p50): {statistics.median(wide) / statistics.median(short):.2f}"
            f"  (p95: {percentile(wide, 0.95) / percentile(short, 0.95):.2f}; target < 1.5)",
        ]
        panels = {}
        for size in args.panel_patients:
            staff = login(client, f"panel-clinic-{size}@bench.example")
            panel_pages(client, staff, 10)  # warm up
            panels[size] = panel_pages(client, staff, args.requests)
            lines.append(report(f"panel, page of 50 of {size} patients", panels[size]))
            lines.append(
                report(f"panel by wear-off, page of 50 of {size} patients", panel_pages(client, staff, 50, "wears_off"))
            )
            # The clinic's outcomes: every patient of the clinic is in the cohort (all started this year).
            timed(client, "/api/v1/clinic/outcomes", staff, 1)  # the first read stores the settled effects
            outcomes = timed(client, "/api/v1/clinic/outcomes", staff, max(20, args.requests // 10))
            lines.append(report(f"clinic outcomes, cohort of {size} patients (60 days each)", outcomes))
        if args.outcomes_patients:
            staff = login(client, "outcomes-clinic@bench.example")
            since = (now - dt.timedelta(days=729)).date().isoformat()
            path = f"/api/v1/clinic/outcomes?from={since}"
            started = time.perf_counter()
            assert client.get(path, headers=staff).json["patients"] == args.outcomes_patients
            first = (time.perf_counter() - started) * 1000
            lines.append(f"clinic outcomes, first read after seeding (stores every settled effect): {first:.0f} ms")
            outcomes = timed(client, path, staff, max(20, args.requests // 10))
            lines.append(
                report(f"clinic outcomes, cohort of {args.outcomes_patients} patients with 2 years each", outcomes)
                + "  (target p95 < 300 ms)"
            )
        if len(panels) >= 2:
            small, large = min(panels), max(panels)
            lines.append(
                f"panel p95 ratio {large // 1000}k / {small // 1000}k: "
                f"{percentile(panels[large], 0.95) / percentile(panels[small], 0.95):.2f}  (target < 1.3)"
            )
    finally:
        with app.app_context():
            db.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print("\n".join(lines))


if __name__ == "__main__":
    main()
