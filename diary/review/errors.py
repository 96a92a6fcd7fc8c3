"""Error pages for the review paths: what went wrong in words, never internals."""

from __future__ import annotations

from flask import g, render_template

from diary.domain.errors import DomainError

TITLES = {
    400: "This form could not be accepted",
    403: "Not for your role",
    404: "Page not found",
    405: "Not allowed here",
    409: "Already done",
    413: "Too much data",
    422: "Some of the input is not valid",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "The service is unavailable",
}
EXPLANATIONS = {
    400: "The form may have expired, or it did not come from these pages. Go back, reload the page and try again.",
    403: "Your role cannot open this page.",
    404: "There is no such page, or the patient or alert is not in your clinic.",
    405: "This address does not take that kind of request.",
    413: "The request was larger than the server accepts.",
    429: "Too many sign-in attempts from this address. Wait a minute, then try again.",
    500: "The error has been logged. Try again; if it happens again, quote the reference below.",
    503: "The database cannot be reached just now. Try again in a few seconds.",
}


def _describe(problem: DomainError) -> str:
    if not problem.errors:
        return problem.message
    parts = []
    for field, messages in problem.errors.items():
        text = " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
        parts.append(f"{field}: {text}")
    return "; ".join(parts)


def error_page(status: int, problem: DomainError | None = None) -> str:
    """The page for `status`; what the domain said (such as "the alert is already resolved",
    or which query field is wrong) only where it helps and reveals nothing."""
    shown = _describe(problem) if problem is not None and status in (403, 409, 422) else None
    return render_template(
        "review/error.html",
        status=status,
        title=TITLES.get(status, "Something went wrong"),
        explanation=EXPLANATIONS.get(status, ""),
        detail=shown,
        request_id=g.get("request_id"),
    )
