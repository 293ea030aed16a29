"""Request batching (`--enable_batching`): concurrent predict calls merged into one TF call.

Semantics follow TF Serving's BatchingSession on a SharedBatchScheduler: each (version,
signature, outputs, per-example input shapes) has its own queue of batches; a request joins
the open batch if it fits in `max_batch_size`, else opens a new one; a batch runs when it is
full or its oldest request has waited `batch_timeout_micros`, on one of `num_batch_threads`
threads; with `max_enqueued_batches` batches waiting, a request that needs a new batch is
refused with UNAVAILABLE. Batches are padded (repeating their first row) up to the next of
`allowed_batch_sizes`, then the outputs are split back by rows.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Hashable, Mapping

import numpy as np

from serving._config_protos import BatchingParameters, read_text_proto
from serving.errors import InternalError, InvalidArgumentError, ServingError, UnavailableError

__all__ = ["BatchScheduler", "BatchingOptions", "read_batching_parameters"]

Arrays = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """BatchingParameters with the real server's defaults filled in."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"Expected {name} >= 1. Received: {name}={getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(
                f"Expected batch_timeout_micros >= 0. Received: {self.batch_timeout_micros}"
            )
        sizes = self.allowed_batch_sizes
        if sizes:
            if list(sizes) != sorted(set(sizes)) or sizes[0] < 1:
                raise ValueError(
                    "Expected allowed_batch_sizes to be positive and strictly increasing. "
                    f"Received: {list(sizes)}"
                )
            if sizes[-1] != self.max_batch_size:
                raise ValueError(
                    "Expected the last entry in allowed_batch_sizes to equal max_batch_size. "
                    f"Received: allowed_batch_sizes={list(sizes)}, "
                    f"max_batch_size={self.max_batch_size}"
                )
        if self.pad_variable_length_inputs:
            raise ValueError(
                "pad_variable_length_inputs is not supported by this model server; requests "
                "with different per-example shapes are batched separately instead."
            )


def options_from_proto(params: BatchingParameters) -> BatchingOptions:
    defaults = BatchingOptions()
    values = {}
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches"):
        values[name] = (
            getattr(params, name).value if params.HasField(name) else getattr(defaults, name)
        )
    values["num_batch_threads"] = (
        params.num_batch_threads.value
        if params.HasField("num_batch_threads")
        else defaults.num_batch_threads
    )
    values["allowed_batch_sizes"] = tuple(params.allowed_batch_sizes)
    values["pad_variable_length_inputs"] = params.pad_variable_length_inputs
    return BatchingOptions(**values)


def read_batching_parameters(path: str) -> BatchingOptions:
    """Parse a `--batching_parameters_file` (text-format BatchingParameters)."""
    if not path:
        return BatchingOptions()
    params = read_text_proto("batching_parameters_file", path, BatchingParameters())
    try:
        return options_from_proto(params)
    except ValueError as e:
        raise ValueError(f"Invalid --batching_parameters_file={path}: {e}") from None


class _Task:
    def __init__(self, inputs: Arrays, size: int) -> None:
        self.inputs = inputs
        self.size = size
        self.done = threading.Event()
        self.outputs: Arrays | None = None
        self.error: ServingError | None = None


class _Batch:
    def __init__(self, key: Hashable, run: Callable[[Arrays], Arrays], model: str) -> None:
        self.key = key
        self.run = run
        self.model = model
        self.tasks: list[_Task] = []
        self.size = 0
        self.opened = time.monotonic()
        self.closed = False


def _task_size(inputs: Mapping[str, np.ndarray]) -> int:
    sizes = set()
    for alias, array in inputs.items():
        if array.ndim == 0:
            raise InvalidArgumentError(
                "Batching session Run() requires all input tensors to have at least one "
                f"dimension. Received: {alias} with shape []"
            )
        sizes.add(array.shape[0])
    if len(sizes) != 1:
        raise InvalidArgumentError(
            "Batching session Run() input tensors must have equal 0th-dimension size. "
            f"Received: {sorted(sizes)}"
        )
    return sizes.pop()


class BatchScheduler:
    """Shared by every servable of a server; `run` blocks until the request's rows return.

    `on_batch(model, batch_size)` hears each processed batch (after padding).
    """

    def __init__(
        self,
        options: BatchingOptions,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self.options = options
        self._on_batch = on_batch
        self._cond = threading.Condition()
        # key -> batches not yet taken by a thread, oldest first; the last may still grow.
        self._queues: dict[Hashable, collections.deque[_Batch]] = {}
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"serving-batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(
        self, model: str, key: Hashable, run: Callable[[Arrays], Arrays], inputs: Arrays
    ) -> Arrays:
        """Run `run` on `inputs` merged with other requests of the same `key`."""
        inputs = {alias: np.asarray(array) for alias, array in inputs.items()}
        size = _task_size(inputs)
        if size > self.options.max_batch_size:
            raise InvalidArgumentError(
                f"Task size {size} is larger than maximum input batch size "
                f"{self.options.max_batch_size}"
            )
        shapes = tuple(
            sorted((a, v.shape[1:], v.dtype.str) for a, v in inputs.items())
        )  # only like requests are concatenated
        full_key = (key, shapes)
        task = _Task(inputs, size)
        with self._cond:
            if self._stopping:
                raise UnavailableError("Batch scheduler is shutting down")
            queue = self._queues.setdefault(full_key, collections.deque())
            batch = queue[-1] if queue and not queue[-1].closed else None
            if batch is None or batch.size + size > self.options.max_batch_size:
                if batch is not None:
                    batch.closed = True
                if len(queue) >= self.options.max_enqueued_batches:
                    raise UnavailableError(
                        "The batch scheduling queue to which this task was submitted is full"
                    )
                batch = _Batch(full_key, run, model)
                queue.append(batch)
            batch.tasks.append(task)
            batch.size += size
            if batch.size == self.options.max_batch_size:
                batch.closed = True
            self._cond.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        assert task.outputs is not None
        return task.outputs

    def _ready_batch(self) -> tuple[_Batch | None, float | None]:
        """The oldest batch that may run now, else how long until one may."""
        now = time.monotonic()
        timeout_s = self.options.batch_timeout_micros / 1e6
        best, wait = None, None
        for queue in self._queues.values():
            if not queue:
                continue
            batch = queue[0]
            due = batch.opened + timeout_s
            if batch.closed or len(queue) > 1 or due <= now:
                if best is None or batch.opened < best.opened:
                    best = batch
            else:
                wait = due - now if wait is None else min(wait, due - now)
        if best is not None:
            self._queues[best.key].popleft()
            if not self._queues[best.key]:
                del self._queues[best.key]
            best.closed = True
        return best, wait

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping and not self._queues:
                        return
                    batch, wait = self._ready_batch()
                    if batch is not None:
                        break
                    self._cond.wait(wait)
            self._process(batch)

    def _padded_size(self, size: int) -> int:
        for allowed in self.options.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size

    def _process(self, batch: _Batch) -> None:
        tasks = batch.tasks
        try:
            target = self._padded_size(batch.size)
            merged = {}
            for alias in tasks[0].inputs:
                parts = [t.inputs[alias] for t in tasks]
                if target > batch.size:
                    first = parts[0][:1]
                    parts.append(np.repeat(first, target - batch.size, axis=0))
                merged[alias] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
            outputs = batch.run(merged)
            if self._on_batch is not None:
                self._on_batch(batch.model, target)
            for alias, array in outputs.items():
                if array.ndim == 0 or array.shape[0] != target:
                    raise InternalError(
                        f"Batched output tensor {alias} has 0th dimension "
                        f"{array.shape[0] if array.ndim else 'none'}, expected {target}: "
                        "this signature cannot be batched"
                    )
            start = 0
            for task in tasks:
                task.outputs = {a: v[start : start + task.size] for a, v in outputs.items()}
                start += task.size
        except ServingError as e:
            for task in tasks:
                task.error = e
        except Exception as e:  # noqa: BLE001 - every waiting request must get an answer
            print(f"Batch failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            for task in tasks:
                task.error = InternalError("Internal error while running the batch")
        finally:
            for task in tasks:
                task.done.set()

    def stop(self, timeout_s: float | None = None) -> bool:
        """Run what is queued, then end the batch threads, waiting at most `timeout_s`
        seconds in all (a TF call cannot be stopped). True if every thread ended."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)
