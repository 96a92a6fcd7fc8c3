"""Prometheus metrics. Defined once per process, as prometheus_client expects.

Under gunicorn set PROMETHEUS_MULTIPROC_DIR so every worker's counts are aggregated.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

REQUESTS = Counter("diary_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "diary_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
