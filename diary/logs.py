"""Structured (JSON) logs: one object per line, with the request id, never PHI.

What keeps PHI out: request logs carry the templated route, status, duration and ids
only; SQLAlchemy hides bound parameters in its error messages (`hide_parameters`), so a
failing INSERT cannot put a note or an email into a traceback; pushes log ids and a
shortened token.
"""

from __future__ import annotations

import logging
import logging.config

from flask import Flask, g, has_request_context


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def configure(app: Flask) -> None:
    """Set up process logging once (not under tests, whose runner captures logs)."""
    if app.config["TESTING"] or app.config["LOG_FORMAT"] == "none":
        return
    formatter = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if app.config["LOG_FORMAT"] == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    # No thread, process or source-line fields are logged: skip collecting them for every
    # record (the logging HOWTO's "Optimization"; the access log writes one per request).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"request_id": {"()": RequestIdFilter}},
            "formatters": {"default": formatter},
            "handlers": {
                "stderr": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["request_id"]}
            },
            "root": {"level": app.config["LOG_LEVEL"], "handlers": ["stderr"]},
            # APScheduler says "Running job" and "executed successfully" for every job of every
            # tick (four lines each 5 s): that is debugging detail, shown at DEBUG only.
            "loggers": {
                "apscheduler": {"level": "DEBUG" if app.config["LOG_LEVEL"] == "DEBUG" else "WARNING"},
                # Alembic lists its autogenerate plugins whenever the app is built.
                "alembic.runtime.plugins": {"level": "WARNING"},
            },
        }
    )
