"""Each rule on a problem with a known answer, and argument checks."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physical_gradient import backward_context, physics_forward
from pg_keras.rules import (
    LBFGS,
    Adjoint,
    GradientDescent,
    InverseGradient,
    InversePhysics,
    Newton,
    Supervised,
)

A = tf.constant([[2.0, 0.5], [0.5, 1.0]], tf.float64)


def linear(x):
    """`y = A x` per example: the objective ½‖Ax − t‖² is a quadratic."""
    return tf.matmul(x, A, transpose_b=True)


def context_for(rule, x, target, simulate=linear):
    y, residuals = physics_forward(x, simulate, rule)
    return backward_context(residuals, y - target, "sum")


X0 = tf.constant([[1.0, -1.0], [0.5, 2.0], [-3.0, 0.0]], tf.float64)
TARGET = tf.constant([[1.0, 2.0], [0.0, 0.0], [-1.0, 4.0]], tf.float64)
SOLUTION = tf.transpose(tf.linalg.solve(A, tf.transpose(TARGET)))


def test_newton_lands_on_the_minimum_of_a_quadratic_in_one_step():
    rule = Newton(downhill=False)
    delta = rule.delta_x(context_for(rule, X0, TARGET))
    np.testing.assert_allclose(X0 - delta, SOLUTION, rtol=1e-10)


def test_newton_downhill_flips_uphill_steps():
    # P(x) = x³ minimised directly: at x = −1 the Newton step x − P'/P'' = −0.5 goes uphill.
    rule = Newton(downhill=True, objective=lambda y, t: tf.reduce_sum(y, axis=1))
    x = tf.constant([[-1.0]], tf.float64)
    delta = rule.delta_x(context_for(rule, x, tf.zeros_like(x), simulate=lambda z: z**3))
    # g = 3, Newton step Δ = −g/H = −3/(−6) = +0.5 (uphill); flipped to −0.5.
    np.testing.assert_allclose(x - delta, [[-1.5]])


def test_newton_damping_and_clipping():
    rule = Newton(downhill=False, damping=1e6, clip=1e-3)
    delta = rule.delta_x(context_for(rule, X0, TARGET))
    assert np.all(np.abs(delta) <= 1e-3)
    with pytest.raises(ValueError, match="damping"):
        Newton(damping=-1.0)


def test_gradient_descent_steps_follow_the_closed_form():
    rule = GradientDescent(steps=4, learning_rate=0.1)
    delta = rule.delta_x(context_for(rule, X0, TARGET))
    x = X0.numpy()
    a, t = A.numpy(), TARGET.numpy()
    for _ in range(4):
        x = x - 0.1 * (x @ a.T - t) @ a
    np.testing.assert_allclose(X0 - delta, x, rtol=1e-12)


def test_inverse_gradient_solves_a_linear_scalar_problem_exactly():
    rule = InverseGradient()
    x = tf.constant([[1.0], [-2.0]], tf.float64)
    target = tf.constant([[3.0], [5.0]], tf.float64)
    delta = rule.delta_x(context_for(rule, x, target, simulate=lambda z: 4.0 * z - 1.0))
    np.testing.assert_allclose(x - delta, [[1.0], [1.5]])


def test_inverse_gradient_refuses_vector_unknowns():
    rule = InverseGradient()
    with pytest.raises(ValueError, match="one value per example"):
        rule.delta_x(context_for(rule, X0, TARGET))


def test_lbfgs_converges_per_example():
    rule = LBFGS(iterations=50)
    delta = rule.delta_x(context_for(rule, X0, TARGET))
    np.testing.assert_allclose(X0 - delta, SOLUTION, atol=1e-6)


def test_lbfgs_defaults_are_the_papers_heat_settings():
    assert LBFGS().get_config() == {
        "rule": "LBFGS",
        "clip": None,
        "iterations": 32,
        "num_correction_pairs": 10,
        "tolerance": 1e-8,
    }


def test_lbfgs_with_one_iteration_lowers_the_objective_without_solving():
    def loss(z):
        return tf.reduce_sum((linear(z) - TARGET) ** 2, axis=1)

    rule = LBFGS(iterations=1)
    x = X0 - rule.delta_x(context_for(rule, X0, TARGET))
    assert (loss(x) < loss(X0)).numpy().all()
    assert not np.allclose(x, SOLUTION, atol=1e-6)


def test_inverse_physics_gets_the_context_and_extras():
    seen = {}

    def solver(context):
        seen.update(context.extras)
        return context.x + context.extras["shift"]

    rule = InversePhysics(solver)
    y, residuals = physics_forward(X0, linear, rule, {"shift": tf.constant(2.0, tf.float64)})
    delta = rule.delta_x(backward_context(residuals, tf.zeros_like(y), "sum"))
    np.testing.assert_allclose(delta, -2.0 * np.ones((3, 2)))
    assert "shift" in seen


def test_default_gradient_descent_is_one_unit_step_so_it_equals_backprop():
    """Theorem 1: `GradientDescent()` (one step of size 1) is the adjoint's update."""
    rule = GradientDescent()
    delta = rule.delta_x(context_for(rule, X0, TARGET))
    np.testing.assert_allclose(delta, (linear(X0) - TARGET) @ A, rtol=1e-12)


def test_inverse_solver_rules_are_physical_and_backprop_is_not():
    """`is_physical` decides which rules an exported model repeats in `refine`."""
    physical = [GradientDescent(), Newton(), LBFGS(), InverseGradient(), InversePhysics(linear)]
    assert all(rule.is_physical for rule in physical)
    assert not Adjoint().is_physical and not Supervised().is_physical


def test_adjoint_is_the_vjp():
    rule = Adjoint()
    delta = rule.delta_x(context_for(rule, X0, TARGET))
    np.testing.assert_allclose(delta, (linear(X0) - TARGET) @ A, rtol=1e-12)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GradientDescent(steps=0), "Expected `steps` >= 1. Received: steps=0"),
        (lambda: GradientDescent(learning_rate=0), "learning_rate=0"),
        (lambda: Adjoint(clip=-1), "clip=-1"),
        (lambda: Newton(clip=0), "clip=0"),  # a zero bound would zero every update
        (lambda: LBFGS(iterations=0), "iterations=0"),
        (lambda: InversePhysics("not callable"), "solver"),
    ],
)
def test_bad_settings_name_what_was_received(make, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("(", r"\(")):
        make()
