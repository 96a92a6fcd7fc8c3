"""A fake FCM HTTP v1 server on 127.0.0.1 for the real firebase-admin client.

It serves the OAuth token endpoint named in the service account's `token_uri` and
`POST /v1/projects/<project>/messages:send`. Each registration token can be scripted
with the answers it gets, in order (then success): ok, UNREGISTERED, 429 with
Retry-After, 500. Everything received is recorded for assertions.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT = "diary-test"
ACCESS_TOKEN = "fake-oauth-access-token"

FCM_ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED"),
    "INTERNAL": (500, "INTERNAL"),
    "UNAVAILABLE": (503, "UNAVAILABLE"),
}


@dataclass(frozen=True)
class Answer:
    """One scripted answer: `Answer()` is success; `Answer("UNREGISTERED")` an FCM error."""

    error: str | None = None
    retry_after: int | None = None


@dataclass
class FakeFcm:
    url: str
    credentials_path: str
    received: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    # An outage: every send gets this answer until set back to None.
    outage: Answer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, token: str, *answers: Answer) -> None:
        with self.lock:
            self.scripts[token] = list(answers)

    def fail_all(self, answer: Answer | None) -> None:
        """Start (an Answer) or end (None) an outage affecting every token."""
        with self.lock:
            self.outage = answer

    def next_answer(self, token: str) -> Answer:
        with self.lock:
            if self.outage is not None:
                return self.outage
            queue = self.scripts.get(token)
            return queue.pop(0) if queue else Answer()

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(m) for m in self.received]

    def per_checkin(self) -> Counter:
        return Counter(m["data"].get("checkin_id") for m in self.messages() if "data" in m)


def _service_account(directory: Path, token_uri: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = directory / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "fake-key-1",
                "private_key": pem,
                "client_email": f"fcm-sender@{PROJECT}.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return str(path)


def start(directory: Path) -> tuple[FakeFcm, ThreadingHTTPServer]:
    ids = itertools.count(1)
    state: dict[str, FakeFcm] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle on, each response would wait
        # for the client's delayed ACK (~40 ms) and the fake, not the client, would be measured.
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            fake = state["fake"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/token":
                with fake.lock:
                    fake.token_requests += 1
                self._reply(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
                return
            if self.path != f"/v1/projects/{PROJECT}/messages:send":
                self._reply(404, {"error": {"code": 404, "message": "no such path", "status": "NOT_FOUND"}})
                return
            if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                self._reply(401, {"error": {"code": 401, "message": "bad auth", "status": "UNAUTHENTICATED"}})
                return
            message = json.loads(body)["message"]
            answer = fake.next_answer(message.get("token", ""))
            if answer.error is None:
                with fake.lock:
                    fake.received.append(message)
                self._reply(200, {"name": f"projects/{PROJECT}/messages/{next(ids)}"})
                return
            status, grpc = FCM_ERRORS[answer.error]
            error = {
                "code": status,
                "message": f"scripted {answer.error}",
                "status": grpc,
                "details": [
                    {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": answer.error}
                ],
            }
            headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after is not None else None
            self._reply(status, {"error": error}, headers)

    class Server(ThreadingHTTPServer):
        # Hundreds of concurrent sends from several workers: the default backlog of 5
        # would refuse connections and turn a load test into a flaky one.
        request_queue_size = 1024

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A worker killed mid-request (the SIGKILL test) resets its connections.
            # A killed worker can also leave half a JSON body behind.
            if not isinstance(sys.exc_info()[1], ConnectionError | json.JSONDecodeError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fake = FakeFcm(url=base, credentials_path=_service_account(directory, f"{base}/token"))
    state["fake"] = fake
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server


if __name__ == "__main__":
    # `python -m tests.fake_fcm DIR`: serve in its own process (benchmarks), print where,
    # and stop when stdin closes.
    import tempfile

    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    fake, server = start(directory)
    print(json.dumps({"url": fake.url, "credentials_path": fake.credentials_path}), flush=True)
    sys.stdin.read()
    server.shutdown()
