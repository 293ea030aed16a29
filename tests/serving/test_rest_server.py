"""The REST server's own work, on a real socket but with no model loaded (the API's answers
are stood in for where a call must be slow): its limits, which paths it routes where, CORS,
admission of predict calls (503 beyond threads and queue), the deadline (504), gzip, and
shutdown."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import threading
import time

import pytest

from serving import model_config
from serving._rest_v1 import RestAnswer
from serving.manager import ServableManager
from serving.rest import RestLimits, RestServer


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
    assert server.port > 0 and server.busy == 0
    assert server.stop() is True


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
    server = serve(timeout_in_ms=200)
    answers = Answers(delay_s=1.0)
    server._api.answer = answers
    start = time.monotonic()
    status, _, body = call(server, "POST", "/v1/models/m:predict", b"{}")
    assert (status, json.loads(body)) == (504, {"error": "Deadline Exceeded"})
    assert time.monotonic() - start < 0.9
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
    server = serve(num_threads=1, limits=RestLimits(max_queued_requests=1))
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


def test_verbose_logs_each_answer(serve, capfd):
    server = serve(verbose=True)
    call(server, "GET", "/nowhere")
    err, deadline = "", time.monotonic() + 30
    while "GET /nowhere 404" not in err and time.monotonic() < deadline:
        time.sleep(0.01)
        err += capfd.readouterr().err
    assert "GET /nowhere 404" in err


def test_stop_reports_whether_a_call_was_left_running(tmp_path):
    server = RestServer(manager(tmp_path), port=0, timeout_in_ms=0)
    server.start()
    release = threading.Event()

    def held(method, path, body, still_wanted=None):
        release.wait(30)
        return RestAnswer(200, b"{}", "OK")

    server._api.answer = held

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
