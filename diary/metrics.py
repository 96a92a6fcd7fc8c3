"""Prometheus metrics. Defined once per process, as prometheus_client expects.

Under gunicorn set PROMETHEUS_MULTIPROC_DIR so every worker's counts are aggregated.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    from diary.domain.operations import Gauges

REQUESTS = Counter("diary_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "diary_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


class _DatabaseCollector:
    """Gauges read from the database at scrape time."""

    def __init__(self, gauges: Gauges):
        self.gauges = gauges

    def collect(self):
        depth = GaugeMetricFamily("diary_outbox_depth", "Outbox rows not finished", labels=["kind", "status"])
        for (kind, status), count in sorted(self.gauges.depth.items()):
            depth.add_metric([kind, status], count)
        yield depth
        alerts = GaugeMetricFamily("diary_open_alerts", "Unresolved alerts", labels=["severity", "status"])
        for (severity, status), count in sorted(self.gauges.open_alerts.items()):
            alerts.add_metric([severity, status], count)
        yield alerts
        yield GaugeMetricFamily(
            "diary_outbox_oldest_due_age_seconds",
            "How long the oldest due row has waited",
            value=self.gauges.oldest_due_age,
        )


def render(gauges: Gauges | None = None) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest()
    if gauges is not None:
        extra = CollectorRegistry()
        extra.register(_DatabaseCollector(gauges))
        text += generate_latest(extra)
    return text


PUSHES = Counter("diary_pushes_total", "Outbox deliveries by kind and outcome", ["kind", "outcome"])
