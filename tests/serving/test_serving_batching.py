"""Request batching: the scheduler alone (no TensorFlow), then through a real server."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from serving_models import free_port, keras_reference

from serving.batching import BatchingOptions, BatchScheduler, read_batching_parameters
from serving.errors import InvalidArgumentError, UnavailableError


def test_parameters_file_in_tf_serving_text_format(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 32 }\n"
        "batch_timeout_micros { value: 2000 }\n"
        "max_enqueued_batches { value: 4 }\n"
        "num_batch_threads { value: 2 }\n"
        "allowed_batch_sizes: 8\nallowed_batch_sizes: 32\n"
    )
    assert read_batching_parameters(str(path)) == BatchingOptions(
        max_batch_size=32,
        batch_timeout_micros=2000,
        max_enqueued_batches=4,
        num_batch_threads=2,
        allowed_batch_sizes=(8, 32),
    )
    path.write_text(
        "max_batch_size { value: 32 }\nallowed_batch_sizes: 8\nallowed_batch_sizes: 16\n"
    )
    with pytest.raises(ValueError, match="last entry in allowed_batch_sizes to equal"):
        read_batching_parameters(str(path))
    path.write_text("max_batch_size: 32\n")
    with pytest.raises(ValueError, match="text-format BatchingParameters"):
        read_batching_parameters(str(path))


class Recorder:
    """A stand-in for a signature: doubles its input and records each batch it ran on."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[int] = []
        self.gate = gate

    def __call__(self, inputs):
        if self.gate is not None:
            assert self.gate.wait(60)
        self.batches.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}


def submit_concurrently(scheduler, run, rows_per_task):
    def one(i):
        x = np.full((rows_per_task[i], 2), float(i))
        return i, scheduler.run("m", "key", run, {"x": x})["y"]

    with ThreadPoolExecutor(len(rows_per_task)) as pool:
        return list(pool.map(one, range(len(rows_per_task))))


def test_concurrent_requests_become_one_call_and_get_their_own_rows_back():
    sizes = []
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=8, batch_timeout_micros=30_000_000, num_batch_threads=1),
        on_batch=lambda model, size: sizes.append((model, size)),
    )
    run = Recorder()
    try:
        results = submit_concurrently(scheduler, run, [1, 2, 1, 1, 3])  # 8 rows: a full batch
    finally:
        scheduler.stop()
    assert run.batches == [8] and sizes == [("m", 8)]
    for i, y in results:
        np.testing.assert_array_equal(y, np.full((len(y), 2), 2.0 * i))
    assert [len(y) for _, y in results] == [1, 2, 1, 1, 3]


def test_batches_are_padded_to_an_allowed_size():
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=8, batch_timeout_micros=300_000, allowed_batch_sizes=(4, 8))
    )
    run = Recorder()
    try:
        results = submit_concurrently(scheduler, run, [1, 1, 1])
    finally:
        scheduler.stop()
    assert all(size in (4, 8) for size in run.batches)
    for i, y in results:
        np.testing.assert_array_equal(y, [[2.0 * i, 2.0 * i]])


def test_full_queue_is_unavailable_and_oversized_task_invalid():
    gate = threading.Event()
    scheduler = BatchScheduler(
        BatchingOptions(max_batch_size=2, max_enqueued_batches=1, num_batch_threads=1)
    )
    run = Recorder(gate)
    x = np.zeros((2, 2))
    with ThreadPoolExecutor(2) as pool:
        try:
            running = pool.submit(scheduler.run, "m", "k", run, {"x": x})
            deadline = time.monotonic() + 30
            while scheduler._queues and time.monotonic() < deadline:  # taken by the thread
                time.sleep(0.01)
            queued = pool.submit(scheduler.run, "m", "k", run, {"x": x})
            while not scheduler._queues and time.monotonic() < deadline:
                time.sleep(0.01)
            with pytest.raises(UnavailableError, match="queue to which this task was submitted"):
                scheduler.run("m", "k", run, {"x": x})
            with pytest.raises(InvalidArgumentError, match="Task size 3 is larger than maximum"):
                scheduler.run("m", "k", run, {"x": np.zeros((3, 2))})
        finally:
            gate.set()
            results = [running.result(60), queued.result(60)]
            scheduler.stop()
    for y in results:
        np.testing.assert_array_equal(y["y"], np.zeros((2, 2)))


@pytest.fixture(scope="module")
def batching_server(model_root, tmp_path_factory):
    from serving.options import ServerOptions
    from serving.server import ModelServer

    folder = tmp_path_factory.mktemp("batching")
    params = folder / "batching.config"
    params.write_text(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 20000 }\n"
        "max_enqueued_batches { value: 2 }\nnum_batch_threads { value: 1 }\n"
    )
    server = ModelServer(
        ServerOptions(
            port=0,
            rest_api_port=free_port(),
            model_name="keras_model",
            model_base_path=f"{model_root}/keras_model",
            enable_batching=True,
            batching_parameters_file=str(params),
            grpc_max_threads=16,
            rest_api_num_threads=16,
        )
    )
    server.start()
    yield server
    server.stop()


def test_server_batches_concurrent_predicts_correctly(batching_server):
    from serving.client import Client

    calls = []
    scheduler = batching_server.batch_scheduler
    original = scheduler._on_batch
    scheduler._on_batch = lambda model, size: calls.append(size)
    try:
        with Client(f"grpc://127.0.0.1:{batching_server.grpc_port}") as client:
            xs = [np.full((1, 3), float(i), np.float32) for i in range(32)]
            with ThreadPoolExecutor(16) as pool:
                outs = list(pool.map(lambda x: client.predict("keras_model", x)["output_0"], xs))
    finally:
        scheduler._on_batch = original
    for x, out in zip(xs, outs, strict=True):
        np.testing.assert_allclose(out, keras_reference(x, 2), rtol=1e-6)
    assert sum(calls) == 32
    # On a busy machine the threads may trickle in; some merging must still happen.
    assert len(calls) < 32, calls


def test_full_queue_answers_503_over_rest(batching_server):
    scheduler = batching_server.batch_scheduler
    gate = threading.Event()
    blocker = Recorder(gate)
    url = f"http://127.0.0.1:{batching_server.rest_port}/v1/models/keras_model:predict"
    body = json.dumps({"instances": [[1.0, 2.0, 3.0]] * 16}).encode()  # one full batch each

    def post():
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    with ThreadPoolExecutor(3) as pool:
        # Occupy the single batch thread, then fill the keras queue (2 batches).
        held = pool.submit(scheduler.run, "other", "blocker", blocker, {"x": np.zeros((1, 1))})
        deadline = time.monotonic() + 30
        while scheduler._queues and time.monotonic() < deadline:
            time.sleep(0.01)
        waiting = [pool.submit(post) for _ in range(2)]
        while sum(len(q) for q in scheduler._queues.values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, doc = post()
        gate.set()
        assert status == 503, doc
        assert "queue to which this task was submitted is full" in doc["error"]
        held.result(60)
        for future in waiting:
            assert future.result(60)[0] == 200
    assert post()[0] == 200
