"""Staff views of their clinic's patients."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import accounts, audit, panel, patients, summary
from diary.domain.errors import Conflict
from diary.extensions import db
from diary.schemas.patients import PatientCreateSchema, PatientSchema
from diary.schemas.summary import PanelPageSchema, PanelQuerySchema, SummaryQuerySchema, SummarySchema
from diary.timeutil import utcnow

blp = Blueprint("patients", __name__, url_prefix="/api/v1/patients", description="Clinic patients (staff)")


@blp.route("")
class Patients(MethodView):
    @authenticated("clinician")
    @blp.arguments(PanelQuerySchema, location="query")
    @blp.response(200, PanelPageSchema)
    def get(self, query):
        """The clinic panel: riskiest first (open critical alerts, open warnings, lowest 7-day mood)"""
        items, next_cursor = panel.panel_page(
            current_principal(), now=utcnow(), limit=query["limit"], cursor=query.get("cursor"), search=query.get("q")
        )
        db.session.commit()
        return {"items": items, "next_cursor": next_cursor}

    @authenticated("clinician")
    @blp.arguments(PatientCreateSchema)
    @blp.response(201, PatientSchema)
    def post(self, body):
        """Create a patient and their one-time enrolment code"""
        staff = current_principal()
        _, profile, code, expires_at = accounts.create_patient(
            staff, display_name=body["display_name"], timezone=body["timezone"], external_ref=body.get("external_ref")
        )
        audit.record(
            staff, "patient.create", patient_id=profile.user_id, resource_type="patient", resource_id=profile.user_id
        )
        db.session.commit()
        return {**patients.patient_view(profile), "enrollment_code": code, "enrollment_expires_at": expires_at}


@blp.route("/<patient_id>")
class PatientById(MethodView):
    @authenticated("clinician")
    @blp.response(200, PatientSchema)
    def get(self, patient_id):
        """A patient of my clinic"""
        profile = patients.patient_for_staff(current_principal(), patient_id, action="patient.read")
        db.session.commit()
        return patients.patient_view(profile)


@blp.route("/<patient_id>/summary")
class Summary(MethodView):
    @authenticated("clinician")
    @blp.arguments(SummaryQuerySchema, location="query")
    @blp.response(200, SummarySchema)
    def get(self, query, patient_id):
        """How the patient is doing: trends, sessions and their effect, adherence, alerts"""
        profile = patients.patient_for_staff(current_principal(), patient_id, action="patient.summary")
        window = summary.window_for(profile, query.get("from_"), query.get("to"))
        result = summary.summarize(profile, window.first, window.last, window.today)
        db.session.commit()
        return result


@blp.route("/<patient_id>/enrollment-code")
class EnrollmentCode(MethodView):
    @authenticated("clinician")
    @blp.response(201, PatientSchema)
    @blp.alt_response(409, description="the patient has already enrolled")
    def post(self, patient_id):
        """Issue a new enrolment code (a lost or expired one stops working)"""
        staff = current_principal()
        profile = patients.patient_for_staff(staff, patient_id, action="patient.enrollment_code")
        if profile.enrolled_at is not None:
            raise Conflict("the patient has already enrolled", code="already_enrolled")
        code, expires_at = accounts.issue_enrollment_code(profile.user, staff)
        db.session.commit()
        return {**patients.patient_view(profile), "enrollment_code": code, "enrollment_expires_at": expires_at}
