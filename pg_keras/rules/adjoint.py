"""Plain backpropagation through the simulator."""

from __future__ import annotations

import tensorflow as tf

from pg_keras.rules.base import BackwardContext, GradientRule, check_clip, clip_update


class Adjoint(GradientRule):
    """Passes `dL/dx = Jᵀ dy` back, as autodiff would, optionally clipped.

    Args:
        clip: bound for each component of the per-example gradient (in
            sum-reduced units). The paper clips sin(a/x) to [−1, 1], where
            `dL/dx` overflows as `x → 0`.
    """

    needs_vjp = True
    is_physical = False

    def __init__(self, clip: float | None = None):
        self.clip = check_clip(clip)

    def delta_x(self, context: BackwardContext) -> tf.Tensor:
        return clip_update(context.require_vjp()(context.scaled_dy), self.clip)

    def get_config(self) -> dict:
        return {**super().get_config(), "clip": self.clip}
