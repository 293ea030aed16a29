"""Requests run concurrently: no lock around inference, over REST or gRPC; deadlines hold."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving.client import Client
from serving.rest import RestServer

X = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)


@pytest.fixture
def rendezvous(server, monkeypatch):
    """Make version 1 of `multi` wait inside inference until two requests are there at once.

    If the server ran inference under any shared lock, the second request could never enter
    while the first waits, the barrier would time out and both requests would fail.
    """
    servable = server.manager.get("multi", 1)
    barrier = threading.Barrier(2, timeout=20)
    original = servable.run

    def run(*args, **kwargs):
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(servable, "run", run)
    return barrier


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_two_requests_are_inside_inference_at_the_same_time(server, rendezvous, transport):
    port = server.grpc_port if transport == "grpc" else server.rest_port
    with Client(f"{transport}://127.0.0.1:{port}") as client:
        client.metadata("multi", version=1)  # warm the metadata cache outside the barrier
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(client.predict, "multi", {"x": X}, version=1) for _ in range(2)]
            results = [f.result(timeout=60) for f in futures]
    assert not rendezvous.broken
    for result in results:
        np.testing.assert_array_equal(result["total"], [6.0])


def test_rest_timeout_answers_504_at_the_deadline(server, monkeypatch):
    servable = server.manager.get("multi", 2)
    original = servable.run
    delays = [1.0]

    def slow(*args, **kwargs):
        time.sleep(delays.pop(0) if delays else 0.0)
        return original(*args, **kwargs)

    monkeypatch.setattr(servable, "run", slow)
    rest = RestServer(server.manager, port=0, timeout_in_ms=100)
    rest.start()
    body = json.dumps({"instances": X.tolist()}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", rest.port, timeout=30)
    try:
        start = time.monotonic()
        connection.request("POST", "/v1/models/multi:predict", body)
        response = connection.getresponse()
        assert response.status == 504
        assert json.loads(response.read()) == {"error": "Deadline Exceeded"}
        # Answered at the deadline, not when the 1 s inference ended.
        assert time.monotonic() - start < 0.8
        # The connection stays usable: the next request is answered once the late one is done.
        connection.request("POST", "/v1/models/multi:predict", body)
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["predictions"][0]["total"] == 60.0
    finally:
        connection.close()
        rest.stop()


def test_many_concurrent_rest_requests_all_answer_correctly(server, rest_url):
    def one(i: int) -> float:
        body = json.dumps({"instances": [[float(i), 0.0, 0.0]]}).encode()
        request = urllib.request.Request(f"{rest_url}/v1/models/multi:predict", data=body)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["predictions"][0]["total"]

    with ThreadPoolExecutor(16) as pool:
        totals = list(pool.map(one, range(64)))
    assert totals == [10.0 * i for i in range(64)]


def test_at_most_the_inference_slots_run_tf_at_once(server, monkeypatch):
    from serving.server import inference_slots_for

    servable = server.manager.get("multi", 1)
    assert servable.inference_slots is server.inference_slots
    assert inference_slots_for(1) == 2 and inference_slots_for(8) == 16
    function = servable._signatures["serving_default"]
    running, peak, lock = [0], [0], threading.Lock()

    def counted(**tensors):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return function(**tensors)

    monkeypatch.setitem(servable._signatures, "serving_default", counted)
    monkeypatch.setattr(servable, "inference_slots", threading.BoundedSemaphore(2))
    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda _: servable.run("", {"x": X}), range(5)))
    assert peak[0] == 2
    for result in results:
        np.testing.assert_array_equal(result["total"], [6.0])
