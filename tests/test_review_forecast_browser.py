"""The forecast and outcomes pages in a real browser (fixtures of tests/test_review_browser.py):
the panel switched to "Soonest wear-off", a patient's chart with the forecast, the outcomes
page opened through a preset; axe-core scans and screenshots under screenshots/."""

from __future__ import annotations

import pytest

from tests import test_review_browser as shared
from tests.test_review_browser import MISSING, SCREENSHOTS, clinician_token, look, sign_in

# The browser module's fixtures, shared (registered here by name).
browser, demo, server, page = shared.browser, shared.demo, shared.server, shared.page

pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"browser tests skipped: {MISSING}")


def test_the_panel_switches_to_soonest_wear_off(page, demo, world, api, backend):
    token = clinician_token(world, demo)
    sign_in(page, "clinician@demo.example", demo["password"])
    page.wait_for_url("**/review/")
    page.click("nav.tabs >> text=Soonest wear-off")
    page.wait_for_url("**/review/?order=wears_off")
    shown = page.eval_on_selector_all("tr[data-patient-id]", "rows => rows.map(r => r.dataset.patientId)")
    items = api.get("/patients", token=token, query_string={"order": "wears_off"}).json["items"]
    assert shown == [item["id"] for item in items]
    dates = page.eval_on_selector_all(
        'td[data-field="expected_wear_off_date"]', "cells => cells.map(c => c.dataset.value)"
    )
    assert dates == [item["expected_wear_off_date"] or "" for item in items]
    assert any(dates), "the demo has forecasts"
    look(page, backend, "panel-wears-off")
    # The latest forecast (the demo's is still ahead): its patient page draws it on the
    # daily chart, which runs on past today to show it.
    latest = max((item for item in items if item["expected_wear_off_date"]), key=lambda i: i["expected_wear_off_date"])
    page.click(f'tr[data-patient-id="{latest["id"]}"] th a')
    page.wait_for_selector('table[data-table="forecast"]')
    assert page.locator("#chart-daily svg text", has_text="Expected wear-off").count() == 1
    look(page, backend, "patient-forecast")
    page.locator("section:has(#chart-daily)").screenshot(path=str(SCREENSHOTS / f"{backend}-forecast-chart.png"))


def test_the_outcomes_page_opens_with_a_preset(page, demo, world, api, backend):
    token = clinician_token(world, demo)
    sign_in(page, "clinician@demo.example", demo["password"])
    page.wait_for_url("**/review/")
    page.click('nav[aria-label="Main"] >> text=Outcomes')
    page.wait_for_selector("[data-figure=patients]")
    page.click("a[data-preset='90']")
    page.wait_for_url("**/review/outcomes?from=*")
    query = dict(part.split("=") for part in page.url.split("?", 1)[1].split("&"))
    body = api.get("/clinic/outcomes", token=token, query_string=query).json
    shown = page.get_attribute("[data-figure=patients]", "data-count")
    assert int(shown) == body["patients"]
    assert page.get_attribute("[data-figure=completed]", "data-count") == str(body["induction"]["completed"])
    look(page, backend, "outcomes-90-days")
    page.fill("#cohort-from", "2026-02-20")
    page.fill("#cohort-to", "2026-01-01")
    page.click("#cohort-dates button")
    page.wait_for_selector(".problem[role=alert]")
    assert "must not be after" in page.inner_text(".problem[role=alert]")
    look(page, backend, "outcomes-refused")
