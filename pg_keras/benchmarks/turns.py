"""Timing variants in turns, in one process.

On a shared machine the load drifts, and the first variant timed in a process tends to
look slower; timed one after the other, that was enough to flip a PG/adjoint ratio. So
each round times every variant once, the order rotating by one every round, and no
variant is always first or last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping


def rotations(count: int, rounds: int) -> Iterator[list[int]]:
    """Variant indices for each of `rounds` rounds, the order rotating by one every round."""
    if count < 1:
        raise ValueError(f"Expected `count` >= 1 variants. Received: count={count}")
    for round_ in range(rounds):
        shift = round_ % count
        yield [(shift + k) % count for k in range(count)]


def time_in_turns(calls: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Wall seconds of each call in each of `rounds` rounds, the calls taken in turns.

    Call each variant once before (tracing and compiling are not what is timed), and
    make each call wait for its result (`.numpy()`), or the clock stops at dispatch.
    """
    if rounds < 1:
        raise ValueError(f"Expected `rounds` >= 1 timed rounds. Received: rounds={rounds}")
    names = list(calls)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for order in rotations(len(names), rounds):
        for k in order:
            began = time.perf_counter()
            calls[names[k]]()
            seconds[names[k]].append(time.perf_counter() - began)
    return seconds
