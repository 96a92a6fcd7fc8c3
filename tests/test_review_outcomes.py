"""The clinic outcomes page, /review/outcomes (API.md "Clinic outcomes"): a small cohort
built by hand, every figure counted by hand here and equal to GET /clinic/outcomes; bad
dates, roles and the audit.

The clock stays at NOW (2026-03-01 12:00Z, 13:00 in Berlin). The cohort asked for: first
sessions from 2025-12-01 to 2026-02-28. Sessions at 10:00, PHQ-9s at 12:00, Berlin time.

- "completer": 6 sessions on 1, 5, 9, 13, 17, 21 Jan (all within days 0-27): induction
  completed. PHQ-9 20 on 30 Dec (day -2): a baseline. PHQ-9 4 on 29 Jan (day 28): measured
  at week 4, a response (4 <= 20 / 2) and a remission (4 < 5).
- "dropped": one session on 10 Jan, 50 days before today (> 14): dropped after the first.
  PHQ-9 12 on 5 Jan (day -5): a baseline. PHQ-9 9 on 5 Feb (day 26): measured at week 4,
  no response (9 > 6), no remission.
- "measured": sessions on 5 Feb (effect 2 days) and 15 Feb (effect 3 days). PHQ-9 8 on
  4 Feb: below 10, no baseline.
- "earlier": one session on 15 Nov 2025: not in the cohort.
- another clinic's patient with a session on 1 Jan: not counted.

By hand: 3 patients; completed 1 of 3; dropped 1 of 3; with a baseline 2 of 3; week 4:
measured 2 of 2, response 1 of 2, remission 1 of 2; week 12 (days 70-98, not reached by
1 March for anyone): measured 0 of 2, response and remission 0 of 0; effect days: 2 sessions
(2 and 3 days), median 2.5.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.alerting import BERLIN, NOW, iso
from tests.conftest import Account
from tests.review_pages import Pages, audit_rows, soup
from tests.treatment import day, local, measured_sessions, session_on

FROM, TO = "2025-12-01", "2026-02-28"
NOON = dt.time(12, 0)


def sign_in(app, account: Account) -> Pages:
    pages = Pages(app)
    assert pages.login(account.email).status_code == 303
    return pages


def post_phq9(api, patient: Account, on: str, total: int) -> None:
    answers = [0] * 9
    for i in range(total):  # item 9 (self-harm) stays 0
        answers[i % 8] += 1
    body = {
        "id": str(uuid.uuid4()),
        "instrument": "phq9",
        "answers": answers,
        "recorded_at": iso(local(day(on), NOON, BERLIN)),
    }
    resp = api.post("/me/assessments", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    assert resp.json["total"] == total


@pytest.fixture
def cohort(clock, world, api):
    clock.set(NOW)
    clinic = world.clinic()
    clinician, ops = world.staff(clinic), world.staff(clinic, role="ops")
    completer, dropped, measured, earlier = (world.patient(clinician, BERLIN) for _ in range(4))
    for on in ("2026-01-01", "2026-01-05", "2026-01-09", "2026-01-13", "2026-01-17", "2026-01-21"):
        session_on(api, clinician, completer, day(on), BERLIN)
    post_phq9(api, completer, "2025-12-30", 20)
    post_phq9(api, completer, "2026-01-29", 4)
    session_on(api, clinician, dropped, day("2026-01-10"), BERLIN)
    post_phq9(api, dropped, "2026-01-05", 12)
    post_phq9(api, dropped, "2026-02-05", 9)
    measured_sessions(api, clinician, measured, [(day("2026-02-05"), 2), (day("2026-02-15"), 3)], BERLIN)
    post_phq9(api, measured, "2026-02-04", 8)
    session_on(api, clinician, earlier, day("2025-11-15"), BERLIN)
    other = world.staff(world.clinic("Other"))
    session_on(api, other, world.patient(other, BERLIN), day("2026-01-01"), BERLIN)
    return {"clinician": clinician, "ops": ops}


def figures(page) -> dict[str, tuple[str, str, str]]:
    """Each figure: (count, total, the text shown)."""
    return {
        f["data-figure"]: (f["data-count"], f.get("data-total", ""), f.select_one(".value").get_text(" ", strip=True))
        for f in page.select("[data-figure]")
    }


def follow_ups(page) -> dict[tuple[str, str], tuple[str, str, str]]:
    table = page.select_one('table[data-table="follow-ups"]')
    return {
        (tr["data-row"], td["data-field"]): (td["data-value"], td["data-total"], td.get_text(strip=True))
        for tr in table.select("tbody tr")
        for td in tr.select("td[data-field]")
    }


def test_the_pages_numbers_are_the_hand_counted_ones(app, cohort):
    resp = sign_in(app, cohort["clinician"]).get(f"/review/outcomes?from={FROM}&to={TO}")
    assert resp.status_code == 200
    page = soup(resp)
    assert figures(page) == {
        "patients": ("3", "", "3 patients"),
        "completed": ("1", "3", "1 of 3 (33 %)"),
        "dropped_after_first": ("1", "3", "1 of 3 (33 %)"),
        "with_baseline": ("2", "3", "2 of 3 (67 %)"),
        "effect_days": ("2", "", "median 2.5 days"),
    }
    assert follow_ups(page) == {
        ("measured", "4w"): ("2", "2", "2 of 2 (100 %)"),
        ("response", "4w"): ("1", "2", "1 of 2 (50 %)"),
        ("remission", "4w"): ("1", "2", "1 of 2 (50 %)"),
        ("measured", "12w"): ("0", "2", "0 of 2 (0 %)"),
        ("response", "12w"): ("0", "0", "0 of 0 (—)"),
        ("remission", "12w"): ("0", "0", "0 of 0 (—)"),
    }
    cohort_line = page.select_one('[data-field="cohort"]')
    assert (cohort_line["data-from"], cohort_line["data-to"]) == (FROM, TO)


def test_the_pages_numbers_are_the_apis(app, api, cohort):
    body = api.get("/clinic/outcomes", token=cohort["clinician"].token, query_string={"from": FROM, "to": TO}).json
    page = soup(sign_in(app, cohort["clinician"]).get(f"/review/outcomes?from={FROM}&to={TO}"))
    shown = figures(page)
    assert int(shown["patients"][0]) == body["patients"]
    assert int(shown["completed"][0]) == body["induction"]["completed"]
    assert int(shown["dropped_after_first"][0]) == body["induction"]["dropped_after_first"]
    assert int(shown["with_baseline"][0]) == body["phq9"]["with_baseline"]
    assert int(shown["effect_days"][0]) == body["effect_days"]["sessions"]
    assert float(page.select_one('[data-figure="effect_days"]')["data-median"]) == body["effect_days"]["median"]
    for (row, window), (count, _, _) in follow_ups(page).items():
        assert int(count) == body["phq9"][f"{row}_{window}"]


def test_the_definitions_carry_the_domains_thresholds(app, cohort):
    page = soup(sign_in(app, cohort["clinician"]).get(f"/review/outcomes?from={FROM}&to={TO}"))
    text = {
        f["data-figure"]: f.select_one(".definition").get_text(" ", strip=True) for f in page.select("[data-figure]")
    }
    assert text["completed"] == "At least 6 sessions within 28 local days of the first session (days 0\N{EN DASH}27)."
    assert text["dropped_after_first"] == "Exactly one session ever, and it was more than 14 days ago."
    assert "is 10 or more" in text["with_baseline"]
    assert "14 local days" in text["with_baseline"]
    rows = {tr["data-row"]: tr.select_one(".definition").get_text() for tr in page.select("[data-table] tbody tr")}
    assert "fell by 50 % or more" in rows["response"]
    assert "below 5" in rows["remission"]


def test_the_definitions_follow_the_configuration(make_app, clock, world, api):
    app = make_app(INDUCTION_SESSIONS=4, INDUCTION_DAYS=21, REMISSION_PHQ9_CUTOFF=6)
    clock.set(NOW)
    clinician = world.staff(world.clinic())
    page = soup(sign_in(app, clinician).get("/review/outcomes"))
    assert "At least 4 sessions within 21 local days" in page.select_one('[data-figure="completed"]').get_text()
    assert "below 6" in page.select_one('tr[data-row="remission"]').get_text()


def test_a_recent_cohort_gets_the_follow_up_hints(app, cohort):
    pages = sign_in(app, cohort["clinician"])
    page = soup(pages.get(f"/review/outcomes?from={FROM}&to={TO}"))
    # 28 Feb + 35 and + 98 are after 1 March: some of the cohort cannot be measured yet at either.
    hints = {p["data-pending"]: p.get_text(" ", strip=True) for p in page.select("[data-pending]")}
    assert set(hints) == {"4w", "12w"}
    assert "patients who started after 2026-01-25 have not yet passed day 35" in hints["4w"]
    # 1 Dec + 98 is after 1 March too: no one in this cohort has passed day 98.
    assert "no one in this cohort has passed day 98 yet" in hints["12w"]
    # First sessions from 9 Feb on: no one can be at day 21 (9 Feb + 21 = 2 March) yet.
    page = soup(pages.get("/review/outcomes?from=2026-02-09&to=2026-03-01"))
    hints = {p["data-pending"]: p.get_text(" ", strip=True) for p in page.select("[data-pending]")}
    assert hints["4w"].startswith("This cohort is too recent for the week-4 follow-up")
    # A cohort that ended long ago: no hint.
    page = soup(pages.get("/review/outcomes?from=2025-01-01&to=2025-11-01"))
    assert page.select("[data-pending]") == []


def test_the_presets_and_the_default_window(app, cohort):
    pages = sign_in(app, cohort["clinician"])
    page = soup(pages.get("/review/outcomes"))
    presets = {a["data-preset"]: a["href"] for a in page.select("a[data-preset]")}
    # Today is 1 March 2026 (UTC): the last 90 days start on 2 December 2025.
    assert presets["90"] == "/review/outcomes?from=2025-12-02&to=2026-03-01"
    assert presets["180"] == "/review/outcomes?from=2025-09-03&to=2026-03-01"
    assert presets["365"] == "/review/outcomes?from=2025-03-02&to=2026-03-01"
    # The default is the API's: the last 365 days, which hold "earlier" too.
    assert page.select_one('a[aria-current="page"][data-preset]')["data-preset"] == "365"
    assert figures(page)["patients"][0] == "4"
    page = soup(pages.get(presets["90"]))
    assert figures(page)["patients"][0] == "3"
    assert page.select_one('a[aria-current="page"][data-preset]')["data-preset"] == "90"


@pytest.mark.parametrize(
    ("query", "field", "said"),
    [
        ("from=2026-02-30&to=2026-03-01", "From", "Not a valid date."),
        ("from=2026-03-01&to=yesterday", "To", "Not a valid date."),
        ("from=2026-02-01&to=2026-01-01", "From", "must not be after 'to'"),
        ("from=2000-01-01&to=2026-01-01", "From", "the cohort's first sessions may span at most ten years"),
    ],
)
def test_bad_or_reversed_dates_are_a_422_page_naming_the_field(app, cohort, world, query, field, said):
    before = [r for r in audit_rows(world) if r[0] == "clinic.outcomes"]
    resp = sign_in(app, cohort["clinician"]).get(f"/review/outcomes?{query}")
    assert resp.status_code == 422
    page = soup(resp)
    problem = page.select_one(".problem[role=alert]").get_text(" ", strip=True)
    assert f"{field}: {said}" in problem
    wrong = page.select_one(f"#cohort-{field.lower()}")
    assert wrong["aria-invalid"] == "true"
    typed = dict(part.split("=") for part in query.split("&"))
    assert wrong["value"] == typed[field.lower()]  # kept as typed
    assert page.select("[data-figure]") == []
    assert [r for r in audit_rows(world) if r[0] == "clinic.outcomes"] == before


def test_the_page_is_audited_as_the_api_read(app, api, cohort, world):
    def reads() -> list[tuple]:
        return world.rows(
            "SELECT action, actor_id, patient_id, resource_type, resource_id FROM audit_events "
            "WHERE action = 'clinic.outcomes' ORDER BY resource_id"
        )

    sign_in(app, cohort["clinician"]).get(f"/review/outcomes?from={FROM}&to={TO}")
    by_page = reads()
    assert by_page == [("clinic.outcomes", cohort["clinician"].id, None, "cohort", f"{FROM}..{TO}")]
    api.get("/clinic/outcomes", token=cohort["clinician"].token, query_string={"from": FROM, "to": TO})
    assert reads() == by_page * 2
    # Nothing per patient.
    assert not [r for r in audit_rows(world) if r[0] == "clinic.outcomes" and r[1] is not None]


def test_ops_are_refused_and_have_no_link(app, cohort):
    pages = sign_in(app, cohort["ops"])
    resp = pages.get(f"/review/outcomes?from={FROM}&to={TO}")
    assert resp.status_code == 403
    alerts = soup(pages.get("/review/alerts"))
    assert not alerts.select('nav[aria-label="Main"] a[href="/review/outcomes"]')


def test_clinicians_have_the_link_and_a_stranger_is_sent_to_sign_in(app, cohort):
    page = soup(sign_in(app, cohort["clinician"]).get("/review/"))
    link = page.select_one('nav[aria-label="Main"] a[href="/review/outcomes"]')
    assert link.get_text(strip=True) == "Outcomes"
    resp = Pages(app).get("/review/outcomes")
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("/review/login")
