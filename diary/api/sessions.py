"""Treatment sessions of a patient (clinicians)."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import sessions
from diary.extensions import db
from diary.schemas.monitoring import MonitoringInSchema, MonitoringSchema
from diary.schemas.sessions import SessionInSchema, SessionSchema

blp = Blueprint("sessions", __name__, url_prefix="/api/v1", description="Treatment sessions")


@blp.route("/patients/<id:patient_id>/sessions")
class Sessions(MethodView):
    @authenticated("clinician")
    @blp.arguments(SessionInSchema)
    @blp.response(201, SessionSchema)
    def post(self, body, patient_id):
        """Record a treatment session; its check-ins are scheduled at once"""
        recorded = sessions.record(current_principal(), patient_id, **body)
        db.session.commit()
        return recorded

    @authenticated("clinician")
    @blp.response(200, SessionSchema(many=True))
    def get(self, patient_id):
        """A patient's sessions, newest first, with their check-ins"""
        listing = sessions.sessions_of(current_principal(), patient_id)
        db.session.commit()
        return listing


@blp.route("/patients/<id:patient_id>/sessions/<id:session_id>")
class SessionById(MethodView):
    @authenticated("clinician")
    @blp.response(204)
    def delete(self, patient_id, session_id):
        """Delete a session; its check-ins not yet answered are cancelled"""
        sessions.delete(current_principal(), patient_id, session_id)
        db.session.commit()


@blp.route("/patients/<id:patient_id>/sessions/<id:session_id>/monitoring")
class SessionMonitoring(MethodView):
    @authenticated("clinician")
    @blp.arguments(MonitoringInSchema)
    @blp.response(200, MonitoringSchema)
    def put(self, body, patient_id, session_id):
        """Record what was observed in the clinic; a new version, the previous ones are kept"""
        recorded = sessions.monitor(current_principal(), patient_id, session_id, **body)
        db.session.commit()
        return recorded
