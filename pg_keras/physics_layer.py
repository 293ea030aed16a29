"""The Keras face of `physical_gradient`: a simulator as a layer with a chosen backward rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
import tensorflow as tf

from pg_keras.batch import cast_context
from pg_keras.physical_gradient import check_reduction, physical_gradient
from pg_keras.rules.base import GradientRule


class PhysicsLayer(keras.layers.Layer):
    """`y = simulate(x, extras)` forward; `rule` decides the gradient for `x`.

    The input is cast to `physics_dtype` (e.g. float64 for the heat equation,
    whose inverse amplifies modes by up to e⁸⁸), and the output stays in it;
    the cast's gradient brings the update back to the network's float32.

    Args:
        simulate: `(x, extras) -> y`, batched, pure TF.
        rule: the backward rule (`Adjoint`, `Newton`, `InversePhysics`, ...).
        reduction: "mean" or "sum", how the loss reduces over the batch; the
            layer scales the solver target so either is right.
        physics_dtype: dtype the simulator runs in.
    """

    def __init__(
        self,
        simulate: Callable[[tf.Tensor, Mapping[str, tf.Tensor]], tf.Tensor],
        rule: GradientRule,
        reduction: str = "mean",
        physics_dtype: str = "float32",
        **kwargs,
    ):
        super().__init__(autocast=False, **kwargs)
        if not isinstance(rule, GradientRule):
            raise TypeError(f"Expected `rule` to be a GradientRule. Received: rule={rule!r}")
        self.simulate = simulate
        self.rule = rule
        self.reduction = check_reduction(reduction)
        self.physics_dtype = tf.as_dtype(physics_dtype)

    def call(self, x, extras=None):
        extras = cast_context(extras or {}, self.physics_dtype)
        x = tf.cast(x, self.physics_dtype)
        forward = physical_gradient(
            lambda z: self.simulate(z, extras), self.rule, self.reduction, extras
        )
        return forward(x)

    def compute_output_spec(self, x, extras=None):
        raise NotImplementedError(
            "PhysicsLayer runs in eager or traced TF code only; its output shape is the "
            "simulator's and is not inferred symbolically."
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "rule": self.rule.get_config(),
            "reduction": self.reduction,
            "physics_dtype": self.physics_dtype.name,
        }
