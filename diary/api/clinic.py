"""The clinic as a whole (clinicians): its check-in protocol and its treatment outcomes."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import outcomes, sessions
from diary.extensions import db
from diary.schemas.clinic import OutcomesQuerySchema, OutcomesSchema
from diary.schemas.sessions import ProtocolSchema
from diary.timeutil import utcnow

blp = Blueprint("clinic", __name__, url_prefix="/api/v1/clinic", description="The clinic's protocol and outcomes")


@blp.route("/protocol")
class Protocol(MethodView):
    @authenticated("clinician")
    @blp.response(200, ProtocolSchema)
    def get(self):
        """The clinic's check-in protocol"""
        return sessions.clinic_protocol(current_principal())

    @authenticated("clinician")
    @blp.arguments(ProtocolSchema)
    @blp.response(200, ProtocolSchema)
    def put(self, body):
        """Replace the protocol; it applies to sessions recorded afterwards"""
        protocol = sessions.replace_protocol(
            current_principal(), body["checkin_offsets_minutes"], body["checkin_window_minutes"]
        )
        db.session.commit()
        return protocol


@blp.route("/outcomes")
class Outcomes(MethodView):
    @authenticated("clinician")
    @blp.arguments(OutcomesQuerySchema, location="query")
    @blp.response(200, OutcomesSchema)
    def get(self, query):
        """Induction completion, PHQ-9 response and remission, effect duration of a cohort"""
        result = outcomes.clinic_outcomes(current_principal(), query.get("from_"), query.get("to"), utcnow())
        db.session.commit()
        return result
