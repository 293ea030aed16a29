"""One gRPC call answered: the result, or the failure as the matching gRPC status, counted in
the metrics. Shared by TF Serving's services (`serving.grpc_service`) and the Open Inference
Protocol's (`serving.grpc_v2`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

import grpc

from serving.errors import InternalError, ServingError
from serving.monitoring import Metrics

__all__ = ["answer"]

T = TypeVar("T")


def answer(
    context: grpc.ServicerContext,
    compute: Callable[[], T],
    metrics: Metrics | None = None,
    model: str = "",
    api: str = "",
) -> T:
    """Run `compute`; turn any failure into the matching gRPC status instead of a crash."""
    start = time.perf_counter()
    try:
        result = compute()
    except ServingError as e:
        error = e
    except Exception as e:  # noqa: BLE001 - a bad request must never take the server down
        # The details are for the log; the client learns only that it was not its fault.
        print(f"gRPC: internal error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        error = InternalError("Internal error while answering the request")
    else:
        if metrics is not None:
            metrics.observe_request(model, api, "GRPC", "OK", time.perf_counter() - start)
        return result
    if metrics is not None:
        metrics.observe_request(model, api, "GRPC", error.code, time.perf_counter() - start)
    context.abort(grpc.StatusCode[error.code], error.message)
    raise AssertionError("unreachable: context.abort raises")
