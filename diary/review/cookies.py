"""A cookie session for the review pages, and none for anything else.

The API authenticates with bearer tokens and must never read or set a cookie (nor pay for
opening one); the review pages need Flask's signed cookie session for their login and CSRF
tokens. This interface chooses by path, so the cookie exists only under /review.
"""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSessionInterface, SessionInterface, SessionMixin

from diary.review import serves_pages


class PageCookieSessions(SessionInterface):
    def __init__(self, elsewhere: SessionInterface):
        self.pages = SecureCookieSessionInterface()
        self.elsewhere = elsewhere

    def _for(self, path: str) -> SessionInterface:
        return self.pages if serves_pages(path) else self.elsewhere

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return self._for(request.path).open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        self._for(request.path).save_session(app, session, response)
