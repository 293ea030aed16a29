"""The REST server's own work, on a real socket but with no model loaded (the API's answers
are stood in for where a call must be slow): its limits, which paths it routes where, CORS,
admission of predict calls (503 beyond threads and queue), the deadline (504), gzip, and
shutdown."""

from __future__ import annotations

import contextlib
import gc
import gzip
import http.client
import inspect
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from serving import model_config
from serving._rest_v1 import RestAnswer
from serving.manager import ServableManager
from serving.monitoring import Metrics
from serving.options import ServerOptions
from serving.rest import RestLimits, RestServer
from serving.v2 import V2Api


@pytest.mark.parametrize(
    "name",
    [
        "max_body_bytes",
        "max_connections",
        "idle_timeout_s",
        "write_timeout_s",
        "max_queued_requests",
    ],
)
def test_every_limit_must_be_positive(name):
    for value in (0, -1):
        with pytest.raises(ValueError, match=f"Expected {name} > 0. Received: {name}={value}"):
            RestLimits(**{name: value})
    assert getattr(RestLimits(**{name: 1}), name) == 1


def manager(tmp_path) -> ServableManager:
    return ServableManager(model_config.single_model_config("m", str(tmp_path / "none")))


@pytest.fixture
def serve(tmp_path):
    """Starts a RestServer on a free port with `**kwargs`; stops it after the test."""
    started = []

    def start(**kwargs) -> RestServer:
        server = RestServer(manager(tmp_path), port=0, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def call(server: RestServer, method: str, path: str, body: bytes | None = None, **headers):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class Answers:
    """Stands in for the API's `answer`: records each call and answers after `delay_s`."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[str, str, bytes, bool]] = []
        self.finished = threading.Event()

    def __call__(self, method, path, body, still_wanted=None):
        self.calls.append((method, path, bytes(body), still_wanted is not None and still_wanted()))
        time.sleep(self.delay_s)
        self.finished.set()
        return RestAnswer(200, b'{"ok": 1}', "OK")


def test_construction_refuses_no_threads_and_a_server_never_started_stops_at_once(tmp_path):
    with pytest.raises(ValueError, match="Expected `num_threads` >= 1. Received: num_threads=0"):
        RestServer(manager(tmp_path), port=0, num_threads=0)
    server = RestServer(manager(tmp_path), port=0, num_threads=1)
    port = server.port
    assert port > 0 and server.busy == 0
    assert server.stop() is True
    with pytest.raises(OSError):  # the port is closed, not left listening
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_paths_outside_v1_and_the_routes_are_404_with_a_json_error(serve):
    server = serve()
    status, headers, body = call(server, "GET", "/statuspage")
    assert status == 404 and json.loads(body) == {"error": "Not found: GET /statuspage"}
    assert headers["Content-Type"] == "application/json"
    assert headers["Server"].startswith("pg-model-server")
    assert call(server, "POST", "/v1x", b"{}")[0] == 404
    # /v1 paths go to TF Serving's API (here: a model with no versions).
    status, _, body = call(server, "GET", "/v1/models/m")
    assert status == 404 and "Could not find any versions of model m" in json.loads(body)["error"]
    status, _, body = call(server, "GET", "/V1/models/m")  # the prefix in any case
    assert json.loads(body) == {"error": "Could not find any versions of model m"}


def test_routes_answer_gets_by_exact_path_or_by_prefix_with_the_rest_unquoted(serve):
    seen = []

    def route(rest):
        seen.append(rest)
        return 200, f"rest={rest}".encode(), "text/plain"

    server = serve(routes={"/health": route, "/metrics/": route})
    status, headers, body = call(server, "GET", "/health?probe=1")
    assert (status, body, headers["Content-Type"]) == (200, b"rest=", "text/plain")
    assert call(server, "GET", "/metrics/a%20b")[2] == b"rest=a b"
    assert call(server, "GET", "/metrics/")[2] == b"rest="
    assert call(server, "POST", "/health", b"")[0] == 404  # routes are for GET only
    assert seen == ["", "a b", ""]


def test_cors_headers_and_preflight_need_enable_cors_and_an_origin(serve):
    plain, cors = serve(), serve(enable_cors=True)
    assert "Access-Control-Allow-Origin" not in call(plain, "GET", "/x")[1]
    status, headers, _ = call(cors, "GET", "/x")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "POST, GET"
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"
    path = "/v1/models/m:predict"
    status, _, body = call(cors, "OPTIONS", path, Origin="https://app.example")
    assert (status, body) == (200, b"")
    status, _, body = call(cors, "OPTIONS", path, Origin="file://x")
    assert status == 400
    assert json.loads(body) == {"error": "Origin header is missing in CORS preflight"}


def test_a_predict_body_is_read_whole_and_computed_for_a_waiting_client(serve):
    server = serve()
    answers = Answers()
    server._api.answer = answers
    body = json.dumps({"instances": [[1.0] * 1000]}).encode()
    status, _, payload = call(server, "POST", "/v1/models/m:predict", body)
    assert (status, payload) == (200, b'{"ok": 1}')
    assert answers.calls == [("POST", "/v1/models/m:predict", body, True)]
    assert server.busy == 0


def test_gzip_answers_for_clients_that_accept_them(serve):
    server = serve(routes={"/health": lambda rest: (200, b"ok" * 100, "text/plain")})
    server._api.answer = Answers()
    for method, path in [("GET", "/health"), ("POST", "/v1/models/m:predict")]:
        status, headers, body = call(server, method, path, b"{}", **{"Accept-Encoding": "gzip"})
        assert headers.get("Content-Encoding") == "gzip", path
        assert gzip.decompress(body) in (b"ok" * 100, b'{"ok": 1}')
        status, headers, body = call(server, method, path, b"{}")
        assert "Content-Encoding" not in headers and body in (b"ok" * 100, b'{"ok": 1}')
    status, headers, body = call(server, "GET", "/v1/models/m", **{"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip" and gzip.decompress(body) == b'{"ok": 1}'
    assert "Content-Encoding" not in call(server, "GET", "/v1/models/m")[1]


def test_a_call_past_the_deadline_is_504_and_counted_until_it_ends(serve):
    metrics = Metrics()
    server = serve(timeout_in_ms=200, metrics=metrics)
    answers = Answers(delay_s=1.0)
    server._api.answer = answers
    start = time.monotonic()
    status, _, body = call(server, "POST", "/v1/models/m:predict", b"{}")
    assert (status, json.loads(body)) == (504, {"error": "Deadline Exceeded"})
    assert time.monotonic() - start < 0.9
    labels = {"model_name": "m", "API": "predict", "entrypoint": "REST"}
    labels["status"] = "DEADLINE_EXCEEDED"
    sample = metrics.registry.get_sample_value
    assert sample(":tensorflow:serving:request_count_total", labels) == 1
    assert 0.2e6 <= sample(":tensorflow:serving:request_latency_sum", labels) < 30e6  # µs
    assert server.busy == 1  # its thread still computes
    assert answers.finished.wait(30)
    deadline = time.monotonic() + 30
    while server.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.busy == 0


def test_no_deadline_when_the_timeout_is_zero(serve):
    server = serve(timeout_in_ms=0)
    server._api.answer = Answers(delay_s=0.3)
    assert call(server, "POST", "/v1/models/m:predict", b"{}")[0] == 200


def test_calls_beyond_the_threads_and_the_queue_are_503_at_once(serve):
    metrics = Metrics()
    server = serve(num_threads=1, limits=RestLimits(max_queued_requests=1), metrics=metrics)
    release = threading.Event()

    def held(method, path, body, still_wanted=None):
        assert release.wait(30)
        return RestAnswer(200, b"{}", "OK")

    server._api.answer = held
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(call(server, "POST", "/v1/models/m:predict"))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while server.busy < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    status, _, body = call(server, "POST", "/v1/models/m:predict", b"{}")
    release.set()
    for thread in threads:
        thread.join(30)
    assert status == 503
    assert json.loads(body)["error"].startswith("Server is at capacity: 2 REST predict calls")
    assert sorted(r[0] for r in results) == [200, 200]
    assert server.busy == 0
    # The refused call is counted as TF Serving counts it, with the moment it took.
    labels = {"model_name": "m", "API": "predict", "entrypoint": "REST", "status": "UNAVAILABLE"}
    sample = metrics.registry.get_sample_value
    assert sample(":tensorflow:serving:request_count_total", labels) == 1
    assert 0 <= sample(":tensorflow:serving:request_latency_sum", labels) < 30e6  # µs


def test_verbose_logs_each_answer(serve, capfd):
    server = serve(verbose=True)
    call(server, "GET", "/nowhere")
    err, deadline = "", time.monotonic() + 30
    while "GET /nowhere 404" not in err and time.monotonic() < deadline:
        time.sleep(0.01)
        err += capfd.readouterr().err
    assert "GET /nowhere 404" in err


def _hold_answers(server: RestServer) -> threading.Event:
    """Makes every call on `server` compute until the returned event is set (at most 60 s)."""
    release = threading.Event()

    def held(method, path, body, still_wanted=None):
        release.wait(60)
        return RestAnswer(200, b"{}", "OK")

    server._api.answer = held
    return release


def test_stop_reports_whether_a_call_was_left_running(tmp_path):
    server = RestServer(manager(tmp_path), port=0, timeout_in_ms=0)
    server.start()
    release = _hold_answers(server)

    def predict():
        with contextlib.suppress(http.client.HTTPException, OSError):  # cut off by the stop
            call(server, "POST", "/v1/models/m:predict")

    client = threading.Thread(target=predict)
    client.start()
    deadline = time.monotonic() + 30
    while server.busy == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stop(grace_s=0.1) is False
    release.set()
    client.join(30)
    idle = RestServer(manager(tmp_path), port=0)
    idle.start()
    assert idle.stop(grace_s=0.1) is True


def test_a_server_made_without_arguments_has_the_command_lines_defaults():
    """Embedding the server in Python gives what `pg-model-server` gives without flags, and
    TF Serving's documented defaults where it has the flag (REST on 8501, a 30 s deadline, no
    CORS, no method-name check)."""
    flags = ServerOptions()
    assert RestLimits() == RestLimits(
        max_body_bytes=flags.pg_rest_max_body_bytes,
        max_connections=flags.pg_rest_max_connections,
        idle_timeout_s=flags.pg_rest_idle_timeout_seconds,
        write_timeout_s=flags.pg_rest_write_timeout_seconds,
        max_queued_requests=flags.pg_max_queued_requests,
    )
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(RestServer).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    assert defaults["port"] == flags.rest_api_port == 8501
    assert defaults["timeout_in_ms"] == flags.rest_api_timeout_in_ms == 30000
    assert defaults["enable_cors"] is flags.rest_api_enable_cors_support is False
    assert defaults["check_method_name"] is flags.enable_signature_method_name_check is False
    assert defaults["num_threads"] == flags.rest_api_num_threads
    assert (defaults["host"], defaults["verbose"]) == (flags.bind_address, flags.verbose)


@pytest.mark.parametrize(("timeout_in_ms", "delay_s"), [(1, 0.5), (1000, 3.0)])
def test_the_deadline_is_timeout_in_ms_milliseconds_from_one_up(serve, timeout_in_ms, delay_s):
    server = serve(timeout_in_ms=timeout_in_ms)
    server._api.answer = Answers(delay_s=delay_s)
    start = time.monotonic()
    status, _, body = call(server, "POST", "/v1/models/m:predict", b"{}")
    # 1 ms may already pass while the body is read (400, "not received within"), under load
    deadlines = {504: "Deadline Exceeded", 400: "Request body not received within 0.001 s"}
    assert json.loads(body)["error"].startswith(deadlines[status])
    assert time.monotonic() - start >= timeout_in_ms / 1000.0  # never before it


def test_the_open_inference_protocol_is_served_only_when_given(serve, tmp_path):
    assert call(serve(), "GET", "/v2/health/live")[0] == 404
    with_v2 = serve(v2=V2Api(manager(tmp_path)))
    assert call(with_v2, "GET", "/v2/health/live")[0] == 200


def test_an_ipv6_host_is_served(tmp_path):
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server = RestServer(manager(tmp_path), host="::1", port=0)
    server.start()
    try:
        connection = http.client.HTTPConnection("::1", server.port, timeout=30)
        connection.request("GET", "/v1/models/m")
        assert connection.getresponse().status == 404  # the API's answer: no versions
        connection.close()
    finally:
        server.stop()


def test_a_second_server_on_a_port_in_use_is_refused(tmp_path):
    """As TF Serving's bind: two servers never share a port (and its requests) silently."""
    first = RestServer(manager(tmp_path), port=0)
    try:
        with pytest.raises(OSError):
            RestServer(manager(tmp_path), port=first.port).stop()
    finally:
        first.stop()


def test_a_program_that_never_stops_its_server_still_exits(tmp_path):
    """A script or notebook that returns without `stop()` ends, rather than hanging at exit
    on the server's event-loop thread."""
    program = (
        "from serving import model_config\n"
        "from serving.manager import ServableManager\n"
        "from serving.rest import RestServer\n"
        f"config = model_config.single_model_config('m', {str(tmp_path / 'none')!r})\n"
        "RestServer(ServableManager(config), port=0).start()\n"
        "print('started', flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "started\n"), done.stderr[-2000:]


def test_a_server_stopped_as_soon_as_started_stops_cleanly(tmp_path, monkeypatch):
    """`start()` returns once the server serves, so a `stop()` right after it finds the loop
    to stop: it answers True, closes the port, and no thread fails behind the caller's back."""
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    for _ in range(10):
        server = RestServer(manager(tmp_path), port=0)
        server.start()
        port = server.port
        assert server.stop() is True
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert failures == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_a_stopped_server_holds_no_file_descriptors(tmp_path):
    """A process that starts and stops servers (tests, reloads) and keeps the objects does not
    run out of descriptors: a stopped server's socket and event loop are closed."""
    servers = [RestServer(manager(tmp_path), port=0) for _ in range(5)]

    def open_descriptors():
        gc.collect()  # earlier tests' garbage closing its sockets must not count here
        return len(os.listdir("/proc/self/fd"))

    before = open_descriptors()
    for server in servers:
        server.start()
        assert server.stop() is True
    assert open_descriptors() <= before - len(servers)  # their sockets too


def test_stop_without_a_grace_cuts_a_running_call_off_at_once(tmp_path):
    """`stop()`'s default grace is none: it returns at once, False while a call still computes,
    and that call's client sees its connection closed rather than waiting on it."""
    server = RestServer(manager(tmp_path), port=0, timeout_in_ms=0)
    server.start()
    release = _hold_answers(server)
    outcome = []

    def predict():
        try:
            outcome.append(call(server, "POST", "/v1/models/m:predict")[0])
        except (http.client.HTTPException, OSError) as error:
            outcome.append(type(error).__name__)

    client = threading.Thread(target=predict)
    client.start()
    deadline = time.monotonic() + 30
    while server.busy == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        start = time.monotonic()
        assert server.stop() is False
        assert time.monotonic() - start < 1.0
        client.join(20)  # well before the call's own 60 s
        assert outcome and outcome[0] != 200
    finally:
        release.set()
        client.join(30)


def _held_calls(server: RestServer, count: int):
    """`count` predict calls that compute until the returned event is set; their statuses (or
    the error that ended them) go to the returned list, their threads to the third value."""
    release, outcomes = threading.Event(), []

    def held(method, path, body, still_wanted=None):
        outcomes.append(f"computed {body.decode()}")
        release.wait(60)
        return RestAnswer(200, b"{}", "OK")

    server._api.answer = held

    def predict(number):
        try:
            outcomes.append(call(server, "POST", "/v1/models/m:predict", str(number).encode())[0])
        except (http.client.HTTPException, OSError) as error:
            outcomes.append(type(error).__name__)

    clients = [threading.Thread(target=predict, args=(n,)) for n in range(count)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 30
    while server.busy < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return release, outcomes, clients


def test_stop_lets_a_call_end_within_its_grace(tmp_path):
    server = RestServer(manager(tmp_path), port=0, timeout_in_ms=0)
    server.start()
    release, outcomes, clients = _held_calls(server, 1)
    threading.Timer(0.3, release.set).start()
    assert server.stop(grace_s=30) is True
    clients[0].join(30)
    assert outcomes == ["computed 0", 200]


def test_stop_drops_queued_calls_and_leaves_no_compute_thread(tmp_path):
    """With one compute thread busy, a queued call is never computed once the server stops,
    and the compute threads end: a stopped server leaves no thread behind."""
    # Threads by identity, not a count: one left by an earlier test may end meanwhile.
    before = set(threading.enumerate())
    server = RestServer(manager(tmp_path), port=0, num_threads=1, timeout_in_ms=0)
    server.start()
    release, outcomes, clients = _held_calls(server, 2)
    deadline = time.monotonic() + 30  # the second call waits in the compute queue
    while server._pool._work_queue.qsize() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert server.stop() is False
    finally:
        release.set()
    for client in clients:
        client.join(30)
    deadline = time.monotonic() + 10
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len([o for o in outcomes if str(o).startswith("computed")]) == 1
    assert not set(threading.enumerate()) - before


def test_v2_inference_is_computed_on_a_slot_and_everything_else_on_the_loop(serve, tmp_path):
    """Open Inference Protocol calls: POST .../infer reads its body and computes on a compute
    slot (so the deadline and admission apply), other paths are answered at once without a
    body; OPTIONS is the CORS preflight."""
    server = serve(v2=V2Api(manager(tmp_path)), timeout_in_ms=200)
    seen = []

    def answer(method, path, headers, body, still_wanted=None):
        seen.append((method, path, bytes(body), still_wanted is not None))
        if path.endswith("/infer"):
            time.sleep(1.0)
        return RestAnswer(200, b'{"ok": 1}', "OK")

    server._v2.answer = answer
    assert call(server, "GET", "/v2/health/ready")[0] == 200
    assert call(server, "POST", "/v2/health/live", b"ignored")[0] == 200
    assert call(server, "GET", "/v2/models/m/infer")[0] == 200
    status, _, body = call(server, "POST", "/v2/models/m/infer", b'{"inputs": []}')
    assert (status, json.loads(body)) == (504, {"error": "Deadline Exceeded"})
    assert seen == [
        ("GET", "/v2/health/ready", b"", False),
        ("POST", "/v2/health/live", b"", False),
        ("GET", "/v2/models/m/infer", b"", False),
        ("POST", "/v2/models/m/infer", b'{"inputs": []}', True),
    ]
    status, _, body = call(server, "OPTIONS", "/v2/models/m/infer", Origin="https://a.example")
    assert (status, body) == (200, b"")


def test_a_refused_body_frees_its_place(serve):
    """A predict call whose body is refused (413) before it computes no longer counts against
    the threads and the queue."""
    server = serve(num_threads=1, limits=RestLimits(max_body_bytes=10, max_queued_requests=1))
    server._api.answer = Answers()
    for _ in range(3):
        assert call(server, "POST", "/v1/models/m:predict", b"[" * 100)[0] == 413
    assert server.busy == 0
    assert call(server, "POST", "/v1/models/m:predict", b"{}")[0] == 200


def test_answers_keep_the_connection_open_for_the_next_request(serve):
    """HTTP/1.1 keep-alive, as TF Serving: a client reuses one connection for its calls."""
    server = serve()
    server._api.answer = Answers()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for method, path in [("GET", "/v1/models/m"), ("POST", "/v1/models/m:predict")] * 2:
            connection.request(method, path, b"{}")
            response = connection.getresponse()
            response.read()
            assert not response.will_close, (method, path)
    finally:
        connection.close()
