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


def test_levenberg_marquardt_stops_a_row_once_its_damping_passes_1e12():
    # Every trial step lands where the residual is NaN, so each is rejected and λ doubles
    # from 1: the docstring's "λ has grown past 1e12 (no step helps)" first holds at
    # λ = 2^40, in the 41st iteration, and the row stays where it started.
    def residual(x):
        return tf.where(
            tf.equal(x, 0.0), x - 1.0, tf.fill(tf.shape(x), tf.constant(math.nan, x.dtype))
        )

    result = iterative.levenberg_marquardt(
        residual, tf.zeros([1, 1], tf.float64), max_iterations=100, damping=1.0
    )
    assert result.converged.numpy().all()
    assert result.num_iterations.numpy().tolist() == [41]
    np.testing.assert_array_equal(result.position.numpy(), [[0.0]])


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
