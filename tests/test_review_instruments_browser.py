"""The patient page's measures in a real browser (the fixtures of test_review_browser.py):
a MADRS rated through its form, monitoring with a raised blood pressure recorded through its
form, and axe-core scans and screenshots of the page with all of it shown."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.test_review_browser import (  # noqa: F401  (fixtures used by name)
    MISSING,
    SCREENSHOTS,
    browser,
    demo,
    look,
    page,
    server,
    sign_in,
)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")


def as_instant(value) -> dt.datetime:
    instant = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return instant.replace(tzinfo=dt.UTC) if instant.tzinfo is None else instant


def test_a_madrs_and_a_monitoring_record_are_entered_through_their_forms(page, demo, world, backend):  # noqa: F811
    sign_in(page, "clinician@demo.example", demo["password"])
    patient_id = demo["patient_ids"]["Blake Flat"]  # Europe/Berlin
    page.goto(f"/review/patients/{patient_id}")

    # MADRS: the ten items by name, 0-6 each; 2026-03-01 10:15 in Berlin is 09:15Z.
    page.click("#rate > summary")
    page.fill("#rate-date", "2026-03-01")
    page.fill("#rate-time", "10:15")
    answers = [4, 3, 3, 2, 2, 3, 2, 3, 2, 1]  # 25: moderate (20-34)
    for item, score in enumerate(answers, 1):
        page.locator(f'#rate-item-{item} input[value="{score}"]').check()
    look(page, backend, "patient-rate-madrs")
    page.click("text=Record MADRS")
    assert page.locator(".notice").inner_text() == "Rating recorded."
    stored = world.rows(
        "SELECT total, severity, recorded_at FROM assessments WHERE patient_id = :p AND instrument = 'madrs'"
        " ORDER BY recorded_at DESC LIMIT 1",
        p=patient_id,
    )
    total, severity, recorded_at = stored[0]
    assert (total, severity, as_instant(recorded_at)) == (25, "moderate", dt.datetime(2026, 3, 1, 9, 15, tzinfo=dt.UTC))
    last = page.locator('table[data-table="madrs"] tbody tr').last
    assert last.locator('[data-field="total"]').get_attribute("data-value") == "25"
    assert last.locator('[data-field="recorded_at"]').inner_text() == "2026-03-01 10:15"

    # Monitoring of the latest session: a reading of 185/100 half an hour after the dose.
    session_id, started_at = world.rows(
        "SELECT id, started_at FROM treatment_sessions WHERE patient_id = :p AND deleted_at IS NULL"
        " ORDER BY started_at DESC LIMIT 1",
        p=patient_id,
    )[0]
    local = as_instant(started_at).astimezone(ZoneInfo("Europe/Berlin"))
    versions = world.rows("SELECT count(*) FROM session_monitoring WHERE session_id = :s", s=session_id)[0][0]
    block = page.locator(f'[data-monitoring-session-id="{session_id}"]')
    block.locator(".chair-action a").click()
    assert page.locator("form.monitor-form").count() == 1
    page.select_option("#monitor-sedation", "mild")
    page.select_option("#monitor-dissociation", "moderate")
    page.fill("#monitor-vital-1-time", f"{local + dt.timedelta(minutes=30):%H:%M}")
    page.fill("#monitor-vital-1-systolic", "185")
    page.fill("#monitor-vital-1-diastolic", "100")
    page.fill("#monitor-vital-1-heart_rate", "92")
    page.fill("#monitor-vital-1-spo2", "97")
    page.fill("#monitor-vital-3-time", f"{local + dt.timedelta(minutes=50):%H:%M}")
    page.fill("#monitor-vital-3-systolic", "120")
    page.fill("#monitor-vital-3-diastolic", "130")
    page.fill("#monitor-vital-3-heart_rate", "80")
    page.click("text=Save monitoring")
    assert page.locator("#monitor-problems li").all_inner_texts() == ["Reading 3, diastolic: Must be below systolic."]
    look(page, backend, "patient-monitoring-refused")
    page.fill("#monitor-vital-3-diastolic", "80")
    page.click("text=Save monitoring")
    assert page.locator(".notice").inner_text() == "Monitoring recorded."
    assert world.rows(
        "SELECT version, sedation, dissociation FROM session_monitoring WHERE session_id = :s"
        " ORDER BY version DESC LIMIT 1",
        s=session_id,
    ) == [(versions + 1, "mild", "moderate")]
    cell = page.locator(f'tr[data-session-id="{session_id}"] [data-field="chair"]')
    assert cell.locator(".badge").all_inner_texts() == ["⚠ BP ≥ 180/110"]
    flagged = page.locator(f'[data-monitoring-session-id="{session_id}"] tr[data-flagged]')
    assert flagged.locator('[data-field="bp"]').get_attribute("data-value") == "185/100"
    look(page, backend, "patient-measures")
    for section in ("sessions", "monitoring", "ratings"):
        page.locator(f"#{section}").screenshot(path=str(SCREENSHOTS / f"{backend}-patient-section-{section}.png"))
    page.goto(f"/review/patients/{patient_id}?monitor={session_id}")
    look(page, backend, "patient-monitoring-form")
    page.locator("form.monitor-form").screenshot(path=str(SCREENSHOTS / f"{backend}-patient-section-monitor-form.png"))
    page.emulate_media(media="print")
    page.goto(f"/review/patients/{patient_id}")
    assert page.locator("#rate").is_hidden()
    page.screenshot(path=str(SCREENSHOTS / f"{backend}-patient-measures-print.png"), full_page=True)
    page.emulate_media(media="screen")
