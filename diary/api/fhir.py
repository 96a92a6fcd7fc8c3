"""FHIR R4 export of a patient's record, for the clinic's EHR."""

from flask import Response, current_app
from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import fhir
from diary.extensions import db

blp = Blueprint("fhir", __name__, url_prefix="/api/v1/patients", description="FHIR R4 export (staff)")

FHIR_JSON = "application/fhir+json"
BUNDLE_DOC = {
    "type": "object",
    "description": "A FHIR R4 Bundle of type collection (resourceType, type, timestamp, entry[])",
    "required": ["resourceType", "type"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["collection"]},
        "timestamp": {"type": "string"},
        "entry": {"type": "array", "items": {"type": "object"}},
    },
}


@blp.route("/<patient_id>/fhir")
class PatientFhir(MethodView):
    @authenticated("clinician")
    @blp.response(200, BUNDLE_DOC, content_type=FHIR_JSON, description="FHIR R4 Bundle (collection)")
    def get(self, patient_id):
        """The patient's record as a FHIR R4 Bundle: Patient, Observations, MedicationAdministrations"""
        bundle = fhir.export_for_staff(current_principal(), patient_id, current_app.config["FHIR_CODE_SYSTEM_URL"])
        db.session.commit()
        return Response(bundle, status=200, content_type=FHIR_JSON)
