"""`pg-keras bench-serving`: per-event latency and throughput of the model server.

In one run, on one SavedModel: per-event latency p50/p99 in process (the signature called
directly), over gRPC, over REST, through a minimal grpcio server written the obvious way (a
peer to compare ours with) and through grpcio alone around the same TF call (the floor of any
Python gRPC server), taken in turns so all see the same load, and their ratios; then
throughput over gRPC with one client and with `--concurrency` clients (each its own process;
rounds alternating the client counts and the servers), without and with `--enable_batching`
and through the grpcio floor, with the p99 latency at that concurrency and the batcher's mean
batch size; and the in-process ceiling of any batching gain. The servers run as
`python -m serving` subprocesses, so clients and server do not share an interpreter, as in
production.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import struct
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


def _largest_warmup_batch(version_dir: str) -> int:
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


def _percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    values = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


def _timed(calls: dict[str, Callable[[], object]], count: int, warmup: int = 3) -> dict:
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


# A peer for our gRPC latency: a minimal grpcio server, its own process, whose Predict only
# decodes the request with tf.make_ndarray, calls the same signature and answers with
# tf.make_tensor_proto - no model manager, checks, metrics or typed fields: what a Python
# gRPC server written the obvious way costs on this machine. With "floor" it decodes the
# first request and builds the first answer only once, then for every request just runs the
# signature on those inputs and returns that answer: what grpcio itself costs around the TF
# call, the least any Python gRPC server could add; its throughput with one and with N clients
# is measured in turns with ours, as the scaling any Python gRPC server would see on this
# machine. Prints "ready" once serving.
_MINIMAL_GRPC_SERVER = r"""
import sys
from concurrent import futures
import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
path, signature, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
from serving import tf_runtime
session_config = tf_runtime.read_session_config(sys.argv[6]) if sys.argv[6] else None
tf_runtime.configure(session_config, int(sys.argv[4]), int(sys.argv[5]))
function = tf.saved_model.load(path).signatures[signature]

floor, cached = sys.argv[7] == "floor", []

class Minimal(prediction_service_pb2_grpc.PredictionServiceServicer):
    def Predict(self, request, context):
        if cached:
            function(**cached[0])
            return cached[1]
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        response = predict_pb2.PredictResponse()
        for alias, tensor in function(**inputs).items():
            response.outputs[alias].CopyFrom(tf.make_tensor_proto(tensor.numpy()))
        if floor:
            cached.extend([inputs, response])
        return response

server = grpc.server(
    futures.ThreadPoolExecutor(max_workers=int(sys.argv[8])),
    options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
)
prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Minimal(), server)
server.add_insecure_port(f"127.0.0.1:{port}")
server.start()
print("ready", flush=True)
server.wait_for_termination()
"""


class _MinimalGrpcServer:
    def __init__(
        self,
        version_dir: str,
        signature: str,
        threads: tuple[int, int],
        session_config_file: str,
        floor: bool = False,
        max_threads: int = 4,
    ) -> None:
        self.port = _free_port()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _MINIMAL_GRPC_SERVER,
                version_dir,
                signature,
                str(self.port),
                *map(str, threads),
                session_config_file,
                "floor" if floor else "minimal",
                str(max_threads),
            ],
            # The repository root, where `serving` imports from.
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("The minimal gRPC server (the latency peer) failed to start")

    def stop(self) -> None:
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


# A load-generating client: its own process (no GIL shared with other clients or with the
# benchmark), one channel, the request sent as pre-serialised bytes and the answer kept as
# bytes, so that each call costs the client as little Python as gRPC allows and the
# measurement is of the server. Protocol on stdin/stdout: request bytes (length-prefixed) in;
# "ready" out after warm-up; then for each line "COUNT" in, that many calls and their
# [start, end] times (JSON; time.perf_counter is CLOCK_MONOTONIC, one clock for all the
# client processes) out; end of input ends the client.
_CLIENT = r"""
import json, struct, sys, time
import grpc
port = int(sys.argv[1])
size = struct.unpack("<I", sys.stdin.buffer.read(4))[0]
request = sys.stdin.buffer.read(size)
channel = grpc.insecure_channel(f"127.0.0.1:{port}")
predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
for _ in range(3):
    predict(request, timeout=120)
print("ready", flush=True)
for line in sys.stdin:
    calls = []
    for _ in range(int(line)):
        start = time.perf_counter()
        predict(request, timeout=120)
        calls.append((start, time.perf_counter()))
    print(json.dumps(calls), flush=True)
"""


def _steady_state(calls: Sequence[Sequence[Sequence[float]]]) -> tuple[float, int]:
    """(seconds, answers) while all clients were sending: from the last client's first
    request to the first client's last answer, so that neither the clients starting nor them
    finishing one by one count. `calls` holds each client's [start, end] times in order."""
    begin = max(client[0][0] for client in calls)
    end = min(client[-1][1] for client in calls)
    if end <= begin:
        # Too few requests for the clients ever to overlap: take the whole span.
        begin = min(client[0][0] for client in calls)
        end = max(client[-1][1] for client in calls)
    return end - begin, sum(begin < finish <= end for client in calls for _, finish in client)


class _Clients:
    """`count` closed-loop client processes on one server, started and warmed up once, then
    set going together as often as asked."""

    def __init__(self, port: int, request: object, count: int) -> None:
        payload = request.SerializeToString()
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-c", _CLIENT, str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=False,
            )
            for _ in range(count)
        ]
        try:
            for process in self._processes:
                process.stdin.write(struct.pack("<I", len(payload)) + payload)
                process.stdin.flush()
            for process in self._processes:
                if process.stdout.readline().strip() != b"ready":
                    raise RuntimeError("A benchmark client failed during warm-up")
        except BaseException:
            self.close()
            raise

    def run(self, per_client: int) -> tuple[list[float], float, int]:
        """Each client sends `per_client` requests. Returns every request's latency and
        `_steady_state` of the calls."""
        for process in self._processes:
            process.stdin.write(f"{per_client}\n".encode())
            process.stdin.flush()
        answers = [process.stdout.readline() for process in self._processes]
        if any(not answer.strip() for answer in answers):
            raise RuntimeError("A benchmark client failed; see its error above")
        calls = [json.loads(answer) for answer in answers]
        latencies = [finish - start for client in calls for start, finish in client]
        return latencies, *_steady_state(calls)

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.kill()
            process.wait()


# Rounds of one client and N clients on every server, alternated, so that all phases see
# the same machine: on this shared VM the in-process p50 moved between 3.3 and 6.1 ms from
# run to run of the same command, and one phase measured after the other caught different
# moments. The client processes start once, so rounds cost only their requests.
_THROUGHPUT_ROUNDS = 4


def _throughput_in_turns(
    ports: dict[str, int],
    request: object,
    clients: int,
    per_client: int,
    batches_run: dict[str, Callable[[], tuple[float, float]]] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """For each server (label: gRPC port), requests per second and latency with one client
    (`4 * per_client` requests) and with `clients` clients (`per_client` each), in rounds
    that alternate the servers and the client counts; each rate is the pooled steady-state
    answers over the pooled steady-state time. For a server in `batches_run` (a reader of
    its batcher's counts), also the mean batch size while the `clients` clients ran."""
    batches_run = batches_run or {}
    counts = {1: max(2, 4 * per_client // _THROUGHPUT_ROUNDS)}
    counts[clients] = max(2, per_client // _THROUGHPUT_ROUNDS)
    pools: dict[tuple[str, int], _Clients] = {}
    pooled = {(label, n): ([], 0.0, 0) for label in ports for n in counts}
    batched = {label: (0.0, 0.0) for label in batches_run}
    try:
        for label, port in ports.items():
            for n in counts:
                pools[label, n] = _Clients(port, request, n)
        labels = list(ports)
        for round_ in range(_THROUGHPUT_ROUNDS):
            shift = round_ % len(labels)
            for label in labels[shift:] + labels[:shift]:
                for n, count in counts.items():
                    counting = label in batches_run and n == clients
                    before = batches_run[label]() if counting else None
                    latencies, seconds, done = pools[label, n].run(count)
                    if before is not None:
                        after = batches_run[label]()
                        batches, events = batched[label]
                        batched[label] = (
                            batches + after[0] - before[0],
                            events + after[1] - before[1],
                        )
                    old = pooled[label, n]
                    pooled[label, n] = (old[0] + latencies, old[1] + seconds, old[2] + done)
    finally:
        for pool in pools.values():
            pool.close()
    report: dict[str, dict[str, dict[str, float]]] = {label: {} for label in ports}
    for (label, n), (latencies, seconds, done) in pooled.items():
        report[label][str(n)] = {"requests_per_s": done / seconds, **_percentiles_ms(latencies)}
    for label, (batches, events) in batched.items():
        # Events per TF call while the N clients ran: what the batcher merged.
        report[label][str(clients)]["mean_batch_size"] = events / max(1.0, batches)
    return report


_METRICS_PATH = "/monitoring/prometheus/metrics"
_BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"


def _batches_run(rest_port: int) -> tuple[float, float]:
    """(batches run, events in them) so far, from the server's Prometheus text."""
    connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=60)
    try:
        connection.request("GET", _METRICS_PATH)
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    totals = {"_count": 0.0, "_sum": 0.0}
    for line in text.splitlines():
        for suffix in totals:
            if line.startswith(_BATCH_SIZE + suffix):
                totals[suffix] += float(line.rsplit(" ", 1)[1])
    return totals["_count"], totals["_sum"]


def _in_process_ceiling(
    servable: object, signature: str, inputs: dict[str, np.ndarray], clients: int, seconds: float
) -> dict[str, float]:
    """What batching can gain at most, measured without any server: events per second with
    `clients` threads each calling the signature on its own events, against one thread
    calling it on all `clients` requests' events at once (what a full batch is)."""
    batched = {a: np.concatenate([v] * clients, axis=0) for a, v in inputs.items()}
    events = clients * next(iter(inputs.values())).shape[0]

    def rate(call: Callable[[], object], threads: int, events_per_call: int) -> float:
        call()
        counts = [0] * threads
        stop = time.perf_counter() + seconds

        def loop(index: int) -> None:
            while time.perf_counter() < stop:
                call()
                counts[index] += 1

        workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return sum(counts) * events_per_call / (time.perf_counter() - start)

    one = rate(lambda: servable.run(signature, inputs), clients, events // clients)
    full = rate(lambda: servable.run(signature, batched), 1, events)
    return {
        "events_per_s_batch_1_concurrent": one,
        "events_per_s_full_batch": full,
        "full_batch_over_batch_1": full / one,
    }


def run_benchmark(
    saved_model: str | None,
    concurrency: int,
    requests: int,
    rows: int,
    signature: str,
    batch_timeout_micros: int,
    num_batch_threads: int,
    ceiling_seconds: float = 5.0,
    tf_threads: tuple[int, int] = (0, 0),
    session_config_file: str = "",
) -> dict:
    """Run every measurement; returns the report as a dict (see `main` for the printout).

    `tf_threads` (intra-op, inter-op; 0 leaves TF's choice) and `session_config_file` (a
    text-format ConfigProto) apply to every server and to this process's in-process calls
    alike, so all sides run TF with the same runtime settings."""
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorflow_serving.apis import predict_pb2

    from serving import _dtypes, tf_runtime
    from serving.servable import Servable

    intra, inter = tf_threads
    session_config = (
        tf_runtime.read_session_config(session_config_file) if session_config_file else None
    )
    tf_runtime.configure(session_config, intra, inter)
    runtime_flags = [
        f"--tensorflow_{kind}_op_parallelism={count}"
        for kind, count in (("intra", intra), ("inter", inter))
        if count
    ]
    if session_config_file:
        # Absolute: the servers run from the repository root.
        session_config_file = os.path.abspath(session_config_file)
        runtime_flags.append(f"--tensorflow_session_config_file={session_config_file}")

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

    max_batch_size = max(concurrency * rows, _largest_warmup_batch(version_dir))
    with tempfile.TemporaryDirectory() as tmp:
        batching_file = os.path.join(tmp, "batching.config")
        with open(batching_file, "w") as f:
            f.write(
                f"max_batch_size {{ value: {max_batch_size} }}\n"
                f"batch_timeout_micros {{ value: {batch_timeout_micros} }}\n"
                f"num_batch_threads {{ value: {num_batch_threads} }}\n"
                f"max_enqueued_batches {{ value: {max(16, concurrency)} }}\n"
            )
        monitoring_file = os.path.join(tmp, "monitoring.config")
        with open(monitoring_file, "w") as f:
            f.write(f'prometheus_config {{ enable: true path: "{_METRICS_PATH}" }}\n')
        # Each waiting request holds a gRPC thread (in the real server too: its default is
        # 4 per core), so with fewer threads than clients a batch could never fill.
        grpc_threads = max(concurrency, 4 * (os.cpu_count() or 1))
        threads = [f"--grpc_max_threads={grpc_threads}", *runtime_flags]
        plain = _ServerProcess(name, base_path, threads)
        minimal = _MinimalGrpcServer(version_dir, signature, tf_threads, session_config_file)
        floor = _MinimalGrpcServer(
            version_dir,
            signature,
            tf_threads,
            session_config_file,
            floor=True,
            max_threads=grpc_threads,
        )
        batched = _ServerProcess(
            name,
            base_path,
            [
                *threads,
                "--enable_batching",
                f"--batching_parameters_file={batching_file}",
                f"--monitoring_config_file={monitoring_file}",
            ],
        )
        try:
            plain.wait_ready()
            batched.wait_ready()
            minimal.wait_ready()
            floor.wait_ready()
            grpc_call, grpc_close = _grpc_predictor(plain.grpc_port, request)
            rest_call, rest_close = _rest_predictor(plain.rest_port, name, body)
            minimal_call, minimal_close = _grpc_predictor(minimal.port, request)
            floor_call, floor_close = _grpc_predictor(floor.port, request)
            times = _timed(
                {
                    "in_process": lambda: servable.run(signature, inputs),
                    "grpc": grpc_call,
                    "rest": rest_call,
                    "grpc_minimal_server": minimal_call,
                    "grpc_floor": floor_call,
                },
                requests,
            )
            for close in (grpc_close, rest_close, minimal_close, floor_close):
                close()
            minimal.stop()
            latency = {key: _percentiles_ms(values) for key, values in times.items()}
            ceiling = _in_process_ceiling(servable, signature, inputs, concurrency, ceiling_seconds)
            throughput = _throughput_in_turns(
                {
                    "no_batching": plain.grpc_port,
                    "batching": batched.grpc_port,
                    "grpc_floor": floor.port,
                },
                request,
                concurrency,
                max(1, requests // 2),
                {"batching": lambda: _batches_run(batched.rest_port)},
            )
        finally:
            plain.stop()
            batched.stop()
            minimal.stop()
            floor.stop()

    base = latency["in_process"]["p50_ms"]
    ratios = {
        "grpc_p50_over_in_process": latency["grpc"]["p50_ms"] / base,
        "rest_p50_over_in_process": latency["rest"]["p50_ms"] / base,
        "grpc_minimal_server_p50_over_in_process": latency["grpc_minimal_server"]["p50_ms"] / base,
        "grpc_floor_p50_over_in_process": latency["grpc_floor"]["p50_ms"] / base,
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
        # None: TF's choice.
        "tensorflow_threads": {"intra_op": intra or None, "inter_op": inter or None},
        "session_config": text_format.MessageToString(session_config, as_one_line=True)
        if session_config is not None
        else None,
        "num_batch_threads": num_batch_threads,
        "latency": latency,
        "ratios": ratios,
        "throughput": throughput,
        "scaling_n_over_1": scaling,
        "in_process_ceiling": ceiling,
        "batching_over_no_batching_at_n": (
            throughput["batching"][n]["requests_per_s"]
            / throughput["no_batching"][n]["requests_per_s"]
        ),
    }


def _print_report(report: dict) -> None:
    n = str(report["concurrency"])
    print(f"model {report['model']}  signature {report['signature']}  inputs {report['inputs']}")
    threads = report["tensorflow_threads"]
    print(
        "TF thread pools, every side: "
        + ", ".join(f"{kind} {threads[kind] or 'TF default'}" for kind in ("intra_op", "inter_op"))
        + f"; batch threads {report['num_batch_threads']}"
        + (f"; session config {{ {report['session_config']} }}" if report["session_config"] else "")
    )
    print("per-event latency, 1 client, sequential, all in turns (ms):")
    for label, key in (
        ("in process", "in_process"),
        ("gRPC", "grpc"),
        ("REST", "rest"),
        ("min. gRPC", "grpc_minimal_server"),
        ("gRPC floor", "grpc_floor"),
    ):
        stats = report["latency"][key]
        ratio = stats["p50_ms"] / report["latency"]["in_process"]["p50_ms"]
        print(
            f"  {label:<11} p50 {stats['p50_ms']:8.3f}  p99 {stats['p99_ms']:8.3f}  "
            f"p50 x{ratio:.2f} in-process"
        )
    print(
        "  (min. gRPC: a minimal grpcio server calling the same signature, written the "
        "obvious way: a peer; gRPC floor: grpcio alone around the same TF call, with no "
        "request or answer conversion)"
    )
    print(f"gRPC throughput (requests/s), 1 client vs {n} clients, steady state:")
    for label in ("no_batching", "batching", "grpc_floor"):
        one, many = report["throughput"][label]["1"], report["throughput"][label][n]
        print(
            f"  {label:<12} 1: {one['requests_per_s']:9.1f}   {n}: {many['requests_per_s']:9.1f}"
            f"   x{report['scaling_n_over_1'][label]:.2f}   p99 at {n}: {many['p99_ms']:.2f} ms"
            + (f"   mean batch {many['mean_batch_size']:.1f}" if "mean_batch_size" in many else "")
        )
    print(
        "  (grpc_floor: grpcio alone around the same TF call, as above: the scaling any Python "
        "gRPC server gets here)"
    )
    print(f"batching / no batching at {n} clients: x{report['batching_over_no_batching_at_n']:.2f}")
    ceiling = report["in_process_ceiling"]
    print(
        f"in process, no server (events/s): {n} threads of one event "
        f"{ceiling['events_per_s_batch_1_concurrent']:.1f}, one batch of {n} "
        f"{ceiling['events_per_s_full_batch']:.1f}: batching can gain at most "
        f"x{ceiling['full_batch_over_batch_1']:.2f}"
    )


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
    parser.add_argument(
        "--num-batch-threads",
        type=int,
        default=None,
        help="Batch threads of the batching server (default: cores / intra-op threads, so "
        "that the batches running at once fill the cores).",
    )
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=5.0,
        help="Seconds for each in-process ceiling measurement (batch 1 vs a full batch).",
    )
    for kind in ("intra", "inter"):
        parser.add_argument(
            f"--{kind}-op-threads",
            type=int,
            default=0,
            help=f"TF {kind}-op threads for the servers (--tensorflow_{kind}_op_parallelism) "
            "and the in-process calls alike (default 0: TF's choice).",
        )
    parser.add_argument(
        "--session-config",
        default="",
        help="Text-format TF ConfigProto for the servers (--tensorflow_session_config_file) "
        "and the in-process calls alike, e.g. serving/deploy/session.config.",
    )
    parser.add_argument("--json", default="", help="Also write the report to this JSON file.")
    args = parser.parse_args(argv)
    if args.intra_op_threads < 0 or args.inter_op_threads < 0:
        parser.error(
            "Expected --intra-op-threads and --inter-op-threads >= 0 (0: TF's choice). "
            f"Received: {args.intra_op_threads}, {args.inter_op_threads}"
        )
    # With TF's own intra-op pool one TF call on a batch already uses every core, and two
    # batch threads each took a batch half as full (mean 8 vs 15 events at 32 clients, 2
    # cores); with one intra-op thread a call uses one core, and one batch thread left the
    # other idle.
    cores = os.cpu_count() or 1
    num_batch_threads = args.num_batch_threads
    if num_batch_threads is None:
        num_batch_threads = max(1, cores // (args.intra_op_threads or cores))
    elif num_batch_threads < 1:
        parser.error(f"Expected --num-batch-threads >= 1. Received: {num_batch_threads}")
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
            num_batch_threads,
            args.ceiling_seconds,
            (args.intra_op_threads, args.inter_op_threads),
            args.session_config,
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
