"""A patient's record as a FHIR R4 Bundle (type `collection`), for an EHR to read.

Built with `fhir.resources`' R4B models, so every resource is validated as it is made.
R4B (4.3.0) is the release the maintained library ships beside R5; for the resources
used here (Patient, Observation, MedicationAdministration, Bundle) R4B changed nothing
from R4 (https://hl7.org/fhir/R4B/diff.html), so the JSON is R4 JSON.

The library (pydantic models, ~13 MiB) is imported inside the functions that build a
bundle: an API worker that never exports never pays for it.

Resource ids are uuid5 over a fixed namespace and the row id (plus the facet for an
entry's mood and anxiety), so the same row is the same resource in every export and a
receiving system can update rather than duplicate. Every resource refers to the Patient
by the bundle's `urn:uuid:` fullUrl. Codes come from diary/domain/fhir_codes.py only.

JSON: the library's own serializer walks every element of every model in Python and
took ~0.2 ms per resource (0.9 s of a 2-year history's 1.1 s). `fhir_json` renders the
same validated models the same way (the library's element order, aliases and primitive
rules, then pydantic-core's JSON encoder, as the library ends with) in ~5 % of the
time, rendering each shared part once; tests/test_fhir.py proves the output identical,
byte for byte, to `model_dump_json()` of the same Bundle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import gc
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from diary.domain import fhir_codes as codes
from diary.domain import monitoring, patients
from diary.domain.errors import NotFound
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import Assessment, AuditEvent, Entry, PatientProfile, TreatmentSession
from diary.timeutil import utcnow

# Fixed forever: changing it would give every exported resource a new identity.
RESOURCE_NAMESPACE = uuid.UUID("5d0f3c2e-8a4b-5c1d-9e6f-1a2b3c4d5e6f")

FHIR_ACTION = "patient.fhir_export"


def resource_id(kind: str, row_id: str, facet: str | None = None) -> str:
    """The stable FHIR id of a row (and facet): the same every export."""
    name = f"{kind}/{row_id}" if facet is None else f"{kind}/{row_id}/{facet}"
    return str(uuid.uuid5(RESOURCE_NAMESPACE, name))


def full_url(fhir_id: str) -> str:
    return f"urn:uuid:{fhir_id}"


def export_for_staff(staff: Actor, patient_id: str, code_system_url: str) -> bytes:
    """A clinician's export: clinic-scoped (another clinic's patient is a 404) and audited."""
    profile = patients.patient_for_staff(staff, patient_id, action=FHIR_ACTION)
    return patient_bundle_json(profile, code_system_url)


def export_for_admin(patient_id: str, code_system_url: str) -> bytes:
    """A one-off transfer from the command line: any clinic's patient, audited with no actor
    (the person at the console is not an account), like erasure."""
    profile = db.session.get(PatientProfile, patient_id)
    if profile is None:
        raise NotFound("patient not found")
    db.session.add(
        AuditEvent(
            actor_id=None,
            actor_role="admin",
            clinic_id=profile.clinic_id,
            action=FHIR_ACTION,
            patient_id=profile.user_id,
            resource_type="patient",
            resource_id=profile.user_id,
        )
    )
    db.session.flush()
    return patient_bundle_json(profile, code_system_url)


def patient_bundle_json(profile: PatientProfile, code_system_url: str) -> bytes:
    """The patient's Bundle as FHIR JSON; three queries whatever the history's length."""
    with _cyclic_gc_paused():
        return build_bundle(profile, code_system_url).bundle_json()


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A bundle is tens of thousands of small acyclic objects that all live until it is
    written; the cyclic collector would walk them again and again as they pile up
    (measured: a third of a 2-year export). Reference counting frees them the same; the
    collector resumes as soon as the bundle is built. (gunicorn's sync workers serve one
    request per process, so nothing else waits on it.)"""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_bundle(profile: PatientProfile, code_system_url: str) -> BundleBuilder:
    """Every resource of the patient's bundle, made and validated; `.bundle()` assembles it."""
    builder = BundleBuilder(profile.user_id, code_system_url)
    builder.add(builder.patient(profile))
    for assessment in db.session.scalars(
        select(Assessment)
        .where(Assessment.patient_id == profile.user_id)
        .order_by(Assessment.recorded_at, Assessment.id)
    ):
        builder.add(builder.assessment_observation(assessment))
    for entry_id, recorded_at, mood, anxiety in db.session.execute(
        # Columns only: loading Entry objects would also load their side effects.
        select(Entry.id, Entry.recorded_at, Entry.mood, Entry.anxiety)
        .where(Entry.patient_id == profile.user_id, Entry.deleted_at.is_(None))
        .order_by(Entry.recorded_at, Entry.id)
    ):
        builder.add(builder.scale_observation(entry_id, "mood", recorded_at, mood))
        builder.add(builder.scale_observation(entry_id, "anxiety", recorded_at, anxiety))
    sessions = list(
        db.session.scalars(
            select(TreatmentSession)
            .where(TreatmentSession.patient_id == profile.user_id, TreatmentSession.deleted_at.is_(None))
            .order_by(TreatmentSession.started_at, TreatmentSession.id)
        )
    )
    # The vitals of each session's current monitoring record, from one query.
    monitored = monitoring.latest_of(sessions)
    for session in sessions:
        builder.add(builder.medication_administration(session))
        record = monitored.get(session.id)
        vitals = [vars(vital) for vital in record.vitals] if record else []
        for observation in builder.vital_sign_observations(session.id, vitals):
            builder.add(observation)
    return builder


class BundleBuilder:
    """Makes the bundle's resources with the library's models.

    The parts every resource of a kind shares (category, code, the patient reference,
    route and medication codes) are built and validated once per export and reused, so a
    long history pays validation for what differs per row only.
    """

    def __init__(self, patient_user_id: str, code_system_url: str) -> None:
        from fhir.resources.R4B.bundle import Bundle, BundleEntry
        from fhir.resources.R4B.codeableconcept import CodeableConcept
        from fhir.resources.R4B.coding import Coding
        from fhir.resources.R4B.humanname import HumanName
        from fhir.resources.R4B.identifier import Identifier
        from fhir.resources.R4B.medicationadministration import (
            MedicationAdministration,
            MedicationAdministrationDosage,
        )
        from fhir.resources.R4B.observation import Observation, ObservationComponent
        from fhir.resources.R4B.patient import Patient
        from fhir.resources.R4B.quantity import Quantity
        from fhir.resources.R4B.reference import Reference

        self._bundle, self._entry = Bundle, BundleEntry
        self._concept_model, self._coding_model = CodeableConcept, Coding
        self._human_name, self._identifier, self._patient_model = HumanName, Identifier, Patient
        self._observation, self._component = Observation, ObservationComponent
        self._administration, self._dosage = MedicationAdministration, MedicationAdministrationDosage
        self._quantity_model = Quantity
        self.code_system_url = code_system_url
        self.patient_id = resource_id("patient", patient_user_id)
        self.patient_ref = Reference(reference=full_url(self.patient_id))
        self._concepts: dict[codes.Code, Any] = {}
        self._entries: list[Any] = []

    # -- shared parts --------------------------------------------------------------------
    def system(self, code: codes.Code) -> str:
        return self.code_system_url if code.system == codes.PROJECT else code.system

    def coding(self, code: codes.Code) -> Any:
        return self._coding_model(system=self.system(code), code=code.code, display=code.display)

    def concept(self, *alternatives: codes.Code) -> Any:
        """A CodeableConcept of one code (or several codings of one concept), made once."""
        key = alternatives[0] if len(alternatives) == 1 else alternatives
        if key not in self._concepts:
            self._concepts[key] = self._concept_model(coding=[self.coding(c) for c in alternatives])
        return self._concepts[key]

    def quantity(self, value: float | int, unit: tuple[str, str]) -> Any:
        ucum_code, human = unit
        return self._quantity_model(value=value, unit=human, system=codes.UCUM, code=ucum_code)

    def add(self, resource: Any) -> None:
        self._entries.append(self._entry(fullUrl=full_url(resource.id), resource=resource))

    def bundle(self) -> Any:
        return self._bundle(type="collection", timestamp=utcnow(), entry=self._entries)

    def bundle_json(self) -> bytes:
        return fhir_json(self.bundle())

    # -- resources -----------------------------------------------------------------------
    def patient(self, profile: PatientProfile) -> Any:
        identifiers = [self._identifier(system="urn:ietf:rfc:3986", value=f"urn:uuid:{profile.user_id}")]
        if profile.external_ref:
            identifiers.append(
                self._identifier(
                    use="secondary", type=self._concept_model(text="clinic reference"), value=profile.external_ref
                )
            )
        return self._patient_model(
            id=self.patient_id,
            identifier=identifiers,
            name=[self._human_name(text=profile.display_name)],
        )

    def assessment_observation(self, assessment: Assessment) -> Any:
        """One questionnaire or rating: the total as the value, each answer a component in item order.

        The interpretation is the stored band (`severity`); for the C-SSRS screen it is the
        risk level, which the API reports in place of a severity.
        """
        instrument = codes.INSTRUMENT_CODES[assessment.instrument]
        return self._observation(
            id=resource_id("assessment", assessment.id),
            status="final",
            category=[self.concept(codes.SURVEY)],
            code=self.concept(instrument.total),
            subject=self.patient_ref,
            effectiveDateTime=assessment.recorded_at,
            valueInteger=assessment.total,
            interpretation=[self._concept_model(text=assessment.severity or assessment.risk)],
            component=[
                self._component(code=self.concept(item), valueInteger=answer)
                for item, answer in zip(instrument.items, assessment.answers, strict=True)
            ],
        )

    def scale_observation(self, entry_id: str, scale: str, recorded_at: dt.datetime, value: int) -> Any:
        """A diary entry's mood or anxiety (0-10), in the project's code system."""
        code = codes.PROJECT_MOOD if scale == "mood" else codes.PROJECT_ANXIETY
        return self._observation(
            id=resource_id("entry", entry_id, scale),
            status="final",
            category=[self.concept(codes.SURVEY)],
            code=self.concept(code),
            subject=self.patient_ref,
            effectiveDateTime=recorded_at,
            valueInteger=value,
        )

    def medication_administration(self, session: TreatmentSession) -> Any:
        """A treatment session: the drug in RxNorm, the route in SNOMED CT, the dose in mg.

        FHIR R4 rule mad-1: a dosage needs a dose (or rate). A session recorded without a
        dose therefore carries no dosage, and its route travels as the dosage-free note.
        """
        route = codes.ROUTES[session.route]
        dosage, note = None, None
        if session.dose_mg is not None:
            dosage = self._dosage(route=self.concept(route), dose=self.quantity(session.dose_mg, codes.UNIT_MG))
        else:
            note = [{"text": f"Route: {route.display} (SNOMED CT {route.code}); dose not recorded"}]
        return self._administration(
            id=resource_id("session", session.id),
            status="completed",
            medicationCodeableConcept=self.concept(codes.MEDICATIONS[session.medication]),
            subject=self.patient_ref,
            effectiveDateTime=session.started_at,
            dosage=dosage,
            note=note,
        )

    def vital_sign_observations(self, session_id: str, vitals: list[dict[str, Any]]) -> list[Any]:
        """Monitoring vitals as vital-sign Observations: per reading, a blood pressure panel
        (systolic and diastolic components), a heart rate and, when measured, an SpO2.

        `vitals`: [{at (aware datetime), systolic, diastolic, heart_rate, spo2?}] as
        API.md's session monitoring stores them.
        """
        observations = []
        for reading in vitals:
            at = reading["at"].astimezone(dt.UTC)
            facet = at.isoformat()
            observations.append(
                self._observation(
                    id=resource_id("vitals", session_id, f"{facet}/blood-pressure"),
                    status="final",
                    category=[self.concept(codes.VITAL_SIGNS)],
                    code=self.concept(codes.BLOOD_PRESSURE_PANEL),
                    subject=self.patient_ref,
                    effectiveDateTime=at,
                    component=[
                        self._component(
                            code=self.concept(codes.SYSTOLIC),
                            valueQuantity=self.quantity(reading["systolic"], codes.UNIT_MMHG),
                        ),
                        self._component(
                            code=self.concept(codes.DIASTOLIC),
                            valueQuantity=self.quantity(reading["diastolic"], codes.UNIT_MMHG),
                        ),
                    ],
                )
            )
            observations.append(
                self._observation(
                    id=resource_id("vitals", session_id, f"{facet}/heart-rate"),
                    status="final",
                    category=[self.concept(codes.VITAL_SIGNS)],
                    code=self.concept(codes.HEART_RATE),
                    subject=self.patient_ref,
                    effectiveDateTime=at,
                    valueQuantity=self.quantity(reading["heart_rate"], codes.UNIT_PER_MIN),
                )
            )
            if reading.get("spo2") is not None:
                observations.append(
                    self._observation(
                        id=resource_id("vitals", session_id, f"{facet}/spo2"),
                        status="final",
                        category=[self.concept(codes.VITAL_SIGNS)],
                        code=self.concept(codes.OXYGEN_SATURATION, codes.PULSE_OXIMETRY),
                        subject=self.patient_ref,
                        effectiveDateTime=at,
                        valueQuantity=self.quantity(reading["spo2"], codes.UNIT_PERCENT),
                    )
                )
        return observations


# --- JSON rendering -----------------------------------------------------------------------
# Per model class: (has resourceType, [(json key, attribute, is primitive, extension attribute)]).
_RENDER_PLANS: dict[type, tuple[bool, list[tuple[str, str, bool, str | None]]]] = {}


def fhir_json(model: Any) -> bytes:
    """The model as FHIR JSON, identical to its `model_dump_json()` (see the module docstring)."""
    import pydantic_core

    return pydantic_core.to_json(_render(model, {}))


def _render_plan(cls: type) -> tuple[bool, list[tuple[str, str, bool, str | None]]]:
    plan = _RENDER_PLANS.get(cls)
    if plan is None:
        from fhir_core.utils import is_primitive_type

        aliases, fields = cls.get_alias_mapping(), cls.model_fields
        elements = []
        for element in cls.elements_sequence():
            attribute = aliases[element]
            info = fields[attribute]
            extension = f"{attribute}__ext"
            elements.append(
                (
                    info.alias or attribute,
                    attribute,
                    is_primitive_type(info),
                    extension if extension in fields else None,
                )
            )
        plan = _RENDER_PLANS[cls] = (cls.has_resource_base(), elements)
    return plan


def _render(model: Any, rendered: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The model's elements in FHIR order; None and empty lists left out, as the library does.
    `rendered` memoises parts shared by many resources (same object, same JSON)."""
    done = rendered.get(id(model))
    if done is not None:
        return done
    has_resource_type, elements = _render_plan(type(model))
    out: dict[str, Any] = {"resourceType": model.__resource_type__} if has_resource_type else {}
    values = model.__dict__
    for key, attribute, primitive, extension in elements:
        value = values.get(attribute)
        if value is not None:
            if primitive:
                value = _primitive(value)
            elif isinstance(value, list):
                value = [_render(item, rendered) for item in value]
            else:
                value = _render(value, rendered)
            if value != []:
                out[key] = value
        if extension is not None and values.get(extension) is not None:
            # The export writes no primitive extensions; render nothing it cannot prove equal.
            raise NotImplementedError(f"primitive extension {extension} is not rendered")
    if values.get("fhir_comments") is not None:
        out["fhir_comments"] = values["fhir_comments"]
    rendered[id(model)] = out
    return out


def _primitive(value: Any) -> Any:
    """The library's primitive rules: integral decimals as integers, UUIDs as urn:uuid."""
    if isinstance(value, list):
        return [_primitive(item) for item in value]
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        if value.is_finite() and value == value.to_integral_value() and isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, uuid.UUID):
        return f"urn:uuid:{value}"
    if isinstance(value, bytes | bytearray):
        raise NotImplementedError("base64 elements are not rendered")
    return value
