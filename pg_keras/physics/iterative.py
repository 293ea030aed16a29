"""Batched per-example iterative solvers in pure TF: gradient descent and Levenberg–Marquardt.

Each row of `x` is its own optimisation problem; rows never interact, so one
hard example neither slows nor stops the others (a converged row is frozen
while the rest iterate). Both return an `IterativeResult`, TFP-style, which
callers check (`converged`, `num_iterations`) rather than trusting `position`.

Used by `pg_keras.solving` (per-event solvers) and by problems as the inverse
solver of a physical-gradient rule (e.g. a few Levenberg–Marquardt iterations
per training step for the wave packet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

Residual = Callable[[tf.Tensor], tf.Tensor]
Objective = Callable[[tf.Tensor], tf.Tensor]

# Above this damping every trial step has been rejected for ~40 rounds in a row:
# the row sits at a minimum to working precision, so it counts as converged.
_STUCK_DAMPING = 1e12


class IterativeResult(NamedTuple):
    """What a batched iterative solver returns.

    Attributes:
        position: `[batch, d]`, the last accepted iterate of each row.
        objective: `[batch]`, the objective at `position`.
        converged: `[batch]` bool, the row met the tolerance before the cap.
        num_iterations: `[batch]` int32, iterations the row ran (≤ the cap).
        trajectory: `[k + 1, batch, d]`, the iterate after each of the `k`
            iterations run (index 0 is `x0`; `k` ≤ the cap, fewer when every
            row converged early); a frozen row repeats its position.
    """

    position: tf.Tensor
    objective: tf.Tensor
    converged: tf.Tensor
    num_iterations: tf.Tensor
    trajectory: tf.Tensor


def _check(x0: tf.Tensor, max_iterations: int) -> int:
    if max_iterations < 1:
        raise ValueError(
            f"Expected `max_iterations` >= 1. Received: max_iterations={max_iterations}"
        )
    if x0.shape.rank != 2 or x0.shape[1] is None:
        raise ValueError(
            f"Expected `x0` of shape [batch, d] with a static d. Received: shape={x0.shape}"
        )
    return int(x0.shape[1])


def residual_and_jacobian(residual: Residual, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`r(x)` flattened to `[batch, m]` and `∂r/∂x`, `[batch, m, d]`.

    Forward mode, one pass per unknown: cheap for the few unknowns per row this
    module is meant for (reverse mode would need one pass per residual entry).
    """
    d = int(x.shape[1])
    columns = []
    r = None
    for i in range(d):
        tangent = tf.broadcast_to(tf.one_hot(i, d, dtype=x.dtype), tf.shape(x))
        with tf.autodiff.ForwardAccumulator(x, tangent) as accumulator:
            r = residual(x)
        columns.append(tf.reshape(accumulator.jvp(r), [tf.shape(x)[0], -1]))
    return tf.reshape(r, [tf.shape(x)[0], -1]), tf.stack(columns, axis=-1)


def _half_squared_norm(r: tf.Tensor) -> tf.Tensor:
    return 0.5 * tf.reduce_sum(tf.reshape(r * r, [tf.shape(r)[0], -1]), axis=1)


def levenberg_marquardt(
    residual: Residual,
    x0: tf.Tensor,
    max_iterations: int = 100,
    damping: float = 1e-3,
    adaptive: bool = True,
    tolerance: float = 1e-10,
) -> IterativeResult:
    """Minimises `½‖r(x)‖²` per row by Levenberg–Marquardt (or plain Gauss–Newton).

    Step: `Δx = −(JᵀJ + λ·diag(JᵀJ))⁺ Jᵀr` (`⁺`: pseudo-inverse). Marquardt's diagonal scaling makes
    the step independent of the units of each unknown (ξ0 in samples, A in
    signal units). With `adaptive`, a step that lowers the objective is
    accepted and `λ ← λ/3`; otherwise it is rejected and `λ ← 2λ`, so the
    objective never increases. `damping=0, adaptive=False` is Gauss–Newton:
    every finite step is taken, which can overshoot and raise the objective.

    A row converges when an accepted step changes the objective by at most
    `tolerance` relative to it, when the step is below 1e-10 relative to `x`,
    or when λ has grown past 1e12 (no step helps).

    Args:
        residual: `[batch, d] -> [batch, ...]`, rows independent.
        x0: `[batch, d]` starting points.
        max_iterations: cap on iterations per row.
        damping: initial λ.
        adaptive: adapt λ and reject uphill steps (LM) or not (Gauss–Newton).
        tolerance: relative objective change that counts as converged.
    """
    _check(x0, max_iterations)
    if damping < 0:
        raise ValueError(f"Expected `damping` >= 0. Received: damping={damping}")
    dtype = x0.dtype
    batch = tf.shape(x0)[0]

    def body(k, x, loss, lam, converged, iterations, trajectory):
        r, J = residual_and_jacobian(residual, x)
        g = tf.einsum("bmd,bm->bd", J, r)
        H = tf.einsum("bmd,bme->bde", J, J)
        diagonal = tf.linalg.diag_part(H)
        # A tiny isotropic part keeps λ·diag(H) regular where a column of J
        # vanishes (A = 0 makes ∂y/∂ξ0 zero).
        floor = 1e-9 * tf.reduce_mean(diagonal, axis=1, keepdims=True) + 1e-30
        damped = H + lam[:, None, None] * tf.linalg.diag(diagonal + floor)
        # The pseudo-inverse, because J can lose rank (a packet whose envelope
        # misses every sample has J = 0): `solve` would abort the whole batch.
        step = -tf.linalg.matvec(tf.linalg.pinv(damped), g)
        trial = x + step
        trial_loss = _half_squared_norm(residual(trial))
        finite = tf.math.is_finite(trial_loss) & tf.reduce_all(tf.math.is_finite(trial), axis=1)
        # Gauss–Newton takes every step, a non-finite one too: that row then
        # stops with NaN, which callers report as such.
        accept = finite & (trial_loss < loss) if adaptive else tf.ones_like(finite)
        active = tf.logical_not(converged)
        change = tf.abs(loss - trial_loss) <= tolerance * tf.maximum(loss, 1e-30)
        stuck = lam > _STUCK_DAMPING
        # MINPACK's xtol: a step this small no longer moves x at working precision.
        tiny_step = tf.norm(step, axis=1) <= 1e-10 * (tf.norm(x, axis=1) + 1e-10)
        blew_up = tf.zeros_like(finite) if adaptive else ~finite
        newly = active & ((accept & change) | stuck | tiny_step | blew_up)
        take = active & accept
        x = tf.where(take[:, None], trial, x)
        loss = tf.where(take, trial_loss, loss)
        if adaptive:
            lam = tf.where(active, tf.where(accept, lam / 3.0, lam * 2.0), lam)
        iterations += tf.cast(active, tf.int32)
        converged = converged | newly
        return k + 1, x, loss, lam, converged, iterations, trajectory.write(k + 1, x)

    loss0 = _half_squared_norm(residual(x0))
    trajectory = tf.TensorArray(dtype, size=0, dynamic_size=True).write(0, x0)
    state = (
        tf.constant(0),
        x0,
        loss0,
        tf.fill([batch], tf.constant(damping, dtype)),
        tf.zeros([batch], tf.bool),
        tf.zeros([batch], tf.int32),
        trajectory,
    )
    _, x, loss, _, converged, iterations, trajectory = tf.while_loop(
        lambda k, *state: (k < max_iterations) & ~tf.reduce_all(state[3]), body, state
    )
    # Rows frozen by a non-finite step did not converge.
    converged = converged & tf.reduce_all(tf.math.is_finite(x), axis=1)
    return IterativeResult(x, loss, converged, iterations, trajectory.stack())


def gradient_descent(
    objective: Objective,
    x0: tf.Tensor,
    max_iterations: int = 100,
    learning_rate: float = 1e-2,
    tolerance: float = 1e-8,
) -> IterativeResult:
    """`x ← x − η ∇L(x)` per row, for a per-row `objective: [batch, d] -> [batch]`.

    A row converges when `‖∇L‖ ≤ tolerance`. Nothing guards against a step
    that raises the objective: that is the method, and callers classify it.
    """
    _check(x0, max_iterations)
    batch = tf.shape(x0)[0]

    def value_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = objective(x)
        # Rows are independent, so the gradient of the sum is each row's gradient.
        return loss, tape.gradient(loss, x)

    def body(k, x, converged, iterations, trajectory):
        _, g = value_and_gradient(x)
        active = tf.logical_not(converged)
        small = tf.norm(g, axis=1) <= tolerance
        newly = active & small
        move = active & ~small
        x = tf.where(move[:, None], x - learning_rate * g, x)
        iterations += tf.cast(move, tf.int32)
        return k + 1, x, converged | newly, iterations, trajectory.write(k + 1, x)

    trajectory = tf.TensorArray(x0.dtype, size=0, dynamic_size=True).write(0, x0)
    state = (
        tf.constant(0),
        x0,
        tf.zeros([batch], tf.bool),
        tf.zeros([batch], tf.int32),
        trajectory,
    )
    _, x, converged, iterations, trajectory = tf.while_loop(
        lambda k, x, converged, *_: (k < max_iterations) & ~tf.reduce_all(converged), body, state
    )
    return IterativeResult(x, objective(x), converged, iterations, trajectory.stack())
