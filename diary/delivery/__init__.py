"""Outbound delivery behind one small interface: `PushSender.send(messages) -> results`.

Backends: `log` (prints, for development and the demo) and `fcm` (firebase-admin).
Nothing here knows about check-ins or patients; payloads arrive already free of PHI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from flask import Flask

# sent · invalid_token: this push target is dead for good · rejected: a webhook receiver
# refused the request for good (4xx) · retry: try again later.
Outcome = Literal["sent", "invalid_token", "rejected", "retry"]


@dataclass(frozen=True)
class PushMessage:
    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    ttl_seconds: int | None = None
    collapse_key: str | None = None


@dataclass(frozen=True)
class PushResult:
    outcome: Outcome
    message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None


class PushSender(Protocol):
    def send(self, messages: list[PushMessage]) -> list[PushResult]:
        """One result per message, in order. Never raises for a per-message failure."""
        ...


def webhook_sender(app: Flask):
    """The alert webhook sender, or None when ALERT_WEBHOOK_URL is not configured."""
    if not app.config["ALERT_WEBHOOK_URL"]:
        return None
    sender = app.extensions.get("diary.webhook_sender")
    if sender is None:
        from diary.delivery.webhook import WebhookSender

        sender = WebhookSender(app.config["ALERT_WEBHOOK_URL"], app.config["ALERT_WEBHOOK_SECRET"])
        app.extensions["diary.webhook_sender"] = sender
    return sender


def push_sender(app: Flask) -> PushSender:
    """The configured backend, built once per app."""
    sender = app.extensions.get("diary.push_sender")
    if sender is None:
        if app.config["PUSH_BACKEND"] == "fcm":
            from diary.delivery.fcm import FcmPushSender

            sender = FcmPushSender(
                credentials_path=app.config["GOOGLE_APPLICATION_CREDENTIALS"],
                endpoint=app.config["FCM_ENDPOINT"],
                batch_size=app.config["FCM_BATCH_SIZE"],
            )
        else:
            from diary.delivery.log import LogPushSender

            sender = LogPushSender()
        app.extensions["diary.push_sender"] = sender
    return sender
