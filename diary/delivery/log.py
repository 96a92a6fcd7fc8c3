"""The development backend: a log line per push, instead of a network call."""

from __future__ import annotations

import logging
import uuid

from diary.delivery import PushMessage, PushResult

log = logging.getLogger("diary.push")


class LogPushSender:
    def send(self, messages: list[PushMessage]) -> list[PushResult]:
        results = []
        for message in messages:
            message_id = f"log-{uuid.uuid4().hex[:12]}"
            # Payloads carry ids and generic text only; the token is shortened all the same.
            log.info(
                "PUSH %s to device …%s: %r / %r data=%s",
                message_id,
                message.token[-6:],
                message.title,
                message.body,
                message.data,
            )
            results.append(PushResult("sent", message_id=message_id))
        return results
