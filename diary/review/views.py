"""The review pages. Each view: its input through a schema, one domain call, the commit,
one template (or a 303 back, POST/redirect/GET). Every other outcome is an error raised,
which diary/errors.py answers with an HTML page on these paths."""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from diary.domain import alerts, page_sessions, review, sessions
from diary.domain.errors import AuthFailed, Forbidden, Invalid
from diary.domain.page_sessions import NoPagesForRole, PageSession, SessionEnded
from diary.extensions import db
from diary.ratelimit import auth_rate_limited_view
from diary.review import bp, charts, csrf
from diary.review.forms import (
    AlertPageQuery,
    LoginForm,
    MonitoringForm,
    OutcomesPageQuery,
    PanelPageQuery,
    PatientPageQuery,
    RatingForm,
    ResolveForm,
    SessionForm,
    WindowQuery,
    load,
    local_path,
    monitoring_problems,
    rating_problems,
)
from diary.timeutil import utcnow

OPEN_TO_ALL = {"review.login_form", "review.login", "review.static"}
SIGNED_OUT = {
    "idle": "You were signed out after a while without activity. Sign in again to go on.",
    "expired": "Your session reached its 12-hour limit. Sign in again to go on.",
    "revoked": "Your session has ended. Sign in again to go on.",
}


def _see(target: str) -> Response:
    return redirect(target, code=303)


def _to_login(reason: str | None = None) -> Response:
    if reason in SIGNED_OUT:
        flash(SIGNED_OUT[reason])
    # Only a page one can come back to: a form's POST is not repeated after signing in.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return _see(url_for("review.login_form", next=target))


@bp.before_request
def signed_in_staff() -> Response | None:
    """Every page but the sign-in form needs an open page session, checked in the database
    on every request; every POST needs the form's CSRF token."""
    if request.endpoint in OPEN_TO_ALL:
        if request.method == "POST":
            csrf.protect()
        return None
    page = PageSession.from_cookie(session)
    if page is None:
        return _to_login()
    try:
        principal, page = page_sessions.resume(page)
    except SessionEnded as ended:
        db.session.commit()  # the idle or expired session's row stays revoked
        session.clear()
        return _to_login(ended.reason)
    g.principal = principal
    session.update(page.as_cookie())
    if request.method == "POST":
        csrf.protect()
    return None


def _clinician() -> Any:
    if g.principal.role != "clinician":
        raise Forbidden("Patient pages are for clinicians; the alert queue is open to you.")
    return g.principal


def _home(role: str) -> str:
    return url_for("review.alert_queue") if role == "ops" else url_for("review.panel")


# --- signing in and out -------------------------------------------------------------------


@bp.get("/login")
def login_form() -> str:
    return render_template("review/login.html", next=local_path(request.args.get("next"), ""), problem=None)


@bp.post("/login")
@auth_rate_limited_view
def login() -> Response | tuple[str, int]:
    target = local_path(request.form.get("next"), "")
    try:
        form = load(LoginForm, request.form)
        page, role = page_sessions.sign_in(form["email"], form["password"])
    except (Invalid, AuthFailed) as refused:
        db.session.rollback()
        problem = "Enter your email address." if isinstance(refused, Invalid) else "Wrong email or password."
        return render_template("review/login.html", next=target, problem=problem), refused.status
    except NoPagesForRole as refused:
        db.session.rollback()
        return render_template("review/login.html", next=target, problem=refused.message), refused.status
    db.session.commit()
    # A new cookie for a new login: nothing from before (a planted CSRF secret) carries over.
    session.clear()
    session.update(page.as_cookie())
    return _see(target or _home(role))


@bp.post("/logout")
def logout() -> Response:
    page_sessions.sign_out(PageSession.from_cookie(session))
    db.session.commit()
    session.clear()
    flash("You are signed out.")
    return _see(url_for("review.login_form"))


# --- pages --------------------------------------------------------------------------------


@bp.get("/")
def panel() -> Response | str:
    if g.principal.role == "ops":
        return _see(url_for("review.alert_queue"))
    query = load(PanelPageQuery, request.args, lists=("trail",))
    view = review.panel_view(
        _clinician(),
        now=utcnow(),
        limit=query["limit"],
        cursor=query.get("cursor"),
        search=query.get("q"),
        order=query["order"],
    )
    db.session.commit()
    return render_template("review/panel.html", view=view, query=query)


@bp.get("/patients/<id:patient_id>")
def patient(patient_id: str) -> str:
    query = load(PatientPageQuery, request.args)
    page = review.patient_review(_clinician(), patient_id, query.get("from_"), query.get("to"))
    db.session.commit()
    return _patient_page(page, monitor=query.get("monitor"))


def _patient_page(page: review.PatientReview, **forms: Any) -> str:
    """The patient page, with the state of a refused form when there is one. A blank rating
    form gets a new client id each time it is shown: a double submit of one form is the
    API's idempotent replay, not a second rating."""
    context = {"form": None, "rating": None, "monitoring_form": None, "monitor": None, **forms}
    return render_template(
        "review/patient.html", page=page, charts=charts.for_patient(page), new_rating_id=str(uuid.uuid4()), **context
    )


@bp.post("/patients/<id:patient_id>/sessions")
def record_session(patient_id: str) -> Response | tuple[str, int]:
    staff, back = _clinician(), _window_of(request.form)
    try:
        form = load(SessionForm, request.form)
        review.record_session_at_local_time(
            staff,
            patient_id,
            day=form["date"],
            wall=form["time"],
            route=form["route"],
            dose_mg=form.get("dose_mg"),
            notes=form.get("notes"),
            medication=form["medication"],
        )
    except Invalid as invalid:
        # Nothing of the session is kept; the page is shown again (an audited read) with
        # the form as typed and each refused field named.
        db.session.rollback()
        page = review.patient_review(staff, patient_id, back.get("from_"), back.get("to"))
        db.session.commit()
        form_state = {"typed": request.form, "errors": invalid.errors or {}}
        return _patient_page(page, form=form_state), 422
    db.session.commit()
    flash("Session recorded.")
    return _see(_patient_url(patient_id, back, "sessions"))


@bp.post("/patients/<id:patient_id>/assessments")
def rate(patient_id: str) -> Response | tuple[str, int]:
    staff, back = _clinician(), _window_of(request.form)
    try:
        form = load(RatingForm, request.form)
        _, created = review.rate_at_local_time(
            staff,
            patient_id,
            rating_id=form["id"],
            instrument=form["instrument"],
            answers=form["answers"],
            day=form["date"],
            wall=form["time"],
            session_id=form.get("session_id"),
        )
    except Invalid as invalid:
        db.session.rollback()
        page = review.patient_review(staff, patient_id, back.get("from_"), back.get("to"))
        db.session.commit()
        problems = rating_problems(invalid.errors or {}, request.form.get("instrument", ""))
        return _patient_page(page, rating={"typed": request.form, "problems": problems}), 422
    db.session.commit()
    flash("Rating recorded." if created else "This rating was already recorded.")
    return _see(_patient_url(patient_id, back, "ratings"))


@bp.post("/patients/<id:patient_id>/sessions/<id:session_id>/monitoring")
def record_monitoring(patient_id: str, session_id: str) -> Response | tuple[str, int]:
    staff, back = _clinician(), _window_of(request.form)
    try:
        form = load(MonitoringForm, request.form, lists=("adverse_events",))
        review.monitor_at_local_times(
            staff,
            patient_id,
            session_id,
            readings=form["vitals"],
            discharge_date=form.get("discharge_date"),
            discharge_time=form.get("discharge_time"),
            sedation=form["sedation"],
            dissociation=form["dissociation"],
            adverse_events=form["adverse_events"],
            notes=form.get("notes"),
        )
    except Invalid as invalid:
        db.session.rollback()
        page = review.patient_review(staff, patient_id, back.get("from_"), back.get("to"))
        db.session.commit()
        typed = {"typed": request.form, "problems": monitoring_problems(invalid.errors or {}, request.form)}
        return _patient_page(page, monitor=session_id, monitoring_form=typed), 422
    db.session.commit()
    flash("Monitoring recorded.")
    return _see(_patient_url(patient_id, back, f"monitoring-{session_id}"))


@bp.post("/patients/<id:patient_id>/sessions/<id:session_id>/delete")
def delete_session(patient_id: str, session_id: str) -> Response:
    back = _window_of(request.form)
    sessions.delete(_clinician(), patient_id, session_id)
    db.session.commit()
    flash("Session deleted; its check-ins not yet answered are cancelled.")
    return _see(_patient_url(patient_id, back, "sessions"))


@bp.get("/outcomes")
def clinic_outcomes() -> str | tuple[str, int]:
    staff = _clinician()
    try:
        query = load(OutcomesPageQuery, request.args)
        view = review.clinic_outcomes(staff, query.get("from_"), query.get("to"), utcnow())
    except Invalid as invalid:
        # Nothing read, nothing audited: the dates as typed, each problem named.
        db.session.rollback()
        body = render_template(
            "review/outcomes.html", view=None, typed=request.args, errors=invalid.errors or {}, today=utcnow().date()
        )
        return body, 422
    db.session.commit()
    return render_template("review/outcomes.html", view=view, typed=request.args, errors={}, today=view.today)


@bp.get("/alerts")
def alert_queue() -> str:
    query = load(AlertPageQuery, request.args, lists=("trail",))
    status = query.get("status") or "open"
    queue = review.alert_queue(g.principal, status=status, limit=query["limit"], cursor=query.get("cursor"))
    db.session.commit()
    return render_template("review/alerts.html", queue=queue, status=status, query=query)


@bp.post("/alerts/<id:alert_id>/acknowledge")
def acknowledge(alert_id: str) -> Response:
    alerts.acknowledge(g.principal, alert_id)
    db.session.commit()
    flash("Alert acknowledged.")
    return _see(local_path(request.form.get("next"), url_for("review.alert_queue")))


@bp.post("/alerts/<id:alert_id>/resolve")
def resolve(alert_id: str) -> Response:
    form = load(ResolveForm, request.form)
    alerts.resolve(g.principal, alert_id, form.get("note"))
    db.session.commit()
    flash("Alert resolved.")
    return _see(local_path(request.form.get("next"), url_for("review.alert_queue")))


def _window_of(form: Any) -> dict[str, Any]:
    """The patient page's window a form was posted from, to come back to it."""
    window = {key: form.get(key) for key in ("from", "to") if form.get(key)}
    try:
        return load(WindowQuery, type(form)(window))
    except Invalid:
        return {}


def _patient_url(patient_id: str, window: dict[str, Any], anchor: str) -> str:
    args = {"from": window["from_"].isoformat()} if window.get("from_") else {}
    if window.get("to"):
        args["to"] = window["to"].isoformat()
    return url_for("review.patient", patient_id=patient_id, **args, _anchor=anchor)
