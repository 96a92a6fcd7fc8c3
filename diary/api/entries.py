"""The patient's diary: entries (single and batch sync) and questionnaires."""

from flask.views import MethodView

from diary.api.base import Blueprint
from diary.api.guard import authenticated, current_principal
from diary.domain import assessments, entries
from diary.domain.patients import PatientRef
from diary.extensions import db
from diary.schemas.entries import (
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


def _own_patient() -> PatientRef:
    """The caller as a patient, from the token's principal: a diary write loads no profile."""
    principal = current_principal()
    return PatientRef(principal.id, principal.clinic_id, principal.timezone)


@blp.route("/entries")
class Entries(MethodView):
    @authenticated("patient")
    @blp.arguments(EntryInSchema())
    @blp.response(201, EntrySchema)
    @blp.alt_response(200, schema=EntrySchema, description="replay of an entry already stored")
    @blp.alt_response(409, description="id already used with different content")
    def post(self, body):
        """Log an entry (idempotent on the client's id)"""
        entry, created = entries.log_entry(_own_patient(), body)
        db.session.commit()
        return entry, 201 if created else 200

    @authenticated("patient")
    @blp.arguments(EntryListQuerySchema, location="query")
    @blp.response(200, EntryPageSchema)
    def get(self, query):
        """My entries, newest first, by local date range"""
        return entries.list_entries(
            current_principal().id,
            date_from=query.get("from_"),
            date_to=query.get("to"),
            limit=query["limit"],
            cursor=query.get("cursor"),
        )


@blp.route("/entries/batch")
class EntryBatch(MethodView):
    @authenticated("patient")
    @blp.arguments(BatchInSchema)
    @blp.response(200, BatchOutSchema)
    def post(self, body):
        """Sync entries logged offline; each entry stands or falls alone"""
        outcome = entries.sync_entries(_own_patient(), body["entries"])
        db.session.commit()
        return outcome


@blp.route("/entries/<id:entry_id>")
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
        entry = entries.correct_entry(_own_patient(), entry_id, changes)
        db.session.commit()
        return entry

    @authenticated("patient")
    @blp.response(204)
    def delete(self, entry_id):
        """Delete an entry (kept, but left out of lists and summaries)"""
        entries.delete_entry(_own_patient(), entry_id)
        db.session.commit()


@blp.route("/assessments")
class Assessments(MethodView):
    @authenticated("patient")
    @blp.arguments(AssessmentInSchema)
    @blp.response(201, AssessmentSchema)
    @blp.alt_response(200, schema=AssessmentSchema, description="replay of an assessment already stored")
    def post(self, body):
        """Submit a questionnaire: PHQ-9, GAD-7, PCL-5 or the C-SSRS screen (idempotent on the client's id)"""
        assessment, created = assessments.submit(_own_patient(), body)
        db.session.commit()
        return assessment, 201 if created else 200
