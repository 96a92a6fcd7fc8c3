"""Gunicorn settings: `gunicorn -c gunicorn.conf.py wsgi:app` (the app itself reads its config from the env)."""

import glob
import os
import sys

# Loopback unless told otherwise: the app sits behind a TLS-terminating proxy. A platform
# that hands out $PORT (Procfile hosts) gets gunicorn's own behaviour for it: all interfaces.
bind = os.environ.get("GUNICORN_BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)

# Sync workers, one request each: every request is short and waits on PostgreSQL, so about
# two processes per core keep the CPU busy while others wait. WEB_CONCURRENCY wins (PaaS
# convention); sched_getaffinity counts the cores this process may really use (containers).
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cores + 1)

# No request should run for long; a worker silent for 30 s is stuck (a lost database, say)
# and is replaced. On SIGTERM, requests in flight get 20 s to finish, inside a typical
# orchestrator's 30 s stop grace.
timeout = 30
graceful_timeout = 20

# The app writes one structured line per request (request id, route, status, duration,
# never PHI); a second, unstructured access log would only duplicate it. Opt in with
# GUNICORN_ACCESS_LOG=- (stdout) or a path.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"

# Gunicorn >= 25 opens a control socket at one fixed path per user by default: a second
# instance on the host (tests, a benchmark) would take it over, and it can resize the
# worker pool. Nothing here uses it; GUNICORN_CONTROL_SOCKET=<path> turns it on.
control_socket_disable = not os.environ.get("GUNICORN_CONTROL_SOCKET")
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# No preload: each worker builds its own app after the fork, so no database connection,
# thread or metrics file is ever shared between processes.
preload_app = False


def post_fork(server, worker):
    # PyJWT looks for `cryptography` when it is imported (for RSA and EC keys) and loads its
    # native library: 8 MiB of every API worker's memory for algorithms the API never uses
    # (its tokens are HS256, checked with hmac). A None in sys.modules makes that import
    # fail, as PyJWT expects where cryptography is not installed. Only gunicorn's workers:
    # the worker process (`flask diary worker`) needs cryptography for FCM and keeps it.
    sys.modules.setdefault("cryptography", None)


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):

    def on_starting(server):
        # Files left by a previous run would be summed into this one's counters.
        for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
            os.remove(path)

    def child_exit(server, worker):
        # Drops the dead worker's live-gauge files; its counters and histograms stay summed in.
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
