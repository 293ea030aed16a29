"""The generic per-event solvers: they need nothing of a problem but `simulate` and `objective`.

A `Solver` is `(problem, batch, x0, iterations) -> SolverOutput`; `batch` holds the
events and their context, `x0` the float64 starting points. Every solver here runs
the physics in float64, through `pg_keras.batch.physics_inputs`, and traces its graph
before its clock starts, so `wall_time_s` is solving alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from pg_keras.batch import Batch, PhysicsInputs, physics_inputs
from pg_keras.physics import iterative

if TYPE_CHECKING:
    from pg_keras.problems.base import Problem

__all__ = [
    "Solver",
    "SolverOutput",
    "generic_solvers",
    "gradient_descent",
    "scipy_lbfgsb",
    "tfp_lbfgs",
]


class SolverOutput(NamedTuple):
    """What a `Solver` returns (numpy, float64).

    Attributes:
        x: `[events, ...]` final positions.
        converged: `[events]` bool, the solver's own verdict.
        iterations: `[events]` int, iterations run per event.
        wall_time_s: `[events]` seconds per event (a batched solver: its
            batch time divided evenly).
        trajectory: `[k + 1, events, ...]` iterates (0 is `x0`), or None.
        messages: per-event solver messages (e.g. SciPy's), or None.
    """

    x: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    wall_time_s: np.ndarray
    trajectory: np.ndarray | None = None
    messages: list[str] | None = None


Solver = Callable[["Problem", Batch, tf.Tensor, int], SolverOutput]


def float64_inputs(batch: Batch) -> PhysicsInputs:
    """Solvers are the reference a network is measured against: float64 whatever the
    problem trains in."""
    return physics_inputs(batch, tf.float64)


def even_split(seconds: float, events: int) -> np.ndarray:
    return np.full(events, seconds / events)


def _objective(problem: Problem, inputs: PhysicsInputs) -> Callable:
    return lambda x: problem.objective(problem.simulate(x, inputs.context), inputs.y_target)


def scipy_lbfgsb(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
    """SciPy's L-BFGS-B (unbounded), one event at a time: the paper's baseline.

    The objective and its gradient come from the problem's TF simulator,
    compiled once for a single event. SciPy's "abnormal termination in line
    search" (no step lowers the objective at working precision) counts as
    converged; its message is kept per event.
    """
    import scipy.optimize

    inputs = float64_inputs(batch)
    shape = x0.shape[1:]

    @tf.function(reduce_retracing=True)
    def value_and_gradient(x, y, context):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(problem.objective(problem.simulate(x, context), y))
        return loss, tape.gradient(loss, x)

    def fun(flat, y, context):
        value, grad = value_and_gradient(tf.constant(flat.reshape((1, *shape))), y, context)
        return float(value), grad.numpy().reshape(-1).astype(np.float64)

    events = int(x0.shape[0])
    starts = x0.numpy().reshape(events, -1)
    xs, converged, counts, times, paths, messages = [], [], [], [], [], []
    for i in range(events):
        y = inputs.y_target[i : i + 1]
        context = {k: v[i : i + 1] for k, v in inputs.context.items()}
        if i == 0:  # traced outside the clock; every event has this shape
            value_and_gradient.get_concrete_function(
                tf.constant(starts[0].reshape((1, *shape))), y, context
            )
        path = [starts[i].copy()]
        began = time.perf_counter()
        result = scipy.optimize.minimize(
            fun,
            starts[i],
            args=(y, context),
            jac=True,
            method="L-BFGS-B",
            callback=lambda xk, path=path: path.append(np.array(xk, copy=True)),
            options={"maxiter": iterations},
        )
        times.append(time.perf_counter() - began)
        xs.append(result.x)
        converged.append(result.status in (0, 2))
        counts.append(result.nit)
        paths.append(path)
        messages.append(str(result.message))
    length = max(len(p) for p in paths)
    trajectory = np.stack(
        [np.stack([p[min(k, len(p) - 1)] for p in paths]) for k in range(length)]
    ).reshape((length, events, *shape))
    return SolverOutput(
        np.stack(xs).reshape((events, *shape)),
        np.array(converged),
        np.array(counts),
        np.array(times),
        trajectory,
        messages,
    )


def tfp_lbfgs(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
    """TFP's batched L-BFGS, all events at once (the solver inside the `lbfgs` PG scheme).

    TFP counts iterations for the whole batch, so every event reports that
    count; its per-event `failed` (line search made no progress) counts as
    converged, like SciPy's abnormal termination. No trajectory.
    """
    objective = _objective(problem, float64_inputs(batch))
    shape = tf.shape(x0)

    @tf.function
    def run(start):
        def value_and_gradients(flat):
            with tf.GradientTape() as tape:
                tape.watch(flat)
                loss = objective(tf.reshape(flat, shape))
            return loss, tape.gradient(loss, flat)

        return tfp.optimizer.lbfgs_minimize(
            value_and_gradients,
            initial_position=tf.reshape(start, [shape[0], -1]),
            max_iterations=iterations,
            tolerance=1e-10,
        )

    run.get_concrete_function(x0)  # traced outside the clock
    began = time.perf_counter()
    result = run(x0)
    seconds = time.perf_counter() - began
    events = int(x0.shape[0])
    return SolverOutput(
        tf.reshape(result.position, shape).numpy(),
        (result.converged | result.failed).numpy(),
        np.full(events, int(result.num_iterations)),
        even_split(seconds, events),
    )


def _least_squares(adaptive: bool) -> Solver:
    def solver(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
        inputs = float64_inputs(batch)
        shape = tf.shape(x0)
        flat_x0 = tf.reshape(x0, [shape[0], -1])

        @tf.function
        def run(start):
            return iterative.levenberg_marquardt(
                lambda z: problem.simulate(tf.reshape(z, shape), inputs.context) - inputs.y_target,
                start,
                max_iterations=iterations,
                damping=1e-3 if adaptive else 0.0,
                adaptive=adaptive,
            )

        run.get_concrete_function(flat_x0)  # traced outside the clock
        began = time.perf_counter()
        result = run(flat_x0)
        seconds = time.perf_counter() - began
        return _from_iterative(result, x0, seconds)

    return solver


def _from_iterative(result: iterative.IterativeResult, x0: tf.Tensor, seconds: float):
    shape = tuple(x0.shape)
    trajectory = result.trajectory.numpy()
    return SolverOutput(
        result.position.numpy().reshape(shape),
        result.converged.numpy(),
        result.num_iterations.numpy(),
        even_split(seconds, shape[0]),
        trajectory.reshape((trajectory.shape[0], *shape)),
    )


def gradient_descent(learning_rate: float = 1e-2) -> Solver:
    """Plain batched gradient descent on the problem's objective, fixed step `learning_rate`."""
    if not learning_rate > 0:
        raise ValueError(f"Expected `learning_rate` > 0. Received: learning_rate={learning_rate}")

    def solver(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
        objective = _objective(problem, float64_inputs(batch))
        shape = tf.shape(x0)

        @tf.function
        def run(start):
            return iterative.gradient_descent(
                lambda z: objective(tf.reshape(z, shape)),
                start,
                max_iterations=iterations,
                learning_rate=learning_rate,
            )

        start = tf.reshape(x0, [shape[0], -1])
        run.get_concrete_function(start)  # traced outside the clock
        began = time.perf_counter()
        result = run(start)
        return _from_iterative(result, x0, time.perf_counter() - began)

    return solver


def generic_solvers() -> dict[str, Solver]:
    """Solvers that need nothing but `Problem.simulate` and `objective`.

    `tfp-lbfgs` (TFP, all events at once) and `scipy-lbfgsb` (SciPy, one event
    at a time) are two different L-BFGS codes; the PG scheme `lbfgs` uses TFP's.
    """
    return {
        "gd": gradient_descent(),
        "tfp-lbfgs": tfp_lbfgs,
        "scipy-lbfgsb": scipy_lbfgsb,
        "gauss-newton": _least_squares(adaptive=False),
        "levenberg-marquardt": _least_squares(adaptive=True),
    }
