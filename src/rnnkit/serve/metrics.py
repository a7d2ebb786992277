"""The server's Prometheus metrics (prometheus-client), in a registry of its own: requests
by endpoint and status, latency, batch sizes and open streaming sessions."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("rnnkit_requests", "Requests answered", ["endpoint", "status"],
                                registry=self.registry)  # fmt: skip
        self.latency = Histogram(
            "rnnkit_request_seconds", "Time to answer a request", ["endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )  # fmt: skip
        self.batches = Histogram(
            "rnnkit_batch_size", "Requests run together by the micro-batcher", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=self.registry,
        )  # fmt: skip
        self.streams = Gauge("rnnkit_open_streams", "Open streaming sessions", ["model"],
                             registry=self.registry)  # fmt: skip

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_batch(self, model: str, size: int) -> None:
        self.batches.labels(model).observe(size)

    def text(self) -> bytes:
        return generate_latest(self.registry)
