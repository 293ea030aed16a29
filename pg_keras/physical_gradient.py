"""Putting a simulator into an autodiff graph with a chosen backward rule.

The forward pass runs the simulator, `y = P(x)`. The backward pass receives
`dy = dL/dy` and, instead of backpropagating `Jᵀdy`, asks a `GradientRule` for
an update direction. For a physical-gradient (PG) rule that is

    delta_x = x − P⁻¹(y − s·dy | x),

the paper's PG (Eq. 5), where `s` undoes the loss's batch reduction:

* `reduction="sum"`:  L = Σᵢ Lᵢ,         dy = ∂Lᵢ/∂yᵢ,       s = 1;
* `reduction="mean"`: L = (1/B) Σᵢ Lᵢ,   dy = (1/B) ∂Lᵢ/∂yᵢ, s = B.

Under a `tf.distribute` strategy each replica sees `B/R` examples of the global
batch `B` and the per-replica gradients are summed, so a mean-reduced loss is
`Σᵢ Lᵢ / B` on every replica and `s = (B/R)·R = B` again.

For `Lᵢ = ½‖yᵢ − y*ᵢ‖²` the solver target `y − s·dy` is exactly `y*` either
way. The returned gradient is `delta_x / s`, which is the weight gradient of
the proxy loss `½‖x − stop_gradient(x̃)‖²` under the same reduction: PG
training is ordinary first-order training on that proxy (see `proxy_loss`).

Forward and backward are separate module-level functions so that each can be
tested alone; `physical_gradient` joins them with `tf.custom_gradient`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import tensorflow as tf

from pg_keras.rules.base import BackwardContext, GradientRule, Simulator

REDUCTIONS = ("sum", "mean")


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Expected `reduction` to be one of {REDUCTIONS}. Received: reduction={reduction!r}"
        )
    return reduction


def num_replicas() -> int:
    """Replicas the current step runs on (1 outside a distribution strategy)."""
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


def reduction_scale(reduction: str, batch_size: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """`s`, the factor by which the loss reduction shrank each example's gradient.

    `batch_size` is the batch this replica sees; for "mean" the global batch is
    that times the number of replicas in sync.
    """
    if check_reduction(reduction) == "sum":
        return tf.constant(1, dtype)
    return tf.cast(batch_size * num_replicas(), dtype)


@dataclasses.dataclass(frozen=True)
class PhysicsResiduals:
    """What the forward pass keeps for the backward pass."""

    x: tf.Tensor
    y: tf.Tensor
    simulate: Simulator
    extras: Mapping[str, tf.Tensor]
    vjp: Callable[[tf.Tensor], tf.Tensor] | None


def physics_forward(
    x: tf.Tensor,
    simulate: Simulator,
    rule: GradientRule,
    extras: Mapping[str, tf.Tensor] | None = None,
) -> tuple[tf.Tensor, PhysicsResiduals]:
    """Runs `y = simulate(x)`, recording a tape only if `rule` will use `Jᵀv`."""
    if rule.needs_vjp:
        tape = tf.GradientTape()
        with tape:
            tape.watch(x)
            y = simulate(x)

        def vjp(v: tf.Tensor) -> tf.Tensor:
            return tape.gradient(y, x, output_gradients=v)
    else:
        y, vjp = simulate(x), None
    return y, PhysicsResiduals(x=x, y=y, simulate=simulate, extras=dict(extras or {}), vjp=vjp)


def backward_context(residuals: PhysicsResiduals, dy: tf.Tensor, reduction: str) -> BackwardContext:
    """The rule's view of the backward pass: `y_target = y − s·dy`."""
    scale = reduction_scale(reduction, tf.shape(dy)[0], dy.dtype)
    scaled_dy = scale * dy
    return BackwardContext(
        x=residuals.x,
        y=residuals.y,
        y_target=residuals.y - scaled_dy,
        scaled_dy=scaled_dy,
        simulate=residuals.simulate,
        extras=residuals.extras,
        vjp=residuals.vjp,
    )


def physics_backward(
    residuals: PhysicsResiduals, dy: tf.Tensor, rule: GradientRule, reduction: str = "mean"
) -> tf.Tensor:
    """Returns the gradient the network receives for `x`: `rule.delta_x / s`."""
    context = backward_context(residuals, dy, reduction)
    delta_x = rule.delta_x(context)
    return delta_x / reduction_scale(reduction, tf.shape(dy)[0], delta_x.dtype)


def physical_gradient(
    simulate: Simulator,
    rule: GradientRule,
    reduction: str = "mean",
    extras: Mapping[str, tf.Tensor] | None = None,
) -> Callable[[tf.Tensor], tf.Tensor]:
    """`x -> P(x)` whose gradient is given by `rule` instead of autodiff.

    Args:
        simulate: batched simulator `x -> y` with the example context bound.
        rule: the backward rule.
        reduction: how the loss reduces per-example losses over the batch,
            `"sum"` or `"mean"`; see the module docstring.
        extras: per-example context passed to the rule (e.g. for an analytic inverse).
    """
    check_reduction(reduction)

    @tf.custom_gradient
    def simulate_with_rule(x):
        y, residuals = physics_forward(x, simulate, rule, extras)

        def backward(dy):
            return physics_backward(residuals, dy, rule, reduction)

        return y, backward

    return simulate_with_rule


def rule_update(
    rule: GradientRule,
    simulate: Simulator,
    y_target: tf.Tensor,
    extras: Mapping[str, tf.Tensor] | None = None,
) -> Callable[[tf.Tensor], tf.Tensor]:
    """`x -> x − Δx`, one update of `rule` aimed at `y_target`, for iterating a rule alone.

    The rule sees the backward context of a sum-reduced `½‖y − y*‖²`, for which
    `y_target` is exactly `y*`; for an inverse-physics rule without clipping the update
    is `x ← P⁻¹(y* | x)`.
    """

    def update(x: tf.Tensor) -> tf.Tensor:
        y, residuals = physics_forward(x, simulate, rule, extras)
        context = BackwardContext(
            x=x,
            y=y,
            y_target=y_target,
            scaled_dy=y - y_target,
            simulate=simulate,
            extras=residuals.extras,
            vjp=residuals.vjp,
        )
        return x - tf.cast(rule.delta_x(context), x.dtype)

    return update


def proxy_loss(x: tf.Tensor, x_tilde: tf.Tensor, reduction: str = "mean") -> tf.Tensor:
    """The paper's Eq. 5 in code: `½‖x − stop_gradient(x̃)‖²`, reduced over the batch.

    Its gradient in `x` is `(x − x̃)/s`, the same as `physical_gradient` with
    a PG rule gives, so either form trains the network identically.
    """
    difference = x - tf.stop_gradient(x_tilde)
    per_example = 0.5 * tf.reduce_sum(
        tf.reshape(difference * difference, [tf.shape(x)[0], -1]), axis=1
    )
    if check_reduction(reduction) == "sum":
        return tf.reduce_sum(per_example)
    return tf.reduce_mean(per_example)
