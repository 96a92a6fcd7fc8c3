"""Audit trail of staff access to patient data (and patient exports)."""

from __future__ import annotations

from flask import g, has_request_context

from diary.domain.errors import AccessDenied
from diary.domain.tokens import Actor
from diary.extensions import db
from diary.models import AuditEvent


def record(
    actor: Actor,
    action: str,
    *,
    patient_id: str | None,
    resource_type: str,
    resource_id: str | None = None,
    path: str | None = None,
) -> None:
    """Add an audit row to the caller's transaction: it commits with the access or not at all."""
    db.session.add(
        AuditEvent(
            actor_id=actor.id,
            actor_role=actor.role,
            clinic_id=actor.clinic_id,
            action=action,
            patient_id=patient_id,
            resource_type=resource_type,
            resource_id=resource_id,
            path=path,
            request_id=g.get("request_id") if has_request_context() else None,
        )
    )


def record_denial(denied: AccessDenied, path: str) -> None:
    """An `access_denied` event: who asked, for what, by which path (ids only). The caller
    rolls back whatever the request did first, then commits this row alone."""
    record(
        denied.actor,
        "access_denied",
        patient_id=denied.resource_id if denied.resource_type == "patient" else None,
        resource_type=denied.resource_type,
        resource_id=denied.resource_id,
        path=path[:512],
    )
