"""The safeguards of the rules do what their arguments promise: Newton's damping shortens the
step by exactly `(H + λI)⁻¹`, and an infinite update is clipped, not dropped like a NaN."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physical_gradient import backward_context, physics_forward
from pg_keras.rules import InverseGradient, Newton
from pg_keras.rules.base import drop_nan

A = np.array([[2.0, 0.5], [0.5, 1.0]])
X0 = tf.constant([[1.0, -1.0], [0.5, 2.0]], tf.float64)
TARGET = tf.constant([[1.0, 2.0], [0.0, 0.0]], tf.float64)


def _context(rule, x, target, simulate):
    y, residuals = physics_forward(x, simulate, rule)
    return backward_context(residuals, y - target, "sum")


@pytest.mark.parametrize("damping", [0.5, 3.0])
def test_newton_damping_is_levenberg_on_a_quadratic(damping):
    rule = Newton(damping=damping, downhill=False)
    delta = rule.delta_x(_context(rule, X0, TARGET, lambda x: tf.matmul(x, A.T)))
    x, t = X0.numpy(), TARGET.numpy()
    gradient = (x @ A.T - t) @ A  # Aᵀ(Ax − t) per row
    expected = np.linalg.solve(A.T @ A + damping * np.eye(2), gradient.T).T
    np.testing.assert_allclose(delta, expected, rtol=1e-10)
    # Undamped, the same step would land on the minimum; damping stops short of it.
    assert np.all(
        np.linalg.norm(delta, axis=1)
        < np.linalg.norm(np.linalg.solve(A, (x @ A.T - t).T).T, axis=1)
    )


def test_drop_nan_zeroes_nan_and_keeps_infinities_for_clipping():
    delta = tf.constant([np.nan, np.inf, -np.inf, 2.0], tf.float64)
    np.testing.assert_array_equal(drop_nan(delta), [0.0, np.inf, -np.inf, 2.0])


def test_an_overflowing_inverse_gradient_step_is_clipped_not_dropped():
    """At an extremum of P, P' = 0: a nonzero residual gives ±inf, which the clip bounds;
    a zero residual gives 0/0 = NaN, which means no update."""
    rule = InverseGradient(clip=0.25)
    x = tf.constant([[0.0], [0.0], [0.0]], tf.float64)
    target = tf.constant([[-1.0], [3.0], [0.0]], tf.float64)
    delta = rule.delta_x(_context(rule, x, target, lambda z: z**2))
    # x̃ = x − (y − y*)/0: y − y* = +1 gives x̃ = −inf, Δ = +inf → +0.25; −3 gives −0.25.
    np.testing.assert_array_equal(delta, [[0.25], [-0.25], [0.0]])


def test_newton_walks_downhill_by_default():
    """P(x) = x³ minimised directly from x = −1: the raw Newton step +0.5 climbs; by
    default the rule flips it (as the paper does for sin(a/x))."""
    rule = Newton(objective=lambda y, t: tf.reduce_sum(y, axis=1))
    x = tf.constant([[-1.0]], tf.float64)
    delta = rule.delta_x(_context(rule, x, tf.zeros_like(x), lambda z: z**3))
    np.testing.assert_allclose(x - delta, [[-1.5]])


def test_newton_flips_by_the_whole_step_of_each_example():
    """Σ x³ minimised from two points in 3-D: g = 3x², H = diag(6x), the Newton step is −x/2
    and g·Δ = −1.5 Σx³. From (−1, .6, .6) that is +0.85 (uphill: flipped to +x/2) although
    the components mostly point downhill; from (1, −.6, −.6) it is −0.85 (kept)."""
    rule = Newton(objective=lambda y, t: tf.reduce_sum(y, axis=1))
    x = tf.constant([[-1.0, 0.6, 0.6], [1.0, -0.6, -0.6]], tf.float64)
    delta = rule.delta_x(_context(rule, x, tf.zeros_like(x), lambda z: z**3))
    np.testing.assert_allclose(x - delta, [[-1.5, 0.9, 0.9], [0.5, -0.3, -0.3]], rtol=1e-12)
