"""The service's Prometheus metrics (``GET /metrics``), in a registry of its own per application,
so two applications in one process (tests, benchmarks) never share counters.

requests by route and status, latency histograms by route, batch sizes and queue depth by model,
rejections by reason (``overloaded``, ``timeout``, ``unauthorized``, ``too_large``, ...), and the
open streaming connections.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Latency buckets from 1 ms to 30 s: batch-1 LSTM answers take about a millisecond, long
# translations and generations tens of seconds.
_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "seqlab_requests",
            "HTTP requests answered, by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "seqlab_request_seconds",
            "time from request to response, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "seqlab_batch_size",
            "items run together in one model call, by model",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "seqlab_queue_depth",
            "items waiting for a model, by model",
            ["model"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "seqlab_rejections",
            "requests refused before or instead of running a model, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.stream_connections = Gauge(
            "seqlab_stream_connections",
            "open WebSocket streaming connections",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
