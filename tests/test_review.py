"""The clinician review pages (API.md "Clinician review pages (HTML)") through the Flask test
client, on SQLite and PostgreSQL: signing in and out, the cookie, expiry, CSRF, errors and
headers, roles, and that every number and audit event of a page is the API's own.

The clock starts at NOW = 2026-03-01T12:00Z (the `clock` fixture). Berlin is UTC+1 then.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

import pytest

from diary import create_app
from diary.extensions import db
from diary.models import AuthSession
from diary.observability import REVIEW_CSP
from tests.conftest import BASE_CONFIG, PASSWORD, Account
from tests.review_pages import Pages, add_assessment, add_entry, audit_rows, number, soup, table_rows

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
BERLIN = "Europe/Berlin"


# --------------------------------------------------------------------------- helpers


def sign_in(app, account: Account) -> Pages:
    pages = Pages(app)
    resp = pages.login(account.email)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return pages


def patient_with_history(world, api, clinician: Account, name: str, moods: list[int], timezone: str = BERLIN):
    """An enrolled patient with one entry a day at 09:00 UTC on the days before NOW
    (moods[0] the oldest), anxiety 10 - mood."""
    invited = world.invite(clinician, timezone, name=name)
    email = f"{uuid.uuid4().hex[:10]}@example.test"
    resp = api.post(
        "/auth/enroll", {"enrollment_code": invited["enrollment_code"], "email": email, "password": PASSWORD}
    )
    assert resp.status_code == 201, resp.json
    patient = Account(invited["id"], email, resp.json["access_token"], resp.json["refresh_token"], clinician.clinic_id)
    for days_ago, mood in zip(range(len(moods), 0, -1), moods, strict=True):
        at = (NOW - dt.timedelta(days=days_ago)).replace(hour=9)
        add_entry(api, patient, at.isoformat(), mood, 10 - mood)
    return patient


def auth_session_rows(world, user_id: str) -> list[tuple]:
    return world.rows(
        "SELECT revoked_at IS NOT NULL, revoked_reason FROM auth_sessions WHERE user_id = :u ORDER BY created_at",
        u=user_id,
    )


@pytest.fixture
def clinic_scene(clock, world, api):
    """A clinic with a clinician, an ops member and three patients; one has a critical alert."""
    clock.set(NOW)
    clinic = world.clinic()
    clinician = world.staff(clinic)
    ops = world.staff(clinic, role="ops")
    steady = patient_with_history(world, api, clinician, "Sam Steady", [6, 6, 7, 7, 6, 7, 7])
    low = patient_with_history(world, api, clinician, "Lee Low", [4, 3, 3, 2, 3, 3, 2])
    at_risk = patient_with_history(world, api, clinician, "Kim Risk", [5, 5, 6, 5])
    add_entry(api, at_risk, (NOW - dt.timedelta(hours=2)).isoformat(), 3, 8, self_harm_thoughts=1)
    return {"clinic": clinic, "clinician": clinician, "ops": ops, "patients": [steady, low, at_risk]}


# --------------------------------------------------------------------------- signing in and out


def test_a_clinician_signs_in_and_lands_on_the_panel(app, clinic_scene, world):
    pages = Pages(app)
    resp = pages.login(clinic_scene["clinician"].email)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/review/"
    assert pages.get("/review/").status_code == 200
    # The page session is a login-session row of the same table as the API's tokens.
    assert auth_session_rows(world, clinic_scene["clinician"].id)[-1] == (False, None)


def test_ops_sign_in_to_the_alert_queue_and_the_panel_sends_them_there(app, clinic_scene):
    pages = Pages(app)
    resp = pages.login(clinic_scene["ops"].email)
    assert (resp.status_code, resp.headers["Location"]) == (303, "/review/alerts")
    resp = pages.get("/review/")
    assert (resp.status_code, resp.headers["Location"]) == (303, "/review/alerts")


def test_a_wrong_password_and_an_unknown_email_are_refused_alike_without_a_session(app, clinic_scene, world):
    clinician = clinic_scene["clinician"]
    before = auth_session_rows(world, clinician.id)
    for email, password in ((clinician.email, "not the password"), ("nobody@example.test", PASSWORD)):
        pages = Pages(app)
        resp = pages.login(email, password)
        assert resp.status_code == 401
        assert "Wrong email or password." in resp.get_data(as_text=True)
        assert pages.get("/review/").status_code == 303
    assert auth_session_rows(world, clinician.id) == before


def test_a_patient_account_is_refused_with_a_clear_message_and_no_session(app, clinic_scene, world):
    patient = clinic_scene["patients"][0]
    before = auth_session_rows(world, patient.id)
    pages = Pages(app)
    resp = pages.login(patient.email)
    assert resp.status_code == 403
    assert "Patient accounts sign in with the phone app" in resp.get_data(as_text=True)
    assert auth_session_rows(world, patient.id) == before
    resp = pages.get("/review/")
    assert (resp.status_code, resp.headers["Location"]) == (303, "/review/login?next=/review/")


def test_a_page_without_a_session_redirects_to_sign_in_and_back_after(app, clinic_scene):
    pages = Pages(app)
    patient_id = clinic_scene["patients"][1].id
    resp = pages.get(f"/review/patients/{patient_id}?from=2026-02-20")
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/review/login?next=/review/patients/{patient_id}?from%3D2026-02-20"
    resp = pages.login(clinic_scene["clinician"].email, next=f"/review/patients/{patient_id}?from=2026-02-20")
    assert resp.headers["Location"] == f"/review/patients/{patient_id}?from=2026-02-20"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/review/",
        "//evil.example/review/",
        "/api/v1/patients",
        "/review\\@evil.example",
        "javascript:x",
    ],
)
def test_next_only_leads_to_a_review_page_of_this_site(app, clinic_scene, target):
    resp = Pages(app).login(clinic_scene["clinician"].email, next=target)
    assert resp.headers["Location"] == "/review/"


def test_sign_out_revokes_the_session_and_clears_the_cookie(app, clinic_scene, world):
    clinician = clinic_scene["clinician"]
    pages = sign_in(app, clinician)
    resp = pages.post("/review/logout")
    assert (resp.status_code, resp.headers["Location"]) == (303, "/review/login")
    assert auth_session_rows(world, clinician.id)[-1] == (True, "logout")
    assert "sid" not in pages.cookie_values()
    resp = pages.get("/review/")
    assert resp.status_code == 303


def test_the_cookie_is_http_only_lax_and_scoped_to_the_review_pages(app, clinic_scene):
    pages = Pages(app)
    pages.get("/review/login")
    resp = pages.post("/review/login", {"email": clinic_scene["clinician"].email, "password": PASSWORD})
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("diary_review=")
    assert "; HttpOnly" in cookie
    assert "; SameSite=Lax" in cookie
    assert "; Path=/review" in cookie
    assert "Secure" not in cookie  # APP_ENV=testing serves plain http


def test_the_cookie_is_secure_in_production():
    # The sign-in form touches no database, so a production app needs none to answer it.
    app = create_app(
        {
            **BASE_CONFIG,
            "APP_ENV": "production",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:9/none",
        }
    )
    resp = app.test_client().get("/review/login")
    assert resp.status_code == 200
    assert "; Secure" in resp.headers["Set-Cookie"]
    assert "; HttpOnly" in resp.headers["Set-Cookie"]


def test_no_api_response_ever_sets_or_reads_a_cookie(app, clinic_scene, api):
    clinician = clinic_scene["clinician"]
    pages = sign_in(app, clinician)
    cookie = pages.cookie()
    responses = [
        api.post("/auth/token", {"email": clinician.email, "password": PASSWORD}),
        api.get("/patients", token=clinician.token),
        api.get("/nope"),
        # The page cookie presented to the API authenticates nothing and is not renewed.
        api.get("/patients", headers={"Cookie": f"diary_review={cookie.value}"}),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 401]
    assert all("Set-Cookie" not in r.headers for r in responses)


# --------------------------------------------------------------------------- expiry and revocation


def test_a_session_ends_after_the_idle_minutes_without_a_request(app, clinic_scene, clock, world):
    clinician = clinic_scene["clinician"]
    pages = sign_in(app, clinician)
    clock.advance(minutes=14)
    assert pages.get("/review/").status_code == 200
    clock.advance(minutes=14)  # 14 minutes after the last request: still in
    assert pages.get("/review/").status_code == 200
    clock.advance(minutes=15)
    resp = pages.get("/review/")
    assert (resp.status_code, resp.headers["Location"]) == (303, "/review/login?next=/review/")
    assert auth_session_rows(world, clinician.id)[-1] == (True, "idle")
    assert "signed out after a while without activity" in pages.get("/review/login").get_data(as_text=True)
    # The old cookie cannot come back, even with the clock turned back.
    clock.advance(minutes=-20)
    assert pages.get("/review/").status_code == 303


def test_the_idle_limit_is_configurable(make_app, clinic_scene, clock):
    app = make_app(REVIEW_IDLE_MINUTES=2)
    pages = sign_in(app, clinic_scene["clinician"])
    clock.advance(minutes=2)
    assert pages.get("/review/").status_code == 303


def test_a_session_ends_12_hours_after_sign_in_however_active(app, clinic_scene, clock, world):
    clinician = clinic_scene["clinician"]
    pages = sign_in(app, clinician)
    for _ in range(71):  # a request every 10 minutes for 11 h 50 min
        clock.advance(minutes=10)
        assert pages.get("/review/alerts").status_code == 200
    clock.advance(minutes=10)
    resp = pages.get("/review/alerts")
    assert (resp.status_code, resp.headers["Location"]) == (303, "/review/login?next=/review/alerts")
    assert auth_session_rows(world, clinician.id)[-1] == (True, "expired")


def test_a_revoked_login_session_or_a_deactivated_user_ends_the_page_session(app, clinic_scene, world):
    clinician, ops = clinic_scene["clinician"], clinic_scene["ops"]
    first, second = sign_in(app, clinician), sign_in(app, ops)
    with app.app_context():
        from diary.domain import tokens

        for row in db.session.query(AuthSession).filter_by(user_id=clinician.id, revoked_at=None).all():
            tokens.revoke_session(row.id, reason="admin")
        db.session.execute(db.text("UPDATE users SET is_active = false WHERE id = :u"), {"u": ops.id})
        db.session.commit()
    assert first.get("/review/").status_code == 303
    assert second.get("/review/alerts").status_code == 303


# --------------------------------------------------------------------------- CSRF


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(app, clinic_scene, world):
    pages = sign_in(app, clinic_scene["clinician"])
    alert_id = world.rows("SELECT id FROM alerts WHERE status = 'open'")[0][0]
    patient_id = clinic_scene["patients"][0].id
    session_form = {"date": "2026-02-28", "time": "10:00", "route": "iv", "dose_mg": "35"}
    attempts = [
        pages.post(f"/review/alerts/{alert_id}/acknowledge", csrf=False),
        pages.post(f"/review/alerts/{alert_id}/resolve", {"csrf_token": "forged", "note": "x"}),
        pages.post(f"/review/patients/{patient_id}/sessions", session_form, csrf=False),
        pages.post("/review/logout", csrf=False),
    ]
    assert [r.status_code for r in attempts] == [400, 400, 400, 400]
    assert all(r.content_type.startswith("text/html") for r in attempts)
    assert "This form could not be accepted" in attempts[0].get_data(as_text=True)
    assert world.rows("SELECT status FROM alerts WHERE id = :a", a=alert_id) == [("open",)]
    assert world.rows("SELECT count(*) FROM treatment_sessions") == [(0,)]
    assert world.rows("SELECT count(*) FROM audit_events WHERE action IN ('alert.acknowledge', 'alert.resolve')") == [
        (0,)
    ]
    assert pages.get("/review/").status_code == 200  # still signed in: logout was refused too


def test_the_sign_in_form_needs_its_csrf_token_too(app, clinic_scene):
    pages = Pages(app)
    resp = pages.post("/review/login", {"email": clinic_scene["clinician"].email, "password": PASSWORD}, csrf=False)
    assert resp.status_code == 400


# --------------------------------------------------------------------------- errors and headers


def test_pages_carry_the_strict_csp_and_are_never_cached(app, clinic_scene):
    pages = sign_in(app, clinic_scene["clinician"])
    for path in ("/review/login", "/review/", "/review/alerts", f"/review/patients/{clinic_scene['patients'][0].id}"):
        resp = pages.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["Content-Security-Policy"] == (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        body = resp.get_data(as_text=True)
        # Nothing inline for the CSP to refuse, nothing from another host.
        assert " style=" not in body
        assert "<style" not in body
        assert "<script" not in body
        assert "http://" not in body.replace("http://www.w3.org", "")
        assert "https://" not in body
    assert resp.headers["Content-Security-Policy"] == REVIEW_CSP


def test_assets_are_served_by_the_app_and_may_be_cached(app, clinic_scene):
    pages = sign_in(app, clinic_scene["clinician"])
    link = soup(pages.get("/review/")).select_one('link[rel="stylesheet"]')["href"]
    assert link.startswith("/review/static/review.css?v=")
    resp = pages.get(link)
    resp.close()
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/css")
    assert "max-age=31536000" in resp.headers["Cache-Control"]
    assert "no-store" not in resp.headers["Cache-Control"]


def test_an_unknown_review_path_is_an_html_404_and_the_api_keeps_json(app, clinic_scene, api):
    pages = sign_in(app, clinic_scene["clinician"])
    resp = pages.get("/review/no/such/page")
    assert resp.status_code == 404
    assert resp.content_type.startswith("text/html")
    assert "Page not found" in resp.get_data(as_text=True)
    assert Pages(app).get("/review/nothing-here").status_code == 404  # signed out alike
    assert api.get("/nothing-here").json["code"] == "not_found"


def test_another_clinics_patient_is_a_404_page(app, clinic_scene, world, api, clock):
    other_clinician = world.staff(world.clinic("Other Clinic"))
    stranger = patient_with_history(world, api, other_clinician, "Other Patient", [5])
    pages = sign_in(app, clinic_scene["clinician"])
    for resp in (
        pages.get(f"/review/patients/{stranger.id}"),
        pages.get(f"/review/patients/{uuid.uuid4()}"),
        pages.post(f"/review/patients/{stranger.id}/sessions", {"date": "2026-02-28", "time": "10:00", "route": "iv"}),
    ):
        assert resp.status_code == 404
        assert resp.content_type.startswith("text/html")
        assert "not in your clinic" in resp.get_data(as_text=True)
    assert world.rows("SELECT count(*) FROM treatment_sessions") == [(0,)]


def test_ops_get_a_403_page_for_patients_and_work_the_alert_queue(app, clinic_scene, world):
    pages = sign_in(app, clinic_scene["ops"])
    resp = pages.get(f"/review/patients/{clinic_scene['patients'][0].id}")
    assert resp.status_code == 403
    assert resp.content_type.startswith("text/html")
    page = soup(pages.get("/review/alerts"))
    [item] = page.select("[data-alert-id]")
    # Ops read the queue as the API gives it to them: ids, no names.
    assert "Kim Risk" not in item.get_text()
    resp = pages.post(f"/review/alerts/{item['data-alert-id']}/acknowledge", {"next": "/review/alerts"})
    assert (resp.status_code, resp.headers["Location"]) == (303, "/review/alerts")
    assert world.rows("SELECT status FROM alerts") == [("acknowledged",)]


def test_sign_in_is_rate_limited_like_the_api(make_app, clinic_scene):
    app = make_app(AUTH_RATE_LIMIT="2 per minute")
    pages = Pages(app)
    codes = [pages.login(clinic_scene["clinician"].email, "wrong password!").status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    last = pages.post("/review/login", {"email": clinic_scene["clinician"].email, "password": PASSWORD})
    assert last.status_code == 429
    assert last.content_type.startswith("text/html")
    assert int(last.headers["Retry-After"]) >= 1


# --------------------------------------------------------------------------- the same numbers and audit as the API


def test_the_panel_is_get_patients_in_order_and_number_for_number(app, clinic_scene, api, world):
    clinician = clinic_scene["clinician"]
    expected = api.get("/patients", token=clinician.token).json["items"]
    pages = sign_in(app, clinician)
    page = soup(pages.get("/review/"))
    rows = table_rows(page, "panel")
    assert [r["data-patient-id"] for r in rows] == [item["id"] for item in expected]
    # Kim first (open critical alert), then Lee (lowest 7-day mood), then Sam.
    assert [r.select_one("th a").get_text() for r in page.select("tr[data-patient-id]")] == [
        "Kim Risk",
        "Lee Low",
        "Sam Steady",
    ]
    for row, item in zip(rows, expected, strict=True):
        assert number(row["mood_7d_mean"]) == item["mood_7d_mean"]
        assert number(row["anxiety_7d_mean"]) == item["anxiety_7d_mean"]
        assert number(row["adherence_7d"]) == item["adherence_7d"]
        assert int(row["open_alerts"]) == item["open_alerts"]
    # What a person reads: the last 7 x 24 h hold Lee's entries of 6 days (the one 7 days ago
    # at 09:00 is before NOW - 7 days = 12:00): (3+3+2+3+3+2)/6 = 16/6 = 2.67, shown 2.7;
    # 6 of 7 days with an entry = 86 %.
    lee = page.select_one(f'tr[data-patient-id="{clinic_scene["patients"][1].id}"]')
    assert lee.select_one('[data-field="mood_7d_mean"] .value').get_text() == "2.7"
    assert lee.select_one('[data-field="adherence_7d"]').get_text(strip=True) == "86 %"
    kim = page.select_one(f'tr[data-patient-id="{clinic_scene["patients"][2].id}"]')
    assert "1 critical" in kim.select_one('[data-field="open_alerts"]').get_text()
    assert "2 hours ago" in kim.select_one('[data-field="last_entry_at"]').get_text()


def test_the_panel_pages_with_the_keyset_cursor_both_ways(app, clinic_scene, api):
    clinician = clinic_scene["clinician"]
    pages = sign_in(app, clinician)
    first = soup(pages.get("/review/?limit=2"))
    assert len(first.select("tr[data-patient-id]")) == 2
    assert first.select_one('a[rel="prev"]') is None
    second = soup(pages.get(first.select_one('a[rel="next"]')["href"]))
    expected = api.get("/patients?limit=2", token=clinician.token).json
    expected_second = api.get(f"/patients?limit=2&cursor={expected['next_cursor']}", token=clinician.token).json
    assert [r["data-patient-id"] for r in second.select("tr[data-patient-id]")] == [
        i["id"] for i in expected_second["items"]
    ]
    assert second.select_one('a[rel="next"]') is None
    back = soup(pages.get(second.select_one('a[rel="prev"]')["href"]))
    assert [r["data-patient-id"] for r in back.select("tr[data-patient-id]")] == [i["id"] for i in expected["items"]]


def test_the_panel_searches_names_and_external_references(app, clinic_scene, api, world):
    clinician = clinic_scene["clinician"]
    resp = api.post(
        "/patients",
        {"display_name": "Ann 100% Real", "timezone": BERLIN, "external_ref": "MRN-4471"},
        token=clinician.token,
    )
    assert resp.status_code == 201
    pages = sign_in(app, clinician)

    def names(query: str) -> list[str]:
        return [a.get_text() for a in soup(pages.get(f"/review/?q={query}")).select("tr[data-patient-id] th a")]

    assert names("lee") == ["Lee Low"]
    assert names("mrn-44") == ["Ann 100% Real"]
    assert names("4471") == []  # a reference matches from its start
    assert names("100%25") == ["Ann 100% Real"]  # % is a plain character
    assert names("_") == []
    assert "No patient\u2019s name or reference matches" in pages.get("/review/?q=zzz").get_data(as_text=True)
    # The API takes the same search.
    assert [i["display_name"] for i in api.get("/patients?q=LEE", token=clinician.token).json["items"]] == ["Lee Low"]
    assert api.get("/patients?q=", token=clinician.token).status_code == 422


def test_each_page_leaves_the_audit_events_of_the_api_call_it_mirrors(app, clinic_scene, api, world):
    clinician = clinic_scene["clinician"]
    patient_id = clinic_scene["patients"][1].id
    pages = sign_in(app, clinician)
    calls = [
        ("/review/", "/patients"),
        (f"/review/patients/{patient_id}", f"/patients/{patient_id}/summary"),
        (
            f"/review/patients/{patient_id}?from=2026-02-01&to=2026-02-20",
            f"/patients/{patient_id}/summary?from=2026-02-01&to=2026-02-20",
        ),
        ("/review/alerts", "/alerts?status=open"),
        ("/review/alerts?status=acknowledged", "/alerts?status=acknowledged"),  # none: no events either
    ]
    for page_path, api_path in calls:
        before = Counter(audit_rows(world))
        assert pages.get(page_path).status_code == 200
        by_page = Counter(audit_rows(world)) - before
        before = Counter(audit_rows(world))
        assert api.get(api_path, token=clinician.token).status_code == 200
        by_api = Counter(audit_rows(world)) - before
        assert by_page == by_api, page_path
        assert bool(by_page) == ("acknowledged" not in page_path), page_path


def test_the_patient_page_tables_are_the_summarys_numbers(app, clinic_scene, api, clock):
    clinician = clinic_scene["clinician"]
    patient = clinic_scene["patients"][0]
    pid = patient.id
    # A session five days ago with a dose, PHQ-9 and GAD-7 before and after, a side effect.
    assert (
        api.post(
            f"/patients/{pid}/sessions",
            {"started_at": "2026-02-24T08:00:00Z", "route": "im", "dose_mg": 35.5},
            token=clinician.token,
        ).status_code
        == 201
    )
    add_assessment(api, patient, "phq9", [2, 2, 2, 2, 2, 2, 2, 2, 0], "2026-02-23T10:00:00Z")
    add_assessment(api, patient, "phq9", [1, 1, 1, 1, 0, 0, 0, 0, 0], "2026-02-28T10:00:00Z")
    add_assessment(api, patient, "gad7", [2, 2, 2, 1, 1, 1, 1], "2026-02-25T10:00:00Z")
    add_entry(api, patient, "2026-02-26T18:00:00Z", 8, 2, side_effects=["nausea", "headache"])
    summary = api.get(f"/patients/{pid}/summary?from=2026-02-15&to=2026-03-01", token=clinician.token).json
    page = soup(sign_in(app, clinician).get(f"/review/patients/{pid}?from=2026-02-15&to=2026-03-01"))

    daily = table_rows(page, "daily")
    assert [r["data-date"] for r in daily] == [d["date"] for d in summary["daily"]]
    for row, day in zip(daily, summary["daily"], strict=True):
        assert (number(row["mood_mean"]), number(row["anxiety_mean"]), int(row["n"])) == (
            day["mood_mean"],
            day["anxiety_mean"],
            day["n"],
        )
    scales = {r["data-scale"]: r for r in table_rows(page, "scales")}
    for key in ("mood", "anxiety"):
        for field in ("n", "mean", "min", "max", "latest", "slope_per_week"):
            assert number(scales[key][field]) == summary[key][field], (key, field)
    [session] = table_rows(page, "sessions")
    expected = summary["sessions"][0]
    assert session["data-session-id"] == expected["id"]
    assert (session["route"], number(session["dose_mg"])) == ("im", 35.5)
    assert number(session["baseline_mood"]) == expected["baseline"]["mood"]
    assert number(session["effect_days"]) == expected["effect_days"]
    # 08:00Z is 09:00 in Berlin: the page shows the patient's local time.
    assert page.select_one('[data-session-id] [data-field="started_at"]').get_text() == "2026-02-24 09:00"
    assert [(int(r["total"]), r["severity"]) for r in table_rows(page, "phq9")] == [
        (s["total"], s["severity"]) for s in summary["assessments"]["phq9"]
    ]
    assert [(int(r["total"]), r["severity"]) for r in table_rows(page, "gad7")] == [(10, "moderate")]
    outcome = {k: v for r in table_rows(page, "phq9-outcome") for k, v in r.items()}
    assert number(outcome["baseline_total"]) == summary["phq9_outcome"]["baseline_total"] == 16
    assert number(outcome["latest_total"]) == summary["phq9_outcome"]["latest_total"] == 4
    assert outcome["response"] == "true"
    assert outcome["remission"] == "true"
    adherence = {k: v for r in table_rows(page, "adherence") for k, v in r.items()}
    for field, value in summary["adherence"].items():
        assert number(adherence[field]) == value, field
    effects = {r["name"]: int(r["count"]) for r in table_rows(page, "side-effects")}
    assert effects == summary["side_effects"]
    # The response table: each day's mood mean from the summary, against the session's baseline.
    by_date = {d["date"]: d["mood_mean"] for d in summary["daily"]}
    responses = table_rows(page, "responses")
    assert responses
    assert all(number(r["mood_mean"]) == by_date[r["date"]] for r in responses)
    assert all(number(r["baseline"]) == expected["baseline"]["mood"] for r in responses)
    assert [int(r["day"]) for r in responses] == [
        (dt.date.fromisoformat(r["date"]) - dt.date(2026, 2, 24)).days for r in responses
    ]


def test_a_window_the_api_refuses_is_refused_on_the_page(app, clinic_scene, api):
    clinician = clinic_scene["clinician"]
    pid = clinic_scene["patients"][0].id
    pages = sign_in(app, clinician)
    for query in ("from=2026-03-02&to=2026-03-01", "from=2024-01-01&to=2026-03-01", "from=yesterday"):
        assert api.get(f"/patients/{pid}/summary?{query}", token=clinician.token).status_code == 422
        resp = pages.get(f"/review/patients/{pid}?{query}")
        assert resp.status_code == 422, query
        assert "from" in soup(resp).select_one(".problem").get_text()


# --------------------------------------------------------------------------- writing from the pages


def test_acknowledge_and_resolve_from_the_patient_page_go_back_to_it(app, clinic_scene, world):
    pages = sign_in(app, clinic_scene["clinician"])
    pid = clinic_scene["patients"][2].id
    page = soup(pages.get(f"/review/patients/{pid}"))
    [item] = page.select("[data-alert-id]")
    alert_id = item["data-alert-id"]
    form = item.select_one(f'form[action="/review/alerts/{alert_id}/acknowledge"]')
    back = form.select_one('input[name="next"]')["value"]
    resp = pages.post(form["action"], {"next": back})
    assert (resp.status_code, resp.headers["Location"]) == (303, back)
    assert back.startswith(f"/review/patients/{pid}?from=")
    assert back.endswith("#alerts")
    assert world.rows("SELECT status FROM alerts WHERE id = :a", a=alert_id) == [("acknowledged",)]
    page = soup(pages.get(back))
    item = page.select_one(f'[data-alert-id="{alert_id}"]')
    assert item.select_one('form[action$="/acknowledge"]') is None
    resp = pages.post(f"/review/alerts/{alert_id}/resolve", {"next": back, "note": "called, safe plan in place"})
    assert resp.status_code == 303
    assert world.rows("SELECT status, resolution_note FROM alerts WHERE id = :a", a=alert_id) == [
        ("resolved", "called, safe plan in place")
    ]
    # Resolving twice is the API's 409, as a page.
    again = pages.post(f"/review/alerts/{alert_id}/resolve", {"next": back})
    assert again.status_code == 409
    assert "already resolved" in again.get_data(as_text=True)


def test_the_alert_queue_has_tabs_names_for_clinicians_and_an_empty_state(app, clinic_scene):
    pages = sign_in(app, clinic_scene["clinician"])
    page = soup(pages.get("/review/alerts"))
    [item] = page.select("[data-alert-id]")
    assert item.select_one("a").get_text() == "Kim Risk"
    assert "Critical" in item.select_one(".badge").get_text()
    assert page.select_one('a[aria-current="page"]').get_text() == "Alerts"
    assert soup(pages.get("/review/alerts?status=resolved")).select_one(".empty").get_text() == "No resolved alerts."
    assert pages.get("/review/alerts?status=closed").status_code == 422


def test_a_session_recorded_in_the_patients_local_time_is_stored_in_utc(app, clinic_scene, world, api):
    clinician = clinic_scene["clinician"]
    pid = clinic_scene["patients"][0].id
    pages = sign_in(app, clinician)
    resp = pages.post(
        f"/review/patients/{pid}/sessions",
        {"date": "2026-02-28", "time": "14:30", "route": "intranasal", "dose_mg": "56", "notes": "first dose"},
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith(f"/review/patients/{pid}")
    # 14:30 in Berlin (UTC+1) is 13:30 UTC.
    [listed] = api.get(f"/patients/{pid}/sessions", token=clinician.token).json
    assert (listed["started_at"], listed["route"], listed["dose_mg"], listed["notes"]) == (
        "2026-02-28T13:30:00Z",
        "intranasal",
        56.0,
        "first dose",
    )
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'session.create'") == [(1,)]
    page = soup(pages.get(resp.headers["Location"]))
    assert [r["data-session-id"] for r in page.select("[data-session-id]")] == [listed["id"]]
    assert "Session recorded." in page.get_text()
    assert "Time (Europe/Berlin)" in page.select_one('label[for="session-time"]').get_text()


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"date": "2026-02-28", "time": "14:30", "route": "rectal"}, "Route"),
        ({"date": "2026-02-28", "time": "14:30", "route": "iv", "dose_mg": "1,000"}, "Dose"),
        ({"date": "2026-02-28", "time": "14:30", "route": "iv", "dose_mg": "0"}, "Dose"),
        ({"date": "2026-02-28", "time": "14:30", "route": "iv", "dose_mg": "20000"}, "Dose"),
        ({"date": "2026-03-02", "time": "09:00", "route": "iv"}, "Start"),
        ({"date": "", "time": "09:00", "route": "iv"}, "Date"),
        ({"date": "2026-02-28", "time": "25:00", "route": "iv"}, "Time"),
        ({"date": "2026-02-28", "time": "10:00", "route": "iv", "notes": "x" * 2001}, "Notes"),
    ],
)
def test_a_bad_session_form_is_shown_again_with_the_field_named_and_nothing_stored(
    app, clinic_scene, world, form, named
):
    pid = clinic_scene["patients"][0].id
    pages = sign_in(app, clinic_scene["clinician"])
    resp = pages.post(f"/review/patients/{pid}/sessions", form)
    assert resp.status_code == 422
    problems = soup(resp).select_one("#session-problems").get_text()
    assert f"{named}:" in problems
    assert world.rows("SELECT count(*) FROM treatment_sessions") == [(0,)]
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'session.create'") == [(0,)]
    # The form keeps what was typed.
    assert soup(resp).select_one("#session-time")["value"] == form["time"]


def test_a_local_time_the_clocks_skip_is_refused(app, clock, world, api):
    clock.set(dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC))
    clinician = world.staff(world.clinic())
    invited = world.invite(clinician, "America/New_York", name="Pat Gap")
    pages = sign_in(app, clinician)
    # 2026-03-08 02:30 does not exist in New York: the clocks jump from 02:00 to 03:00.
    resp = pages.post(
        f"/review/patients/{invited['id']}/sessions", {"date": "2026-03-08", "time": "02:30", "route": "iv"}
    )
    assert resp.status_code == 422
    assert "does not exist in America/New_York" in soup(resp).select_one("#session-problems").get_text()


def test_a_session_is_deleted_from_its_row(app, clinic_scene, world, api):
    clinician = clinic_scene["clinician"]
    pid = clinic_scene["patients"][0].id
    created = api.post(
        f"/patients/{pid}/sessions", {"started_at": "2026-02-27T09:00:00Z", "route": "iv"}, token=clinician.token
    )
    pages = sign_in(app, clinician)
    page = soup(pages.get(f"/review/patients/{pid}"))
    row = page.select_one(f'[data-session-id="{created.json["id"]}"]')
    form = row.select_one('form[action$="/delete"]')
    fields = {i["name"]: i["value"] for i in form.select("input[type=hidden]") if i["name"] != "csrf_token"}
    resp = pages.post(form["action"], fields)
    assert resp.status_code == 303
    assert world.rows("SELECT deleted_at IS NOT NULL FROM treatment_sessions") == [(True,)]
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'session.delete'") == [(1,)]
    assert soup(pages.get(resp.headers["Location"])).select("[data-session-id]") == []
