"""Assertions shared by the API test modules: the one error envelope, checked one way."""

from __future__ import annotations

from typing import Any


def expect_error(resp, status: int, code: str) -> dict[str, Any]:
    """An error response in the envelope: this status, this machine code, a message."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.is_json, resp.get_data(as_text=True)
    body = resp.json
    assert body["status"] == status
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def expect_invalid(resp, *fields: str) -> dict[str, Any]:
    """A 422 naming exactly these fields, each with its messages."""
    body = expect_error(resp, 422, "validation_failed")
    assert set(body["errors"]) == set(fields), body["errors"]
    assert all(isinstance(m, list | dict) and m for m in body["errors"].values()), body["errors"]
    return body


def denials(world) -> list[tuple]:
    """The `access_denied` audit events, sorted: (actor_id, actor_role, clinic_id, patient_id,
    resource_type, resource_id, path)."""
    return sorted(
        world.rows(
            "SELECT actor_id, actor_role, clinic_id, patient_id, resource_type, resource_id, path "
            "FROM audit_events WHERE action = 'access_denied'"
        )
    )


def denied(staff, resource_type: str, resource_id: str, path: str) -> tuple:
    """The access_denied event `staff` leaves by asking for `resource_id` at `path`."""
    patient_id = resource_id if resource_type == "patient" else None
    return (staff.id, "clinician", staff.clinic_id, patient_id, resource_type, resource_id, path)
