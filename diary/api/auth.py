from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import accounts, tokens
from diary.domain.errors import AuthFailed
from diary.extensions import db
from diary.ratelimit import auth_rate_limited
from diary.schemas.auth import EnrollRequestSchema, RefreshRequestSchema, TokenPairSchema, TokenRequestSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Login, token refresh, enrolment")


@blp.route("/token")
@auth_rate_limited
class Token(MethodView):
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, TokenPairSchema)
    def post(self, body):
        """Log in with email and password"""
        pair = accounts.login(body["email"], body["password"])
        db.session.commit()
        return pair


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshRequestSchema)
    @blp.response(200, TokenPairSchema)
    def post(self, body):
        """Exchange a refresh token for a new pair; the old one stops working"""
        try:
            pair = tokens.rotate(body["refresh_token"])
        except AuthFailed:
            # A detected reuse revokes the session: that must persist even though we answer 401.
            db.session.commit()
            raise
        db.session.commit()
        return pair


@blp.route("/enroll")
@auth_rate_limited
class Enroll(MethodView):
    @blp.arguments(EnrollRequestSchema)
    @blp.response(201, TokenPairSchema)
    def post(self, body):
        """Enrol as a patient with the one-time code from the clinic"""
        _, pair = accounts.enroll(body["enrollment_code"], body["email"], body["password"])
        db.session.commit()
        return pair


@blp.route("/logout")
class Logout(MethodView):
    @authenticated()
    @blp.response(204)
    def post(self):
        """Revoke this login's refresh tokens"""
        tokens.revoke_session(current_principal().session_id, reason="logout")
        db.session.commit()
