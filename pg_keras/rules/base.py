"""The interface every gradient rule implements.

A gradient rule decides what a `PhysicsLayer` passes back to the network in
place of `dL/dx`. The layer hands the rule a `BackwardContext` holding the
forward pass (`x`, `y`) and the solver target `y_target = y - s·dy`, where `s`
undoes the batch reduction of the loss (see `pg_keras.physical_gradient`).

Every rule returns `delta_x`, the per-example update direction in the units of
a sum-reduced loss:

* for a physical gradient (PG) rule, `delta_x = x - P⁻¹(y_target | x)`;
* for plain backprop (`Adjoint`), `delta_x = Jᵀ (s·dy)`.

The layer divides by `s` again, so the network sees the gradient of the loss it
was actually given. Clipping happens on `delta_x`, i.e. per example and
independent of batch size and reduction.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping

import tensorflow as tf

Simulator = Callable[[tf.Tensor], tf.Tensor]
Objective = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def squared_residual(y: tf.Tensor, y_target: tf.Tensor) -> tf.Tensor:
    """Per-example objective `½‖y − y_target‖²`, summed over all but the batch axis."""
    residual = y - y_target
    return 0.5 * tf.reduce_sum(tf.reshape(residual * residual, [tf.shape(residual)[0], -1]), 1)


@dataclasses.dataclass(frozen=True)
class BackwardContext:
    """What the backward pass of a physics layer knows.

    Attributes:
        x: the network's prediction, `[batch, ...]`, in the physics dtype.
        y: `P(x)` from the forward pass.
        y_target: `y − s·dy`, the observation the inverse solver aims for. For a
            loss `½‖y − y*‖²` this is exactly `y*`.
        scaled_dy: `s·dy`, the loss gradient in sum-reduced units.
        simulate: `P` with the example's context bound, `x -> y`, batched.
        extras: the problem's per-example context (e.g. `{"a": a}` for sin),
            for inverse solvers that need more than `x` and `y`.
        vjp: `v -> Jᵀv` at `x`, reusing the forward pass; may be called once.
            `None` when the forward pass recorded no tape.
    """

    x: tf.Tensor
    y: tf.Tensor
    y_target: tf.Tensor
    scaled_dy: tf.Tensor
    simulate: Simulator
    extras: Mapping[str, tf.Tensor] = dataclasses.field(default_factory=dict)
    vjp: Callable[[tf.Tensor], tf.Tensor] | None = None

    def require_vjp(self) -> Callable[[tf.Tensor], tf.Tensor]:
        if self.vjp is None:
            raise ValueError(
                "This gradient rule needs the forward pass's vector-Jacobian product, "
                "but the backward context has none. Received: vjp=None"
            )
        return self.vjp


class GradientRule(abc.ABC):
    """Turns the backward context of a physics layer into `delta_x`.

    Subclasses set `needs_vjp` when they use `context.vjp`, so the layer records
    a tape in the forward pass only when it will be used.
    """

    needs_vjp: bool = False
    #: Whether the rule replaces backprop by an inverse solver (a PG rule).
    is_physical: bool = True

    @abc.abstractmethod
    def delta_x(self, context: BackwardContext) -> tf.Tensor:
        """Returns the per-example update direction, shaped like `context.x`."""

    def get_config(self) -> dict:
        """The rule's settings, for logs and exported assets."""
        return {"rule": type(self).__name__}


class PhysicalGradientRule(GradientRule):
    """A rule defined by an inverse solver `x̃ = P⁻¹(y_target | x)`.

    `delta_x = clip(x − x̃)`; `clip` bounds each component to `[−clip, clip]`,
    which the paper uses for rules whose updates diverge (Newton, inverse
    gradient near extrema).
    """

    def __init__(self, clip: float | None = None):
        self.clip = check_clip(clip)

    @abc.abstractmethod
    def solve(self, context: BackwardContext) -> tf.Tensor:
        """Returns the corrected state `x̃ = P⁻¹(y_target | x)`."""

    def delta_x(self, context: BackwardContext) -> tf.Tensor:
        return clip_update(drop_nan(context.x - self.solve(context)), self.clip)

    def get_config(self) -> dict:
        return {**super().get_config(), "clip": self.clip}


def drop_nan(delta: tf.Tensor) -> tf.Tensor:
    """Zeroes NaN components: a solver failing for one example must not poison the batch.

    Infinities are kept so that clipping can bound them, as the paper does for
    Newton and inverse-gradient updates that overflow near extrema.
    """
    return tf.where(tf.math.is_nan(delta), tf.zeros_like(delta), delta)


def check_clip(clip: float | None) -> float | None:
    """`clip` if it is a valid bound for `clip_update` (None or > 0), else a ValueError."""
    if clip is not None and not clip > 0:
        raise ValueError(f"Expected `clip` > 0 or None. Received: clip={clip}")
    return clip


def clip_update(delta: tf.Tensor, clip: float | None) -> tf.Tensor:
    """Clips every component of `delta` to `[−clip, clip]`; `None` leaves it."""
    if clip is None:
        return delta
    return tf.clip_by_value(delta, -clip, clip)


def objective_gradient(simulate: Simulator, objective: Objective, x, y_target):
    """Per-example objective `L(P(x), y_target)` and its gradient in `x`, batched."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = objective(simulate(x), y_target)
    # Examples are independent, so the gradient of the sum is the per-example gradient.
    return loss, tape.gradient(loss, x)
