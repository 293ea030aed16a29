"""Per-event latency: each transport's calls taken in turns, and their percentiles."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["grpc_predictor", "percentiles_ms", "rest_predictor", "timed"]


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


def timed(calls: dict[str, Callable[[], object]], count: int, warmup: int = 3) -> dict:
    """Seconds per call of each of `calls`, taken in turns, so that all of them see the same
    load on a machine shared with other jobs. Each round takes them in a new random order: in
    a fixed cycle each call always follows the same one (gRPC the in-process call, whose TF
    threads may still spin), and a gRPC call placed there was 0.002-0.017x of the
    in-process p50 slower than one placed after the floor's, in four sets of 300."""
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    order = np.random.default_rng(0)
    for _ in range(count):
        for index in order.permutation(len(names)):
            name = names[index]
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return times


def grpc_predictor(port: int, request: object) -> tuple[Callable[[], object], Callable[[], None]]:
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return (lambda: stub.Predict(request, timeout=120)), channel.close


def rest_predictor(
    port: int, name: str, body: bytes, path: str = ""
) -> tuple[Callable[[], object], Callable]:
    """A predict call on one kept-alive connection: TF Serving's :predict, or `path`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    path = path or f"/v1/models/{name}:predict"

    def call() -> bytes:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST predict answered {response.status}: {payload[:200]!r}")
        return payload

    return call, connection.close
