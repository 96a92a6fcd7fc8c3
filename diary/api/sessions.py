"""Treatment sessions of a patient, and the clinic's check-in protocol (clinicians)."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import audit, patients, sessions
from diary.extensions import db
from diary.models import Clinic
from diary.schemas.sessions import ProtocolSchema, SessionInSchema, SessionSchema

blp = Blueprint("sessions", __name__, url_prefix="/api/v1", description="Treatment sessions and the check-in protocol")


def _view(session, checkins) -> dict:
    return {
        "id": session.id,
        "patient_id": session.patient_id,
        "started_at": session.started_at,
        "route": session.route,
        "dose_mg": session.dose_mg,
        "notes": session.notes,
        "created_at": session.created_at,
        "checkins": checkins,
    }


@blp.route("/patients/<patient_id>/sessions")
class Sessions(MethodView):
    @authenticated("clinician")
    @blp.arguments(SessionInSchema)
    @blp.response(201, SessionSchema)
    def post(self, body, patient_id):
        """Record a treatment session; its check-ins are scheduled at once"""
        staff = current_principal()
        profile = patients.patient_for_staff(staff, patient_id, action="session.create")
        session, checkins = sessions.record_session(
            staff,
            profile,
            started_at=body["started_at"],
            route=body["route"],
            dose_mg=body.get("dose_mg"),
            notes=body.get("notes"),
        )
        db.session.commit()
        return _view(session, checkins)

    @authenticated("clinician")
    @blp.response(200, SessionSchema(many=True))
    def get(self, patient_id):
        """A patient's sessions, newest first, with their check-ins"""
        profile = patients.patient_for_staff(current_principal(), patient_id, action="session.list")
        listing = [_view(s, c) for s, c in sessions.sessions_with_checkins(profile.user_id)]
        db.session.commit()
        return listing


@blp.route("/patients/<patient_id>/sessions/<session_id>")
class SessionById(MethodView):
    @authenticated("clinician")
    @blp.response(204)
    def delete(self, patient_id, session_id):
        """Delete a session; its check-ins not yet answered are cancelled"""
        staff = current_principal()
        profile = patients.patient_for_staff(staff, patient_id, action=None)  # audited below, with the session
        session = sessions.live_session(profile, session_id)
        audit.record(
            staff, "session.delete", patient_id=profile.user_id, resource_type="session", resource_id=session.id
        )
        sessions.delete_session(session)
        db.session.commit()


@blp.route("/clinic/protocol")
class Protocol(MethodView):
    @authenticated("clinician")
    @blp.response(200, ProtocolSchema)
    def get(self):
        """The clinic's check-in protocol"""
        return sessions.protocol_view(db.session.get(Clinic, current_principal().clinic_id))

    @authenticated("clinician")
    @blp.arguments(ProtocolSchema)
    @blp.response(200, ProtocolSchema)
    def put(self, body):
        """Replace the protocol; it applies to sessions recorded afterwards"""
        clinic = db.session.get(Clinic, current_principal().clinic_id)
        sessions.set_protocol(clinic, body["checkin_offsets_minutes"], body["checkin_window_minutes"])
        db.session.commit()
        return sessions.protocol_view(clinic)
