"""Deadlines for REST requests: answer DEADLINE_EXCEEDED when one passes, without a thread
switch on the requests that finish in time.

TF2 functions cannot be cancelled the way a TF1 session run with `RunOptions.timeout_in_ms`
can, so a late request keeps computing on its own thread; what the deadline changes is who
answers. Each request registers a `Ticket`; one watcher thread sleeps until the earliest
deadline and, for a request still running then, sends the DEADLINE_EXCEEDED answer itself
(on a short-lived thread, so a slow socket cannot hold up other deadlines). The request
thread claims its ticket when done and answers only if the watcher has not. Registering costs
a heap push under a lock; the watcher is woken only when a new deadline is earlier than all
it knows, which with one timeout for every request happens only after it fell idle.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

__all__ = ["DeadlineWatcher", "Ticket"]


class Ticket:
    """One request's claim on its answer: `finish()` is True if the request answers."""

    __slots__ = ("_answered_late", "_on_expiry", "_state", "_watcher", "deadline")

    def __init__(self, watcher: DeadlineWatcher, deadline: float, on_expiry: Callable[[], None]):
        self._watcher = watcher
        self.deadline = deadline
        self._on_expiry: Callable[[], None] | None = on_expiry
        self._state = "running"
        # Created only for a ticket that expires: most never do, and thousands of finished
        # tickets wait in the heap until their deadline passes.
        self._answered_late: threading.Event | None = None

    def finish(self) -> bool:
        """Claim the answer. False if the deadline passed first; returns only once the
        DEADLINE_EXCEEDED answer has been sent."""
        with self._watcher.lock:
            if self._state == "running":
                self._state = "finished"
                self._on_expiry = None
                return True
            answered_late = self._answered_late
        assert answered_late is not None  # set when the state became "expired"
        answered_late.wait()
        return False

    def _expire(self) -> None:
        try:
            assert self._on_expiry is not None
            self._on_expiry()
        finally:
            self._on_expiry = None
            assert self._answered_late is not None
            self._answered_late.set()


class DeadlineWatcher:
    """Watches tickets; calls `on_expiry` of each one still running at its deadline."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._wake = threading.Condition(self.lock)
        self._heap: list[tuple[float, int, Ticket]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, timeout_s: float, on_expiry: Callable[[], None]) -> Ticket:
        """A ticket for a request that must answer within `timeout_s` seconds."""
        ticket = Ticket(self, time.monotonic() + timeout_s, on_expiry)
        with self.lock:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (ticket.deadline, next(self._order), ticket))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="serving-deadlines", daemon=True
                )
                self._thread.start()
            elif earliest is None or ticket.deadline < earliest:
                self._wake.notify()
        return ticket

    def _run(self) -> None:
        with self.lock:
            while True:
                if not self._heap:
                    self._wake.wait()
                    continue
                deadline, _, ticket = self._heap[0]
                now = time.monotonic()
                if deadline > now:
                    self._wake.wait(deadline - now)
                    continue
                heapq.heappop(self._heap)
                if ticket._state == "running":
                    ticket._state = "expired"
                    ticket._answered_late = threading.Event()
                    threading.Thread(
                        target=ticket._expire, name="serving-deadline-answer", daemon=True
                    ).start()
