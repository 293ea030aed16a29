"""The REST deadline watcher: in-time requests answer themselves, late ones are answered at
their deadline exactly once, and a short deadline is not stuck behind a long one."""

from __future__ import annotations

import threading
import time

from serving._deadline import DeadlineWatcher


def test_a_request_done_in_time_answers_and_expiry_never_runs():
    watcher = DeadlineWatcher()
    expired = []
    ticket = watcher.watch(0.2, lambda: expired.append(1))
    assert ticket.finish() is True
    time.sleep(0.4)
    assert expired == []


def test_a_late_request_is_answered_at_its_deadline_once():
    watcher = DeadlineWatcher()
    answered = threading.Event()
    calls = []

    def expire():
        calls.append(time.monotonic())
        answered.set()

    start = time.monotonic()
    ticket = watcher.watch(0.1, expire)
    assert answered.wait(5)
    assert 0.09 <= calls[0] - start < 1.0
    assert ticket.finish() is False
    assert ticket.finish() is False
    assert len(calls) == 1


def test_finish_waits_until_the_late_answer_is_sent():
    watcher = DeadlineWatcher()
    sent = []

    def slow_answer():
        time.sleep(0.3)
        sent.append("504")

    ticket = watcher.watch(0.05, slow_answer)
    time.sleep(0.1)  # the deadline has passed; the answer is being written
    assert ticket.finish() is False
    assert sent == ["504"]


def test_a_short_deadline_after_a_long_one_still_fires_on_time():
    watcher = DeadlineWatcher()
    long_ticket = watcher.watch(30.0, lambda: None)
    fired = threading.Event()
    start = time.monotonic()
    watcher.watch(0.1, fired.set)
    assert fired.wait(5)
    assert time.monotonic() - start < 1.0
    assert long_ticket.finish() is True


def test_many_tickets_from_many_threads_each_settle_once():
    watcher = DeadlineWatcher()
    outcomes = []
    lock = threading.Lock()

    def request(i: int) -> None:
        late = []
        ticket = watcher.watch(0.05, lambda: late.append(i))
        time.sleep(0.1 if i % 2 else 0.0)
        answered_by_request = ticket.finish()
        with lock:
            outcomes.append((i, answered_by_request, len(late)))

    threads = [threading.Thread(target=request, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 40
    for i, answered_by_request, late in outcomes:
        # Exactly one of the two answered.
        assert answered_by_request != bool(late)
        if i % 2:
            assert not answered_by_request
