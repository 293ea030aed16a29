"""The batch scheduler alone (no TensorFlow, no server): which options it takes, how a
`--batching_parameters_file` fills them, and what a request sees: its own rows back, the
batch it joined, padding, the timeout, refusals and failures, and shutdown (TF Serving's
BatchingSession on a SharedBatchScheduler)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from serving.batching import BatchingOptions, BatchScheduler, read_batching_parameters
from serving.errors import InternalError, InvalidArgumentError, NotFoundError, UnavailableError


@pytest.mark.parametrize("name", ["max_batch_size", "max_enqueued_batches", "num_batch_threads"])
def test_counts_below_one_are_refused_by_name(name):
    with pytest.raises(ValueError, match=f"Expected {name} >= 1. Received: {name}=0"):
        BatchingOptions(**{name: 0})
    assert getattr(BatchingOptions(**{name: 1}), name) == 1


def test_a_negative_timeout_is_refused_and_zero_is_the_default():
    with pytest.raises(ValueError, match="batch_timeout_micros >= 0. Received: -1"):
        BatchingOptions(batch_timeout_micros=-1)
    assert BatchingOptions().batch_timeout_micros == 0


@pytest.mark.parametrize("sizes", [(4, 2, 8), (4, 4, 8), (0, 8), (-2, 8)])
def test_allowed_batch_sizes_must_be_positive_and_increasing(sizes):
    with pytest.raises(
        ValueError, match=rf"positive and strictly increasing. Received: \[{sizes[0]}"
    ):
        BatchingOptions(max_batch_size=8, allowed_batch_sizes=sizes)


def test_allowed_batch_sizes_end_at_max_batch_size():
    with pytest.raises(ValueError, match=r"Received: allowed_batch_sizes=\[2, 4\], max_batch_"):
        BatchingOptions(max_batch_size=8, allowed_batch_sizes=(2, 4))
    assert BatchingOptions(max_batch_size=8, allowed_batch_sizes=(1, 8)).allowed_batch_sizes
    assert BatchingOptions(max_batch_size=3, allowed_batch_sizes=(3,)).max_batch_size == 3


def test_padding_variable_length_inputs_is_refused_with_what_happens_instead():
    with pytest.raises(ValueError, match="batched separately instead"):
        BatchingOptions(pad_variable_length_inputs=True)


def test_a_parameters_file_leaves_the_real_servers_defaults_where_it_says_nothing(tmp_path):
    assert read_batching_parameters("") == BatchingOptions()
    assert BatchingOptions() == BatchingOptions(
        max_batch_size=1000,
        batch_timeout_micros=0,
        max_enqueued_batches=10,
        num_batch_threads=os.cpu_count() or 1,
    )
    path = tmp_path / "batching.config"
    for text, expected in [
        ("", BatchingOptions()),
        ("max_batch_size { value: 4 }\n", BatchingOptions(max_batch_size=4)),
        ("batch_timeout_micros { value: 5 }\n", BatchingOptions(batch_timeout_micros=5)),
        ("max_enqueued_batches { value: 3 }\n", BatchingOptions(max_enqueued_batches=3)),
        ("num_batch_threads { value: 7 }\n", BatchingOptions(num_batch_threads=7)),
    ]:
        path.write_text(text)
        assert read_batching_parameters(str(path)) == expected, text
    path.write_text("pad_variable_length_inputs: true\n")
    with pytest.raises(ValueError, match=f"Invalid --batching_parameters_file={path}: pad_"):
        read_batching_parameters(str(path))


class Doubler:
    """A stand-in for a signature: doubles `x`, recording each batch's inputs; it may wait
    for a gate first, or answer with `outputs` instead."""

    def __init__(self, gate: threading.Event | None = None, outputs=None) -> None:
        self.gate, self.outputs = gate, outputs
        self.batches: list[np.ndarray] = []

    def __call__(self, inputs):
        if self.gate is not None:
            assert self.gate.wait(60)
        self.batches.append(inputs["x"])
        if self.outputs is not None:
            return self.outputs(inputs)
        return {"y": inputs["x"] * 2}


def rows(start: float, count: int, width: int = 2) -> np.ndarray:
    return np.arange(start, start + count * width, dtype=np.float64).reshape(count, width)


class Held:
    """A scheduler with one batch thread kept busy by a gated batch, so that what is
    submitted meanwhile queues up in a known order and runs on `release()`. Without a
    timeout every batch is ready once the thread is free."""

    def __init__(self, **options) -> None:
        self.sizes: list[int] = []
        self.scheduler = BatchScheduler(
            BatchingOptions(num_batch_threads=1, **options),
            on_batch=lambda model, size: self.sizes.append(size),
        )
        self.gate = threading.Event()
        self.pool = ThreadPoolExecutor(8)
        self.blocker = self.pool.submit(
            self.scheduler.run, "m", "blocker", Doubler(self.gate), {"x": rows(0, 1)}
        )
        self.wait_for(lambda: self.blocker.done() or not self.scheduler._queues)

    def wait_for(self, condition) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, "the scheduler did not get there in 30 s"
            time.sleep(0.005)

    def queued_rows(self) -> int:
        return sum(b.size for q in self.scheduler._queues.values() for b in q)

    def submit(self, key, run, x: np.ndarray, **more) -> Future:
        """`run` on `x` (and the `more` inputs) from a thread, once it has queued."""
        before = self.queued_rows()
        future = self.pool.submit(self.scheduler.run, "m", key, run, {"x": x, **more})
        self.wait_for(lambda: self.queued_rows() == before + len(x) or future.done())
        return future

    def release(self) -> None:
        self.gate.set()
        assert self.blocker.result(60)["y"].shape == (1, 2)

    def close(self) -> None:
        self.gate.set()
        self.pool.shutdown()
        assert self.scheduler.stop(60)


@pytest.fixture
def held():
    held = Held(max_batch_size=8, max_enqueued_batches=2)
    yield held
    held.close()


def test_a_request_joins_the_open_batch_if_it_fits_else_closes_it_and_opens_the_next(held):
    run = Doubler()
    futures = [held.submit("k", run, rows(10 * i, 5)) for i in range(2)]
    futures.append(held.submit("k", run, rows(30, 3)))  # joins the second: 5 + 3 = 8
    held.release()
    for future, x in zip(futures, [rows(0, 5), rows(10, 5), rows(30, 3)], strict=True):
        np.testing.assert_array_equal(future.result(60)["y"], 2 * x)
    assert [len(b) for b in run.batches] == [5, 8]
    assert held.sizes == [1, 5, 8]


def test_requests_of_other_keys_shapes_or_dtypes_are_never_merged(held):
    run = Doubler()
    futures = [
        held.submit("k", run, rows(0, 1)),
        held.submit("other", run, rows(1, 1)),
        held.submit("k", run, rows(2, 1, width=3)),
        held.submit("k", run, rows(3, 1).astype(np.float32)),
        held.submit("k", run, rows(4, 7)),  # joins the first
    ]
    held.release()
    for future in futures:
        future.result(60)
    assert [b.shape for b in run.batches] == [(8, 2), (1, 2), (1, 3), (1, 2)]
    assert [b.dtype for b in run.batches][2:] == [np.float64, np.float32]
    np.testing.assert_array_equal(futures[4].result(60)["y"], 2 * rows(4, 7))


def test_the_oldest_ready_batch_runs_first(held):
    run = Doubler()
    futures = [held.submit(key, run, rows(i, 8)) for i, key in enumerate("cab")]
    held.release()
    for future in futures:
        future.result(60)
    assert [b[0, 0] for b in run.batches] == [0.0, 1.0, 2.0]


def run_alone(inputs, run=None, on_batch=None, **options) -> tuple[dict, float]:
    """One request on a fresh one-thread scheduler: its outputs and how long it took."""
    scheduler = BatchScheduler(BatchingOptions(num_batch_threads=1, **options), on_batch=on_batch)
    try:
        start = time.monotonic()
        outputs = scheduler.run("m", "k", run or Doubler(), inputs)
        return outputs, time.monotonic() - start
    finally:
        assert scheduler.stop(60)


def test_a_partial_batch_runs_when_its_oldest_request_has_waited_the_timeout():
    out, waited = run_alone({"x": rows(0, 1)}, max_batch_size=8, batch_timeout_micros=300_000)
    np.testing.assert_array_equal(out["y"], 2 * rows(0, 1))
    assert 0.3 <= waited < 30, waited


def test_a_full_batch_runs_at_once_without_waiting_out_its_timeout():
    # Not the two minutes a partial batch would wait.
    out, waited = run_alone({"x": rows(0, 4)}, max_batch_size=4, batch_timeout_micros=120_000_000)
    np.testing.assert_array_equal(out["y"], 2 * rows(0, 4))
    assert waited < 60, waited


def test_without_a_timeout_a_lone_request_runs_at_once():
    out, waited = run_alone({"x": rows(0, 2)}, max_batch_size=8)
    np.testing.assert_array_equal(out["y"], 2 * rows(0, 2))
    assert waited < 30, waited


@pytest.mark.parametrize(("count", "padded"), [(1, 2), (2, 2), (3, 4), (4, 4), (5, 8), (8, 8)])
def test_a_batch_is_padded_with_its_first_row_to_the_next_allowed_size(count, padded):
    sizes, run = [], Doubler()
    out, _ = run_alone(
        {"x": rows(1, count)},
        run,
        on_batch=lambda model, size: sizes.append((model, size)),
        max_batch_size=8,
        allowed_batch_sizes=(2, 4, 8),
    )
    np.testing.assert_array_equal(out["y"], 2 * rows(1, count))
    (seen,) = run.batches
    padding = np.repeat(rows(1, 1), padded - count, axis=0)
    np.testing.assert_array_equal(seen, np.concatenate([rows(1, count), padding]))
    assert sizes == [("m", padded)]


def test_without_allowed_sizes_a_batch_is_not_padded():
    run = Doubler()
    run_alone({"x": rows(1, 3)}, run, max_batch_size=8)
    assert [b.shape for b in run.batches] == [(3, 2)]


def test_every_input_is_split_by_the_same_rows():
    def both(inputs):
        return {"y": inputs["x"] + 1, "z": inputs["w"].sum(axis=1)}

    out, _ = run_alone({"x": rows(0, 2), "w": np.ones((2, 3))}, both, max_batch_size=4)
    np.testing.assert_array_equal(out["y"], rows(0, 2) + 1)
    np.testing.assert_array_equal(out["z"], [3.0, 3.0])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"x": np.float64(1.0)}, r"at least one dimension. Received: x with shape \[\]"),
        ({"x": rows(0, 2), "w": np.zeros((3, 1))}, r"equal 0th-dimension size. Received: \[2, 3\]"),
        ({"x": rows(0, 9)}, "Task size 9 is larger than maximum input batch size 8"),
    ],
)
def test_requests_that_cannot_be_batched_are_refused_before_queueing(inputs, message):
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=8, num_batch_threads=1))
    try:
        with pytest.raises(InvalidArgumentError, match=message):
            scheduler.run("m", "k", Doubler(), inputs)
        assert not scheduler._queues
    finally:
        assert scheduler.stop(60)


def test_a_full_queue_refuses_only_requests_that_need_a_new_batch(held):
    run = Doubler()
    queued = [held.submit("k", run, rows(0, 8)), held.submit("k", run, rows(0, 7))]
    joins = held.submit("k", run, rows(0, 1))  # fits the open batch: accepted
    with pytest.raises(UnavailableError, match="queue to which this task was submitted is full"):
        held.scheduler.run("m", "k", run, {"x": rows(0, 1)})
    other = held.submit("other", run, rows(0, 8))  # another key has a queue of its own
    held.release()
    for future in [*queued, joins, other]:
        assert future.result(60)["y"].shape[1] == 2


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (lambda inputs: {"y": inputs["x"][:1]}, "y has 0th dimension 1, expected 2: this"),
        (lambda inputs: {"y": np.float64(1.0)}, "y has 0th dimension none, expected 2"),
    ],
)
def test_outputs_that_do_not_keep_the_batch_rows_are_an_internal_error(outputs, message):
    with pytest.raises(InternalError, match=message):
        run_alone({"x": rows(0, 2)}, Doubler(outputs=outputs), max_batch_size=8)


def test_a_failing_batch_answers_every_request_in_it(held, capfd):
    def not_found(inputs):
        raise NotFoundError("gone")

    def crash(inputs):
        raise RuntimeError("boom")

    futures = [held.submit("a", not_found, rows(0, 4)), held.submit("a", not_found, rows(0, 4))]
    futures += [held.submit("b", crash, rows(0, 3)), held.submit("b", crash, rows(0, 5))]
    held.release()
    for future in futures[:2]:
        with pytest.raises(NotFoundError, match="gone"):
            future.result(60)
    for future in futures[2:]:
        with pytest.raises(InternalError, match="Internal error while running the batch"):
            future.result(60)
    assert "Batch failed: RuntimeError: boom" in capfd.readouterr().err


def test_stopping_runs_what_is_queued_then_refuses_new_requests(held):
    run = Doubler()
    queued = held.submit("k", run, rows(0, 3))
    stopping = held.pool.submit(held.scheduler.stop, 60)
    held.wait_for(lambda: held.scheduler._stopping)
    with pytest.raises(UnavailableError, match="Batch scheduler is shutting down"):
        held.scheduler.run("m", "k", run, {"x": rows(0, 1)})
    held.release()
    np.testing.assert_array_equal(queued.result(60)["y"], 2 * rows(0, 3))
    assert stopping.result(60) is True


def test_stop_gives_up_after_its_timeout_while_a_batch_is_running(held):
    start = time.monotonic()
    assert held.scheduler.stop(0.2) is False
    assert time.monotonic() - start < 30
    held.release()
    assert held.scheduler.stop(60) is True


def test_a_scheduler_never_stopped_does_not_keep_the_process_alive(tmp_path):
    # A server that dies on an error path never calls stop(); its idle batch threads must
    # not hold the process open after the main thread ends.
    program = (
        "from serving.batching import BatchingOptions, BatchScheduler\n"
        "BatchScheduler(BatchingOptions(num_batch_threads=2))\n"
    )
    root = pathlib.Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", program], env=env, timeout=60, check=False)
    assert done.returncode == 0


def test_each_partial_batch_runs_at_its_own_timeout_whatever_queue_it_is_in():
    # Queue "a" comes first, but after its full batch is taken its next batch is younger
    # than queue "b"'s: the thread must wake for b's batch, not sleep until a's.
    held = Held(max_batch_size=8, batch_timeout_micros=3_000_000)
    try:
        run = Doubler()
        full = held.submit("a", run, rows(0, 8))
        young_b = held.submit("b", run, rows(1, 1))
        b_sent = time.monotonic()
        time.sleep(2.5)
        younger_a = held.submit("a", run, rows(2, 1))
        held.release()
        full.result(60)
        young_b.result(60)
        b_waited = time.monotonic() - b_sent
        younger_a.result(60)
    finally:
        held.close()
    assert 3.0 <= b_waited < 4.5, b_waited  # its own 3 s, not a's 5.5 s


def test_stop_waits_its_timeout_in_all_not_per_thread():
    gate = threading.Event()
    scheduler = BatchScheduler(BatchingOptions(max_batch_size=1, num_batch_threads=3))
    with ThreadPoolExecutor(3) as pool:
        running = [
            pool.submit(scheduler.run, "m", key, Doubler(gate), {"x": rows(0, 1)}) for key in "abc"
        ]
        deadline = time.monotonic() + 30
        while scheduler._queues and time.monotonic() < deadline:  # all three taken
            time.sleep(0.005)
        start = time.monotonic()
        assert scheduler.stop(0.1) is False
        waited = time.monotonic() - start
        gate.set()
        for future in running:
            future.result(60)
    assert waited < 2.0, waited  # not a second or more for each thread past the deadline
    assert scheduler.stop(60)
