"""Staff views of their clinic's patients."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import assessments, panel, patients, summary
from diary.extensions import db
from diary.schemas.entries import AssessmentQuerySchema, RatedAssessmentSchema, RatingInSchema
from diary.schemas.patients import EnrolmentSchema, PatientCreateSchema, PatientSchema
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
        page = panel.panel_page(
            current_principal(),
            now=utcnow(),
            limit=query["limit"],
            cursor=query.get("cursor"),
            search=query.get("q"),
            order=query["order"],
        )
        db.session.commit()
        return page

    @authenticated("clinician")
    @blp.arguments(PatientCreateSchema)
    @blp.response(201, EnrolmentSchema)
    def post(self, body):
        """Create a patient and their one-time enrolment code"""
        invitation = patients.invite(current_principal(), **body)
        db.session.commit()
        return invitation


@blp.route("/<id:patient_id>")
class PatientById(MethodView):
    @authenticated("clinician")
    @blp.response(200, PatientSchema)
    def get(self, patient_id):
        """A patient of my clinic"""
        profile = patients.patient_for_staff(current_principal(), patient_id, action="patient.read")
        db.session.commit()
        return profile


@blp.route("/<id:patient_id>/summary")
class Summary(MethodView):
    @authenticated("clinician")
    @blp.arguments(SummaryQuerySchema, location="query")
    @blp.response(200, SummarySchema)
    def get(self, query, patient_id):
        """How the patient is doing: trends, sessions and their effect, adherence, alerts"""
        result = summary.for_staff(current_principal(), patient_id, query.get("from_"), query.get("to"))
        db.session.commit()
        return result


@blp.route("/<id:patient_id>/enrollment-code")
class EnrollmentCode(MethodView):
    @authenticated("clinician")
    @blp.response(201, EnrolmentSchema)
    @blp.alt_response(409, description="the patient has already enrolled")
    def post(self, patient_id):
        """Issue a new enrolment code (a lost or expired one stops working)"""
        invitation = patients.reissue_enrollment_code(current_principal(), patient_id)
        db.session.commit()
        return invitation


@blp.route("/<id:patient_id>/assessments")
class Ratings(MethodView):
    @authenticated("clinician")
    @blp.arguments(RatingInSchema)
    @blp.response(201, RatedAssessmentSchema)
    @blp.alt_response(200, schema=RatedAssessmentSchema, description="replay of a rating already stored")
    @blp.alt_response(409, description="id already used with different content")
    def post(self, body, patient_id):
        """Record a clinician-rated scale (MADRS), optionally tied to one of the patient's sessions"""
        rating, created = assessments.rate(current_principal(), patient_id, body)
        db.session.commit()
        return rating, 201 if created else 200

    @authenticated("clinician")
    @blp.arguments(AssessmentQuerySchema, location="query")
    @blp.response(200, RatedAssessmentSchema(many=True))
    def get(self, query, patient_id):
        """The patient's assessments, newest first, patient- and clinician-rated alike"""
        listing = assessments.assessments_of(current_principal(), patient_id, query.get("instrument"))
        db.session.commit()
        return listing
