"""Liveness, readiness, metrics and the served API description."""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid

import pytest

PROTECTED = [{"bearerAuth": []}]

# Every path of API.md (below /api/v1) with the methods it fixes.
API_PATHS = {
    "/auth/token": {"post"},
    "/auth/refresh": {"post"},
    "/auth/enroll": {"post"},
    "/auth/logout": {"post"},
    "/me": {"get", "patch"},
    "/me/devices": {"post"},
    "/me/devices/{device_id}": {"delete"},
    "/me/entries": {"get", "post"},
    "/me/entries/batch": {"post"},
    "/me/entries/{entry_id}": {"patch", "delete"},
    "/me/assessments": {"post"},
    "/me/checkins": {"get"},
    "/me/export": {"get"},
    "/patients": {"post"},
    "/patients/{patient_id}": {"get"},
}
PUBLIC = {"/auth/token", "/auth/refresh", "/auth/enroll"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def request_count(api, method: str, endpoint: str, status: str) -> float:
    """The current value of diary_http_requests_total for one label set (0 when absent)."""
    text = api.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if not line.startswith("diary_http_requests_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if labels == {"method": method, "endpoint": endpoint, "status": status}:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- health and readiness ------------------------------------------------------------------


def test_healthz(api):
    resp = api.get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok"}


def beat(app, worker_id: str, at: dt.datetime) -> None:
    """A worker tick, recorded the way the worker records it."""
    from diary.domain import maintenance
    from diary.extensions import db

    with app.app_context():
        maintenance.heartbeat(worker_id, at)
        db.session.commit()  # the worker commits each job


def test_readyz_when_the_database_answers_and_a_worker_ticked(clock, app, api):
    beat(app, "w1", clock.now)
    resp = api.get("/readyz")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.json == {"status": "ok", "checks": {"database": "ok", "worker": "ok"}}


def test_readyz_names_the_worker_when_none_ever_ticked(clock, api):
    resp = api.get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/json"
    assert resp.json == {"status": "unavailable", "checks": {"database": "ok", "worker": "no worker has ticked"}}


def test_readyz_names_a_stale_worker(clock, app, api):
    beat(app, "w1", clock.now)
    clock.advance(seconds=120)  # WORKER_STALE_SECONDS: a tick exactly 120 s old still counts
    assert api.get("/readyz").status_code == 200

    clock.advance(seconds=1)
    resp = api.get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/json"
    assert resp.json == {"status": "unavailable", "checks": {"database": "ok", "worker": "no worker tick for 121 s"}}


def test_readyz_follows_the_newest_of_several_workers(clock, app, api):
    beat(app, "w-old", clock.now - dt.timedelta(minutes=10))
    assert api.get("/readyz").status_code == 503

    beat(app, "w-new", clock.now - dt.timedelta(seconds=30))
    assert api.get("/readyz").json == {"status": "ok", "checks": {"database": "ok", "worker": "ok"}}

    # The same worker ticking again refreshes its own row.
    clock.advance(minutes=5)
    assert api.get("/readyz").status_code == 503
    beat(app, "w-old", clock.now)
    assert api.get("/readyz").status_code == 200
    assert sorted(r[0] for r in _heartbeat_ids(app)) == ["w-new", "w-old"]


def _heartbeat_ids(app) -> list[tuple]:
    from sqlalchemy import text

    from diary.extensions import db

    with app.app_context():
        return [tuple(r) for r in db.session.execute(text("SELECT worker_id FROM worker_heartbeats"))]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", id="refused"),
        pytest.param("sqlite:////nonexistent-dir-for-diary-tests/nowhere.sqlite3", id="unopenable"),
    ],
)
def test_readyz_names_an_unreachable_database(make_app, url):
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    client = app.test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/json"
    assert resp.json["status"] != "ok"
    assert resp.json["checks"]["database"] != "ok"
    assert resp.json["checks"]["worker"] != "ok"
    # Saying which dependency, never how to reach it.
    assert "nowhere" not in resp.get_data(as_text=True)
    # Liveness does not depend on the database.
    assert client.get("/healthz").json == {"status": "ok"}


# --- metrics -------------------------------------------------------------------------------


def test_metrics_is_prometheus_text(api):
    resp = api.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert "# TYPE diary_http_requests_total counter" in text
    assert "# TYPE diary_http_request_duration_seconds histogram" in text


def open_alert_gauges(api) -> dict[tuple[str, str], float]:
    found = {}
    for line in api.get("/metrics").get_data(as_text=True).splitlines():
        match = re.fullmatch(r'diary_open_alerts\{severity="(\w+)",status="(\w+)"\} (\S+)', line)
        if match:
            found[(match[1], match[2])] = float(match[3])
    return found


def test_open_alerts_gauge_is_zero_for_every_series_when_none_is_open(api, world):
    assert open_alert_gauges(api) == {
        ("critical", "acknowledged"): 0.0,
        ("critical", "open"): 0.0,
        ("warning", "acknowledged"): 0.0,
        ("warning", "open"): 0.0,
    }
    # One self-harm report: one open critical alert, the other series stay at 0.
    patient = world.patient(world.staff(world.clinic()))
    entry = {"id": str(uuid.uuid4()), "recorded_at": "2026-03-01T10:00:00Z", "mood": 3, "anxiety": 6}
    resp = api.post("/me/entries", {**entry, "self_harm_thoughts": 1}, token=patient.token)
    assert resp.status_code == 201, resp.json
    assert open_alert_gauges(api)[("critical", "open")] == 1.0
    assert sum(open_alert_gauges(api).values()) == 1.0


def test_the_access_log_line_reads_whole_in_text_logs(api, caplog):
    with caplog.at_level(logging.INFO, logger="diary.access"):
        assert api.get("/healthz").status_code == 200
    [line] = [r.getMessage() for r in caplog.records if r.name == "diary.access"]
    assert re.fullmatch(r"GET /healthz 200 \d+\.\d ms", line), line


def test_metrics_count_requests_by_templated_endpoint(api):
    before = request_count(api, "GET", "/healthz", "200")
    assert api.get("/healthz").status_code == 200
    assert api.get("/healthz").status_code == 200
    assert request_count(api, "GET", "/healthz", "200") == before + 2


def test_metrics_never_carry_a_raw_id(api, world):
    clinician = world.staff(world.clinic())
    patient_id, entry_id = str(uuid.uuid4()), str(uuid.uuid4())
    endpoint = "/api/v1/patients/<patient_id>"
    before = request_count(api, "GET", endpoint, "404")
    assert api.get(f"/patients/{patient_id}", token=clinician.token).status_code == 404
    assert api.get(f"/api/v1/no-such-thing/{entry_id}").status_code == 404
    text = api.get("/metrics").get_data(as_text=True)
    assert patient_id not in text
    assert entry_id not in text
    assert request_count(api, "GET", endpoint, "404") == before + 1


# --- OpenAPI and docs ----------------------------------------------------------------------


@pytest.fixture
def spec(api) -> dict:
    resp = api.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    return resp.json


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_openapi_version_and_title(spec):
    assert spec["openapi"] == "3.0.3"
    assert spec["info"]["title"]
    assert spec["info"]["version"] == "v1"


def test_openapi_lists_every_contract_path(spec):
    paths = spec["paths"]
    missing = [p for p in API_PATHS if f"/api/v1{p}" not in paths]
    assert missing == []
    for path, methods in API_PATHS.items():
        documented = set(paths[f"/api/v1{path}"]) & HTTP_METHODS
        assert methods <= documented, path


def test_openapi_declares_bearer_auth(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_openapi_protected_operations_list_security(spec):
    default = spec.get("security", [])
    for path, method, operation in operations(spec):
        security = operation.get("security", default)
        relative = path.removeprefix("/api/v1")
        if relative in PUBLIC or not path.startswith("/api/v1/"):
            assert security in ([], [{}]), (method, path)
        else:
            assert security == PROTECTED, (method, path)
    # The contract's protected paths are indeed among them.
    for path in set(API_PATHS) - PUBLIC:
        for method in API_PATHS[path]:
            assert spec["paths"][f"/api/v1{path}"][method]["security"] == PROTECTED, (method, path)


def test_docs_page_is_served_with_local_assets(api):
    resp = api.get("/api/v1/docs")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in html
    assert "/api/v1/openapi.json" in html
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html) + re.findall(r'<link[^>]+href="([^"]+)"', html)
    assert scripts
    assert all(src.startswith("/api/v1/docs/assets/") for src in scripts), scripts


@pytest.mark.parametrize("asset", ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"])
def test_docs_assets_are_served_locally(app, asset):
    with app.test_client().get(f"/api/v1/docs/assets/{asset}") as resp:
        assert resp.status_code == 200
        assert len(resp.get_data()) > 1000


def test_unknown_docs_asset_is_json_404(app):
    with app.test_client().get("/api/v1/docs/assets/../../../etc/passwd") as resp:
        assert resp.status_code == 404
        assert resp.json["code"] == "not_found"
