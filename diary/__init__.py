"""Ketamine-care symptom diary: application factory."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, send_from_directory
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from diary.config import Config

API_SPEC = {
    "API_TITLE": "Ketamine-care symptom diary",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Served from the swagger-ui-bundle package: the docs work without internet access.
    "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/assets/",
}


class NoCookieSessions(SessionInterface):
    """Callers authenticate with bearer tokens; the API never reads or sets a session cookie,
    so no request pays for opening (and signing) one."""

    def open_session(self, app: Flask, request) -> None:
        return None  # Flask then uses its empty null session

    def save_session(self, app: Flask, session, response) -> None:
        pass


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.session_interface = NoCookieSessions()
    config = Config.from_env()
    for key, value in (overrides or {}).items():
        setattr(config, key, value)
    os.makedirs(app.instance_path, exist_ok=True)
    config.apply_defaults(app.instance_path)
    config.validate()
    app.config.update(config.as_flask_config())
    app.config.update(API_SPEC)
    app.json.sort_keys = False

    if config.TRUSTED_PROXY_HOPS:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.TRUSTED_PROXY_HOPS, x_proto=config.TRUSTED_PROXY_HOPS)

    from diary import logs

    logs.configure(app)
    _init_extensions(app)
    _register_docs_assets(app)
    if config.CORS_ORIGINS:
        from flask_cors import CORS

        # Closed unless configured: only the listed dashboard origins, only the API.
        CORS(
            app,
            resources={r"/api/*": {"origins": config.CORS_ORIGINS}},
            supports_credentials=False,
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )

    from diary import cli

    cli.init_app(app)
    if config.EMBEDDED_WORKER:
        from diary.worker import Worker

        # `make run` only: one process serves the API and ticks the outbox.
        app.extensions["diary.worker"] = Worker(app).start_in_background()
    return app


def _init_extensions(app: Flask) -> None:
    from diary import (
        database,
        denials,
        models,  # noqa: F401  (register every table with the metadata)
        observability,
        ratelimit,
        review,
    )
    from diary.api import register_blueprints
    from diary.converters import IdConverter
    from diary.domain import tokens
    from diary.errors import register_error_handlers
    from diary.extensions import api, db

    db.init_app(app)
    database.init_app(app)
    tokens.init_app()
    ratelimit.init_app(app)
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    from diary.schemas.fields import OPENAPI_FIELD_TYPES

    for field_class, (type_, format_) in OPENAPI_FIELD_TYPES.items():
        api.ma_plugin.map_to_openapi_type(field_class, type_, format_)
    app.url_map.converters["id"] = IdConverter
    register_blueprints(api)
    register_error_handlers(app)
    denials.init_app(app)
    observability.init_app(app)
    review.init_app(app)


def _register_docs_assets(app: Flask) -> None:
    import swagger_ui_bundle

    @app.get("/api/v1/docs/assets/<path:filename>")
    def swagger_ui_assets(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
