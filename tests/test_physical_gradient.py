"""The PG core: forward/backward halves, Theorem 1, the proxy loss, reductions."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physical_gradient import (
    backward_context,
    physical_gradient,
    physics_backward,
    physics_forward,
    proxy_loss,
)
from pg_keras.rules import Adjoint, GradientDescent, InversePhysics, Newton

MATRIX = tf.constant([[1.0, 0.3, -0.2], [0.1, 2.0, 0.4], [-0.3, 0.2, 0.5]], tf.float64)


def nonlinear(x):
    """A small nonlinear simulator, `[B, 3] -> [B, 3]`."""
    return tf.sin(tf.matmul(x, MATRIX)) + 0.1 * x**3


def weights_and_inputs(seed=0):
    rng = np.random.default_rng(seed)
    w = tf.Variable(rng.normal(size=(2, 3)), dtype=tf.float64)
    inputs = tf.constant(rng.normal(size=(5, 2)))
    targets = tf.constant(rng.normal(size=(5, 3)) * 0.5)
    return w, inputs, targets


def reduce(per_example, reduction):
    return tf.reduce_sum(per_example) if reduction == "sum" else tf.reduce_mean(per_example)


def half_squared(y, t):
    return 0.5 * tf.reduce_sum((y - t) ** 2, axis=1)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_theorem_1_unit_gradient_descent_equals_backprop(reduction):
    w, inputs, targets = weights_and_inputs()
    with tf.GradientTape() as tape:
        y = nonlinear(tf.tanh(inputs @ w))
        plain = reduce(half_squared(y, targets), reduction)
    expected = tape.gradient(plain, w)

    layer = physical_gradient(nonlinear, GradientDescent(steps=1, learning_rate=1.0), reduction)
    with tf.GradientTape() as tape:
        y = layer(tf.tanh(inputs @ w))
        loss = reduce(half_squared(y, targets), reduction)
    np.testing.assert_allclose(tape.gradient(loss, w), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("rule_name", ["newton", "inverse-physics", "gd-3"])
def test_proxy_loss_gives_the_same_weight_gradients(reduction, rule_name):
    rule = {
        "newton": Newton(downhill=False),
        "inverse-physics": InversePhysics(lambda c: c.x - 0.5 * (c.y - c.y_target)),
        "gd-3": GradientDescent(steps=3, learning_rate=0.3),
    }[rule_name]
    w, inputs, targets = weights_and_inputs(1)
    layer = physical_gradient(nonlinear, rule, reduction)
    with tf.GradientTape() as tape:
        x = tf.tanh(inputs @ w)
        loss = reduce(half_squared(layer(x), targets), reduction)
    through_layer = tape.gradient(loss, w)

    # Eq. 5: compute x̃ with the same solver outside the graph, then train ½‖x − x̃‖².
    x = tf.tanh(inputs @ w)
    y, residuals = physics_forward(x, nonlinear, rule)
    dy = (y - targets) / (1.0 if reduction == "sum" else 5.0)
    x_tilde = x - rule.delta_x(backward_context(residuals, dy, reduction))
    with tf.GradientTape() as tape:
        proxy = proxy_loss(tf.tanh(inputs @ w), x_tilde, reduction)
    np.testing.assert_allclose(tape.gradient(proxy, w), through_layer, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_solver_target_is_the_observation_for_either_reduction(reduction):
    x = tf.constant(np.random.default_rng(2).normal(size=(4, 3)))
    targets = tf.constant(np.random.default_rng(3).normal(size=(4, 3)))
    y, residuals = physics_forward(x, nonlinear, Adjoint())
    dy = (y - targets) / (1.0 if reduction == "sum" else 4.0)
    context = backward_context(residuals, dy, reduction)
    np.testing.assert_allclose(context.y_target, targets, rtol=1e-12)


def test_forward_records_a_tape_only_when_the_rule_needs_it():
    x = tf.ones([2, 3], tf.float64)
    _, with_tape = physics_forward(x, nonlinear, Adjoint())
    _, without = physics_forward(x, nonlinear, InversePhysics(lambda c: c.x))
    assert with_tape.vjp is not None
    assert without.vjp is None


def test_backward_alone_returns_the_pg_divided_by_the_batch_for_mean_losses():
    x = tf.constant([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]], tf.float64)
    y, residuals = physics_forward(x, nonlinear, InversePhysics(lambda c: c.x * 0.0))
    dx = physics_backward(residuals, tf.zeros_like(y), InversePhysics(lambda c: c.x * 0.0), "mean")
    np.testing.assert_allclose(dx, x / 2.0)


def test_adjoint_rule_matches_finite_differences():
    x = tf.constant(np.random.default_rng(4).normal(size=(2, 3)))
    layer = physical_gradient(nonlinear, Adjoint(), "sum")
    theoretical, numerical = tf.test.compute_gradient(layer, [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-6, atol=1e-6)


def test_adjoint_equals_autodiff_and_clips_per_example():
    x = tf.constant([[0.02, 1.0, 0.3]], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        plain = tf.reduce_sum(nonlinear(x) ** 2)
    expected = tape.gradient(plain, x)
    for clip in (None, 0.5):
        layer = physical_gradient(nonlinear, Adjoint(clip=clip), "mean")
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x) ** 2)
        got = tape.gradient(loss, x)
        want = expected if clip is None else tf.clip_by_value(expected, -clip, clip)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_nan_from_a_solver_drops_that_example_only():
    def half_broken(context):
        bad = tf.constant([[True], [False]])
        return tf.where(
            bad, tf.fill(tf.shape(context.x), tf.constant(np.nan, tf.float64)), context.x * 0.5
        )

    x = tf.constant([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], tf.float64)
    y, residuals = physics_forward(x, nonlinear, InversePhysics(half_broken))
    dx = physics_backward(residuals, tf.zeros_like(y), InversePhysics(half_broken), "sum")
    np.testing.assert_allclose(dx, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


def test_unknown_reduction_is_rejected():
    with pytest.raises(ValueError, match="reduction"):
        physical_gradient(nonlinear, Adjoint(), "median")
