"""Run a call with a deadline, answering DEADLINE_EXCEEDED when it passes.

TF2 functions cannot be cancelled the way a TF1 session run with `RunOptions.timeout_in_ms`
can, so the call runs on its own thread and the request stops waiting for it; the computation
finishes in the background and its result is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from serving.errors import DeadlineExceededError

T = TypeVar("T")


def call_with_deadline(fn: Callable[[], T], timeout_s: float | None) -> T:
    if timeout_s is None:
        return fn()
    if timeout_s <= 0:
        raise DeadlineExceededError("Deadline Exceeded")
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=target, name="serving-inference", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise DeadlineExceededError("Deadline Exceeded")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
