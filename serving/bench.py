"""`pg-keras bench-serving`: per-event latency and throughput of the model server.

In one run, on one SavedModel: per-event latency p50/p99 in process (the signature called
directly), over gRPC and over REST, and their ratios; then throughput over gRPC with one
client and with `--concurrency` clients, without and with `--enable_batching`, with the p99
latency at that concurrency. The servers run as `python -m serving` subprocesses, so clients
and server do not share an interpreter, as in production.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["main", "run_benchmark"]

_DEFAULT_MODELS = ("saved_models/heat", "saved_models/sin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _resolve_model(path: str | None) -> tuple[str, str, int]:
    """(base path, version directory, version) for a base path or a version directory."""
    from serving import model_config

    candidates = [path] if path else [p for p in _DEFAULT_MODELS if os.path.isdir(p)]
    if not candidates:
        raise ValueError(
            f"Expected a SavedModel: pass --saved-model, or export one to one of "
            f"{', '.join(_DEFAULT_MODELS)}. Received: none of them exists"
        )
    chosen = os.path.abspath(candidates[0])
    versions = model_config.list_versions(chosen)
    if versions:
        version = max(versions)
        return chosen, versions[version], version
    name = os.path.basename(chosen.rstrip("/"))
    if name.isdigit() and os.path.exists(os.path.join(chosen, "saved_model.pb")):
        return os.path.dirname(chosen), chosen, int(name)
    raise ValueError(
        "Expected --saved-model to be a model base path with integer version directories, or "
        f"one version directory. Received: {chosen}"
    )


def _percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


def _timed(call: Callable[[], object], count: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


class _ServerProcess:
    """`python -m serving` on free ports; stopped with SIGTERM."""

    def __init__(self, name: str, base_path: str, extra: Sequence[str] = ()) -> None:
        self.grpc_port, self.rest_port = _free_port(), _free_port()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "serving",
                f"--port={self.grpc_port}",
                f"--rest_api_port={self.rest_port}",
                f"--model_name={name}",
                f"--model_base_path={base_path}",
                *extra,
            ],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._log: list[str] = []

    def wait_ready(self, timeout_s: float = 300) -> None:
        assert self._process.stderr is not None
        deadline = time.monotonic() + timeout_s
        for line in self._process.stderr:
            self._log.append(line)
            if "Exporting HTTP/REST API" in line:
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError("Model server exited during start-up:\n" + "".join(self._log))
        # Keep draining stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self._process.stderr], daemon=True).start()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _grpc_predictor(port: int, request: object) -> tuple[Callable[[], object], Callable[[], None]]:
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return (lambda: stub.Predict(request, timeout=120)), channel.close


def _rest_predictor(port: int, name: str, body: bytes) -> tuple[Callable[[], object], Callable]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    path = f"/v1/models/{name}:predict"

    def call() -> bytes:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST predict answered {response.status}: {payload[:200]!r}")
        return payload

    return call, connection.close


def _throughput(port: int, request: object, clients: int, per_client: int) -> dict[str, float]:
    """Requests per second and latency with `clients` threads, each on its own channel."""
    predictors = [_grpc_predictor(port, request) for _ in range(clients)]
    for call, _ in predictors:
        call()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        call = predictors[index][0]
        barrier.wait()
        try:
            for _ in range(per_client):
                start = time.perf_counter()
                call()
                latencies[index].append(time.perf_counter() - start)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    for _, close in predictors:
        close()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed; first: {errors[0]}")
    flat = [t for per in latencies for t in per]
    return {"requests_per_s": len(flat) / wall, **_percentiles_ms(flat)}


def run_benchmark(
    saved_model: str | None,
    concurrency: int,
    requests: int,
    rows: int,
    signature: str,
    batch_timeout_micros: int,
    num_batch_threads: int,
) -> dict:
    """Run every measurement; returns the report as a dict (see `main` for the printout)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from serving import _dtypes
    from serving.servable import Servable

    base_path, version_dir, version = _resolve_model(saved_model)
    name = os.path.basename(base_path.rstrip("/")) or "model"
    servable = Servable.load(name, version, version_dir)
    signature_def = servable.signature_def(signature)
    rng = np.random.default_rng(0)
    inputs = {}
    for alias, info in signature_def.inputs.items():
        dims = [d.size for d in info.tensor_shape.dim][1:]
        if any(d < 0 for d in dims) or info.dtype not in (_dtypes.DT_FLOAT, _dtypes.DT_DOUBLE):
            raise ValueError(
                f"Expected float inputs with fixed per-event shapes. Received: input {alias} "
                f"with dtype {_dtypes.dtype_string(info.dtype)} and shape [-1, {dims}]"
            )
        inputs[alias] = rng.standard_normal([rows, *dims]).astype(_dtypes.numpy_dtype(info.dtype))

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for alias, array in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(array))
    body = json.dumps(
        {
            "signature_name": signature,
            "inputs": {alias: array.tolist() for alias, array in inputs.items()},
        }
    ).encode()

    with tempfile.TemporaryDirectory() as tmp:
        batching_file = os.path.join(tmp, "batching.config")
        with open(batching_file, "w") as f:
            f.write(
                f"max_batch_size {{ value: {max(1, concurrency) * rows} }}\n"
                f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
                f"num_batch_threads {{ value: {num_batch_threads} }}\n"
                f"max_enqueued_batches {{ value: {max(16, concurrency)} }}\n"
            )
        plain = _ServerProcess(name, base_path)
        batched = _ServerProcess(
            name,
            base_path,
            ["--enable_batching", f"--batching_parameters_file={batching_file}"],
        )
        try:
            plain.wait_ready()
            batched.wait_ready()
            latency = {
                "in_process": _percentiles_ms(
                    _timed(lambda: servable.run(signature, inputs), requests)
                )
            }
            call, close = _grpc_predictor(plain.grpc_port, request)
            latency["grpc"] = _percentiles_ms(_timed(call, requests))
            close()
            call, close = _rest_predictor(plain.rest_port, name, body)
            latency["rest"] = _percentiles_ms(_timed(call, requests))
            close()
            per_client = max(1, requests // 2)
            throughput = {}
            for label, server in (("no_batching", plain), ("batching", batched)):
                throughput[label] = {
                    "1": _throughput(server.grpc_port, request, 1, per_client * 4),
                    str(concurrency): _throughput(
                        server.grpc_port, request, concurrency, per_client
                    ),
                }
        finally:
            plain.stop()
            batched.stop()

    base = latency["in_process"]["p50_ms"]
    ratios = {
        "grpc_p50_over_in_process": latency["grpc"]["p50_ms"] / base,
        "rest_p50_over_in_process": latency["rest"]["p50_ms"] / base,
    }
    n = str(concurrency)
    scaling = {
        label: throughput[label][n]["requests_per_s"] / throughput[label]["1"]["requests_per_s"]
        for label in throughput
    }
    return {
        "model": version_dir,
        "signature": signature,
        "rows_per_request": rows,
        "inputs": {alias: list(array.shape) for alias, array in inputs.items()},
        "concurrency": concurrency,
        "latency": latency,
        "ratios": ratios,
        "throughput": throughput,
        "scaling_n_over_1": scaling,
        "batching_over_no_batching_at_n": (
            throughput["batching"][n]["requests_per_s"]
            / throughput["no_batching"][n]["requests_per_s"]
        ),
    }


def _print_report(report: dict) -> None:
    n = str(report["concurrency"])
    print(f"model {report['model']}  signature {report['signature']}  inputs {report['inputs']}")
    print("per-event latency, 1 client, sequential (ms):")
    for label, key in (("in process", "in_process"), ("gRPC", "grpc"), ("REST", "rest")):
        stats = report["latency"][key]
        ratio = stats["p50_ms"] / report["latency"]["in_process"]["p50_ms"]
        print(
            f"  {label:<11} p50 {stats['p50_ms']:8.3f}  p99 {stats['p99_ms']:8.3f}  "
            f"p50 x{ratio:.2f} in-process"
        )
    print(f"gRPC throughput (requests/s), 1 client vs {n} clients:")
    for label in ("no_batching", "batching"):
        one, many = report["throughput"][label]["1"], report["throughput"][label][n]
        print(
            f"  {label:<12} 1: {one['requests_per_s']:9.1f}   {n}: {many['requests_per_s']:9.1f}"
            f"   x{report['scaling_n_over_1'][label]:.2f}   p99 at {n}: {many['p99_ms']:.2f} ms"
        )
    print(f"batching / no batching at {n} clients: x{report['batching_over_no_batching_at_n']:.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pg-keras bench-serving", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--saved-model",
        default=None,
        help="Model base path or version directory (default: saved_models/heat, else "
        "saved_models/sin).",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="Clients for throughput.")
    parser.add_argument("--requests", type=int, default=200, help="Requests per latency phase.")
    parser.add_argument("--rows", type=int, default=1, help="Events per request.")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--batch-timeout-micros", type=int, default=2000)
    parser.add_argument("--num-batch-threads", type=int, default=2)
    parser.add_argument("--json", default="", help="Also write the report to this JSON file.")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.requests < 1 or args.rows < 1:
        parser.error(
            "Expected --concurrency, --requests and --rows >= 1. Received: "
            f"{args.concurrency}, {args.requests}, {args.rows}"
        )
    try:
        report = run_benchmark(
            args.saved_model,
            args.concurrency,
            args.requests,
            args.rows,
            args.signature,
            args.batch_timeout_micros,
            args.num_batch_threads,
        )
    except (ValueError, RuntimeError) as e:
        print(f"bench-serving: error: {e}", file=sys.stderr)
        return 1
    _print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
