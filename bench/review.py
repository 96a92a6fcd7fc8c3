"""Review pages benchmark on PostgreSQL (run by hand, not in CI).

    .venv/bin/python -m bench.review [--requests 200] [--panel-patients 2000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates its own database (dropped at the end), seeded like bench.summary, signs a clinician
in through the sign-in form and measures the server time of whole page requests through the
Flask test client (page session check, domain call, audit, template, charts):
  1. the patient page of a patient with 2 years of history, default 30-day window and the
     whole 2-year window: p50/p95 (target p95 < 100 ms);
  2. the panel page, 50 of N patients, paging through, riskiest first and soonest wear-off
     first (every panel patient has sessions, so their forecasts are real, computed once
     before as the worker does): p50/p95 (target p95 < 150 ms);
  3. the clinic outcomes page, the default year (every panel patient in the cohort) and the
     last 90 days: p50/p95 (target p95 < 300 ms);
  4. the bytes a first visit transfers: the sign-in page, the stylesheet, the panel and a
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


def paged(client, first: str, n: int) -> tuple[list[float], int]:
    """`n` requests walking the pages from `first` by their "Next page" links (starting over
    after the last); the server time of each and how many pages were read."""
    samples, path, pages = [], first, 0
    while len(samples) < n:
        started = time.perf_counter()
        resp = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert resp.status_code == 200, resp.status_code
        found = re.search(r'href="(/review/\?[^"]*cursor=[^"]+)" rel="next"', resp.get_data(as_text=True))
        path = found.group(1).replace("&amp;", "&") if found else first  # the last page: start over
        pages += 1
    return samples, pages


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
                # Sessions 0, 21 and 42 days ago: the older two usually have a measured effect.
                sessions, checkins, phq9 = history(pid, 60, 1, now, rng)
                for s in sessions:
                    s["clinic_id"] = clinic.id
                db.session.execute(insert(TreatmentSession), sessions)
                db.session.execute(insert(Checkin), checkins)
                db.session.execute(insert(Assessment), phq9)
                ids.append(pid)
            db.session.flush()
            panel.recount_moods(ids, now - panel.WEEK)  # as the writes would have counted them
            db.session.commit()
            started = time.perf_counter()
            forecasted = panel.refresh_forecasts(now)  # the worker's job, once after seeding
            db.session.commit()
            forecast_seconds = time.perf_counter() - started
            with_forecast = db.session.execute(
                db.text("SELECT count(*) FROM patient_panel WHERE expected_wear_off_date IS NOT NULL")
            ).scalar_one()
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
        panel_ms, pages = paged(client, "/review/", args.requests)
        timed(client, "/review/?order=wears_off", 5)  # warm up
        wears_off_ms, wears_off_pages = paged(client, "/review/?order=wears_off", args.requests)

        outcome_requests = max(20, args.requests // 4)
        ninety = f"/review/outcomes?from={(now - dt.timedelta(days=89)).date()}&to={now.date()}"
        timed(client, "/review/outcomes", 3)  # warm up
        outcomes_year = timed(client, "/review/outcomes", outcome_requests)
        outcomes_ninety = timed(client, ninety, outcome_requests)

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
    print(line(f"panel page, soonest wear-off ({wears_off_pages} pages)       ", wears_off_ms))
    print(line(f"outcomes page, default year ({args.panel_patients - 1} patients)  ", outcomes_year))
    print(line("outcomes page, last 90 days                    ", outcomes_ninety))
    print(
        f"forecasts: {with_forecast} of {args.panel_patients} patients have one; "
        f"{forecasted} computed after seeding in {forecast_seconds:.1f} s (the worker's refresh)"
    )
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
