"""The review pages in a real browser: Debian's Chromium driven by Playwright against the app
served on 127.0.0.1 from a thread of this process (so the test moves the clock and reads the
database), on SQLite and PostgreSQL. Every page gets an axe-core scan and a full-page
screenshot under screenshots/ (ignored by git).

Playwright's own browser downloads are never used: the system's chromium is launched.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from diary.timeutil import UTC

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
try:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import Browser, Page, sync_playwright

    MISSING = None if os.path.exists(CHROMIUM) else "chromium is not installed (apt-get install chromium)"
except ImportError:
    MISSING = "playwright or axe-playwright-python is not installed (pip install -r requirements-dev.txt)"

pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def demo(app, clock):
    """The demo clinic (three patients, 60 days of history) seeded on the test's clock."""
    from diary.demo import DEMO_PASSWORD, seed
    from diary.extensions import db

    clock.set(NOW)
    with app.app_context():
        seeded = seed()
        db.session.commit()
    return {**seeded, "password": DEMO_PASSWORD}


@pytest.fixture
def server(app) -> Iterator[str]:
    from werkzeug.serving import make_server

    served = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{served.server_port}"
    served.shutdown()
    served.server_close()
    thread.join(timeout=5)


@pytest.fixture
def page(browser, server) -> Iterator[Page]:
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    # Any request to another host fails the test: the pages must need nothing from outside.
    elsewhere: list[str] = []
    context.route(
        lambda url: not url.startswith(server) and not url.startswith("data:"),
        lambda route: (elsewhere.append(route.request.url), route.abort()),
    )
    opened = context.new_page()
    yield opened
    context.close()
    assert elsewhere == []


def look(page: Page, backend: str, name: str) -> None:
    """Scan with axe-core (no serious or critical violation) and keep a full-page screenshot."""
    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{backend}-{name}.png"), full_page=True)


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/review/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")


def clinician_token(world, demo) -> str:
    return world.login("clinician@demo.example", demo["password"])["access_token"]


def test_a_clinician_reads_the_panel_and_a_patient_with_the_apis_numbers(page, demo, world, api, backend):
    token = clinician_token(world, demo)
    page.goto("/review/login")
    look(page, backend, "login")
    sign_in(page, "clinician@demo.example", demo["password"])
    assert page.url.endswith("/review/")
    expected = api.get("/patients", token=token).json["items"]
    rows = page.locator("tr[data-patient-id]")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.patientId)") == [i["id"] for i in expected]
    look(page, backend, "panel")

    for name in ("Alex Responder", "Blake Flat", "Casey Anxious"):
        page.goto("/review/")
        page.click(f"text={name}")
        patient_id = demo["patient_ids"][name]
        assert f"/review/patients/{patient_id}" in page.url
        page.click("text=90 days")
        first = page.input_value("#from")
        last = page.input_value("#to")
        summary = api.get(f"/patients/{patient_id}/summary?from={first}&to={last}", token=token).json
        daily = page.locator('table[data-table="daily"] tbody tr[data-date]').evaluate_all(
            "rows => rows.map(r => [r.dataset.date,"
            " ...[...r.querySelectorAll('[data-field]')].map(c => c.dataset.value)])"
        )
        assert daily == [
            [d["date"], repr(d["mood_mean"]), repr(d["anxiety_mean"]), str(d["n"])] for d in summary["daily"]
        ]
        sessions = page.locator("[data-session-id]").evaluate_all("rows => rows.map(r => r.dataset.sessionId)")
        assert sessions == [s["id"] for s in summary["sessions"]]
        phq9 = page.locator('table[data-table="phq9"] [data-field="total"]').evaluate_all(
            "cells => cells.map(c => Number(c.dataset.value))"
        )
        assert phq9 == [s["total"] for s in summary["assessments"]["phq9"]]
        assert page.locator("#chart-response svg polyline").count() >= 1, f"{name}: no response drawn"
        look(page, backend, f"patient-{name.split()[0].lower()}")

    page.goto("/review/alerts")
    look(page, backend, "alerts")
    page.emulate_media(media="print")
    page.goto(f"/review/patients/{demo['patient_ids']['Alex Responder']}")
    assert page.locator("form.record-session").is_hidden()
    page.screenshot(path=str(SCREENSHOTS / f"{backend}-patient-print.png"), full_page=True)
    page.emulate_media(media="screen")


def test_alerts_are_acknowledged_and_resolved_with_the_buttons(page, demo, world, backend):
    sign_in(page, "clinician@demo.example", demo["password"])
    open_alerts = world.rows("SELECT id, patient_id FROM alerts WHERE status = 'open' ORDER BY opened_at")
    assert open_alerts, "the demo has open alerts"
    alert_id, patient_id = open_alerts[0]
    page.goto(f"/review/patients/{patient_id}")
    item = page.locator(f'[data-alert-id="{alert_id}"]')
    item.get_by_role("button", name="Acknowledge").click()
    assert f"/review/patients/{patient_id}" in page.url
    assert page.locator(".notice").inner_text() == "Alert acknowledged."
    assert world.rows("SELECT status FROM alerts WHERE id = :a", a=alert_id) == [("acknowledged",)]
    item = page.locator(f'[data-alert-id="{alert_id}"]')
    assert item.get_by_role("button", name="Acknowledge").count() == 0
    item.get_by_label("Resolution note").fill("Phoned; follow-up booked")
    item.get_by_role("button", name="Resolve").click()
    assert world.rows("SELECT status, resolution_note FROM alerts WHERE id = :a", a=alert_id) == [
        ("resolved", "Phoned; follow-up booked")
    ]
    page.goto("/review/alerts?status=resolved")
    assert page.locator(f'[data-alert-id="{alert_id}"]').count() == 1
    look(page, backend, "alerts-resolved")


def test_a_session_is_recorded_through_the_form_in_the_patients_local_time(page, demo, world, backend):
    sign_in(page, "clinician@demo.example", demo["password"])
    patient_id = demo["patient_ids"]["Blake Flat"]  # Europe/Berlin, UTC+1 in February
    page.goto(f"/review/patients/{patient_id}")
    before = page.locator("[data-session-id]").count()
    assert "Europe/Berlin" in page.locator('label[for="session-time"]').inner_text()
    page.fill("#session-date", "2026-02-28")
    page.fill("#session-time", "16:45")
    page.select_option("#session-route", "intranasal")
    page.fill("#session-dose", "abc")
    page.click("text=Record session")
    assert page.locator("#session-problems").inner_text().count("Dose:") == 1
    look(page, backend, "patient-form-error")
    page.fill("#session-dose", "56")
    page.click("text=Record session")
    assert page.locator(".notice").inner_text() == "Session recorded."
    assert page.locator("[data-session-id]").count() == before + 1
    stored = world.rows(
        "SELECT started_at, route, dose_mg FROM treatment_sessions WHERE patient_id = :p"
        " ORDER BY started_at DESC LIMIT 1",
        p=patient_id,
    )
    started_at, route, dose = stored[0]
    started = started_at if isinstance(started_at, dt.datetime) else dt.datetime.fromisoformat(str(started_at))
    assert (started.replace(tzinfo=UTC), route, dose) == (
        dt.datetime(2026, 2, 28, 15, 45, tzinfo=UTC),
        "intranasal",
        56.0,
    )


def test_the_browser_is_signed_out_after_the_idle_minutes(page, demo, clock, backend):
    sign_in(page, "clinician@demo.example", demo["password"])
    clock.advance(minutes=16)
    page.goto("/review/alerts")
    assert "/review/login" in page.url
    assert "signed out after a while without activity" in page.locator(".notice").inner_text()


def test_refusals_read_as_pages_and_a_forged_post_changes_nothing(page, demo, world, api, backend):
    other = world.staff(world.clinic("Another Clinic"))
    stranger = world.patient(other)
    # A patient account is refused at the door.
    sign_in(page, "responder@demo.example", demo["password"])
    assert "Patient accounts sign in with the phone app" in page.locator(".problem").inner_text()
    look(page, backend, "login-patient-refused")
    sign_in(page, "clinician@demo.example", demo["password"])
    response = page.goto(f"/review/patients/{stranger.id}")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    look(page, backend, "not-found")
    # A POST without the form's token, with the session cookie: refused, nothing changed.
    alert_id = world.rows("SELECT id FROM alerts WHERE status = 'open' LIMIT 1")[0][0]
    forged = page.request.post(f"/review/alerts/{alert_id}/acknowledge", form={"next": "/review/alerts"})
    assert forged.status == 400
    assert world.rows("SELECT status FROM alerts WHERE id = :a", a=alert_id) == [("open",)]


def test_ops_see_the_alert_queue_and_not_the_patients(page, demo, backend):
    sign_in(page, "ops@demo.example", demo["password"])
    assert page.url.endswith("/review/alerts")
    look(page, backend, "alerts-ops")
    response = page.goto(f"/review/patients/{demo['patient_ids']['Alex Responder']}")
    assert response.status == 403
    look(page, backend, "forbidden")
