"""The server under abuse (issue 19): no request can stall others, nothing loaded is lost, every
bad input gets a clear answer. One test (or a few) per finding; `docs/serving.md` has the table.

The server here runs with tiny limits (an 8 KiB body limit, 8 connections, 1 s timeouts, 2
threads per API) so that each case is shown with a few small requests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
from serving_models import export_abuse_model, free_port

tf = pytest.importorskip("tensorflow")
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import _tensor_proto, model_config  # noqa: E402
from serving.manager import ServableManager  # noqa: E402
from serving.options import ServerOptions  # noqa: E402
from serving.server import ModelServer  # noqa: E402

X = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
BODY_LIMIT = 8192
MAX_CONNECTIONS = 8
IDLE_S = 1.0
THREADS = 2
QUEUED = 2
COST = 50
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def abuse_options(**kwargs) -> ServerOptions:
    """The module server's options: tiny limits, so that each abuse takes a few requests."""
    limits = dict(
        pg_rest_max_body_bytes=BODY_LIMIT,
        pg_rest_max_connections=MAX_CONNECTIONS,
        pg_rest_idle_timeout_seconds=IDLE_S,
        pg_rest_write_timeout_seconds=1.0,
        pg_max_queued_requests=QUEUED,
        pg_max_request_cost=COST,
        pg_max_input_bytes=64 * 1024,
    )
    return ServerOptions(**kwargs, **limits)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("abuse")
    export_abuse_model(str(root / "abuse" / "1"))
    return str(root)


@pytest.fixture(scope="module")
def served(model_dir):
    folder = os.path.join(model_dir, "config")
    os.makedirs(folder)
    with open(os.path.join(folder, "monitoring.config"), "w") as f:
        f.write('prometheus_config { enable: true path: "/metrics" }\n')
    config = os.path.join(folder, "models.config")
    with open(config, "w") as f:
        f.write(
            f'model_config_list {{ config {{ name: "abuse" base_path: "{model_dir}/abuse" }} }}'
        )
    server = ModelServer(
        abuse_options(
            port=0,
            rest_api_port=free_port(),
            model_config_file=config,
            rest_api_num_threads=THREADS,
            grpc_max_threads=THREADS,
            monitoring_config_file=os.path.join(folder, "monitoring.config"),
            enable_grpc_healthcheck_service=True,
            file_system_poll_wait_seconds=0,
        )
    )
    server.start()
    yield server
    server.stop(0.5)


@pytest.fixture
def blocked(served, monkeypatch):
    """Predict calls on `abuse` wait inside the model until `release` is set."""
    servable = served.manager.get("abuse")
    original = servable.run
    release, entered = threading.Event(), []

    def run(*args, **kwargs):
        entered.append(1)
        release.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(servable, "run", run)
    yield release, entered
    release.set()


# ---- helpers ---------------------------------------------------------------------------------


def rest(server, path: str, body: object | None = None, timeout: float = 10.0):
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def rest_json(server, path: str, body: object | None = None, timeout: float = 10.0):
    status, payload, headers = rest(server, path, body, timeout)
    assert headers["Content-Type"] == "application/json", payload
    return status, json.loads(payload)


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server sends until it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_until_closed(sock, timeout)


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            chunks.append(b"<reset>")
            break
        if not chunk:
            chunks.append(b"<closed>")
            break
        chunks.append(chunk)
    return b"".join(chunks)


def cut_short(received: bytes) -> bool:
    """Whether `received` (from `read_until_closed`) ended before its answer's body did."""
    answer = received.removesuffix(b"<closed>").removesuffix(b"<reset>")
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return True
    _, headers, _ = response_parts(head + separator)
    return len(body) < int(headers["Content-Length"])


def response_parts(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int(headers.get("Content-Length", len(body)))
    return int(lines[0].split()[1]), headers, body[:length]


def predict_request(alias_arrays: dict, signature: str = "") -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "abuse"
    request.model_spec.signature_name = signature
    for alias, array in alias_arrays.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(array))
    return request


@pytest.fixture
def prediction(served):
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel), channel


def health_status(channel, service: str = "") -> int:
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=HealthCheckRequest.SerializeToString,
        response_deserializer=HealthCheckResponse.FromString,
    )
    return check(HealthCheckRequest(service=service), timeout=2).status


SERVING = HealthCheckResponse.ServingStatus.Value("SERVING")
NOT_SERVING = HealthCheckResponse.ServingStatus.Value("NOT_SERVING")


# ---- 1: answers are written outside the compute slots, under a write timeout -----------------


def test_clients_that_never_read_their_answers_stall_no_one(served):
    request = json.dumps({"signature_name": "wide", "inputs": X.tolist()}).encode()
    head = (
        f"POST /v1/models/abuse:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(request)}"
        "\r\n\r\n"
    ).encode()
    stuck = []
    for _ in range(THREADS + 1):  # more than the REST threads
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", served.rest_port))
        sock.sendall(head + request)  # ... and never read the ~3 MB answer
        stuck.append(sock)
    try:
        time.sleep(0.5)
        # Answered (before this change it waited as long as the stuck clients did: forever).
        status, doc = rest_json(served, "/v1/models/abuse:predict", {"inputs": X.tolist()}, 10)
        assert status == 200 and doc == {"outputs": [[2.0, 4.0, 6.0]]}
        # The write timeout (1 s) cuts off the connections whose answers were not taken: read
        # after it, each has less than its answer, then the end. (Read within the timeout, the
        # whole answer would come, and the idle timeout would close the connection after it.)
        time.sleep(1.5)
        for sock in stuck:
            received = read_until_closed(sock, 10.0)
            assert received.endswith((b"<closed>", b"<reset>")), len(received)
            assert cut_short(received), len(received)
    finally:
        for sock in stuck:
            sock.close()


# ---- 2: cost budget, bounded queues, health off the work path --------------------------------


def test_a_request_over_the_cost_budget_is_refused_before_it_runs(served, prediction):
    stub, _ = prediction
    iterations = np.array([COST + 1], np.int32)  # one event, more iterations than the budget
    request = predict_request({"x": X, "iterations": iterations}, "refine")
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "1 events x 51 iterations = 51" in info.value.details()
    assert "--pg_max_request_cost" in info.value.details()
    body = {"signature_name": "refine", "inputs": {"x": X.tolist() * 2, "iterations": [30, 30]}}
    status, doc = rest_json(served, "/v1/models/abuse:predict", body)
    assert status == 429 and "2 events x 30 iterations = 60" in doc["error"]
    # Within the budget it runs.
    body["inputs"]["iterations"] = [25, 20]
    assert rest_json(served, "/v1/models/abuse:predict", body)[0] == 200


def test_a_flood_of_grpc_calls_is_refused_and_health_still_answers(served, prediction, blocked):
    stub, channel = prediction
    release, entered = blocked
    request = predict_request({"x": X})
    with ThreadPoolExecutor(THREADS) as pool:
        running = [pool.submit(stub.Predict, request, timeout=30) for _ in range(THREADS)]
        deadline = time.monotonic() + 10
        while len(entered) < THREADS and time.monotonic() < deadline:
            time.sleep(0.02)
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "gRPC predict calls" in info.value.details()
        # Health and status are answered at once, off the model's threads.
        assert health_status(channel) == SERVING
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "abuse"}), timeout=2
        )
        assert status.model_version_status[0].version == 1
        assert time.monotonic() - start < 3.0
        release.set()
        assert all(f.result(timeout=30).model_spec.name == "abuse" for f in running)


def test_rest_calls_beyond_threads_and_queue_get_503_and_ready_says_so(served, blocked):
    release, _ = blocked
    body = {"inputs": X.tolist()}
    with ThreadPoolExecutor(THREADS + QUEUED) as pool:
        inside = [
            pool.submit(rest_json, served, "/v1/models/abuse:predict", body, 30)
            for _ in range(THREADS + QUEUED)
        ]
        deadline = time.monotonic() + 10
        while not served._rest.gate.full and time.monotonic() < deadline:
            time.sleep(0.02)
        start = time.monotonic()
        status, doc = rest_json(served, "/v1/models/abuse:predict", body, 5)
        assert status == 503 and "REST predict calls" in doc["error"]
        # Readiness tells the truth: this server cannot take another call now (7).
        status, doc = rest_json(served, "/ready", None, 5)
        assert status == 503 and "at capacity" in doc["error"]
        assert time.monotonic() - start < 2.0
        release.set()
        assert all(f.result(timeout=30)[0] == 200 for f in inside)
    assert rest_json(served, "/ready")[0] == 200


def test_a_call_whose_client_left_while_it_waited_does_not_run(served):
    servable = served.manager.get("abuse")
    calls = []
    function = servable._signatures["serving_default"]
    servable._signatures["serving_default"] = lambda **t: calls.append(1) or function(**t)
    try:
        with pytest.raises(Exception, match="went away") as info:
            servable.run("", {"x": X}, still_wanted=lambda: False)
        assert getattr(info.value, "code", "") == "CANCELLED"
        assert calls == []
    finally:
        servable._signatures["serving_default"] = function


# ---- 3: a base path that cannot be listed keeps what is loaded -------------------------------


def test_a_base_path_that_cannot_be_listed_keeps_its_versions(
    model_dir, tmp_path, monkeypatch, capsys
):
    base = tmp_path / "abuse"
    shutil.copytree(f"{model_dir}/abuse", base)
    manager = ServableManager(model_config.single_model_config("abuse", str(base)))
    manager.load()
    assert manager.get("abuse").version == 1
    # Out of file descriptors while listing, then the folder briefly gone.
    real_scandir = os.scandir

    def emfile(path):
        raise OSError(24, "Too many open files", str(path))

    monkeypatch.setattr(os, "scandir", emfile)
    manager.poll()
    assert manager.get("abuse").version == 1
    monkeypatch.setattr(os, "scandir", real_scandir)
    os.rename(base, tmp_path / "moved")
    manager.poll()
    assert manager.get("abuse").version == 1
    assert [s.state for s in manager.version_states("abuse")] == ["AVAILABLE"]
    log = capsys.readouterr().err
    assert "Too many open files" in log and "retrying at the next poll" in log
    os.rename(tmp_path / "moved", base)
    manager.poll()
    assert manager.get("abuse").version == 1


# ---- 4: REST body limit ----------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(served):
    raw = exchange(
        served.rest_port,
        b"POST /v1/models/abuse:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n"
        b"\r\n",
    )
    status, headers, body = response_parts(raw)
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert "at most 8192 bytes" in json.loads(body)["error"]
    assert "Content-Length 1000000000000" in json.loads(body)["error"]
    assert raw.endswith((b"<closed>", b"<reset>"))


def test_a_chunked_body_is_read_only_up_to_the_limit(served):
    chunk = b"[" * 1000
    raw = exchange(
        served.rest_port,
        b"POST /v1/models/abuse:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"3e8\r\n" + chunk + b"\r\n" for _ in range(10)),
    )
    status, _, body = response_parts(raw)
    assert status == 413 and "more than 8192" in json.loads(body)["error"]
    # A chunk that says it holds 280 TB: refused once the limit is read, nothing allocated.
    raw = exchange(
        served.rest_port,
        b"POST /v1/models/abuse:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"ffffffffffff\r\n" + b"1" * (BODY_LIMIT + 10),
    )
    assert response_parts(raw)[0] == 413
    status, _ = rest_json(served, "/v1/models/abuse:predict", {"inputs": X.tolist()})
    assert status == 200


# ---- 5: connection cap and idle timeout ------------------------------------------------------


def test_connections_are_capped_and_idle_ones_closed(served):
    status_request = b"GET /v1/models/abuse HTTP/1.1\r\nHost: x\r\n\r\n"
    held = [
        socket.create_connection(("127.0.0.1", served.rest_port)) for _ in range(MAX_CONNECTIONS)
    ]
    try:
        time.sleep(0.2)
        raw = exchange(served.rest_port, status_request, timeout=5)
        status, _, body = response_parts(raw)
        assert status == 503 and "--pg_rest_max_connections" in json.loads(body)["error"]
        # The idle timeout (1 s) closes connections that send nothing ...
        for sock in held:
            assert read_until_closed(sock, 5.0).endswith((b"<closed>", b"<reset>"))
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    # ... and the port serves again.
    assert response_parts(exchange(served.rest_port, status_request, timeout=2))[0] == 200


def test_the_connection_cap_fits_under_the_file_limit(monkeypatch, capsys):
    from serving import _http_connections as connections

    monkeypatch.setattr(connections.resource, "getrlimit", lambda _: (200, 4096))
    assert connections.connection_cap(1024) == 200 - connections._RESERVED_FDS
    assert "ulimit -n" in capsys.readouterr().err
    assert connections.connection_cap(50) == 50


# ---- 6: shutdown is bounded ------------------------------------------------------------------


def test_sigterm_closes_idle_connections_at_once_and_exits_by_the_drain_time(model_dir):
    rest_port, grpc_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         "--model_name=abuse", f"--model_base_path={model_dir}/abuse", "--pg_drain_seconds=2",
         "--pg_max_request_cost=100000000"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for line in process.stderr:
            if "Exporting HTTP/REST API" in line:
                break
        else:
            pytest.fail(f"server did not start: exit {process.wait()}")
        threading.Thread(target=lambda: [_ for _ in process.stderr], daemon=True).start()
        idle = socket.create_connection(("127.0.0.1", rest_port))
        idle.sendall(b"GET /v1/models/abuse HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.settimeout(10)
        answer = b""
        while b"AVAILABLE" not in answer:
            answer += idle.recv(65536)
        # A TF call far longer than the drain time (minutes of 64x64 products).
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_request({"x": X, "iterations": np.array([50_000_000], np.int32)})
            request.model_spec.signature_name = "refine"
            future = stub.Predict.future(request, timeout=60)
            time.sleep(1.0)
            start = time.monotonic()
            process.send_signal(signal.SIGTERM)
            # The idle keep-alive connection is closed at once, not at the end of the drain.
            assert read_until_closed(idle, 1.5).endswith((b"<closed>", b"<reset>"))
            assert time.monotonic() - start < 1.5
            code = process.wait(timeout=15)
            assert time.monotonic() - start < 2 + 3.0
            assert code == 1  # it left a TF call behind, and says so
            with contextlib.suppress(grpc.RpcError):
                future.result(timeout=5)
        idle.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ---- 7: readiness and health say what the server can serve -----------------------------------


def test_readiness_and_health_turn_unready_when_a_reload_leaves_no_model(served):
    assert rest_json(served, "/ready")[0] == 200
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        original = served.manager.config()
        empty = model_management_pb2.ReloadConfigRequest()
        empty.config.model_config_list.SetInParent()
        stub.HandleReloadConfigRequest(empty, timeout=60)
        try:
            status, doc = rest_json(served, "/ready")
            assert status == 503 and doc == {"error": "No model is configured"}
            assert health_status(channel) == NOT_SERVING
            assert health_status(channel, "tensorflow.serving.ModelService") == SERVING
        finally:
            back = model_management_pb2.ReloadConfigRequest()
            back.config.CopyFrom(original)
            stub.HandleReloadConfigRequest(back, timeout=60)
        assert rest_json(served, "/ready")[0] == 200
        assert health_status(channel) == SERVING


# ---- 8: Prometheus labels only for configured models -----------------------------------------


def test_unconfigured_model_names_share_one_metrics_label(served):
    names = [f"random-{i}-{os.urandom(4).hex()}" for i in range(40)]
    for name in names:
        assert rest(served, f"/v1/models/{name}:predict", {"inputs": X.tolist()})[0] == 404
    status, page, _ = rest(served, "/metrics")
    assert status == 200
    text = page.decode()
    assert not any(name in text for name in names)
    line = next(
        line
        for line in text.splitlines()
        if line.startswith(":tensorflow:serving:request_count_total{")
        and 'model_name="__unconfigured__"' in line
        and 'status="NOT_FOUND"' in line
    )
    assert float(line.split()[-1]) >= len(names)


# ---- 9: two Content-Length headers -----------------------------------------------------------


def test_two_content_lengths_are_400_and_close_so_nothing_is_smuggled(served):
    smuggled = b"GET /v1/models/abuse HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b'{"a": 1}' + smuggled
    raw = exchange(
        served.rest_port,
        b"POST /v1/models/abuse:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    assert raw.count(b"HTTP/1.") == 1, raw
    status, headers, payload = response_parts(raw)
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert "Content-Length" in json.loads(payload)["error"]
    assert raw.endswith((b"<closed>", b"<reset>"))


# ---- 10: client errors are 4xx / INVALID_ARGUMENT with a JSON body ---------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"inputs": ' + b"[" * 1100 + b"]" * 1100 + b"}", "nested too deeply"),
        (b'{"inputs": [[' + b"7" * 4400 + b", 1, 2]]}", "more than 4300 digits"),
        (b'{"inputs": [[1e400, 1, 2]]}', "Number too big to be stored in double"),
        (b'{"inputs": ' + b"[" * 70 + b"1" + b"]" * 70 + b"}", "rank at most 64"),
    ],
    ids=["nesting", "long-integer", "1e400", "rank-70"],
)
def test_bad_json_is_a_400_with_a_json_error(served, body, message):
    assert len(body) < BODY_LIMIT
    status, doc = rest_json(served, "/v1/models/abuse:predict", body)
    assert status == 400 and message in doc["error"], doc


def test_bad_tensor_protos_are_invalid_argument(prediction):
    stub, _ = prediction
    ragged = predict_request({"x": X})
    ragged.inputs["x"].tensor_content = ragged.inputs["x"].tensor_content[:-1]
    deep = predict_request({"x": X})
    for _ in range(70):
        deep.inputs["x"].tensor_shape.dim.add().size = 1
    for request, message in ((ragged, "11 bytes"), (deep, "rank at most 64")):
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in info.value.details()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /v1/models/abuse HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
    ],
    ids=["request-line", "outside-v1", "header"],
)
def test_http_errors_have_json_bodies(served, raw, status):
    got, headers, body = response_parts(exchange(served.rest_port, raw))
    assert got == status
    assert headers["Content-Type"] == "application/json"
    assert set(json.loads(body)) == {"error"}


# ---- 11: shapes and sizes checked against the signature before anything is built -------------


def test_a_shape_the_signature_does_not_take_is_refused(served, prediction):
    status, doc = rest_json(served, "/v1/models/abuse:predict", {"inputs": [[[[1.0, 2.0, 3.0]]]]})
    assert status == 400
    assert doc["error"] == (
        "Expected input x of shape [-1,3] (-1: any size), as the signature declares. "
        "Received: shape [1,1,1,3]"
    )
    stub, _ = prediction
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(predict_request({"x": X.reshape(1, 1, 3)}), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Received: shape [1,1,3]" in info.value.details()


def test_a_tiny_request_declaring_a_large_tensor_is_refused_before_it_is_filled(
    prediction, monkeypatch
):
    stub, _ = prediction
    decoded = []
    original = _tensor_proto.from_tensor_proto
    monkeypatch.setattr(
        _tensor_proto, "from_tensor_proto", lambda p: decoded.append(1) or original(p)
    )
    request = predict_request({"x": X})
    proto = request.inputs["x"]
    proto.ClearField("tensor_content")
    proto.float_val.append(1.0)
    proto.tensor_shape.dim[0].size = 100_000  # 1.2 MB from a few bytes; the limit is 64 KiB
    assert request.ByteSize() < 64
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "x: [100000,3], 1200000 bytes" in info.value.details()
    assert decoded == []


# ---- 12: no software versions, paths or Python text for clients ------------------------------


def test_answers_name_no_python_paths_or_exceptions(served, monkeypatch, tmp_path):
    status, _, headers = rest(served, "/v1/models/abuse")
    assert status == 200 and "Python" not in headers.get("Server", "")
    servable = served.manager.get("abuse")

    def broken(*args, **kwargs):
        raise RuntimeError(f"secret detail in {tmp_path}")

    monkeypatch.setattr(servable, "run", broken)
    status, payload, _ = rest(served, "/v1/models/abuse:predict", {"inputs": X.tolist()})
    assert status == 500
    assert json.loads(payload) == {"error": "Internal error while answering the request"}
    # A version that fails to load reports why, without where the server keeps its files.
    base = tmp_path / "m"
    (base / "1").mkdir(parents=True)
    manager = ServableManager(model_config.single_model_config("m", str(base)))
    manager.poll()
    (row,) = manager.version_states("m")
    assert row.state == "END" and "Could not find SavedModel .pb" in row.error_message
    assert str(tmp_path) not in row.error_message
    assert "<base path of m>/1" in row.error_message


def test_keep_alive_serves_several_calls_on_one_connection(served):
    # Keep-alive still works for well-behaved clients (one connection, several calls).
    connection = http.client.HTTPConnection("127.0.0.1", served.rest_port, timeout=10)
    try:
        for _ in range(3):
            connection.request(
                "POST", "/v1/models/abuse:predict", json.dumps({"inputs": X.tolist()})
            )
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["outputs"]
    finally:
        connection.close()
