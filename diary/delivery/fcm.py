"""Firebase Cloud Messaging through firebase-admin's `send_each` (FCM HTTP v1).

Addressing: the phone app registers an FCM *registration token* (API.md, POST
/me/devices), so messages are addressed with `Message.token`. firebase-admin 7.5+
marks `token` deprecated in favour of `fid`, a Firebase Installation ID, which is a
different identifier the app does not send us; putting a registration token in `fid`
would address nothing. Until the app contract moves to installation ids, `token` is
the correct field and its DeprecationWarning is silenced at this one call site.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import warnings

import firebase_admin
import requests
from firebase_admin import credentials, exceptions, messaging

from diary.delivery import PushMessage, PushResult
from diary.timeutil import utcnow

# Errors that mean this token will never work again: deactivate the device.
_DEAD_TOKEN = (messaging.UnregisteredError, messaging.SenderIdMismatchError, exceptions.InvalidArgumentError)

_app_names = itertools.count()


def _retry_after(error: exceptions.FirebaseError) -> float | None:
    response = getattr(error, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff schedule is close enough


class FcmPushSender:
    def __init__(self, credentials_path: str, endpoint: str | None = None, batch_size: int = 100):
        with open(credentials_path) as handle:
            project_id = json.load(handle)["project_id"]
        # A named app per sender, so several app instances (tests) never share state.
        self._app = firebase_admin.initialize_app(
            credentials.Certificate(credentials_path),
            options={"projectId": project_id, "httpTimeout": 10},
            name=f"diary-fcm-{next(_app_names)}",
        )
        self._batch_size = max(1, min(batch_size, 500))  # send_each takes at most 500
        service = messaging._get_messaging_service(self._app)
        base = "https://fcm.googleapis.com"
        if endpoint:
            # firebase-admin has no setting for the FCM base URL; FCM_ENDPOINT (a local
            # fake, a proxy) replaces the one URL it posts messages to.
            base = endpoint.rstrip("/")
            service._fcm_url = f"{base}/v1/projects/{project_id}/messages:send"
            # google-auth asks iamcredentials.googleapis.com for the account's regional
            # access boundary, a header only Google's own front ends read. A custom
            # endpoint has no use for it, and a test must not leave 127.0.0.1.
            self._app.credential.get_credential()._is_regional_access_boundary_lookup_required = lambda: False
        # No retries inside a batch: firebase-admin would sleep through Retry-After and
        # back off on 5xx while the whole batch waits. The outbox retries instead,
        # durably and visibly, with backoff per message.
        service._client.session.mount(base, requests.adapters.HTTPAdapter(pool_maxsize=self._batch_size, max_retries=0))

    def close(self) -> None:
        firebase_admin.delete_app(self._app)

    @staticmethod
    def _message(push: PushMessage) -> messaging.Message:
        android = messaging.AndroidConfig(
            priority="high",
            ttl=dt.timedelta(seconds=push.ttl_seconds) if push.ttl_seconds is not None else None,
            collapse_key=push.collapse_key,
        )
        apns_headers = {}
        if push.collapse_key:
            apns_headers["apns-collapse-id"] = push.collapse_key[:64]
        if push.ttl_seconds is not None:
            expires = utcnow() + dt.timedelta(seconds=push.ttl_seconds)
            apns_headers["apns-expiration"] = str(int(expires.timestamp()))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Message.token is deprecated", category=DeprecationWarning)
            return messaging.Message(
                token=push.token,
                notification=messaging.Notification(title=push.title, body=push.body),
                data=push.data,
                android=android,
                apns=messaging.APNSConfig(headers=apns_headers) if apns_headers else None,
            )

    def send(self, messages: list[PushMessage]) -> list[PushResult]:
        results: list[PushResult] = []
        for start in range(0, len(messages), self._batch_size):
            chunk = messages[start : start + self._batch_size]
            try:
                batch = messaging.send_each([self._message(m) for m in chunk], app=self._app)
            except exceptions.FirebaseError as error:  # the whole call failed (auth, transport)
                results.extend(PushResult("retry", retry_after=_retry_after(error), error=str(error)) for _ in chunk)
                continue
            for response in batch.responses:
                if response.success:
                    results.append(PushResult("sent", message_id=response.message_id))
                elif isinstance(response.exception, _DEAD_TOKEN):
                    results.append(PushResult("invalid_token", error=type(response.exception).__name__))
                else:
                    error = response.exception
                    results.append(
                        PushResult("retry", retry_after=_retry_after(error), error=f"{type(error).__name__}: {error}")
                    )
        return results
