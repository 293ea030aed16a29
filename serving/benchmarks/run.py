"""Every measurement of one benchmark run on one SavedModel, and the report's ratios.

See the package docstring for what is measured; `BenchConfig` holds what a run is
asked for, `run_benchmark(config)` returns the report (the JSON `--json` writes).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import numpy as np

from serving.benchmarks._processes import MinimalGrpcServer, ServerProcess
from serving.benchmarks.latency import grpc_predictor, percentiles_ms, rest_predictor, timed
from serving.benchmarks.protocols import ratio_with_range, v2_predictors
from serving.benchmarks.throughput import (
    METRICS_PATH,
    batches_run,
    in_process_ceiling,
    throughput_in_turns,
)

__all__ = ["BenchConfig", "largest_warmup_batch", "run_benchmark"]

_DEFAULT_MODELS = ("saved_models/heat", "saved_models/sin")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """One benchmark run.

    Attributes:
        saved_model: a model base path or one version directory (None: the first of
            saved_models/heat, saved_models/sin that exists).
        concurrency: clients for throughput.
        requests: requests per latency phase.
        rows: events per request.
        signature: the signature called.
        batch_timeout_micros, num_batch_threads: the batching server's settings.
        ceiling_seconds: seconds per in-process ceiling measurement.
        intra_op_threads, inter_op_threads: TF's thread pools (0: TF's choice) and
        session_config: a text-format ConfigProto file ("" for none), for every
            server and the in-process calls alike.
        protocol: "tf", or "v2" to also time the Open Inference Protocol's REST and gRPC
            calls on the same server, in the same turns (`protocols`).
    """

    saved_model: str | None = None
    concurrency: int = 32
    requests: int = 200
    rows: int = 1
    signature: str = "serving_default"
    batch_timeout_micros: int = 2000
    num_batch_threads: int = 1
    ceiling_seconds: float = 5.0
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    session_config: str = ""
    protocol: str = "tf"

    def __post_init__(self):
        if self.protocol not in ("tf", "v2"):
            raise ValueError(f"Expected --protocol tf or v2. Received: {self.protocol!r}")
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ValueError(
                "Expected --intra-op-threads and --inter-op-threads >= 0 (0: TF's choice). "
                f"Received: {self.intra_op_threads}, {self.inter_op_threads}"
            )
        if self.num_batch_threads < 1:
            raise ValueError(
                f"Expected --num-batch-threads >= 1. Received: {self.num_batch_threads}"
            )
        if self.concurrency < 1 or self.requests < 1 or self.rows < 1:
            raise ValueError(
                "Expected --concurrency, --requests and --rows >= 1. Received: "
                f"{self.concurrency}, {self.requests}, {self.rows}"
            )

    @property
    def tf_threads(self) -> tuple[int, int]:
        return self.intra_op_threads, self.inter_op_threads


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


def largest_warmup_batch(version_dir: str) -> int:
    """The largest batch among the version's warm-up requests (0 without any). A batching
    server refuses a version whose warm-up exceeds `max_batch_size`, so the benchmark's
    batching config must admit it."""
    from serving.warmup import read_warmup_logs

    sizes = [
        proto.tensor_shape.dim[0].size
        for log in read_warmup_logs(version_dir)
        for proto in log.predict_log.request.inputs.values()
        if proto.tensor_shape.dim
    ]
    return max(sizes, default=0)


def _random_inputs(signature_def, rows: int) -> dict[str, np.ndarray]:
    """Standard normal events for every input of the signature (fixed seed)."""
    from serving import _dtypes

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
    return inputs


def _requests(name: str, signature: str, inputs: dict[str, np.ndarray]):
    """The same events as a gRPC PredictRequest and as a REST body."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    for alias, array in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(array))
    body = {
        "signature_name": signature,
        "inputs": {alias: array.tolist() for alias, array in inputs.items()},
    }
    return request, json.dumps(body).encode()


def _write_server_configs(directory: str, config: BenchConfig, max_batch_size: int):
    """The batching server's batching and monitoring config files, in `directory`."""
    batching_file = os.path.join(directory, "batching.config")
    with open(batching_file, "w") as f:
        f.write(
            f"max_batch_size {{ value: {max_batch_size} }}\n"
            f"batch_timeout_micros {{ value: {config.batch_timeout_micros} }}\n"
            f"num_batch_threads {{ value: {config.num_batch_threads} }}\n"
            f"max_enqueued_batches {{ value: {max(16, config.concurrency)} }}\n"
        )
    monitoring_file = os.path.join(directory, "monitoring.config")
    with open(monitoring_file, "w") as f:
        f.write(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n')
    return batching_file, monitoring_file


def _runtime_flags(config: BenchConfig) -> list[str]:
    """Our servers' flags for the TF runtime settings every side shares."""
    flags = [
        f"--tensorflow_{kind}_op_parallelism={count}"
        for kind, count in (("intra", config.intra_op_threads), ("inter", config.inter_op_threads))
        if count
    ]
    if config.session_config:
        # Absolute: the servers run from the repository root.
        flags.append(f"--tensorflow_session_config_file={os.path.abspath(config.session_config)}")
    return flags


@dataclasses.dataclass
class _Servers:
    """Our server without and with batching, and the two grpcio peers."""

    plain: ServerProcess
    batched: ServerProcess
    minimal: MinimalGrpcServer
    floor: MinimalGrpcServer

    def all(self):
        return (self.plain, self.batched, self.minimal, self.floor)


def _start_servers(config, name, base_path, version_dir, files) -> _Servers:
    """The four servers, starting (each must `wait_ready` before use)."""
    # Each waiting request holds a gRPC thread (in the real server too: its default is
    # 4 per core), so with fewer threads than clients a batch could never fill.
    grpc_threads = max(config.concurrency, 4 * (os.cpu_count() or 1))
    flags = [f"--grpc_max_threads={grpc_threads}", *_runtime_flags(config)]
    session = os.path.abspath(config.session_config) if config.session_config else ""
    batching_file, monitoring_file = files
    return _Servers(
        plain=ServerProcess(name, base_path, flags),
        batched=ServerProcess(
            name,
            base_path,
            [
                *flags,
                "--enable_batching",
                f"--batching_parameters_file={batching_file}",
                f"--monitoring_config_file={monitoring_file}",
            ],
        ),
        minimal=MinimalGrpcServer(version_dir, config.signature, config.tf_threads, session),
        floor=MinimalGrpcServer(
            version_dir,
            config.signature,
            config.tf_threads,
            session,
            floor=True,
            max_threads=grpc_threads,
        ),
    )


def _latency(servers: _Servers, servable, config, inputs, request, body, name) -> dict:
    """p50/p99 per event of every transport, all in turns (see `timed`)."""
    predictors = {
        "grpc": grpc_predictor(servers.plain.grpc_port, request),
        "rest": rest_predictor(servers.plain.rest_port, name, body),
        "grpc_minimal_server": grpc_predictor(servers.minimal.port, request),
        "grpc_floor": grpc_predictor(servers.floor.port, request),
    }
    if config.protocol == "v2":
        port, rest_port = servers.plain.grpc_port, servers.plain.rest_port
        predictors.update(v2_predictors(port, rest_port, name, config.signature, inputs))
    calls = {"in_process": lambda: servable.run(config.signature, inputs)}
    calls.update({key: call for key, (call, _) in predictors.items()})
    times = timed(calls, config.requests)
    for _, close in predictors.values():
        close()
    latency = {key: percentiles_ms(values) for key, values in times.items()}
    if config.protocol == "v2":
        latency["v2_over_tf"] = {
            kind: ratio_with_range(times[f"{kind}_v2"], times[kind]) for kind in ("grpc", "rest")
        }
    return latency


def _measure(config: BenchConfig, servable, inputs, version_dir, base_path, name) -> dict:
    request, body = _requests(name, config.signature, inputs)
    max_batch_size = max(config.concurrency * config.rows, largest_warmup_batch(version_dir))
    with tempfile.TemporaryDirectory() as tmp:
        files = _write_server_configs(tmp, config, max_batch_size)
        servers = _start_servers(config, name, base_path, version_dir, files)
        try:
            for server in servers.all():
                server.wait_ready()
            latency = _latency(servers, servable, config, inputs, request, body, name)
            servers.minimal.stop()
            ceiling = in_process_ceiling(
                servable, config.signature, inputs, config.concurrency, config.ceiling_seconds
            )
            throughput = throughput_in_turns(
                {
                    "no_batching": servers.plain.grpc_port,
                    "batching": servers.batched.grpc_port,
                    "grpc_floor": servers.floor.port,
                },
                request,
                config.concurrency,
                max(1, config.requests // 2),
                {"batching": lambda: batches_run(servers.batched.rest_port)},
            )
        finally:
            for server in servers.all():
                server.stop()
    return {"latency": latency, "throughput": throughput, "in_process_ceiling": ceiling}


def run_benchmark(config: BenchConfig) -> dict:
    """Run every measurement; returns the report as a dict (see `print_report`).

    The TF thread counts and the session config apply to every server and to this
    process's in-process calls alike, so all sides run TF with the same settings."""
    from google.protobuf import text_format

    from serving import tf_runtime
    from serving.servable import Servable

    session = (
        tf_runtime.read_session_config(config.session_config) if config.session_config else None
    )
    tf_runtime.configure(session, *config.tf_threads)
    base_path, version_dir, version = _resolve_model(config.saved_model)
    name = os.path.basename(base_path.rstrip("/")) or "model"
    servable = Servable.load(name, version, version_dir)
    inputs = _random_inputs(servable.signature_def(config.signature), config.rows)
    measured = _measure(config, servable, inputs, version_dir, base_path, name)
    latency, throughput = measured["latency"], measured["throughput"]
    base = latency["in_process"]["p50_ms"]
    n = str(config.concurrency)
    return {
        "model": version_dir,
        "signature": config.signature,
        "rows_per_request": config.rows,
        "inputs": {alias: list(array.shape) for alias, array in inputs.items()},
        "concurrency": config.concurrency,
        # None: TF's choice.
        "tensorflow_threads": {
            "intra_op": config.intra_op_threads or None,
            "inter_op": config.inter_op_threads or None,
        },
        "session_config": text_format.MessageToString(session, as_one_line=True)
        if session is not None
        else None,
        "num_batch_threads": config.num_batch_threads,
        "protocol": config.protocol,
        "latency": latency,
        "ratios": {
            f"{key}_p50_over_in_process": latency[key]["p50_ms"] / base
            for key in ("grpc", "rest", "grpc_minimal_server", "grpc_floor")
        },
        "throughput": throughput,
        "scaling_n_over_1": {
            label: rates[n]["requests_per_s"] / rates["1"]["requests_per_s"]
            for label, rates in throughput.items()
        },
        "in_process_ceiling": measured["in_process_ceiling"],
        "batching_over_no_batching_at_n": (
            throughput["batching"][n]["requests_per_s"]
            / throughput["no_batching"][n]["requests_per_s"]
        ),
    }
