"""The patient's diary: entries (single and batch sync) and questionnaires."""

from typing import Any

from flask.views import MethodView
from marshmallow import ValidationError

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import alerts, entries, safety, scoring
from diary.domain.errors import Conflict, DomainError, Invalid
from diary.domain.patients import PatientRef
from diary.extensions import db
from diary.models import Clinic
from diary.schemas.patients import (
    AssessmentInSchema,
    AssessmentSchema,
    BatchInSchema,
    BatchOutSchema,
    EntryInSchema,
    EntryListQuerySchema,
    EntryPageSchema,
    EntryPatchSchema,
    EntrySchema,
)

blp = Blueprint("entries", __name__, url_prefix="/api/v1/me", description="Diary entries and questionnaires")


def _safety() -> dict[str, Any]:
    return safety.crisis_resources(db.session.get(Clinic, current_principal().clinic_id))


def _own_patient() -> PatientRef:
    """The caller as a patient, from the token's principal: a diary write loads no profile."""
    principal = current_principal()
    return PatientRef(principal.id, principal.clinic_id, principal.timezone)


def _with_safety(row: Any, at_risk: bool) -> Any:
    if at_risk:
        row.safety = _safety()
    return row


def _reports_self_harm(entry) -> bool:
    return (entry.self_harm_thoughts or 0) >= 1


# One instance for every request and every entry of a batch: a schema is stateless once built.
_ENTRY_IN = EntryInSchema()

# What EntrySchema shows of an entry (it adds `safety` itself when present).
_ENTRY_FIELDS = tuple(name for name in EntrySchema().fields if name != "safety")


def _entry_view(entry) -> dict[str, Any]:
    """The entry's fields, read inside the transaction: after the commit expires a replayed
    row, answering from the model would load it again only to echo what is stored."""
    return {name: getattr(entry, name) for name in _ENTRY_FIELDS}


@blp.route("/entries")
class Entries(MethodView):
    @authenticated("patient")
    @blp.arguments(_ENTRY_IN)
    @blp.response(201, EntrySchema)
    @blp.alt_response(200, schema=EntrySchema, description="replay of an entry already stored")
    @blp.alt_response(409, description="id already used with different content")
    def post(self, body):
        """Log an entry (idempotent on the client's id)"""
        patient = _own_patient()
        entry, created, trends = entries.create_entry(patient, body, read_trends=True)
        if created:
            # Same transaction: the entry and its alert are stored together or not at all.
            alerts.after_entries(patient, [entry], windows=trends)
        view, at_risk = _entry_view(entry), _reports_self_harm(entry)
        db.session.commit()
        if at_risk:
            view["safety"] = _safety()
        return view, 201 if created else 200

    @authenticated("patient")
    @blp.arguments(EntryListQuerySchema, location="query")
    @blp.response(200, EntryPageSchema)
    def get(self, query):
        """My entries, newest first, by local date range"""
        date_from, date_to = query.get("from_"), query.get("to")
        if date_from and date_to and date_from > date_to:
            raise Invalid("from", "must not be after 'to'")
        items, next_cursor = entries.list_entries(
            current_principal().id,
            date_from=date_from,
            date_to=date_to,
            limit=query["limit"],
            cursor=query.get("cursor"),
        )
        return {"items": items, "next_cursor": next_cursor}


@blp.route("/entries/batch")
class EntryBatch(MethodView):
    @authenticated("patient")
    @blp.arguments(BatchInSchema)
    @blp.response(200, BatchOutSchema)
    def post(self, body):
        """Sync entries logged offline; each entry stands or falls alone"""
        patient = _own_patient()
        results, at_risk, stored = [], False, []
        for raw in body["entries"]:
            entry_id = raw.get("id") if isinstance(raw.get("id"), str) else None
            try:
                fields = _ENTRY_IN.load(raw)
            except ValidationError as err:
                results.append({"id": entry_id, "status": "invalid", "errors": err.messages})
                continue
            try:
                with db.session.begin_nested():
                    entry, created, _ = entries.create_entry(patient, fields)
            except Conflict:
                results.append({"id": fields["id"], "status": "conflict"})
                continue
            except DomainError as err:
                errors = err.errors or {"body": [err.message]}
                results.append({"id": fields["id"], "status": "invalid", "errors": errors})
                continue
            # A duplicate is a resend of an answer the phone may never have seen: show help again.
            at_risk = at_risk or _reports_self_harm(entry)
            if created:
                stored.append(entry)
            results.append({"id": entry.id, "status": "created" if created else "duplicate"})
        alerts.after_entries(patient, stored)
        db.session.commit()
        outcome: dict[str, Any] = {"results": results}
        if at_risk:
            outcome["safety"] = _safety()
        return outcome


@blp.route("/entries/<entry_id>")
class EntryById(MethodView):
    @authenticated("patient")
    @blp.response(200, EntrySchema)
    def get(self, entry_id):
        """One of my entries"""
        return entries.live_entry(current_principal().id, entry_id)

    @authenticated("patient")
    @blp.arguments(EntryPatchSchema)
    @blp.response(200, EntrySchema)
    def patch(self, changes, entry_id):
        """Correct an entry; the previous version is kept"""
        patient = _own_patient()
        entry = entries.update_entry(patient, entry_id, changes)
        alerts.after_entries(patient, [entry] if "self_harm_thoughts" in changes else [], trends=True)
        db.session.commit()
        return _with_safety(entry, "self_harm_thoughts" in changes and _reports_self_harm(entry))

    @authenticated("patient")
    @blp.response(204)
    def delete(self, entry_id):
        """Delete an entry (kept, but left out of lists and summaries)"""
        entries.delete_entry(current_principal().id, entry_id)
        db.session.commit()


@blp.route("/assessments")
class Assessments(MethodView):
    @authenticated("patient")
    @blp.arguments(AssessmentInSchema)
    @blp.response(201, AssessmentSchema)
    @blp.alt_response(200, schema=AssessmentSchema, description="replay of an assessment already stored")
    def post(self, body):
        """Submit a PHQ-9 or GAD-7 (idempotent on the client's id)"""
        patient = _own_patient()
        assessment, created = entries.create_assessment(patient, body)
        if created:
            alerts.on_assessment(patient, assessment)
        db.session.commit()
        at_risk = scoring.reports_self_harm(assessment.instrument, list(assessment.answers))
        return _with_safety(assessment, at_risk), 201 if created else 200
