"""The alert webhook: a signed POST that a receiver can verify and refuse to replay.

Headers: `X-Diary-Timestamp: <unix seconds>` and `X-Diary-Signature: sha256=<hex>`, the
HMAC-SHA256 (key ALERT_WEBHOOK_SECRET) of b"<timestamp>." + the raw body. A receiver
recomputes it over the bytes it received and refuses timestamps older than 5 minutes.
"""

from __future__ import annotations

import hashlib
import hmac

import requests

from diary.delivery import PushResult

TIMEOUT_SECONDS = 5


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookSender:
    def __init__(self, url: str, secret: str):
        self.url, self.secret = url, secret
        self.session = requests.Session()

    def post(self, body: bytes, timestamp: int) -> PushResult:
        stamp = str(timestamp)
        headers = {
            "Content-Type": "application/json",
            "X-Diary-Timestamp": stamp,
            "X-Diary-Signature": signature(self.secret, stamp, body),
        }
        try:
            resp = self.session.post(self.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            return PushResult("retry", error=f"{type(error).__name__}")
        if 200 <= resp.status_code < 300:
            return PushResult("sent", message_id=resp.headers.get("X-Request-ID"))
        if resp.status_code in (408, 425, 429) or resp.status_code >= 500:
            retry_after = resp.headers.get("Retry-After")
            try:
                wait = float(retry_after) if retry_after else None
            except ValueError:
                wait = None
            return PushResult("retry", retry_after=wait, error=f"HTTP {resp.status_code}")
        return PushResult("rejected", error=f"HTTP {resp.status_code}")
