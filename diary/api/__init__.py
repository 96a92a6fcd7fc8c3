"""HTTP layer: one blueprint per resource, thin views over diary.domain."""

from flask_smorest import Api

from diary.api import alerts, auth, clinic, entries, fhir, me, ops, patients, sessions


def register_blueprints(api: Api) -> None:
    for module in (auth, me, entries, patients, fhir, sessions, clinic, alerts, ops):
        api.register_blueprint(module.blp)
