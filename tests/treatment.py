"""What the forecast and outcomes test modules share: sessions recorded and diary entries
posted through the API at local wall-clock times, and treatment sessions whose effect lasts a
chosen number of days by construction.

A session built by `measured_session` on local day D (dose at 10:00 local unless said
otherwise) has, by API.md's definition of `effect_days`:
- baseline: one entry of mood 5 on D - 1 (the only entry of D - 7 .. D - 1, so the
  baseline is exactly 5, as long as the sessions are at least `effect + 7` days apart);
- mood 8 (above 5) after the dose on D, D + 1, ..., D + effect - 1;
- mood 5 (not above 5) on D + effect, which ends the run: effect_days = effect.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from tests.alerting import at_local, iso
from tests.conftest import Account, Api

DOSE = dt.time(10, 0)
ENTRY = dt.time(12, 0)
BASELINE_MOOD = 5
ABOVE_BASELINE = 8


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def local(on: dt.date, at: dt.time, timezone: str) -> dt.datetime:
    return at_local(on, at.hour, at.minute, timezone)


def post_entries(api: Api, patient: Account, moods: list[tuple[dt.datetime, int]]) -> None:
    """Diary entries (recorded_at, mood; anxiety 5) in batches of 200; every one stored."""
    for start in range(0, len(moods), 200):
        batch = [
            {"id": str(uuid.uuid4()), "recorded_at": iso(at), "mood": mood, "anxiety": 5}
            for at, mood in moods[start : start + 200]
        ]
        resp = api.post("/me/entries/batch", {"entries": batch}, token=patient.token)
        assert resp.status_code == 200, resp.json
        assert [r["status"] for r in resp.json["results"]] == ["created"] * len(batch), resp.json


def record_session(api: Api, clinician: Account, patient: Account, started_at: dt.datetime) -> dict[str, Any]:
    resp = api.post(
        f"/patients/{patient.id}/sessions", {"started_at": iso(started_at), "route": "iv"}, token=clinician.token
    )
    assert resp.status_code == 201, resp.json
    return resp.json


def session_on(api: Api, clinician: Account, patient: Account, on: dt.date, timezone: str, at: dt.time = DOSE) -> str:
    """A session on the patient's local day `on`, with no entries of its own; its id."""
    return record_session(api, clinician, patient, local(on, at, timezone))["id"]


def delete_session(api: Api, clinician: Account, patient: Account, session_id: str) -> None:
    resp = api.delete(f"/patients/{patient.id}/sessions/{session_id}", token=clinician.token)
    assert resp.status_code == 204, resp.json


def effect_entries(
    on: dt.date, effect: int | None, timezone: str, entry: dt.time = ENTRY
) -> list[tuple[dt.datetime, int]]:
    """The entries that give a session on local day `on` a baseline of exactly 5 and an effect
    of `effect` days; `effect=None`: the baseline only, nothing after the dose."""
    moods = [(local(on - dt.timedelta(days=1), entry, timezone), BASELINE_MOOD)]
    if effect is not None:
        moods += [(local(on + dt.timedelta(days=n), entry, timezone), ABOVE_BASELINE) for n in range(effect)]
        moods.append((local(on + dt.timedelta(days=effect), entry, timezone), BASELINE_MOOD))
    return moods


def measured_sessions(
    api: Api,
    clinician: Account,
    patient: Account,
    plan: list[tuple[dt.date, int | None]],
    timezone: str,
    *,
    dose: dt.time = DOSE,
    entry: dt.time = ENTRY,
) -> list[str]:
    """Sessions on the given local days whose effects last the given number of days (None: a
    baseline but no entry after the dose); their ids, in the plan's order."""
    ordered = sorted(plan)
    for (earlier, effect), (later, _) in itertools.pairwise(ordered):
        # The 7 days before `later` must hold only its own baseline entry (and mood-5 days).
        assert earlier + dt.timedelta(days=(effect or 0) + 7) <= later, "sessions too close for a clean baseline"
    post_entries(api, patient, [m for on, effect in plan for m in effect_entries(on, effect, timezone, entry)])
    return [session_on(api, clinician, patient, on, timezone, dose) for on, _ in plan]
