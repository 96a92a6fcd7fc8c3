"""The forecast on the review pages (API.md "Forecast"): the patient page's daily chart and
table, and the panel's "Wears off" column and "Soonest wear-off" order.

Every date is worked out by hand from the sessions posted: tests.treatment.measured_sessions
gives each session an effect of a known number of days. The clock stays at NOW
(2026-03-01 12:00Z): the local today is 1 March in Berlin and 2 March in Kiritimati.

The standard history (PLAN): sessions on 1 Feb (effect 3 days), 12 Feb (effect 5 days) and
28 Feb (a baseline, no effect measured yet). The basis: the two measured ones, effects 3 and
5; counted from the latest session's local day, 28 Feb:
- expected: + median(3, 5) = + 4 days -> 4 March
- earliest: + 3 -> 3 March; latest: + 5 -> 5 March.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from diary.domain.forecast import Forecast
from diary.review import charts
from tests.alerting import BERLIN, KIRITIMATI, NOW
from tests.conftest import Account
from tests.review_pages import Pages, audit_rows, soup, table_rows
from tests.treatment import day, measured_sessions

PLAN = [(day("2026-02-01"), 3), (day("2026-02-12"), 5), (day("2026-02-28"), None)]


def sign_in(app, account: Account) -> Pages:
    pages = Pages(app)
    assert pages.login(account.email).status_code == 303
    return pages


def treated(world, api, clinician: Account, timezone: str = BERLIN, plan=None) -> Account:
    patient = world.patient(clinician, timezone)
    measured_sessions(api, clinician, patient, plan or PLAN, timezone)
    return patient


@pytest.fixture
def scene(clock, world, api):
    clock.set(NOW)
    clinician = world.staff(world.clinic())
    return clinician


def forecast_table(page) -> dict[str, dict[str, str]]:
    table = page.select_one('table[data-table="forecast"]')
    assert table is not None
    return {row["data-row"]: row for row in table_rows(page, "forecast")}


# --- the patient page ------------------------------------------------------------------------


def test_the_forecast_table_gives_each_date_and_its_words_from_the_patients_today(app, scene, world, api):
    patient = treated(world, api, scene)
    page = soup(sign_in(app, scene).get(f"/review/patients/{patient.id}"))
    rows = forecast_table(page)
    # Berlin's today is 1 March: 4 March is in 3 days, 3 March in 2, 5 March in 4.
    assert {key: (row["date"], row["words"]) for key, row in rows.items()} == {
        "expected_wear_off_date": ("2026-03-04", "in 3 days"),
        "earliest": ("2026-03-03", "in 2 days"),
        "latest": ("2026-03-05", "in 4 days"),
    }
    basis = page.select_one('.forecast [data-field="basis"]')
    assert basis["data-value"] == "2"
    # The default window (31 Jan - 1 Mar) holds both basis sessions.
    assert basis.get_text(" ", strip=True).startswith("Based on 2 sessions with a measured effect:")
    # Not due yet: 1 March is before 4 March - 2 days.
    assert "due" not in page.select_one('tr[data-row="expected_wear_off_date"]').get("class", [])


def test_in_kiritimati_the_same_dates_are_a_day_nearer_and_due(app, scene, world, api):
    patient = treated(world, api, scene, KIRITIMATI)
    page = soup(sign_in(app, scene).get(f"/review/patients/{patient.id}"))
    rows = forecast_table(page)
    # Kiritimati's today is 2 March: 4 March is in 2 days (due: 2 March >= 4 March - 2), 3 March tomorrow.
    assert {key: row["words"] for key, row in rows.items()} == {
        "expected_wear_off_date": "in 2 days",
        "earliest": "tomorrow",
        "latest": "in 3 days",
    }
    assert "due" in page.select_one('tr[data-row="expected_wear_off_date"]')["class"]


def test_the_basis_names_the_sessions_before_the_window(app, scene, world, api):
    patient = treated(world, api, scene)
    page = soup(sign_in(app, scene).get(f"/review/patients/{patient.id}?from=2026-02-10&to=2026-03-01"))
    basis = page.select_one('.forecast [data-field="basis"]').get_text(" ", strip=True)
    assert basis.startswith("Based on 2 sessions with a measured effect (1 before this window):")


def test_a_window_in_the_past_tells_the_dates_from_today_and_says_the_forecast_is_off_the_chart(app, scene, world, api):
    patient = treated(world, api, scene)
    page = soup(sign_in(app, scene).get(f"/review/patients/{patient.id}?from=2026-01-20&to=2026-02-10"))
    rows = forecast_table(page)
    assert rows["expected_wear_off_date"]["words"] == "in 3 days"
    basis = page.select_one('.forecast [data-field="basis"]').get_text(" ", strip=True)
    assert "(1 after this window)" in basis  # the basis: 1 Feb (inside) and 12 Feb (after)
    figure = page.select_one("#chart-daily")
    assert "The forecast (Mar 3 to Mar 5) lies outside this chart." in figure.get_text(" ", strip=True)
    assert figure.select("svg text")  # the chart is drawn ...
    assert "today" not in [t.get_text() for t in figure.select("svg text")]  # ... and does not run on


def test_without_two_measured_sessions_there_is_no_forecast(app, scene, world, api):
    patient = treated(world, api, scene, plan=[(day("2026-02-12"), 5), (day("2026-02-28"), None)])
    page = soup(sign_in(app, scene).get(f"/review/patients/{patient.id}"))
    assert page.select_one('table[data-table="forecast"]') is None
    note = page.select_one('.forecast [data-field="basis"]')
    assert note.get_text(" ", strip=True) == "No forecast yet: needs two sessions with a measured effect."
    assert "Expected wear-off" not in page.select_one("#chart-daily").get_text()


def _svg_texts(page) -> list[str]:
    return [t.get_text(" ", strip=True) for t in page.select("#chart-daily svg text")]


def test_the_daily_chart_runs_on_past_today_to_the_latest_wear_off_day(app, scene, world, api):
    patient = treated(world, api, scene)
    page = soup(sign_in(app, scene).get(f"/review/patients/{patient.id}?from=2026-02-10&to=2026-03-01"))
    texts = _svg_texts(page)
    assert "Expected wear-off Mar 4" in texts
    assert "today" in texts
    # 10 Feb .. 5 Mar: 24 days over the plot's 660 pixels (44 .. 704); 4 March's middle is
    # day 22.5: 44 + 22.5 / 24 * 660 = 662.75; today (1 March) is day 19.5: 580.25.
    dashed = page.select_one('#chart-daily svg line[stroke-dasharray="8 4"]')
    assert float(dashed["x1"]) == pytest.approx(662.75, abs=0.06)
    today_line = page.select_one('#chart-daily svg line[stroke="#595959"][stroke-width="1.5"]')
    assert float(today_line["x1"]) == pytest.approx(580.25, abs=0.06)
    # The shaded range: 3 March's start (day 21: 621.5) to 5 March's end (day 24: 704).
    shade = page.select_one("#chart-daily svg rect[fill-opacity]")
    assert (float(shade["x"]), float(shade["x"]) + float(shade["width"])) == pytest.approx((621.5, 704.0), abs=0.1)
    assert "Today (the chart runs on to show the forecast)" in page.select_one("#chart-daily .legend").get_text()
    assert not page.select("#chart-daily .chart-note")


def test_the_extension_is_capped_at_the_windows_length_and_the_clipped_range_says_so(app, scene, world, api):
    patient = treated(world, api, scene)
    # A window of 2 days (28 Feb - 1 Mar): the chart may run on 2 days, to 3 March only.
    page = soup(sign_in(app, scene).get(f"/review/patients/{patient.id}?from=2026-02-28&to=2026-03-01"))
    notes = [p.get_text(" ", strip=True) for p in page.select("#chart-daily .chart-note")]
    assert "The wear-off range runs on past this chart, to Mar 5." in notes
    assert "The expected wear-off day, Mar 4, is not on this chart." in notes
    assert "Expected wear-off Mar 4" not in _svg_texts(page)
    assert "today" in _svg_texts(page)


def test_shown_until_and_the_mark_by_hand():
    expected = Forecast(day("2026-03-04"), day("2026-03-03"), day("2026-03-05"), 2, ["a", "b"], "c")
    first, today = day("2026-02-20"), day("2026-03-01")
    assert charts.shown_until(first, today, expected, today) == day("2026-03-05")
    assert charts.shown_until(first, day("2026-02-27"), expected, today) == day("2026-02-27")  # not ending today
    assert charts.shown_until(first, today, None, today) == today
    # A 3-day window (27 Feb .. 1 Mar) runs on 3 days at most: to 4 March.
    assert charts.shown_until(day("2026-02-27"), today, expected, today) == day("2026-03-04")
    # 20 Feb .. 5 Mar is 14 days on a 0..14 scale of 14 px a day: the range 3 Mar (day 11)
    # to the end of 5 Mar (day 14), the expected day's middle at 12.5.
    x = charts.Scale(0, 14, 0, 140)
    mark, notes = charts.wear_off_mark(expected, first, day("2026-03-05"), x)
    assert (mark.shade_x, mark.shade_width, mark.expected_x, mark.label) == (110, 30, 125, "Expected wear-off Mar 4")
    assert notes == []


# --- the panel -------------------------------------------------------------------------------


@pytest.fixture
def panel_scene(scene, world, api):
    """Four patients: Berlin, expected 4 March (in 3 days, not due); Kiritimati, expected
    4 March (in 2 days, due); Berlin with sessions a month earlier, expected 4 February
    (25 days ago, due); and one without sessions (no forecast)."""
    soon = treated(world, api, scene, BERLIN)
    kiritimati = treated(world, api, scene, KIRITIMATI)
    # 3 Jan (3 days) and 14 Jan (5 days), latest 31 Jan: expected 31 Jan + 4 = 4 Feb.
    early = treated(
        world, api, scene, BERLIN, plan=[(day("2026-01-03"), 3), (day("2026-01-14"), 5), (day("2026-01-31"), None)]
    )
    untreated = world.patient(scene, BERLIN)
    return {"clinician": scene, "soon": soon, "kiritimati": kiritimati, "early": early, "untreated": untreated}


def _api_order(api, clinician: Account, **query) -> list[dict]:
    resp = api.get("/patients", token=clinician.token, query_string={"order": "wears_off", "limit": 200, **query})
    assert resp.status_code == 200, resp.json
    return resp.json["items"]


def test_the_soonest_wear_off_tab_lists_the_apis_order_with_dates_words_and_due(app, panel_scene, api):
    p = panel_scene
    pages = sign_in(app, p["clinician"])
    page = soup(pages.get("/review/?order=wears_off"))
    rows = table_rows(page, "panel")
    assert [r["data-patient-id"] for r in rows] == [item["id"] for item in _api_order(api, p["clinician"])]
    # By hand: 4 Feb first, then the two of 4 March by id, the one without a forecast last.
    by_id = sorted([p["soon"].id, p["kiritimati"].id])
    assert [r["data-patient-id"] for r in rows] == [p["early"].id, *by_id, p["untreated"].id]
    cells = {r["data-patient-id"]: r for r in rows}
    column = {
        pid: (cell["expected_wear_off_date"], page.select_one(f'tr[data-patient-id="{pid}"] td.wears-off'))
        for pid, cell in cells.items()
    }
    assert column[p["early"].id][0] == "2026-02-04"
    assert column[p["early"].id][1]["data-words"] == "25 days ago"
    assert column[p["soon"].id][1]["data-words"] == "in 3 days"
    assert column[p["kiritimati"].id][1]["data-words"] == "in 2 days"
    assert column[p["untreated"].id][0] == ""
    assert column[p["untreated"].id][1].get_text(strip=True) == "—"
    due = {pid for pid, (_, td) in column.items() if "due" in td["class"]}
    assert due == {p["early"].id, p["kiritimati"].id}
    tab = page.select_one('nav.tabs a[aria-current="page"]')
    assert tab.get_text(strip=True) == "Soonest wear-off"


def test_the_risk_order_shows_the_column_too(app, panel_scene):
    page = soup(sign_in(app, panel_scene["clinician"]).get("/review/"))
    assert page.select_one('nav.tabs a[aria-current="page"]').get_text(strip=True) == "Riskiest first"
    cells = {r["data-patient-id"]: r["expected_wear_off_date"] for r in table_rows(page, "panel")}
    assert cells[panel_scene["soon"].id] == "2026-03-04"
    assert cells[panel_scene["untreated"].id] == ""


def test_paging_keeps_the_wear_off_order(app, panel_scene, api):
    p = panel_scene
    pages = sign_in(app, p["clinician"])
    seen, path = [], "/review/?order=wears_off&limit=1"
    while path:
        page = soup(pages.get(path))
        seen += [r["data-patient-id"] for r in table_rows(page, "panel")]
        link = page.select_one('nav.pager a[rel="next"]')
        path = link["href"] if link else None
        if path:
            assert parse_qs(urlsplit(path).query)["order"] == ["wears_off"]
    assert seen == [item["id"] for item in _api_order(api, p["clinician"])]
    assert len(seen) == 4


def test_searching_keeps_the_wear_off_order(app, panel_scene):
    page = soup(sign_in(app, panel_scene["clinician"]).get("/review/?order=wears_off"))
    form = page.select_one("form.search")
    assert form.select_one('input[name="order"]')["value"] == "wears_off"
    page = soup(sign_in(app, panel_scene["clinician"]).get("/review/?order=wears_off&q=Pat"))
    assert len(table_rows(page, "panel")) == 4
    assert page.select_one('nav.tabs a[aria-current="page"]')["data-order"] == "wears_off"


def test_the_wear_off_order_is_audited_as_the_api_read(app, panel_scene, world):
    before = len(audit_rows(world))
    sign_in(app, panel_scene["clinician"]).get("/review/?order=wears_off")
    new = audit_rows(world)[before:]
    panel_reads = sorted(r for r in new if r[0] == "panel.read")
    expected = sorted(
        ("panel.read", p.id, "patient", p.id)
        for p in (panel_scene["soon"], panel_scene["kiritimati"], panel_scene["early"], panel_scene["untreated"])
    )
    assert panel_reads == expected


def test_a_bad_order_is_refused(app, scene):
    resp = sign_in(app, scene).get("/review/?order=alphabetical")
    assert resp.status_code == 422
    assert "order" in soup(resp).select_one(".problem").get_text()
