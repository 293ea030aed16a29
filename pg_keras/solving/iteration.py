"""Iterating an inverse: `x ← P⁻¹(y* | x)` per event, the one loop every caller shares.

The per-event `inverse-physics` solvers (heat's, the fluid's, any problem's with an
`inverse`) and the exported `refine` signature all run `iterate_inverse`; they differ
only in the update they pass and in how an event stops:

* `objective` given: a step is taken only where it lowers the objective; the first
  step that does not stops the event, which counts as converged (a descent safeguard
  for inverses that amplify round-off once the residual nears it);
* `settled` given: an event counts as converged while its last step satisfies it;
* otherwise every event runs its own count of steps.

The loop is a `tf.while_loop`, so it runs inside `tf.function`s and SavedModels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import tensorflow as tf

from pg_keras.batch import Batch, PhysicsInputs
from pg_keras.rules.base import BackwardContext
from pg_keras.solving.solvers import Solver, SolverOutput, even_split, float64_inputs

if TYPE_CHECKING:
    from pg_keras.problems.base import Problem

__all__ = [
    "InverseIteration",
    "inverse_iteration_solver",
    "inverse_update",
    "iterate_inverse",
]

Update = Callable[[tf.Tensor], tf.Tensor]
#: `(problem, float64 inputs) -> update`: what an inverse-iteration solver iterates.
MakeUpdate = Callable[["Problem", PhysicsInputs], Update]


class InverseIteration(NamedTuple):
    """What `iterate_inverse` returns (TFP-style: callers check `converged`).

    Attributes:
        position: `[events, ...]`, the last accepted iterate.
        converged: `[events]` bool (see the module docstring for when).
        num_iterations: `[events]` int32, steps taken (accepted) per event.
        trajectory: `[k + 1, events, ...]`, the iterate after every step (0: the start),
            or None unless asked for.
    """

    position: tf.Tensor
    converged: tf.Tensor
    num_iterations: tf.Tensor
    trajectory: tf.Tensor | None


def iterate_inverse(
    update: Update,
    x: tf.Tensor,
    iterations: int | tf.Tensor,
    objective: Callable[[tf.Tensor], tf.Tensor] | None = None,
    settled: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    record: bool = False,
) -> InverseIteration:
    """Applies `update` (`[events, ...] -> [events, ...]`, batched) to `x` repeatedly.

    Args:
        update: one inverse step for every event, e.g. `x -> P⁻¹(y* | x)`.
        x: the start, `[events, ...]`.
        iterations: one count for all events, or `[events]` counts; an event's `x`
            stops changing once its own count is reached.
        objective: `[events, ...] -> [events]`; if given, a step is accepted only
            where it lowers it, and an event stops at its first rejected step.
        settled: `(previous, new) -> [events]` bool; if given, `converged` is its
            value on each event's last step.
        record: also return the trajectory.
    """
    events = tf.shape(x)[0]
    counts = tf.broadcast_to(tf.convert_to_tensor(iterations, tf.int32), [events])
    total = tf.reduce_max(tf.concat([counts, [0]], 0))
    expand = [-1] + [1] * (x.shape.rank - 1)
    path = tf.TensorArray(x.dtype, size=total + 1) if record else None

    def step(k, x, current, stopped, converged, taken, path):
        active = (k < counts) & ~stopped
        candidate = update(x)
        if objective is not None:
            value = objective(candidate)
            accept = active & (value < current)
            stopped = stopped | (active & ~accept)
            converged = stopped
            current = tf.where(accept, value, current)
        else:
            accept = active
            if settled is not None:
                converged = tf.where(active, settled(x, candidate), converged)
        x = tf.where(tf.reshape(accept, expand), candidate, x)
        if record:
            path = path.write(k + 1, x)
        return k + 1, x, current, stopped, converged, taken + tf.cast(accept, tf.int32), path

    start = objective(x) if objective is not None else tf.zeros([events], x.dtype)
    state = (
        tf.constant(0, tf.int32),
        x,
        start,
        tf.zeros([events], tf.bool),
        tf.zeros([events], tf.bool),
        tf.zeros([events], tf.int32),
        path.write(0, x) if record else tf.constant(0),
    )
    _, x, _, _, converged, taken, path = tf.while_loop(
        lambda k, *_: k < total, step, state, parallel_iterations=1
    )
    return InverseIteration(x, converged, taken, path.stack() if record else None)


def inverse_update(problem: Problem, inputs: PhysicsInputs) -> Update:
    """`x -> problem.inverse(context)`, the problem's own `P⁻¹(y* | x)` at `y = P(x)`."""

    def simulate(x: tf.Tensor) -> tf.Tensor:
        return problem.simulate(x, inputs.context)

    def update(x: tf.Tensor) -> tf.Tensor:
        y = simulate(x)
        context = BackwardContext(
            x=x,
            y=y,
            y_target=inputs.y_target,
            scaled_dy=y - inputs.y_target,
            simulate=simulate,
            extras=inputs.context,
        )
        return problem.inverse(context)

    return update


def inverse_iteration_solver(
    make_update: MakeUpdate = inverse_update,
    descent: bool = True,
    settled: Callable[[PhysicsInputs], Callable] | None = None,
    jit_compile: bool = False,
) -> Solver:
    """A per-event solver that iterates `make_update(problem, inputs)` from `x0`.

    `descent` accepts a step only where it lowers `problem.objective` (see
    `iterate_inverse`); `settled(inputs)` gives the convergence test of a loop
    without it. The loop is compiled once on one step, then timed.
    """

    def solver(problem: Problem, batch: Batch, x0: tf.Tensor, iterations: int) -> SolverOutput:
        inputs = float64_inputs(batch)
        update = tf.function(make_update(problem, inputs), jit_compile=jit_compile)

        def objective(x):
            return problem.objective(problem.simulate(x, inputs.context), inputs.y_target)

        @tf.function
        def run(x, count):
            return iterate_inverse(
                update,
                x,
                count,
                objective if descent else None,
                settled(inputs) if settled is not None else None,
                record=True,
            )

        x0 = tf.cast(x0, tf.float64)
        run(x0, tf.constant(1))  # traces and compiles outside the timed run
        began = time.perf_counter()
        result = run(x0, tf.constant(iterations))
        seconds = time.perf_counter() - began
        return SolverOutput(
            result.position.numpy(),
            result.converged.numpy(),
            result.num_iterations.numpy(),
            even_split(seconds, int(x0.shape[0])),
            result.trajectory.numpy(),
        )

    return solver
