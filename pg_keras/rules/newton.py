"""Newton's method in x with a dense Hessian, for problems with few unknowns per example."""

from __future__ import annotations

import tensorflow as tf

from pg_keras.rules.base import (
    BackwardContext,
    Objective,
    PhysicalGradientRule,
    squared_residual,
)


class Newton(PhysicalGradientRule):
    """One damped Newton step per example: `x̃ = x − (H + λI)⁻¹ g`.

    `g` and `H` are the gradient and Hessian of `objective(P(x), y_target)` in
    `x` (default `½‖P(x) − y_target‖²`), computed per example by nested
    autodiff. Costs O(n) backward passes and an n×n solve for n unknowns, so
    meant for small `x` (sin: n = 1; wave packet: n = 2).

    Args:
        damping: λ added to the Hessian's diagonal (Levenberg-style).
        downhill: flip a step that points uphill (`g·Δ > 0`), so the rule walks
            towards minima only, as the paper does for sin(a/x).
        clip: bound for each component of `x − x̃`; a singular Hessian gives
            infinite steps that clipping bounds (NaN steps are dropped).
        objective: per-example `(y, y_target) -> loss`.
    """

    def __init__(
        self,
        damping: float = 0.0,
        downhill: bool = True,
        clip: float | None = None,
        objective: Objective = squared_residual,
    ):
        super().__init__(clip)
        if damping < 0:
            raise ValueError(f"Expected `damping` >= 0. Received: damping={damping}")
        self.damping = damping
        self.downhill = downhill
        self.objective = objective

    def solve(self, context: BackwardContext) -> tf.Tensor:
        x = context.x
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        with tf.GradientTape() as outer:
            outer.watch(flat)
            with tf.GradientTape() as inner:
                inner.watch(flat)
                loss = self.objective(
                    context.simulate(tf.reshape(flat, tf.shape(x))), context.y_target
                )
            grad = inner.gradient(loss, flat)
        hessian = outer.batch_jacobian(grad, flat)
        if self.damping:
            hessian += self.damping * tf.eye(tf.shape(flat)[1], dtype=flat.dtype)
        step = -tf.linalg.solve(hessian, grad[..., None])[..., 0]
        if self.downhill:
            uphill = tf.reduce_sum(grad * step, axis=1, keepdims=True) > 0
            step = tf.where(uphill, -step, step)
        return tf.reshape(flat + step, tf.shape(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "damping": self.damping, "downhill": self.downhill}
