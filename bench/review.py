"""Review pages benchmark on PostgreSQL (run by hand, not in CI).

    .venv/bin/python -m bench.review [--requests 200] [--panel-patients 2000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates its own database (dropped at the end), seeded like bench.summary, signs a clinician
in through the sign-in form and measures the server time of whole page requests through the
Flask test client (page session check, domain call, audit, template, charts):
  1. the patient page of a patient with 2 years of history, default 30-day window and the
     whole 2-year window: p50/p95 (target p95 < 100 ms);
  2. the panel page, 50 of N patients, paging through: p50/p95 (target p95 < 150 ms);
  3. the bytes a first visit transfers: the sign-in page, the stylesheet, the panel and a
     patient page (target < 300 KB), as sent and gzip-compressed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import random
import re
import statistics
import time
import uuid

import psycopg
from sqlalchemy import insert

from bench.summary import PASSWORD, ROOT, add_patient, history, percentile
from diary import create_app
from diary.domain import accounts, panel
from diary.extensions import db
from diary.models import Assessment, Checkin, TreatmentSession
from diary.timeutil import UTC

EMAIL = "bench-clinician@bench.example"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def timed(client, path: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        resp = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, resp.status_code
    return samples


def line(label: str, samples: list[float]) -> str:
    return f"{label}: p50 {statistics.median(samples):6.1f} ms  p95 {percentile(samples, 0.95):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--panel-patients", type=int, default=2000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    rng = random.Random(11)

    name = f"diary_bench_review_{uuid.uuid4().hex[:8]}"
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
            now = dt.datetime.now(UTC)
            clinic = accounts.create_clinic("Bench Clinic")
            accounts.create_staff(clinic, "clinician", EMAIL, PASSWORD)
            two_years = add_patient(clinic.id, "Two Years")
            sessions, checkins, phq9 = history(two_years, 730, 3, now, rng)
            for s in sessions:
                s["clinic_id"] = clinic.id
            db.session.execute(insert(TreatmentSession), sessions)
            db.session.execute(insert(Checkin), checkins)
            db.session.execute(insert(Assessment), phq9)
            ids = [two_years]
            for i in range(args.panel_patients - 1):
                pid = add_patient(clinic.id, f"Panel {i:04d}")
                history(pid, 60, 1, now, rng)
                ids.append(pid)
            db.session.flush()
            panel.recount_moods(ids, now - panel.WEEK)  # as the writes would have counted them
            db.session.commit()
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
            entries = db.session.execute(
                db.text("SELECT count(*) FROM entries WHERE patient_id = :p"), {"p": two_years}
            ).scalar_one()

        client = app.test_client()
        login_page = client.get("/review/login")
        token = CSRF.search(login_page.get_data(as_text=True)).group(1)
        signed_in = client.post("/review/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        assert signed_in.status_code == 303, signed_in.status_code
        patient_page = f"/review/patients/{two_years}"
        two_year_window = f"{patient_page}?from={(now - dt.timedelta(days=730)).date()}&to={now.date()}"
        timed(client, patient_page, 10)  # warm up
        default_window = timed(client, patient_page, args.requests)
        whole_window = timed(client, two_year_window, max(20, args.requests // 4))

        timed(client, "/review/", 5)  # warm up
        panel_ms, cursor, pages = [], None, 0
        while len(panel_ms) < args.requests:
            path = "/review/" + (f"?cursor={cursor}" if cursor else "")
            started = time.perf_counter()
            resp = client.get(path)
            panel_ms.append((time.perf_counter() - started) * 1000)
            assert resp.status_code == 200, resp.status_code
            found = re.search(r'href="/review/\?cursor=([^&"]+)', resp.get_data(as_text=True))
            cursor = found.group(1) if found else None  # the last page: start over
            pages += 1

        first_visit = {"sign-in page": login_page.get_data()}
        stylesheet = re.search(r'href="(/review/static/review\.css[^"]*)"', login_page.get_data(as_text=True)).group(1)
        css = client.get(stylesheet.replace("&amp;", "&"))
        first_visit["stylesheet"] = css.get_data()
        css.close()
        first_visit["panel page"] = client.get("/review/").get_data()
        first_visit["patient page, 30 days"] = client.get(patient_page).get_data()
        two_year_bytes = client.get(two_year_window).get_data()
    finally:
        with app.app_context():
            db.engine.dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(line(f"patient page, 30-day window, {entries} entries (2 years)", default_window))
    print(line("patient page, the whole 2-year window           ", whole_window))
    print(line(f"panel page, 50 of {args.panel_patients} patients ({pages} pages)  ", panel_ms))
    total = sum(len(b) for b in first_visit.values())
    zipped = sum(len(gzip.compress(b)) for b in first_visit.values())
    parts = ", ".join(f"{k} {len(b) / 1024:.1f}" for k, b in first_visit.items())
    print(f"first visit: {total / 1024:.1f} KB as sent ({parts}), {zipped / 1024:.1f} KB gzip-compressed")
    print(
        f"patient page with the 2-year window: {len(two_year_bytes) / 1024:.1f} KB, "
        f"{len(gzip.compress(two_year_bytes)) / 1024:.1f} KB gzip-compressed"
    )


if __name__ == "__main__":
    main()
