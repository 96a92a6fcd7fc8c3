"""Liveness, readiness and metrics for the platform around the app."""

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields

from diary import metrics
from diary.api.base import Blueprint
from diary.domain import operations
from diary.timeutil import utcnow

blp = Blueprint("ops", __name__, description="Health, readiness and metrics")


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is up"""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="a dependency is not ready")
    def get(self):
        """The database answers and a worker ticked recently"""
        readiness = operations.readiness(utcnow())
        return readiness, 200 if readiness.ready else 503


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.response(200, content_type="text/plain; version=0.0.4")
    def get(self):
        """Prometheus metrics"""
        return Response(metrics.render(operations.gauges(utcnow())), mimetype="text/plain; version=0.0.4")
