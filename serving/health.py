"""Standard gRPC health (`grpc.health.v1.Health`, `--enable_grpc_healthcheck_service`) through
grpcio-health-checking: Check and Watch, for the server and for each model.

Statuses are pushed, not computed per call: the server calls `refresh()` whenever what it
serves may have changed (a version published or retired, a config reload), so a Watch
stream hears each change as it happens, and `shutdown()` when it starts draining (every
status NOT_SERVING, for good). The services:

- "", `tensorflow.serving.PredictionService` and `inference.GRPCInferenceService`: SERVING
  while some configured model has a loaded version and the server is not draining;
- `tensorflow.serving.ModelService` (config reloads, status): SERVING while not draining;
- each configured model, by its name: SERVING while it has a loaded version.

A model dropped from the config becomes SERVICE_UNKNOWN; any other name is NOT_FOUND for
Check and SERVICE_UNKNOWN for Watch, as gRPC's health service answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

__all__ = ["MODEL_SERVICE", "SERVER_SERVICES", "HealthStatuses"]

#: Services that serve while some model can.
SERVER_SERVICES = (
    "",
    "tensorflow.serving.PredictionService",
    "inference.GRPCInferenceService",
)
MODEL_SERVICE = "tensorflow.serving.ModelService"
_STATUS = health_pb2.HealthCheckResponse


class HealthStatuses:
    """The health servicer and the statuses it reports.

    `models()` gives {configured model name: has a loaded version}.
    """

    def __init__(self, models: Callable[[], dict[str, bool]]) -> None:
        self.servicer = health.HealthServicer(experimental_non_blocking=True)
        self._models = models
        self._lock = threading.Lock()
        self._known: dict[str, int] = {}

    def _wanted(self) -> dict[str, int]:
        models = self._models()
        some_ready = any(models.values())
        wanted = {
            name: _STATUS.SERVING if ready else _STATUS.NOT_SERVING
            for name, ready in models.items()
        }
        for service in SERVER_SERVICES:
            wanted[service] = _STATUS.SERVING if some_ready else _STATUS.NOT_SERVING
        wanted[MODEL_SERVICE] = _STATUS.SERVING
        return wanted

    def refresh(self) -> None:
        """Set every status from the server's state now; Watch streams hear the changes."""
        with self._lock:
            wanted = self._wanted()
            for service in set(self._known) - set(wanted):
                wanted[service] = _STATUS.SERVICE_UNKNOWN
            for service, status in wanted.items():
                if self._known.get(service) != status:
                    self.servicer.set(service, status)
            self._known = wanted

    def shutdown(self) -> None:
        """Every status NOT_SERVING from now on (the server is draining)."""
        self.servicer.enter_graceful_shutdown()

    def add_to_server(self, server: grpc.Server) -> None:
        self.refresh()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
