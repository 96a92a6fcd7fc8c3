"""The patient's own profile, devices, check-ins and export."""

from flask.views import MethodView
from sqlalchemy import select

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal, current_user
from diary.domain import audit, devices, export, sessions
from diary.extensions import db
from diary.models import Checkin, PatientProfile
from diary.schemas.patients import (
    CheckinQuerySchema,
    CheckinSchema,
    DeviceInSchema,
    DeviceSchema,
    ProfilePatchSchema,
    ProfileSchema,
)

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="The patient's own profile and data")


def own_profile() -> PatientProfile:
    return db.session.get(PatientProfile, current_principal().id)


def profile_view(profile: PatientProfile) -> dict:
    return {
        "id": profile.user_id,
        "email": profile.user.email,
        "timezone": profile.timezone,
        "daily_reminder_time": profile.daily_reminder_time,
        "quiet_hours_start": profile.quiet_hours_start,
        "quiet_hours_end": profile.quiet_hours_end,
        "push_enabled": profile.push_enabled,
    }


@blp.route("")
class Me(MethodView):
    @authenticated("patient")
    @blp.response(200, ProfileSchema)
    def get(self):
        """Read my profile"""
        return profile_view(own_profile())

    @authenticated("patient")
    @blp.arguments(ProfilePatchSchema)
    @blp.response(200, ProfileSchema)
    def patch(self, changes):
        """Change timezone, reminder time, quiet hours or push preference"""
        profile = own_profile()
        for name, value in changes.items():
            setattr(profile, name, value)
        if {"timezone", "quiet_hours_start", "quiet_hours_end"} & changes.keys():
            sessions.reschedule_pending(profile)
        db.session.commit()
        return profile_view(profile)


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


@blp.route("/devices/<device_id>")
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
        stmt = select(Checkin).where(Checkin.patient_id == current_principal().id)
        if query.get("status"):
            stmt = stmt.where(Checkin.status == query["status"])
        return list(db.session.scalars(stmt.order_by(Checkin.due_at.desc())))


@blp.route("/export")
class Export(MethodView):
    @authenticated("patient")
    @blp.response(200)
    def get(self):
        """Everything stored about me, as JSON"""
        user = current_user()
        document = export.patient_export(user)
        audit.record(user, "patient.export", patient_id=user.id, resource_type="patient", resource_id=user.id)
        db.session.commit()
        return document
