"""The patient's own profile, devices, check-ins and export."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import devices, export, profile, sessions
from diary.extensions import db
from diary.schemas.me import (
    CheckinQuerySchema,
    CheckinSchema,
    DeviceInSchema,
    DeviceSchema,
    ProfilePatchSchema,
    ProfileSchema,
)

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The patient's own profile and data")


@blp.route("")
class Me(MethodView):
    @authenticated("patient")
    @blp.response(200, ProfileSchema)
    def get(self):
        """Read my profile"""
        return profile.own_profile(current_principal())

    @authenticated("patient")
    @blp.arguments(ProfilePatchSchema)
    @blp.response(200, ProfileSchema)
    def patch(self, changes):
        """Change timezone, reminder time, quiet hours or push preference"""
        updated = profile.update_profile(current_principal(), changes)
        db.session.commit()
        return updated


@blp.route("/devices")
class Devices(MethodView):
    # Staff register devices too: alert pushes reach clinicians and ops on their phones.
    @authenticated()
    @blp.arguments(DeviceInSchema)
    @blp.response(201, DeviceSchema)
    @blp.alt_response(200, schema=DeviceSchema, description="token already registered; re-activated")
    def post(self, body):
        """Register a push device (FCM registration token)"""
        device, created = devices.register(current_principal(), body["token"], body["platform"])
        db.session.commit()
        return device, 201 if created else 200


@blp.route("/devices/<id:device_id>")
class DeviceById(MethodView):
    @authenticated()
    @blp.response(204)
    def delete(self, device_id):
        """Stop pushes to a device"""
        devices.remove(current_principal(), device_id)
        db.session.commit()


@blp.route("/checkins")
class Checkins(MethodView):
    @authenticated("patient")
    @blp.arguments(CheckinQuerySchema, location="query")
    @blp.response(200, CheckinSchema(many=True))
    def get(self, query):
        """My check-ins, newest due first"""
        return sessions.patient_checkins(current_principal(), query.get("status"))


@blp.route("/export")
class Export(MethodView):
    @authenticated("patient")
    @blp.response(200)
    def get(self):
        """Everything stored about me, as JSON"""
        document = export.export_own_record(current_principal())
        db.session.commit()
        return document
