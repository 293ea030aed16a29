"""A PhysicsLayer aims its solver at `y*` whichever way the loss reduces over the batch.

The user writes `½‖y − y*‖²` reduced by a mean (Keras's default) or a sum and names that
reduction; the layer must undo it, so the inverse solver sees exactly `y*` and the network
receives the gradient of the loss it was given.
"""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics_layer import PhysicsLayer
from pg_keras.rules import InversePhysics

X = tf.constant([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.25]], tf.float64)
Y_STAR = tf.constant([[4.0, 0.0], [1.0, -2.0], [0.0, 6.0]], tf.float64)


def _doubling(x, extras):
    return 2.0 * x


def _reduce(per_example, reduction):
    return tf.reduce_sum(per_example) if reduction == "sum" else tf.reduce_mean(per_example)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_the_solver_aims_at_y_star_and_the_gradient_matches_the_reduction(reduction):
    seen = []

    def exact_inverse(context):
        seen.append(context.y_target)
        return context.y_target / 2.0

    layer = PhysicsLayer(_doubling, InversePhysics(exact_inverse), reduction, "float64")
    with tf.GradientTape() as tape:
        tape.watch(X)
        y = layer(X)
        loss = _reduce(0.5 * tf.reduce_sum((y - Y_STAR) ** 2, axis=1), reduction)
    grad = tape.gradient(loss, X)
    np.testing.assert_allclose(seen[0], Y_STAR, rtol=1e-12)
    # The PG is x − P⁻¹(y*), divided by the batch for a mean: the proxy ½‖x − x̃‖² reduced alike.
    scale = 1.0 if reduction == "sum" else len(X)
    np.testing.assert_allclose(grad, (X - Y_STAR / 2.0) / scale, rtol=1e-12)


def test_a_mean_loss_under_a_sum_layer_misses_y_star():
    """The pairing matters: naming the wrong reduction moves the solver's target."""
    seen = []

    def record(context):
        seen.append(context.y_target)
        return context.x

    layer = PhysicsLayer(_doubling, InversePhysics(record), "sum", "float64")
    with tf.GradientTape() as tape:
        tape.watch(X)
        y = layer(X)
        loss = tf.reduce_mean(0.5 * tf.reduce_sum((y - Y_STAR) ** 2, axis=1))
    tape.gradient(loss, X)
    y = 2.0 * X
    np.testing.assert_allclose(seen[0], y - (y - Y_STAR) / len(X), rtol=1e-12)


def test_the_layer_casts_to_the_physics_dtype_and_back():
    seen = []

    def record(context):
        seen.append(context.x.dtype)
        return context.y_target / 2.0

    layer = PhysicsLayer(_doubling, InversePhysics(record), "sum", "float64")
    x = tf.cast(X, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(0.5 * (y - Y_STAR) ** 2)
    grad = tape.gradient(loss, x)
    assert y.dtype == tf.float64 and seen == [tf.float64] and grad.dtype == tf.float32
    np.testing.assert_allclose(grad, X - Y_STAR / 2.0, rtol=1e-6)
    assert layer.get_config()["reduction"] == "sum"
    assert layer.get_config()["physics_dtype"] == "float64"
