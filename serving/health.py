"""`grpc.health.v1.Health/Check` (`--enable_grpc_healthcheck_service`), without grpcio-health.

The messages come from `_config_protos`; the service is registered as a generic handler.
"" and PredictionService answer SERVING while some configured model has a loaded version and
the server is not draining; ModelService (config reloads, status) while it is not draining.
Any other name is NOT_FOUND, as gRPC's own health service answers.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from serving._config_protos import HealthCheckRequest, HealthCheckResponse

__all__ = ["SERVICE_NAME", "health_handler"]

SERVICE_NAME = "grpc.health.v1.Health"
_KNOWN = ("", "tensorflow.serving.PredictionService", "tensorflow.serving.ModelService")


def health_handler(serving: Callable[[str], bool]) -> grpc.GenericRpcHandler:
    """A handler whose Check answers SERVING while `serving(service)` is true. It runs on
    the gRPC server's spare threads, never queued behind model calls."""

    def check(request: HealthCheckRequest, context: grpc.ServicerContext) -> HealthCheckResponse:
        if request.service not in _KNOWN:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service}")
        status = "SERVING" if serving(request.service) else "NOT_SERVING"
        return HealthCheckResponse(status=HealthCheckResponse.ServingStatus.Value(status))

    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check,
                request_deserializer=HealthCheckRequest.FromString,
                response_serializer=HealthCheckResponse.SerializeToString,
            )
        },
    )
