"""The patient page's measures (issue 12): sessions' medication and monitoring flags, the
"In the chair" section, questionnaires and ratings, and the MADRS and monitoring forms,
through the Flask test client on SQLite and PostgreSQL. Expected numbers are worked out by
hand from the rows each test writes.

The clock is NOW = 2026-03-01T12:00Z; the patients are in Berlin, UTC+1 in February.
Thresholds are the defaults: BP 180/110, observation esketamine 120 min, ketamine 60 min.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from types import SimpleNamespace

import pytest

from diary.review.filters import alert_reason
from tests.conftest import Account
from tests.review_pages import Pages, add_assessment, audit_rows, soup, table_rows

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
WINDOW = "from=2026-02-01&to=2026-03-01"
MADRS_ITEMS = [
    "Apparent sadness",
    "Reported sadness",
    "Inner tension",
    "Reduced sleep",
    "Reduced appetite",
    "Concentration difficulties",
    "Lassitude",
    "Inability to feel",
    "Pessimistic thoughts",
    "Suicidal thoughts",
]


def sign_in(app, account: Account) -> Pages:
    pages = Pages(app)
    assert pages.login(account.email).status_code == 303
    return pages


def add_session(api, clinician: Account, patient_id: str, started_at: str, route: str, medication: str) -> str:
    body = {"started_at": started_at, "route": route, "medication": medication}
    resp = api.post(f"/patients/{patient_id}/sessions", body, token=clinician.token)
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def monitor(api, clinician: Account, patient_id: str, session_id: str, **record):
    body = {"sedation": "none", "dissociation": "none", "adverse_events": [], **record}
    resp = api.put(f"/patients/{patient_id}/sessions/{session_id}/monitoring", body, token=clinician.token)
    assert resp.status_code == 200, resp.json
    return resp.json


def vital(at: str, systolic: int, diastolic: int, heart_rate: int, spo2: int | None = None) -> dict:
    return {"at": at, "systolic": systolic, "diastolic": diastolic, "heart_rate": heart_rate, "spo2": spo2}


@pytest.fixture
def scene(clock, world, api):
    """A clinician, ops and a Berlin patient with three sessions in February:
    1. 2026-02-20 08:00Z esketamine intranasal: 140/88 at 08:10Z, 182/96 at 08:40Z, discharged
       at 09:55Z (115 min: short for esketamine), sedation mild, dissociation moderate;
    2. 2026-02-24 08:00Z ketamine IV: 130/85 at 08:20Z, 128/80 at 09:00Z, discharged 09:26Z
       (86 min), sedation none, dissociation mild; nothing flagged;
    3. 2026-02-27 08:00Z ketamine IM: no monitoring."""
    clock.set(NOW)
    clinic = world.clinic()
    clinician = world.staff(clinic)
    ops = world.staff(clinic, role="ops")
    patient = world.patient(clinician)
    pid = patient.id
    first = add_session(api, clinician, pid, "2026-02-20T08:00:00Z", "intranasal", "esketamine")
    second = add_session(api, clinician, pid, "2026-02-24T08:00:00Z", "iv", "ketamine")
    third = add_session(api, clinician, pid, "2026-02-27T08:00:00Z", "im", "ketamine")
    monitor(
        api,
        clinician,
        pid,
        first,
        vitals=[vital("2026-02-20T08:10:00Z", 140, 88, 80, 98), vital("2026-02-20T08:40:00Z", 182, 96, 92, 97)],
        sedation="mild",
        dissociation="moderate",
        adverse_events=["nausea"],
        discharged_at="2026-02-20T09:55:00Z",
        notes="Nauseous at 30 min",
    )
    monitor(
        api,
        clinician,
        pid,
        second,
        vitals=[vital("2026-02-24T08:20:00Z", 130, 85, 76, 99), vital("2026-02-24T09:00:00Z", 128, 80, 72)],
        dissociation="mild",
        discharged_at="2026-02-24T09:26:00Z",
    )
    return SimpleNamespace(
        clinic=clinic, clinician=clinician, ops=ops, patient=patient, sessions=[first, second, third], world=world
    )


def page_of(app, scene, query: str = WINDOW):
    resp = sign_in(app, scene.clinician).get(f"/review/patients/{scene.patient.id}?{query}")
    assert resp.status_code == 200
    return soup(resp)


# --------------------------------------------------------------------------- sessions table


def test_the_sessions_table_names_medication_and_route_and_the_chairs_flags_in_words(app, scene):
    page = page_of(app, scene)
    rows = page.select('table[data-table="sessions"] tbody tr')
    assert [r["data-session-id"] for r in rows] == scene.sessions
    cells = [" ".join(r.select("td")[1].get_text().split()) for r in rows]
    assert cells == ["Esketamine, intranasal", "Ketamine, iv", "Ketamine, im"]
    chair = [r.select_one('[data-field="chair"]') for r in rows]
    assert [[b.get_text(" ", strip=True) for b in c.select(".badge")] for c in chair] == [
        ["⚠ BP ≥ 180/110", "⚠ Observed 115 min (< 120 for esketamine)"],
        [],
        [],
    ]
    assert [c.get_text(" ", strip=True) for c in chair[1:]] == ["no flags", "not recorded"]


def test_thresholds_in_the_words_follow_the_configuration(make_app, clock, world, api):
    app = make_app(
        BP_ALERT_SYSTOLIC=160, BP_ALERT_DIASTOLIC=100, MIN_OBSERVATION_MINUTES={"ketamine": 90, "esketamine": 120}
    )
    from tests.conftest import Api, World

    clock.set(NOW)
    api, world = Api(app.test_client()), World(app, Api(app.test_client()))
    clinician = world.staff(world.clinic())
    patient = world.patient(clinician)
    sid = add_session(api, clinician, patient.id, "2026-02-24T08:00:00Z", "iv", "ketamine")
    # 160/99 reaches the systolic threshold; discharged after 86 minutes, below 90.
    monitor(
        api,
        clinician,
        patient.id,
        sid,
        vitals=[vital("2026-02-24T08:20:00Z", 160, 99, 70)],
        discharged_at="2026-02-24T09:26:00Z",
    )
    resp = sign_in(app, clinician).get(f"/review/patients/{patient.id}")
    badges = [b.get_text(" ", strip=True) for b in soup(resp).select('[data-field="chair"] .badge')]
    assert badges == ["⚠ BP ≥ 160/100", "⚠ Observed 86 min (< 90 for ketamine)"]


# --------------------------------------------------------------------------- in the chair


def test_in_the_chair_opens_flagged_unrecorded_and_latest_sessions_and_folds_the_rest_to_their_numbers(app, scene):
    page = page_of(app, scene)
    blocks = page.select("[data-monitoring-session-id]")
    assert [b["data-monitoring-session-id"] for b in blocks] == scene.sessions
    assert [b.name for b in blocks] == ["details"] * 3
    assert [b.has_attr("open") for b in blocks] == [True, False, True]
    # The folded block's summary line carries its numbers (highest of 130/85 and 128/80;
    # 08:00Z to 09:26Z is 86 minutes).
    assert blocks[1].select_one('[data-field="chair_line"]').get_text(" ", strip=True) == (
        "no flags · highest BP 130/85 · observed 86 min · sedation none, dissociation mild"
    )
    assert blocks[0].select_one('[data-field="chair_line"]').get_text(" ", strip=True) == (
        "⚠ BP ≥ 180/110 ⚠ Observed 115 min (< 120 for esketamine) · highest BP 182/96 · observed 115 min"
        " · sedation mild, dissociation moderate · nausea"
    )
    assert blocks[2].select_one('[data-field="chair_line"]').get_text(" ", strip=True) == "not recorded"
    first = blocks[0]
    facts = {dd["data-field"]: dd.get_text(" ", strip=True) for dd in first.select("dd[data-field]")}
    assert facts == {
        "sedation": "mild",
        "dissociation": "moderate",
        "adverse_events": "nausea",
        "discharged_at": "2026-02-20 10:55",  # 09:55Z in Berlin
        "observation_minutes": "115 min",
        "version": f"version 1, saved {first.select_one('[data-field=version]').get_text().split('saved ')[1]}",
        "notes": "Nauseous at 30 min",
    }
    vitals = table_rows(page, "vitals-1")
    assert [(v["at"], v["bp"], v["heart_rate"], v["spo2"]) for v in vitals] == [
        ("2026-02-20T08:10:00+00:00", "140/88", "80", "98"),
        ("2026-02-20T08:40:00+00:00", "182/96", "92", "97"),
    ]
    trs = page.select('table[data-table="vitals-1"] tbody tr')
    assert [tr.select_one("th").get_text() for tr in trs] == ["09:10", "09:40"]
    assert [tr.get("data-flagged") for tr in trs] == [None, "true"]
    assert "⚠" in trs[1].get_text()
    assert "⚠" not in trs[0].get_text()
    assert [tr.get("data-flagged") for tr in page.select('table[data-table="vitals-2"] tbody tr')] == [None, None]
    # One link per session to its form, none of the forms on the page.
    assert page.select("form.monitor-form") == []
    links = [a.get_text(" ", strip=True) for a in page.select(".chair-action a")]
    assert links == [
        "Correct or complete this record (session 1)",
        "Correct or complete this record (session 2)",
        "Record monitoring (session 3)",
    ]


def test_a_reading_at_the_threshold_is_flagged_and_one_below_is_not(app, scene, api):
    pid, sid = scene.patient.id, scene.sessions[2]
    readings = [vital("2026-02-27T08:10:00Z", 179, 109, 70), vital("2026-02-27T08:20:00Z", 150, 110, 70)]
    monitor(api, scene.clinician, pid, sid, vitals=readings)
    trs = page_of(app, scene).select('table[data-table="vitals-3"] tbody tr')
    assert [tr.get("data-flagged") for tr in trs] == [None, "true"]


# --------------------------------------------------------------------------- questionnaires and ratings


def rating_form(patient_id: str, answers: list[int | None], **extra) -> dict:
    form = {"instrument": "madrs", "id": str(uuid.uuid4()), "date": "2026-02-28", "time": "15:30"}
    form.update({f"item-{n}": str(a) for n, a in enumerate(answers, 1) if a is not None})
    form.update(extra)
    return form


def test_madrs_is_rated_through_the_form_in_local_time_and_a_double_submit_is_one_rating(app, scene, world):
    pid = scene.patient.id
    pages = sign_in(app, scene.clinician)
    blank = soup(pages.get(f"/review/patients/{pid}"))
    legends = [legend.get_text(strip=True) for legend in blank.select("#rate-form fieldset.item legend")]
    assert legends == [f"{n}. {name}" for n, name in enumerate(MADRS_ITEMS, 1)]
    assert [len(f.select("input[type=radio]")) for f in blank.select("#rate-form fieldset.item")] == [7] * 10
    form_id = blank.select_one('#rate-form input[name="id"]')["value"]
    assert uuid.UUID(form_id)
    again = soup(pages.get(f"/review/patients/{pid}")).select_one('#rate-form input[name="id"]')["value"]
    assert again != form_id  # each blank form its own client id
    options = [o["value"] for o in blank.select("#rate-session_id option")]
    assert options == ["", *reversed(scene.sessions)]
    before = Counter(audit_rows(world))
    answers = [3, 2, 2, 1, 1, 2, 1, 1, 1, 0]  # 14
    form = rating_form(
        pid,
        answers,
        id=form_id,
        session_id=scene.sessions[1],
        **dict(zip(("from", "to"), ("2026-02-01", "2026-03-01"))),
    )
    resp = pages.post(f"/review/patients/{pid}/assessments", form)
    assert (resp.status_code, resp.headers["Location"]) == (
        303,
        f"/review/patients/{pid}?from=2026-02-01&to=2026-03-01#ratings",
    )
    assert pages.post(f"/review/patients/{pid}/assessments", form).status_code == 303
    rows = world.rows(
        "SELECT id, instrument, total, severity, recorded_at, session_id, rated_by_id FROM assessments"
        " WHERE patient_id = :p",
        p=pid,
    )
    assert len(rows) == 1
    row_id, instrument, total, severity, recorded_at, session_id, rated_by = rows[0]
    recorded = recorded_at if isinstance(recorded_at, dt.datetime) else dt.datetime.fromisoformat(str(recorded_at))
    # 15:30 in Berlin on 2026-02-28 is 14:30Z; 14 is in the mild band (7-19).
    assert (row_id, instrument, total, severity, recorded.replace(tzinfo=dt.UTC), session_id, rated_by) == (
        form_id,
        "madrs",
        14,
        "mild",
        dt.datetime(2026, 2, 28, 14, 30, tzinfo=dt.UTC),
        scene.sessions[1],
        scene.clinician.id,
    )
    added = Counter(audit_rows(world)) - before
    assert added[("assessment.create", pid, "assessment", form_id)] == 1
    page = soup(pages.get(f"/review/patients/{pid}?{WINDOW}"))
    assert [(r["recorded_at"], r["total"], r["severity"]) for r in table_rows(page, "madrs")] == [
        ("2026-02-28T14:30:00+00:00", "14", "mild")
    ]


def test_madrs_and_phq9_outcomes_side_by_side(app, scene, api):
    pid, token = scene.patient.id, scene.clinician.token
    # Baseline 30 on the first session's day (2026-02-20, before the dose), latest 14 on
    # 2026-02-28: change -16 points; 2 x 14 = 28 <= 30 is a response; 14 > 10, no remission.
    for answers, at in (
        ([4, 4, 3, 3, 3, 3, 3, 3, 3, 1], "2026-02-20T07:00:00Z"),
        ([3, 2, 2, 1, 1, 2, 1, 1, 1, 0], "2026-02-28T10:00:00Z"),
    ):
        body = {"id": str(uuid.uuid4()), "instrument": "madrs", "answers": answers, "recorded_at": at}
        assert api.post(f"/patients/{pid}/assessments", body, token=token).status_code == 201
    add_assessment(api, scene.patient, "phq9", [2, 2, 2, 2, 2, 2, 2, 2, 0], "2026-02-19T10:00:00Z")  # 16
    add_assessment(api, scene.patient, "phq9", [1, 1, 1, 1, 1, 1, 1, 1, 0], "2026-02-28T10:00:00Z")  # 8
    page = page_of(app, scene)
    madrs = {k: v for r in table_rows(page, "madrs-outcome") for k, v in r.items()}
    assert (madrs["baseline"], madrs["latest"], madrs["change"], madrs["response"], madrs["remission"]) == (
        "30",
        "14",
        "-16",
        "true",
        "false",
    )
    change = page.select_one('table[data-table="madrs-outcome"] [data-field="change"]').get_text()
    assert change == "\u221216 points"
    phq9 = {k: v for r in table_rows(page, "phq9-outcome") for k, v in r.items()}
    # 16 to 8: exactly half, a response; 8 is not below 5.
    assert (phq9["baseline_total"], phq9["latest_total"], phq9["response"], phq9["remission"]) == (
        "16",
        "8",
        "true",
        "false",
    )
    outcomes = page.select_one(".outcomes")
    assert [t["data-table"] for t in outcomes.select("table")] == ["phq9-outcome", "madrs-outcome"]
    # Each score chart is followed by its table; MADRS band names sit right of the plot.
    for key in ("madrs", "phq9"):
        figure = page.select_one(f"#chart-{key}")
        assert figure.find_next_sibling("table")["data-table"] == key
    svg = page.select_one("#chart-madrs svg")
    texts = [t.get_text() for t in svg.select("text")]
    for band in ("normal", "mild", "moderate", "severe"):
        assert band in texts
    dashed = [line for line in svg.select("line") if line.get("stroke-dasharray") == "4 3"]
    assert len(dashed) == 3  # cut-offs at 6.5, 19.5, 34.5


def test_cssrs_screens_are_listed_newest_first_with_moderate_risk_flagged(app, scene, api):
    patient = scene.patient
    add_assessment(api, patient, "cssrs_screen", [1, 0, 0, 0, 0, 0], "2026-02-21T10:00:00Z")  # low
    add_assessment(api, patient, "cssrs_screen", [1, 1, 1, 0, 0, 0], "2026-02-26T10:00:00Z")  # moderate
    add_assessment(api, patient, "cssrs_screen", [0, 0, 0, 0, 0, 0], "2026-02-28T10:00:00Z")  # none
    page = page_of(app, scene)
    rows = table_rows(page, "cssrs_screen")
    assert [(r["recorded_at"], r["total"], r["risk"]) for r in rows] == [
        ("2026-02-28T10:00:00+00:00", "0", "none"),
        ("2026-02-26T10:00:00+00:00", "3", "moderate"),
        ("2026-02-21T10:00:00+00:00", "1", "low"),
    ]
    trs = page.select('table[data-table="cssrs_screen"] tbody tr')
    assert [tr.get("class") for tr in trs] == [None, ["flagged"], None]
    assert trs[1].select_one(".badge").get_text(" ", strip=True) == "⚠ Moderate risk"
    # The self-harm alert it raised says where it came from.
    reasons = [p.get_text(strip=True) for p in page.select("[data-alert-id] .alert-why")]
    assert reasons == ["C-SSRS screen at moderate or high risk"]


def test_every_alert_rule_reads_right():
    def alert(rule, **details):
        return SimpleNamespace(rule=rule, details=details)

    assert alert_reason(alert("self_harm", source="entry")) == "Reported in a diary entry"
    assert alert_reason(alert("self_harm", source="phq9")) == "Reported on a PHQ-9 (item 9)"
    assert alert_reason(alert("self_harm", source="cssrs_screen")) == "C-SSRS screen at moderate or high risk"
    assert alert_reason(alert("effect_waning", expected_wear_off_date="2026-03-04", basis_sessions=4)) == (
        "Effect expected to wear off around 2026-03-04 (from the last 4 sessions' effect days)"
    )
    assert (
        alert_reason(alert("mood_drop", mood_change=-2.5)) == "Mood \u22122.5 (last days against the two weeks before)"
    )


# --------------------------------------------------------------------------- MADRS refusals


def test_a_madrs_with_an_item_left_out_is_refused_by_item_name_and_keeps_what_was_typed(app, scene, world):
    pid = scene.patient.id
    pages = sign_in(app, scene.clinician)
    pages.get(f"/review/patients/{pid}")
    form = rating_form(pid, [3, 2, None, 1, 1, 2, 1, 1, 1, 0])
    resp = pages.post(f"/review/patients/{pid}/assessments", form)
    assert resp.status_code == 422
    page = soup(resp)
    assert page.select_one("#rate-problems li").get_text(strip=True) == "Item 3 (Inner tension): Choose a score."
    assert page.select_one("p.problem a")["href"] == "#rate-form"
    assert page.select_one("#rate").has_attr("open")
    item3 = page.select("#rate-item-3 input")
    assert {i.get("aria-invalid") for i in item3} == {"true"}
    assert page.select_one('input[name="item-1"][value="3"]').has_attr("checked")
    assert page.select_one('#rate-form input[name="id"]')["value"] == form["id"]
    assert world.rows("SELECT count(*) FROM assessments WHERE patient_id = :p", p=pid) == [(0,)]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Berlin's clocks went from 02:00 to 03:00 on 2025-03-30.
        ({"date": "2025-03-30", "time": "02:30"}, "Time: does not exist in Europe/Berlin on 2025-03-30"),
        ({"date": "2026-03-02", "time": "10:00"}, "Time: must not be more than 5 minutes in the future"),
        ({"item-4": "7"}, "Answers: madrs answers are 0 to 6; item 4 is not"),
        ({"session_id": str(uuid.uuid4())}, "Session: is not a session of this patient"),
        ({"time": "25:00"}, "Time: Not a valid time."),
    ],
)
def test_refused_ratings_name_their_field_and_store_nothing(app, scene, world, changes, expected):
    pid = scene.patient.id
    pages = sign_in(app, scene.clinician)
    pages.get(f"/review/patients/{pid}")
    resp = pages.post(f"/review/patients/{pid}/assessments", {**rating_form(pid, [1] * 10), **changes})
    assert resp.status_code == 422
    assert soup(resp).select_one("#rate-problems li").get_text(strip=True).startswith(expected)
    assert world.rows("SELECT count(*) FROM assessments WHERE patient_id = :p", p=pid) == [(0,)]


# --------------------------------------------------------------------------- the monitoring form


def monitoring_form(**fields) -> dict:
    return {"sedation": "none", "dissociation": "mild", "from": "2026-02-01", "to": "2026-03-01", **fields}


def test_the_monitoring_form_opens_for_one_session_prefilled_from_its_latest_record(app, scene):
    first = scene.sessions[0]
    page = page_of(app, scene, f"{WINDOW}&monitor={first}")
    forms = page.select("form.monitor-form")
    assert len(forms) == 1
    form = forms[0]
    assert form.find_parent(attrs={"data-monitoring-session-id": True})["data-monitoring-session-id"] == first
    assert form.select_one("h3").get_text(strip=True) == "Correct or complete this record — session 1"
    value = {i["name"]: i.get("value", "") for i in form.select("input[name^=vital-], input[name^=discharge]")}
    # Two readings: 8 rows; times in Berlin.
    assert len(form.select("tbody tr")) == 8
    assert [
        value["vital-1-time"],
        value["vital-1-systolic"],
        value["vital-1-diastolic"],
        value["vital-1-heart_rate"],
        value["vital-1-spo2"],
    ] == ["09:10", "140", "88", "80", "98"]
    assert (value["vital-2-time"], value["vital-2-systolic"]) == ("09:40", "182")
    assert value["vital-3-time"] == ""
    assert (value["discharge_date"], value["discharge_time"]) == ("2026-02-20", "10:55")
    assert form.select_one("#monitor-sedation option[selected]")["value"] == "mild"
    assert [c["value"] for c in form.select("input[name=adverse_events][checked]")] == ["nausea"]
    assert form.select_one("#monitor-notes").get_text() == "Nauseous at 30 min"
    # The corrected session's block is open, whatever its flags.
    second = page_of(app, scene, f"{WINDOW}&monitor={scene.sessions[1]}")
    block = second.select_one(f'[data-monitoring-session-id="{scene.sessions[1]}"]')
    assert block.has_attr("open")
    assert block.select_one("form.monitor-form h3").get_text(strip=True) == (
        "Correct or complete this record — session 2"
    )


def test_monitoring_is_recorded_as_a_new_version_in_local_times(app, scene, world):
    pid, sid = scene.patient.id, scene.sessions[2]  # 2026-02-27 08:00Z = 09:00 Berlin, ketamine
    pages = sign_in(app, scene.clinician)
    page = soup(pages.get(f"/review/patients/{pid}?{WINDOW}&monitor={sid}"))
    assert page.select_one("form.monitor-form h3").get_text(strip=True) == "Record monitoring — session 3"
    before = Counter(audit_rows(world))
    form = monitoring_form(
        **{
            "vital-2-time": "09:15",  # row 1 left blank
            "vital-2-systolic": "186",
            "vital-2-diastolic": "104",
            "vital-2-heart_rate": "96",
            "vital-4-time": "09:45",
            "vital-4-systolic": "150",
            "vital-4-diastolic": "90",
            "vital-4-heart_rate": "84",
            "vital-4-spo2": "97",
            "discharge_time": "10:05",
            "adverse_events": ["hypertension"],
            "notes": "Rechecked BP",
        }
    )
    resp = pages.post(f"/review/patients/{pid}/sessions/{sid}/monitoring", form)
    assert (resp.status_code, resp.headers["Location"]) == (
        303,
        f"/review/patients/{pid}?from=2026-02-01&to=2026-03-01#monitoring-{sid}",
    )
    rows = world.rows(
        "SELECT version, sedation, dissociation, discharged_at, notes FROM session_monitoring WHERE session_id = :s",
        s=sid,
    )
    assert len(rows) == 1
    version, sedation, dissociation, discharged_at, notes = rows[0]
    discharged = (
        discharged_at if isinstance(discharged_at, dt.datetime) else dt.datetime.fromisoformat(str(discharged_at))
    )
    assert (version, sedation, dissociation, discharged.replace(tzinfo=dt.UTC), notes) == (
        1,
        "none",
        "mild",
        dt.datetime(2026, 2, 27, 9, 5, tzinfo=dt.UTC),
        "Rechecked BP",
    )
    added = Counter(audit_rows(world)) - before
    assert added[("session.monitoring", pid, "session", sid)] == 1
    page = soup(pages.get(f"/review/patients/{pid}?{WINDOW}"))
    # 186/104 is over 180 systolic; 08:00Z to 09:05Z is 65 minutes, not below ketamine's 60.
    cell = page.select_one(f'tr[data-session-id="{sid}"] [data-field="chair"]')
    assert [b.get_text(" ", strip=True) for b in cell.select(".badge")] == ["⚠ BP ≥ 180/110"]
    assert [(v["at"], v["bp"], v["heart_rate"], v["spo2"]) for v in table_rows(page, "vitals-3")] == [
        ("2026-02-27T08:15:00+00:00", "186/104", "96", ""),
        ("2026-02-27T08:45:00+00:00", "150/90", "84", "97"),
    ]
    # Correcting it stores version 2 and keeps version 1.
    resp = pages.post(f"/review/patients/{pid}/sessions/{sid}/monitoring", {**form, "vital-2-systolic": "176"})
    assert resp.status_code == 303
    assert world.rows("SELECT version FROM session_monitoring WHERE session_id = :s ORDER BY version", s=sid) == [
        (1,),
        (2,),
    ]
    page = soup(pages.get(f"/review/patients/{pid}?{WINDOW}"))
    assert page.select_one(f'tr[data-session-id="{sid}"] [data-field="chair"]').get_text(" ", strip=True) == "no flags"


@pytest.mark.parametrize(
    ("fields", "expected", "marked"),
    [
        (
            {
                "vital-2-time": "09:15",
                "vital-2-systolic": "120",
                "vital-2-diastolic": "130",
                "vital-2-heart_rate": "80",
            },
            ["Reading 2, diastolic: Must be below systolic."],
            "vital-2-diastolic",
        ),
        (
            {"vital-3-time": "08:30", "vital-3-systolic": "120", "vital-3-diastolic": "80", "vital-3-heart_rate": "80"},
            ["Reading 3, time: must not be before the session started (2026-02-27T08:00:00Z)"],
            "vital-3-time",
        ),
        (
            {"vital-1-time": "09:15", "vital-1-systolic": "abc", "vital-1-diastolic": "80", "vital-1-heart_rate": "80"},
            ["Reading 1, systolic: Not a valid integer."],
            "vital-1-systolic",
        ),
        (
            {"vital-5-systolic": "120", "vital-5-diastolic": "80", "vital-5-heart_rate": "80"},
            ["Reading 5, time: Missing data for required field."],
            "vital-5-time",
        ),
        ({"sedation": ""}, ["Sedation: Missing data for required field."], "sedation"),
        (
            {"discharge_date": "2026-02-27"},
            ["Discharge time: Enter the time of discharge too, or clear its date."],
            "discharge_time",
        ),
        (
            {"discharge_time": "08:59"},
            ["Discharge time: must not be before the session started (2026-02-27T08:00:00Z)"],
            "discharge_time",
        ),
    ],
)
def test_refused_monitoring_names_each_problem_by_the_forms_row_and_stores_nothing(
    app, scene, world, fields, expected, marked
):
    pid, sid = scene.patient.id, scene.sessions[2]
    pages = sign_in(app, scene.clinician)
    pages.get(f"/review/patients/{pid}?{WINDOW}&monitor={sid}")
    resp = pages.post(f"/review/patients/{pid}/sessions/{sid}/monitoring", monitoring_form(**fields))
    assert resp.status_code == 422
    page = soup(resp)
    assert [li.get_text(strip=True) for li in page.select("#monitor-problems li")] == expected
    assert page.select_one("p.problem a")["href"] == "#monitor-form"
    assert page.select_one(f"#monitor-{marked}")["aria-invalid"] == "true"
    assert len(page.select("form.monitor-form")) == 1
    for name, typed in fields.items():
        if name.startswith("vital-") or name.startswith("discharge"):
            assert page.select_one(f'[name="{name}"]').get("value") == typed
    assert world.rows("SELECT count(*) FROM session_monitoring WHERE session_id = :s", s=sid) == [(0,)]


def test_the_session_form_records_the_medication(app, scene, world):
    pid = scene.patient.id
    pages = sign_in(app, scene.clinician)
    page = soup(pages.get(f"/review/patients/{pid}"))
    assert [o["value"] for o in page.select("#session-medication option")] == ["ketamine", "esketamine"]
    form = {"date": "2026-02-28", "time": "14:30", "route": "intranasal", "medication": "esketamine"}
    assert pages.post(f"/review/patients/{pid}/sessions", form).status_code == 303
    assert world.rows(
        "SELECT medication FROM treatment_sessions WHERE patient_id = :p ORDER BY started_at DESC LIMIT 1", p=pid
    ) == [("esketamine",)]
    resp = pages.post(f"/review/patients/{pid}/sessions", {**form, "medication": "morphine"})
    assert resp.status_code == 422
    assert "Medication: Must be one of: ketamine, esketamine." in soup(resp).select_one("#session-problems").get_text()


# --------------------------------------------------------------------------- CSRF, isolation, roles, audit


def test_forms_without_their_csrf_token_are_refused_and_store_nothing(app, scene, world):
    pid, sid = scene.patient.id, scene.sessions[2]
    pages = sign_in(app, scene.clinician)
    pages.get(f"/review/patients/{pid}")
    rating = rating_form(pid, [1] * 10)
    monitoring = monitoring_form(
        **{"vital-1-time": "09:15", "vital-1-systolic": "120", "vital-1-diastolic": "80", "vital-1-heart_rate": "70"}
    )
    assert pages.post(f"/review/patients/{pid}/assessments", rating, csrf=False).status_code == 400
    assert (
        pages.post(
            f"/review/patients/{pid}/sessions/{sid}/monitoring", {**monitoring, "csrf_token": "forged"}
        ).status_code
        == 400
    )
    assert world.rows("SELECT count(*) FROM assessments WHERE patient_id = :p", p=pid) == [(0,)]
    assert world.rows("SELECT count(*) FROM session_monitoring WHERE session_id = :s", s=sid) == [(0,)]


def test_another_clinics_patient_and_session_are_404_and_ops_are_refused(app, scene, world, api):
    other = world.staff(world.clinic("Another Clinic"))
    stranger = world.patient(other)
    their_session = add_session(api, other, stranger.id, "2026-02-27T08:00:00Z", "iv", "ketamine")
    pages = sign_in(app, scene.clinician)
    pages.get(f"/review/patients/{scene.patient.id}")
    rating = rating_form(stranger.id, [1] * 10)
    monitoring = monitoring_form()
    answers = [
        pages.post(f"/review/patients/{stranger.id}/assessments", rating).status_code,
        pages.post(f"/review/patients/{stranger.id}/sessions/{their_session}/monitoring", monitoring).status_code,
        # Another clinic's session under our own patient: still not found.
        pages.post(f"/review/patients/{scene.patient.id}/sessions/{their_session}/monitoring", monitoring).status_code,
        pages.get(f"/review/patients/{stranger.id}?monitor={their_session}").status_code,
    ]
    assert answers == [404, 404, 404, 404]
    ops = sign_in(app, scene.ops)
    ops.get("/review/alerts")
    assert (
        ops.post(
            f"/review/patients/{scene.patient.id}/assessments", rating_form(scene.patient.id, [1] * 10)
        ).status_code
        == 403
    )
    assert (
        ops.post(f"/review/patients/{scene.patient.id}/sessions/{scene.sessions[2]}/monitoring", monitoring).status_code
        == 403
    )
    assert world.rows("SELECT count(*) FROM assessments") == [(0,)]
    assert world.rows(
        "SELECT count(*) FROM session_monitoring WHERE session_id IN (:a, :b)", a=their_session, b=scene.sessions[2]
    ) == [(0,)]
    denied = [r for r in audit_rows(world) if r[0] == "access_denied"]
    assert len(denied) >= 3


def test_the_page_with_a_monitoring_form_open_is_audited_like_the_summary(app, scene, world, api):
    pid = scene.patient.id
    pages = sign_in(app, scene.clinician)
    before = Counter(audit_rows(world))
    assert pages.get(f"/review/patients/{pid}?{WINDOW}&monitor={scene.sessions[0]}").status_code == 200
    by_page = Counter(audit_rows(world)) - before
    before = Counter(audit_rows(world))
    assert api.get(f"/patients/{pid}/summary?{WINDOW}", token=scene.clinician.token).status_code == 200
    assert by_page == Counter(audit_rows(world)) - before
