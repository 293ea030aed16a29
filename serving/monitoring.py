"""Prometheus metrics (`--monitoring_config_file`), made with `prometheus_client`.

Metric names are TF Serving's (monitoring names with `/` turned into `:`), so dashboards carry
over; `prometheus_client` appends `_total` to counters, which the real exporter does not.
Latencies are in microseconds, as the real server's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from serving._config_protos import MonitoringConfig, read_text_proto
from serving.manager import LoadEvent

__all__ = ["DEFAULT_PROMETHEUS_PATH", "OTHER_MODELS", "Metrics", "read_monitoring_config"]

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
# The real server's request_latency buckets: 10 us growing by 1.8x, 33 of them.
_LATENCY_BUCKETS_US = tuple(10.0 * 1.8**i for i in range(33))
_BATCH_BUCKETS = tuple(float(2**i) for i in range(14))


def read_monitoring_config(path: str) -> MonitoringConfig:
    """Parse a `--monitoring_config_file` (text-format MonitoringConfig)."""
    config = read_text_proto("monitoring_config_file", path, MonitoringConfig())
    path_ = config.prometheus_config.path
    if path_ and not path_.startswith("/"):
        raise ValueError(f"Expected prometheus_config.path to start with '/'. Received: {path_!r}")
    return config


#: The `model_name` of requests for models the config does not list: names come from clients,
#: and every distinct label value is a series kept for the life of the process.
OTHER_MODELS = "__unconfigured__"


class Metrics:
    """The server's metrics in a registry of its own (several servers may share a process).

    `configured()` gives the model names that may be labels; requests naming any other model
    are counted under `OTHER_MODELS`.
    """

    def __init__(self, configured: Callable[[], Collection[str]] | None = None) -> None:
        self._configured = configured
        self.registry = CollectorRegistry()
        labels = ["model_name", "API", "entrypoint", "status"]
        self.request_count = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            labels,
            registry=self.registry,
        )
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for requests.",
            labels,
            buckets=_LATENCY_BUCKETS_US,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Sizes of the batches run (after padding to allowed_batch_sizes).",
            ["model_name"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.load_attempts = Counter(
            ":tensorflow:cc:saved_model:load_attempt_count",
            "The number of times a SavedModel was attempted to load.",
            ["model_path", "status"],
            registry=self.registry,
        )
        self.load_latency = Histogram(
            ":tensorflow:serving:model_load_latency",
            "Seconds to load and warm up a version.",
            ["model_name"],
            registry=self.registry,
        )
        self.unloads = Counter(
            ":tensorflow:serving:model_unload_count",
            "Versions taken out of service.",
            ["model_name"],
            registry=self.registry,
        )
        self._paths: dict[tuple[str, int], str] = {}

    def observe_request(
        self, model: str, api: str, entrypoint: str, status: str, seconds: float
    ) -> None:
        if self._configured is not None and model not in self._configured():
            model = OTHER_MODELS
        labels = (model, api, entrypoint, status)
        self.request_count.labels(*labels).inc()
        self.request_latency.labels(*labels).observe(seconds * 1e6)

    def observe_batch(self, model: str, size: int) -> None:
        self.batch_size.labels(model).observe(size)

    def observe_load_event(self, event: LoadEvent, path: str = "") -> None:
        if event.kind == "load":
            self.load_attempts.labels(path or event.model, event.code).inc()
            if event.code == "OK":
                self.load_latency.labels(event.model).observe(event.seconds)
        else:
            self.unloads.labels(event.model).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text page and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
