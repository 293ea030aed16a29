"""Wave-packet physics and the batched iterative solvers: identities, Jacobian, recovery."""

import math

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics import iterative
from pg_keras.physics import wavepacket as physics

F, SIGMA = 4.0, 20.0
XI = physics.sample_positions(256, tf.float64)


def test_packet_peaks_at_its_centre_and_amplitude_scales_it():
    x = tf.constant([[100.0, 3.0], [100.0, 1.5]], tf.float64)
    y = physics.simulate(x, XI, F, SIGMA).numpy()
    # At ξ = ξ0 the envelope is 1, so y = A sin(f ξ0).
    np.testing.assert_allclose(y[0, 100], 3.0 * math.sin(F * 100), rtol=1e-12)
    np.testing.assert_allclose(y[0], 2.0 * y[1], rtol=1e-12)
    envelope = physics.envelope(x[:, :1], XI, SIGMA).numpy()[0]
    np.testing.assert_allclose(envelope[80], envelope[120], rtol=1e-12)
    np.testing.assert_allclose(envelope[100 + 20], math.exp(-0.5), rtol=1e-12)


def test_jacobian_matches_autodiff():
    x = tf.constant([[60.3, 2.5], [190.0, -1.0], [128.0, 0.0]], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = physics.simulate(x, XI, F, SIGMA)
    autodiff = tape.batch_jacobian(y, x).numpy()
    np.testing.assert_allclose(physics.jacobian(x, XI, F, SIGMA).numpy(), autodiff, atol=1e-12)


def test_sample_positions_rejects_empty_and_accepts_a_single_sample():
    with pytest.raises(ValueError, match="Received: samples=0"):
        physics.sample_positions(0)
    np.testing.assert_array_equal(physics.sample_positions(1).numpy(), [0.0])


def _residual(y_target):
    return lambda z: physics.simulate(z, XI, F, SIGMA) - y_target


@pytest.mark.parametrize("adaptive", [True, False])
def test_least_squares_recovers_noise_free_packets_from_near_start(adaptive):
    truth = tf.constant([[120.0, 3.0], [135.0, 1.2]], tf.float64)
    y_target = physics.simulate(truth, XI, F, SIGMA)
    start = tf.constant([[120.3, 2.0], [134.8, 2.0]], tf.float64)
    result = iterative.levenberg_marquardt(
        _residual(y_target),
        start,
        max_iterations=50,
        damping=1e-3 if adaptive else 0.0,
        adaptive=adaptive,
    )
    np.testing.assert_allclose(result.position.numpy(), truth.numpy(), atol=1e-6)
    assert result.converged.numpy().all()
    assert result.trajectory.shape[1:] == (2, 2)
    np.testing.assert_array_equal(result.trajectory[0].numpy(), start.numpy())


def test_levenberg_marquardt_never_raises_the_objective_and_survives_zero_jacobian():
    rng = np.random.default_rng(0)
    y_target = tf.constant(rng.normal(size=(3, 256)), tf.float64)
    # A = 0 makes ∂y/∂ξ0 vanish; a packet far outside the window makes J = 0.
    start = tf.constant([[128.0, 0.0], [5000.0, 2.0], [40.0, 2.0]], tf.float64)
    result = iterative.levenberg_marquardt(_residual(y_target), start, max_iterations=30)
    losses = [
        0.5 * tf.reduce_sum(_residual(y_target)(step) ** 2, axis=1).numpy()
        for step in result.trajectory
    ]
    assert np.all(np.diff(np.stack(losses), axis=0) <= 1e-9)
    assert np.isfinite(result.position.numpy()).all()
    # `objective` is ½‖r‖² at `position`, the docstring's objective
    np.testing.assert_allclose(result.objective.numpy(), losses[-1], rtol=1e-12)


def test_gradient_descent_converges_on_a_quadratic_and_counts_iterations():
    target = tf.constant([[1.0, -2.0], [0.5, 0.5]], tf.float64)
    result = iterative.gradient_descent(
        lambda z: 0.5 * tf.reduce_sum((z - target) ** 2, axis=1),
        tf.zeros([2, 2], tf.float64),
        max_iterations=500,
        learning_rate=0.5,
        tolerance=1e-10,
    )
    np.testing.assert_allclose(result.position.numpy(), target.numpy(), atol=1e-9)
    assert result.converged.numpy().all()
    assert (result.num_iterations.numpy() < 60).all()


def test_iterative_solvers_check_their_arguments():
    with pytest.raises(ValueError, match="Received: max_iterations=0"):
        iterative.gradient_descent(lambda z: z[:, 0], tf.zeros([1, 2]), max_iterations=0)
    with pytest.raises(ValueError, match="Received: damping=-1"):
        iterative.levenberg_marquardt(lambda z: z, tf.zeros([1, 2]), damping=-1)
    for solve in (iterative.gradient_descent, iterative.levenberg_marquardt):
        with pytest.raises(ValueError, match="Received: max_iterations=0"):
            solve(lambda z: z[:, 0], tf.zeros([1, 2]), max_iterations=0)
        for shape in ([2], [1, 2, 1]):
            with pytest.raises(ValueError, match=r"Expected `x0` of shape \[batch, d\]"):
                solve(lambda z: tf.reduce_sum(z), tf.zeros(shape))


def test_levenberg_marquardt_stops_a_row_once_its_damping_passes_1e12():
    # Every trial step lands where the residual is NaN, so each is rejected and λ doubles
    # from 1: the docstring's "λ has grown past 1e12 (no step helps)" first holds at
    # λ = 2^40, in the 41st iteration, and the row stays where it started.
    result = iterative.levenberg_marquardt(
        _nan_away_from_zero, tf.zeros([1, 1], tf.float64), max_iterations=100, damping=1.0
    )
    assert result.converged.numpy().all()
    assert result.num_iterations.numpy().tolist() == [41]
    np.testing.assert_array_equal(result.position.numpy(), [[0.0]])
    # "past": from λ = 1e12 / 2^10 it reaches exactly 1e12 in the 11th iteration and goes on
    exact = iterative.levenberg_marquardt(
        _nan_away_from_zero, tf.zeros([1, 1], tf.float64), damping=1e12 / 2**10
    )
    assert exact.converged.numpy().all() and exact.num_iterations.numpy().tolist() == [12]


def test_a_single_iteration_is_allowed_and_runs_once():
    start = tf.constant([[120.3, 2.0]], tf.float64)
    y_target = physics.simulate(tf.constant([[120.0, 3.0]], tf.float64), XI, F, SIGMA)
    once = iterative.levenberg_marquardt(_residual(y_target), start, max_iterations=1)
    assert once.num_iterations.numpy().tolist() == [1] and once.trajectory.shape[0] == 2
    step = iterative.gradient_descent(
        lambda z: 0.5 * tf.reduce_sum(z**2, axis=1), start, max_iterations=1, learning_rate=0.5
    )
    assert step.num_iterations.numpy().tolist() == [1]
    np.testing.assert_allclose(step.position.numpy(), 0.5 * start.numpy())


def test_levenberg_marquardt_steps_follow_the_docstrings_formula():
    # r(x) = x − 1: JᵀJ = 1, so Δx = −(1 + λ)⁻¹ (x − 1); every step lowers the objective,
    # so λ ← λ/3 each time: from λ = 3, x goes 0 → 1/4 → 5/8 → 29/32. Marquardt's scaling
    # makes the steps independent of the residual's units: c (x − 1) takes the same ones.
    for units in (1.0, 1e-3, 1e3):
        result = iterative.levenberg_marquardt(
            lambda x, c=units: c * (x - 1.0),
            tf.zeros([1, 1], tf.float64),
            max_iterations=3,
            damping=3.0,
        )
        np.testing.assert_allclose(
            result.trajectory.numpy()[:, 0, 0], [0, 1 / 4, 5 / 8, 29 / 32], rtol=1e-7
        )
        assert not result.converged.numpy().any()
    # Gauss–Newton solves a linear residual in one step, and stops on the zero step after it
    newton = iterative.levenberg_marquardt(
        lambda x: x - 1.0, tf.zeros([1, 1], tf.float64), damping=0.0, adaptive=False
    )
    np.testing.assert_allclose(newton.position.numpy(), [[1.0]], rtol=1e-12)
    assert newton.converged.numpy().all() and newton.num_iterations.numpy().tolist() == [2]


def _nan_away_from_zero(x):
    # finite only at the start, so Levenberg–Marquardt rejects every step
    return tf.where(tf.equal(x, 0.0), x - 1.0, tf.fill(tf.shape(x), tf.constant(math.nan, x.dtype)))


def test_the_solvers_defaults_are_the_documented_ones():
    start = tf.zeros([1, 1], tf.float64)
    # λ doubles from the default 1e-3 and passes 1e12 at 1e-3 · 2^50, the 51st iteration
    stuck = iterative.levenberg_marquardt(_nan_away_from_zero, start)
    assert stuck.converged.numpy().all() and stuck.num_iterations.numpy().tolist() == [51]
    # from λ = 1e-30 it never gets there: the default cap of 100 iterations ends the row
    capped = iterative.levenberg_marquardt(_nan_away_from_zero, start, damping=1e-30)
    assert not capped.converged.numpy().any() and capped.num_iterations.numpy().tolist() == [100]
    # the default tolerance 1e-10: a step that lowers ½‖r‖² by 1.5e-10 of it does not end the row
    slow = iterative.levenberg_marquardt(
        lambda x: x - 1.0, start, max_iterations=2, damping=2 / 1.5e-10
    )
    assert not slow.converged.numpy().any() and slow.num_iterations.numpy().tolist() == [2]
    # ... and with a tolerance of 2e-10 it does, after that one step
    done = iterative.levenberg_marquardt(
        lambda x: x - 1.0, start, max_iterations=2, damping=2 / 1.5e-10, tolerance=2e-10
    )
    assert done.converged.numpy().all() and done.num_iterations.numpy().tolist() == [1]
    # gradient descent: 100 steps of the default η = 1e-2 on ½x², unless ‖∇L‖ <= 1e-8
    descent = iterative.gradient_descent(lambda z: 0.5 * tf.reduce_sum(z**2, axis=1), start + 1.0)
    np.testing.assert_allclose(descent.position.numpy(), [[0.99**100]], rtol=1e-12)
    assert descent.num_iterations.numpy().tolist() == [100]
    # and from 1.5e-8 it stops once 1.5e-8 · 0.99^k <= 1e-8, at k = 41
    small = iterative.gradient_descent(lambda z: 0.5 * tf.reduce_sum(z**2, axis=1), start + 1.5e-8)
    assert small.converged.numpy().all() and small.num_iterations.numpy().tolist() == [41]


@pytest.mark.parametrize(("start", "offset"), [(1e6, 3e-4), (0.0, 3e-20)])
def test_levenberg_marquardt_stops_a_row_once_its_step_is_below_1e_10_of_x(start, offset):
    # The docstring's "the step is below 1e-10 relative to `x`" (MINPACK's xtol; at x = 0,
    # below 1e-10 · 1e-10). On r(x) = x − (x0 + offset) from λ = 1 the steps are offset/2,
    # offset · 3/8 and offset · 9/80: relative to x, 1.5 · 1e-10, 1.125 · 1e-10 and then
    # below 1e-10, where the row stops. Tolerance 0 leaves the step as the only criterion.
    result = iterative.levenberg_marquardt(
        lambda x: x - (start + offset),
        tf.constant([[start]], tf.float64),
        max_iterations=20,
        damping=1.0,
        tolerance=0.0,
    )
    steps = np.diff(result.trajectory.numpy()[:, 0, 0])
    np.testing.assert_allclose(steps, offset * np.array([1 / 2, 3 / 8, 9 / 80]), rtol=1e-5)
    assert result.converged.numpy().all() and result.num_iterations.numpy().tolist() == [3]


def test_gradient_descent_stops_where_the_gradients_norm_equals_the_tolerance():
    # "A row converges when ‖∇L‖ ≤ tolerance": on ½x² the gradient is x, so a row starting
    # at x = tolerance has converged before any step (0.5: exact in binary).
    result = iterative.gradient_descent(
        lambda z: 0.5 * tf.reduce_sum(z**2, axis=1),
        tf.constant([[0.5], [0.75]], tf.float64),
        max_iterations=1,
        tolerance=0.5,
    )
    assert result.converged.numpy().tolist() == [True, False]
    assert result.num_iterations.numpy().tolist() == [0, 1]
    np.testing.assert_allclose(result.position.numpy(), [[0.5], [0.75 * 0.99]], rtol=1e-15)


def test_gradient_descents_trajectory_is_the_start_then_every_iterate():
    result = iterative.gradient_descent(
        lambda z: 0.5 * tf.reduce_sum(z**2, axis=1),
        tf.constant([[1.0], [-2.0]], tf.float64),
        max_iterations=3,
        learning_rate=0.5,
    )
    expected = np.array([1.0, -2.0])[None, :, None] * 0.5 ** np.arange(4)[:, None, None]
    np.testing.assert_array_equal(result.trajectory.numpy(), expected)
