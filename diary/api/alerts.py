"""The clinic's alert queue (clinicians and ops)."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import alerts
from diary.extensions import db
from diary.schemas.alerts import AlertPageSchema, AlertQuerySchema, AlertSchema, ResolveSchema

blp = Blueprint("alerts", __name__, url_prefix="/api/v1/alerts", description="Alerts: list, acknowledge, resolve")


@blp.route("")
class Alerts(MethodView):
    @authenticated("clinician", "ops")
    @blp.arguments(AlertQuerySchema, location="query")
    @blp.response(200, AlertPageSchema)
    def get(self, query):
        """The clinic's alerts, newest first"""
        page = alerts.list_alerts(
            current_principal(), status=query.get("status"), limit=query["limit"], cursor=query.get("cursor")
        )
        db.session.commit()
        return page


@blp.route("/<id:alert_id>/acknowledge")
class Acknowledge(MethodView):
    @authenticated("clinician", "ops")
    @blp.response(200, AlertSchema)
    @blp.alt_response(409, description="the alert is already resolved")
    def post(self, alert_id):
        """Acknowledge: someone is on it (stops escalation)"""
        alert = alerts.acknowledge(current_principal(), alert_id)
        db.session.commit()
        return alert


@blp.route("/<id:alert_id>/resolve")
class Resolve(MethodView):
    @authenticated("clinician", "ops")
    @blp.arguments(ResolveSchema)
    @blp.response(200, AlertSchema)
    @blp.alt_response(409, description="the alert is already resolved")
    def post(self, body, alert_id):
        """Resolve, with an optional note"""
        alert = alerts.resolve(current_principal(), alert_id, body.get("note"))
        db.session.commit()
        return alert
