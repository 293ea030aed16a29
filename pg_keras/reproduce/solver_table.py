"""Paper Table 1: time per event for the network and for iterative solvers to match it.

On fresh events (the stream `(seed, −1)` that `pg-keras solve` uses too), the trained
network predicts `x` as served (inference mode, batch norm's stored statistics); its
mean `x_mae` is the level every solver must reach. Each solver runs from the problem's
`initial_guess` up to its cap; the first iteration at which the mean error over events
is at or below the network's is `iterations_to_reach`, and its time per event is the
solver's time per iteration (its wall time at the cap over the cap) times that count.

Both are timed two ways: all events in one call (`batched`: wall time over events) and
one event per call (`single`, on the first `SolverTable.single` events, median). Network
times are medians of warm calls; a solver's is one solve, its graph traced before the
clock starts (`pg_keras.solving`). Tables written before that change (the paper reports
of 2026-12-06 and earlier) include one trace per solve, which weighs most on short caps
and on single events.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from pg_keras.problems import Problem
from pg_keras.reproduce.experiments import SolverTable
from pg_keras.solving import SolveResult, solve

__all__ = ["network_row", "reach", "solver_row", "solver_table", "warm_seconds"]

#: Warm calls timed per network measurement.
REPEATS = 10


def warm_seconds(call: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall time of `call` over `repeats` calls after one untimed warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _event(batch: dict, i: int) -> dict:
    return {key: value[i : i + 1] for key, value in batch.items()}


def network_row(problem: Problem, network: keras.Model, batch: dict, single: int) -> dict:
    """The network's mean `x_mae` on `batch` as served, and its time per event."""
    infer = tf.function(lambda events: problem.predict_x(network, events, training=False))
    x = infer(batch)
    errors = problem.x_error(x, batch).numpy()
    events = int(errors.shape[0])
    one_at_a_time = [
        warm_seconds(lambda i=i: infer(_event(batch, i)).numpy()) for i in range(single)
    ]
    return {
        "x_mae": float(np.mean(errors)),
        "batched_time_per_event_s": warm_seconds(lambda: infer(batch).numpy()) / events,
        "single_time_per_event_s": statistics.median(one_at_a_time),
    }


def reach(result: SolveResult, level: float) -> int | None:
    """The first iteration whose mean `x` error over events is at or below `level`."""
    if result.curve is None:
        return None
    hits = np.flatnonzero(np.nanmean(result.curve, axis=1) <= level)
    return int(hits[0]) if hits.size else None


def _per_iteration_seconds(result: SolveResult) -> float:
    """A solve's wall time per event and iteration (its iterations: at most the cap)."""
    iterations = max(1.0, float(np.median(result.iterations)))
    return float(np.sum(result.wall_time_s)) / result.events / iterations


def solver_row(
    problem: Problem, name: str, batch: dict, cap: int, level: float, single: int
) -> dict:
    """One solver on `batch` up to `cap` iterations, against the network's `level`."""
    batched = solve(problem, name, batch, cap)
    first = reach(batched, level)
    curve = None if batched.curve is None else np.nanmean(batched.curve, axis=1)
    row = {
        "iterations_cap": cap,
        "iterations_median": float(np.median(batched.iterations)),
        "status": batched.summary()["status"],
        "x_mae_start": None if curve is None else float(curve[0]),
        "x_mae_at_cap": float(np.mean(batched.x_error)),
        "iterations_to_reach": first,
        "curve_x_mae": None if curve is None else [float(v) for v in curve],
    }
    alone = [solve(problem, name, _event(batch, i), cap) for i in range(single)]
    for mode, per_iteration in (
        ("batched", _per_iteration_seconds(batched)),
        ("single", statistics.median(_per_iteration_seconds(r) for r in alone)),
    ):
        row[f"{mode}_time_per_iteration_s"] = per_iteration
        row[f"{mode}_time_per_event_s"] = None if first is None else first * per_iteration
        row[f"{mode}_time_per_event_at_cap_s"] = cap * per_iteration
    return row


def solver_table(
    problem: Problem, network: keras.Model, table: SolverTable, seed: int, network_run: str
) -> dict:
    """Table 1 for `problem`: the network's row and one per solver, with time ratios."""
    batch = problem.generate(table.events, tf.constant([seed, -1], tf.int64))
    batch = {key: batch[key] for key in batch}
    network_time = network_row(problem, network, batch, table.single)
    level = network_time["x_mae"]
    rows = {
        name: solver_row(problem, name, batch, cap, level, table.single)
        for name, cap in table.solvers.items()
    }
    for row in rows.values():
        row["ratio_to_network"] = {
            mode: None
            if row[f"{mode}_time_per_event_s"] is None
            else row[f"{mode}_time_per_event_s"] / network_time[f"{mode}_time_per_event_s"]
            for mode in ("batched", "single")
        }
    return {
        "network_run": network_run,
        "events": table.events,
        "single_events": table.single,
        "events_seed": seed,
        "network": network_time,
        "solvers": rows,
    }
