"""Run a call with a deadline, answering DEADLINE_EXCEEDED when it passes.

TF2 functions cannot be cancelled the way a TF1 session run with `RunOptions.timeout_in_ms`
can, so the call runs on another thread and the request stops waiting for it; the computation
finishes in the background and its result is dropped. The threads are kept and reused:
starting one per request cost a few tenths of a millisecond, a tenth of a 64x64 model's
inference.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TypeVar

from serving.errors import DeadlineExceededError

T = TypeVar("T")


class _Call:
    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.value: object = None
        self.error: BaseException | None = None


class _Workers:
    """Daemon threads that run calls; an idle one is reused, else a new one starts, so
    concurrent calls never wait for each other (a call past its deadline keeps its thread)."""

    def __init__(self) -> None:
        self._idle: list[queue.SimpleQueue[_Call]] = []
        self._lock = threading.Lock()

    def submit(self, call: _Call) -> None:
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._work, args=(inbox,), name="serving-inference", daemon=True
            ).start()
        inbox.put(call)

    def _work(self, inbox: queue.SimpleQueue[_Call]) -> None:
        while True:
            call = inbox.get()
            try:
                call.value = call.fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                call.error = e
            call.done.set()
            del call
            with self._lock:
                self._idle.append(inbox)


_WORKERS = _Workers()


def call_with_deadline(fn: Callable[[], T], timeout_s: float | None) -> T:
    if timeout_s is None:
        return fn()
    if timeout_s <= 0:
        raise DeadlineExceededError("Deadline Exceeded")
    call = _Call(fn)
    _WORKERS.submit(call)
    if not call.done.wait(timeout_s):
        raise DeadlineExceededError("Deadline Exceeded")
    if call.error is not None:
        raise call.error
    return call.value  # type: ignore[return-value]
