"""FHIR export benchmark on PostgreSQL (run by hand, not in CI).

    .venv/bin/python -m bench.fhir [--requests 50] [--profile]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates its own database (dropped at the end) with a patient of 2 years of history
(~2,200 entries, 100 sessions, 50 PHQ-9/GAD-7 assessments), then measures
GET /patients/{id}/fhir through the HTTP stack (Flask test client: auth, audit, the
bundle's build and serialisation): p50/p95 server time and the response size. It also
prints where one export's time goes (queries, building the validated models,
serialising), and the import cost of the FHIR library in a fresh interpreter.
Target: p95 < 500 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
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
from diary.models import Assessment, Entry, PatientProfile, TreatmentSession, User  # noqa: E402
from diary.timeutil import UTC, local_date  # noqa: E402

PASSWORD = "bench-password-1"
ZONE = "America/New_York"
ROUTES = ("iv", "im", "intranasal", "oral", "sublingual")

IMPORT_PROBE = """
import time, resource
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
from diary import create_app
app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_FORMAT": "none"})
before, started = rss(), time.perf_counter()
from diary.domain.fhir import BundleBuilder
with app.app_context():
    BundleBuilder("p", "https://x.example/cs")
print(f"{(time.perf_counter() - started) * 1000:.0f} {(rss() - before) / 1024:.1f} {before / 1024:.1f}")
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def seed(clinic_id: str, now: dt.datetime, rng: random.Random) -> str:
    user = User(clinic_id=clinic_id, role="patient", email=f"{uuid.uuid4().hex[:10]}@bench.example")
    db.session.add(user)
    db.session.flush()
    db.session.add(
        PatientProfile(user_id=user.id, clinic_id=clinic_id, display_name="Two Years", timezone=ZONE, enrolled_at=now)
    )
    panel.add_patient(user.id, clinic_id)
    entries = []
    for day in range(730):
        for k in range(3):
            at = now - dt.timedelta(days=day, hours=k * 5 + rng.uniform(0, 3))
            entries.append(
                {
                    "id": str(uuid.uuid4()),
                    "patient_id": user.id,
                    "recorded_at": at,
                    "local_date": local_date(at, ZONE),
                    "timezone": ZONE,
                    "mood": rng.randint(2, 9),
                    "anxiety": rng.randint(1, 8),
                    "version": 1,
                    "created_at": at,
                    "updated_at": at,
                    # About one in 50 deleted: left out of the bundle.
                    "deleted_at": at if rng.random() < 0.02 else None,
                }
            )
    db.session.execute(insert(Entry), entries)
    entry_days.recount([user.id])  # as the writes would have summed them
    sessions = []
    for i in range(100):
        started = now - dt.timedelta(days=7.3 * i, hours=6)
        sessions.append(
            {
                "id": str(uuid.uuid4()),
                "patient_id": user.id,
                "clinic_id": clinic_id,
                "started_at": started,
                "route": ROUTES[i % len(ROUTES)],
                "dose_mg": None if i % 10 == 0 else 35.0 + i % 5,
                "created_at": started,
            }
        )
    db.session.execute(insert(TreatmentSession), sessions)
    assessments = []
    for i in range(50):
        instrument = "phq9" if i % 2 == 0 else "gad7"
        answers = [rng.randint(0, 3) for _ in range(9 if instrument == "phq9" else 7)]
        if instrument == "phq9":
            answers[8] = 0
        scored = score(instrument, answers)
        at = now - dt.timedelta(days=14.6 * i, hours=2)
        assessments.append(
            {
                "id": str(uuid.uuid4()),
                "patient_id": user.id,
                "instrument": instrument,
                "answers": answers,
                "total": scored.total,
                "severity": scored.severity,
                "recorded_at": at,
                "local_date": local_date(at, ZONE),
                "timezone": ZONE,
                "created_at": at,
            }
        )
    db.session.execute(insert(Assessment), assessments)
    return user.id


def phases(app, patient_id: str, code_system_url: str) -> dict[str, float]:
    """One export split into its parts, in ms (the view's domain code, timed around each part)."""
    from diary.domain import fhir

    with app.app_context():
        profile = db.session.get(PatientProfile, patient_id)
        with fhir._cyclic_gc_paused():  # as patient_bundle_json does
            started = time.perf_counter()
            builder = fhir.build_bundle(profile, code_system_url)
            built = time.perf_counter()
            bundle = builder.bundle()
            assembled = time.perf_counter()
            fhir.fhir_json(bundle)
            rendered = time.perf_counter()
        db.session.rollback()
    return {
        "queries + validated models": (built - started) * 1000,
        "Bundle": (assembled - built) * 1000,
        "JSON": (rendered - assembled) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions of one export")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    rng = random.Random(11)

    probe = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()

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
            "LOG_FORMAT": "none",
        }
    )
    try:
        with app.app_context():
            from flask_migrate import upgrade

            from diary.database import enable_migrations

            enable_migrations(app)

            upgrade(directory=str(ROOT / "migrations"))
            now = dt.datetime.now(UTC) - dt.timedelta(hours=1)
            clinic = accounts.create_clinic("Bench Clinic")
            accounts.create_staff(clinic, "clinician", "bench-clinician@bench.example", PASSWORD)
            patient_id = seed(clinic.id, now, rng)
            db.session.commit()
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
            counts = db.session.execute(
                db.text(
                    "SELECT (SELECT count(*) FROM entries WHERE patient_id = :p AND deleted_at IS NULL),"
                    " (SELECT count(*) FROM treatment_sessions WHERE patient_id = :p),"
                    " (SELECT count(*) FROM assessments WHERE patient_id = :p)"
                ),
                {"p": patient_id},
            ).one()

        client = app.test_client()
        token = client.post(
            "/api/v1/auth/token", json={"email": "bench-clinician@bench.example", "password": PASSWORD}
        ).json["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/patients/{patient_id}/fhir"
        samples, size = [], 0
        for i in range(args.requests + 3):
            started = time.perf_counter()
            resp = client.get(path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            size = len(resp.get_data())
            if i >= 3:  # the first ones warm the imports and the pools
                samples.append(elapsed)
        splits = [phases(app, patient_id, app.config["FHIR_CODE_SYSTEM_URL"]) for _ in range(5)]
        split = {key: statistics.median(s[key] for s in splits) for key in splits[0]}
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            client.get(path, headers=headers)
            profiler.disable()
            order, top = os.environ.get("BENCH_SORT", "tottime"), int(os.environ.get("BENCH_TOP", "12"))
            pstats.Stats(profiler).sort_stats(order).print_stats(top)
    finally:
        with app.app_context():
            db.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    live_entries, sessions, assessments = counts
    resources = 1 + 2 * live_entries + sessions + assessments
    print(
        f"patient: {live_entries} live entries, {sessions} sessions, {assessments} assessments"
        f" -> {resources} resources in the bundle"
    )
    print(
        f"GET /patients/{{id}}/fhir over {len(samples)} requests: p50 {statistics.median(samples):6.1f} ms"
        f"  p95 {percentile(samples, 0.95):6.1f} ms  max {max(samples):6.1f} ms   (target p95 < 500 ms)"
    )
    print(f"response size: {size / 1024:.0f} KiB ({size} bytes)")
    print("one export in process (median of 5): " + ", ".join(f"{k} {v:.0f} ms" for k, v in split.items()))
    print(f"import of the FHIR library (fresh process): {probe[0]} ms, RSS +{probe[1]} MiB (app alone {probe[2]} MiB)")


if __name__ == "__main__":
    main()
