"""Gradient descent in x as the inverse solver."""

from __future__ import annotations

import tensorflow as tf

from pg_keras.rules.base import (
    BackwardContext,
    GradientRule,
    Objective,
    check_clip,
    clip_update,
    drop_nan,
    objective_gradient,
    squared_residual,
)


class GradientDescent(GradientRule):
    """`P⁻¹` = `steps` gradient-descent steps on `½‖P(x) − y_target‖²`.

    With `steps=1, learning_rate=1` the physical gradient equals backprop
    exactly (the paper's Theorem 1): the first step's gradient is `Jᵀ(s·dy)`,
    taken from the forward pass. The update is accumulated as a sum of steps
    rather than formed as `x − x_n`, so that identity also holds in floating
    point.
    """

    needs_vjp = True

    def __init__(
        self,
        steps: int = 1,
        learning_rate: float = 1.0,
        clip: float | None = None,
    ):
        if steps < 1:
            raise ValueError(f"Expected `steps` >= 1. Received: steps={steps}")
        if not learning_rate > 0:
            raise ValueError(
                f"Expected `learning_rate` > 0. Received: learning_rate={learning_rate}"
            )
        self.steps = steps
        self.learning_rate = learning_rate
        self.clip = check_clip(clip)
        self.objective: Objective = squared_residual

    def delta_x(self, context: BackwardContext) -> tf.Tensor:
        # ∇ₓ½‖P(x) − y_target‖² = Jᵀ(y − y_target) = Jᵀ(s·dy): reuse the forward pass.
        delta = self.learning_rate * context.require_vjp()(context.scaled_dy)
        for _ in range(self.steps - 1):
            _, grad = objective_gradient(
                context.simulate, self.objective, context.x - delta, context.y_target
            )
            delta += self.learning_rate * grad
        return clip_update(drop_nan(delta), self.clip)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "steps": self.steps,
            "learning_rate": self.learning_rate,
            "clip": self.clip,
        }
