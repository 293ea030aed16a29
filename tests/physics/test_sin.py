"""sin(a/x): the analytic inverse, its branches, and the paper's update formulas."""

import math

import numpy as np
import tensorflow as tf

from pg_keras.physical_gradient import backward_context, physics_forward
from pg_keras.physics import sin
from pg_keras.problems import get_problem


def test_analytic_inverse_lands_on_minima():
    rng = np.random.default_rng(0)
    a = tf.constant(rng.uniform(0.1, 10.1, size=(200, 1)))
    x0 = tf.constant(rng.normal(scale=2.0, size=(200, 1)))
    x = sin.analytic_inverse(x0, a)
    np.testing.assert_allclose(sin.simulate(x, a), -1.0, atol=1e-12)
    assert np.all(np.sign(x) == np.sign(x0))


def test_outermost_branches():
    a = tf.constant([[1.0], [1.0]], tf.float64)
    far = tf.constant([[1e6], [-1e6]], tf.float64)
    np.testing.assert_allclose(sin.analytic_inverse(far, a), [[2 / (3 * math.pi)], [-2 / math.pi]])
    at_zero = sin.analytic_inverse(tf.zeros([1, 1], tf.float64), a[:1])
    assert np.isfinite(at_zero.numpy()).all()


def test_distance_to_solution_is_zero_at_minima_and_picks_the_nearest():
    a = tf.constant([[2.0]], tf.float64)
    minima = [sin.minimum(a, float(n)).numpy()[0, 0] for n in range(0, 4)]
    for m in minima:
        assert sin.distance_to_solution(tf.constant([[m]], tf.float64), a).numpy()[0, 0] < 1e-15
    midpoint_bias = 0.49 * (minima[0] - minima[1])
    x = tf.constant([[minima[1] + midpoint_bias]], tf.float64)
    np.testing.assert_allclose(sin.distance_to_solution(x, a), [[midpoint_bias]], rtol=1e-9)


def _delta(scheme_name, x, a):
    problem = get_problem("sin", {"physics_dtype": "float64"})
    rule = problem.scheme(scheme_name).rule
    extras = {"a": a}
    y, residuals = physics_forward(x, lambda z: problem.simulate(z, extras), rule, extras)
    return rule.delta_x(backward_context(residuals, y + 1.0, "sum"))


def test_newton_scheme_is_the_papers_formula_flipped_downhill():
    a = tf.constant([[1.0], [3.0], [7.0]], tf.float64)
    x = tf.constant([[0.7], [2.5], [-1.3]], tf.float64)
    delta = _delta("newton", x, a).numpy()
    c, s = np.cos(a / x), np.sin(a / x)
    paper = (x * x * c / (2 * x * c - a * s)).numpy()
    slope = (-a / x**2 * c).numpy()
    expected = np.clip(np.abs(paper) * np.sign(slope), -1, 1)  # downhill: along dL/dx
    np.testing.assert_allclose(delta, expected, rtol=1e-10)


def test_inverse_gradient_scheme_is_minus_h_over_slope():
    a = tf.constant([[1.0], [3.0]], tf.float64)
    x = tf.constant([[2.0], [5.0]], tf.float64)
    delta = _delta("inverse-gradient", x, a).numpy()
    h = np.sin(a / x) + 1.0
    slope = -a / x**2 * np.cos(a / x)
    np.testing.assert_allclose(delta, np.clip(h / slope, -1, 1), rtol=1e-10)


def test_inverse_physics_scheme_jumps_to_the_nearest_minimum():
    a = tf.constant([[1.0]], tf.float64)
    x = tf.constant([[0.3]], tf.float64)
    delta = _delta("inverse-physics", x, a)
    np.testing.assert_allclose(sin.simulate(x - delta, a), [[-1.0]], atol=1e-12)


def test_a_guess_at_zero_jumps_to_a_positive_minimum_next_to_zero():
    # The docstring's rule: x0 >= 0 keeps to the positive branch, and the jump goes to the
    # minimum nearest x0, so from x0 = 0 (either sign of zero) it lands closer to 0 than
    # the jump from a small positive guess does.
    a = tf.constant([[1.0], [3.0]], tf.float64)
    for zero in (0.0, -0.0):
        x = sin.analytic_inverse(tf.fill([2, 1], tf.constant(zero, tf.float64)), a)
        assert np.all(x.numpy() > 0)
        np.testing.assert_allclose(sin.simulate(x, a), -1.0, atol=1e-9)
        from_small_guess = sin.analytic_inverse(tf.fill([2, 1], tf.constant(1e-6, tf.float64)), a)
        assert np.all(x.numpy() < from_small_guess.numpy())


def test_a_float32_guess_at_zero_still_lands_on_a_minimum():
    # The sin physics defaults to float32: there a branch index near the float64 cap puts
    # the phase a / x_n between float32's representable values, 4 apart, and sin(a / x)
    # comes out anywhere in [-1, 1]; the cap follows the dtype so the jump is a minimum.
    a = tf.constant([[0.1], [1.0], [3.0], [10.1]], tf.float32)
    for zero in (0.0, -0.0):
        x = sin.analytic_inverse(tf.fill([4, 1], tf.constant(zero, tf.float32)), a)
        assert x.dtype == tf.float32 and np.all(x.numpy() > 0)
        # −1 to 1e-5, as `_max_branch` promises for float32 (n ≤ 8388)
        np.testing.assert_allclose(sin.simulate(x, a), -1.0, atol=1e-5)


def test_distance_to_solution_agrees_with_a_search_over_every_branch():
    # Between two minima the nearest in 1/x (the branch rounding) and the nearest in x
    # differ: the x-nearest is the next branch toward zero on either side.
    a = 2.0
    positive = [a / (1.5 * math.pi + 2 * math.pi * n) for n in range(0, 6)]
    negative = [a / (1.5 * math.pi + 2 * math.pi * n) for n in range(-1, -7, -1)]
    xs = [
        near + f * (far - near)
        for minima in (positive, negative)
        for far, near in zip(minima, minima[1:], strict=False)
        for f in (0.1, 0.3, 0.45, 0.55, 0.7, 0.9)
    ]
    x = tf.constant(np.array(xs)[:, None])
    every_minimum = np.array([a / (1.5 * math.pi + 2 * math.pi * n) for n in range(-200, 200)])
    same_side = np.sign(every_minimum)[None, :] == np.sign(x.numpy())
    expected = np.where(same_side, np.abs(x.numpy() - every_minimum[None, :]), np.inf).min(axis=1)
    got = sin.distance_to_solution(x, tf.fill(x.shape, tf.constant(a, tf.float64)))
    np.testing.assert_allclose(got.numpy()[:, 0], expected, rtol=1e-9)
