"""Liveness, readiness and metrics for the platform around the app."""

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from diary import metrics
from diary.api.base import Blueprint
from diary.extensions import db, limiter

blp = Blueprint("ops", __name__, description="Health, readiness and metrics")


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


@blp.route("/healthz")
class Health(MethodView):
    decorators = [limiter.exempt]

    @blp.response(200, HealthSchema)
    def get(self):
        """The process is up"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    decorators = [limiter.exempt]

    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="a dependency is not ready")
    def get(self):
        """The database answers"""
        checks = {}
        try:
            db.session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except SQLAlchemyError:
            db.session.rollback()
            checks["database"] = "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


@blp.route("/metrics")
class Metrics(MethodView):
    decorators = [limiter.exempt]

    @blp.response(200, content_type="text/plain; version=0.0.4")
    def get(self):
        """Prometheus metrics"""
        return Response(metrics.render(), mimetype="text/plain; version=0.0.4")
