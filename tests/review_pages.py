"""Helpers for the review pages' tests: a signed-in browser-like client, the markup the
tests rely on (API.md "Clinician review pages"), and a patient history to read."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bs4 import BeautifulSoup
from flask import Flask

from tests.conftest import PASSWORD, Account

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


class Pages:
    """The Flask test client as a browser on /review: it keeps the cookie and fills in the
    CSRF token of the last form it saw."""

    def __init__(self, app: Flask):
        self.app = app
        self.client = app.test_client()
        self.token: str | None = None

    def _remember(self, resp):
        found = CSRF_FIELD.search(resp.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return resp

    def get(self, path: str, **kwargs: Any):
        return self._remember(self.client.get(path, **kwargs))

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any):
        form = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/review/login")
            form.setdefault("csrf_token", self.token)
        return self._remember(self.client.post(path, data=form, **kwargs))

    def login(self, email: str, password: str = PASSWORD, **extra: Any):
        self.get("/review/login")
        resp = self.post("/review/login", {"email": email, "password": password, **extra})
        if resp.status_code == 303:
            self.token = None  # a new login, a new CSRF secret: the next form brings its token
        return resp

    def cookie(self):
        return self.client.get_cookie("diary_review", path="/review")

    def cookie_values(self) -> dict[str, Any]:
        """What the signed cookie holds now (empty when there is none)."""
        cookie = self.cookie()
        if cookie is None:
            return {}
        serializer = self.app.session_interface.pages.get_signing_serializer(self.app)
        return serializer.loads(cookie.value)


def soup(resp) -> BeautifulSoup:
    return BeautifulSoup(resp.get_data(as_text=True), "html.parser")


def table_rows(page: BeautifulSoup, name: str) -> list[dict[str, str]]:
    """Each row of table[data-table=name] as {field: data-value} (the exact numbers)."""
    table = page.select_one(f'table[data-table="{name}"]')
    assert table is not None, f"no table {name}"
    rows = []
    for tr in table.select("tbody tr"):
        cells = {
            cell["data-field"]: cell.get("data-value", cell.get_text(" ", strip=True))
            for cell in tr.select("[data-field]")
        }
        cells.update({k: v for k, v in tr.attrs.items() if k.startswith("data-")})
        rows.append(cells)
    return rows


def number(value: str) -> float | None:
    return None if value == "" else float(value)


def add_entry(api, patient: Account, recorded_at: str, mood: int, anxiety: int, **extra: Any) -> str:
    body = {"id": str(uuid.uuid4()), "recorded_at": recorded_at, "mood": mood, "anxiety": anxiety, **extra}
    resp = api.post("/me/entries", body, token=patient.token)
    assert resp.status_code == 201, resp.json
    return body["id"]


def add_assessment(api, patient: Account, instrument: str, answers: list[int], recorded_at: str) -> None:
    body = {"id": str(uuid.uuid4()), "instrument": instrument, "answers": answers, "recorded_at": recorded_at}
    resp = api.post("/me/assessments", body, token=patient.token)
    assert resp.status_code == 201, resp.json


def audit_rows(world) -> list[tuple]:
    """(action, patient_id, resource_type, resource_id) of every audit row."""
    return world.rows("SELECT action, patient_id, resource_type, resource_id FROM audit_events")
