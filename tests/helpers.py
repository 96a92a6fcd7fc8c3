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
