"""Liveness, readiness and metrics for the platform around the app."""

import datetime as dt

from flask import Response, current_app
from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from diary import metrics
from diary.api.base import Blueprint
from diary.domain import maintenance
from diary.extensions import db
from diary.models import OPEN_STATUSES, UNRESOLVED, Alert, Notification
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
        checks = {}
        try:
            db.session.execute(text("SELECT 1"))
            checks["database"] = "ok"
            stale = dt.timedelta(seconds=current_app.config["WORKER_STALE_SECONDS"])
            last = maintenance.last_tick(utcnow())
            if last is None:
                checks["worker"] = "no worker has ticked"
            elif utcnow() - last > stale:
                checks["worker"] = f"no worker tick for {int((utcnow() - last).total_seconds())} s"
            else:
                checks["worker"] = "ok"
        except SQLAlchemyError:
            db.session.rollback()
            checks["database"] = "unreachable"
            checks["worker"] = "unknown"
        ready = all(v == "ok" for v in checks.values())
        return {"status": "ok" if ready else "unavailable", "checks": checks}, 200 if ready else 503


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.response(200, content_type="text/plain; version=0.0.4")
    def get(self):
        """Prometheus metrics"""
        return Response(metrics.render(outbox_state()), mimetype="text/plain; version=0.0.4")


def outbox_state() -> dict:
    """Outbox depth by kind and status, and the age of the oldest due row, from the database
    (so the figures are right however many workers run, wherever)."""
    now = utcnow()
    try:
        depth = db.session.execute(
            select(Notification.kind, Notification.status, func.count())
            .where(Notification.status.in_(OPEN_STATUSES))
            .group_by(Notification.kind, Notification.status)
        ).all()
        oldest = db.session.scalar(
            select(func.min(Notification.next_attempt_at)).where(
                Notification.status.in_(("pending", "failed")), Notification.next_attempt_at <= now
            )
        )
        open_alerts = db.session.execute(
            select(Alert.severity, Alert.status, func.count())
            .where(Alert.status.in_(UNRESOLVED))
            .group_by(Alert.severity, Alert.status)
        ).all()
    except SQLAlchemyError:
        db.session.rollback()
        return {}
    return {
        "open_alerts": {(severity, status): count for severity, status, count in open_alerts},
        "depth": {(kind, status): count for kind, status, count in depth},
        "oldest_due_age": (now - oldest).total_seconds() if oldest else 0.0,
    }
