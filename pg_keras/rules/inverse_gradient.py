"""Inverting the Jacobian directly, for one unknown and one observation per example."""

from __future__ import annotations

import tensorflow as tf

from pg_keras.rules.base import BackwardContext, PhysicalGradientRule


class InverseGradient(PhysicalGradientRule):
    """`x̃ = x − (P(x) − y_target) / P'(x)`: a Newton root-finding step on P(x) = y_target.

    Only defined where `x` and `y` hold one value per example (the paper's sin
    experiment, B.2). `P'` comes from the forward pass. Where `P' → 0` the step
    diverges; `clip` bounds it as the paper does.
    """

    needs_vjp = True

    def solve(self, context: BackwardContext) -> tf.Tensor:
        x, y = context.x, context.y
        for name, tensor in (("x", x), ("y", y)):
            if tensor.shape.rank is not None and tensor.shape[1:].num_elements() not in (None, 1):
                raise ValueError(
                    "InverseGradient needs one value per example in x and y. "
                    f"Received: {name}.shape={tensor.shape}"
                )
        slope = context.require_vjp()(tf.ones_like(y))
        return x - tf.reshape(y - context.y_target, tf.shape(x)) / slope
