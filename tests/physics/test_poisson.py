"""Poisson's equation by CG and its analytic inverse (`pg_keras.physics.poisson`)."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics import fields, poisson


def sources(batch=2, grid=(16, 16), seed=0, bands=(1, 2, 4, 8)):
    return poisson.random_fluctuations(
        batch, tf.constant([seed, 3], tf.int64), grid, bands, tf.float64
    )


def test_simulate_solves_poisson_and_reports_convergence():
    x = sources()
    y, result = poisson.simulate(x, dx=0.5, rtol=1e-10)
    assert result.converged.numpy().all()
    assert (result.num_iterations.numpy() > 0).all()
    np.testing.assert_allclose(fields.laplacian(y, 0.5, "zero"), x, atol=1e-8)


def test_float32_cg_reaches_the_papers_tolerance_on_the_papers_grid():
    x = poisson.random_fluctuations(2, tf.constant([0, 1], tf.int64))
    y, result = poisson.simulate(x)
    assert result.converged.numpy().all(), result
    # The true residual drifts from CG's recursive one in float32 (~1e-4 here, vs 1e-5).
    relative = tf.norm(fields.laplacian(y) - x) / tf.norm(x)
    assert float(relative) < 1e-3


def test_an_unconverged_solve_raises_with_the_callers_message_forward_and_adjoint():
    x = sources()
    # Three CG iterations cannot reach 1e-10 on a 16 × 16 grid.
    with pytest.raises(tf.errors.InvalidArgumentError, match="forward did not"):
        poisson.simulate(x, rtol=1e-10, max_iterations=3, require_convergence="forward did not")
    y, result = poisson.simulate(x, rtol=1e-10, max_iterations=3)
    assert not result.converged.numpy().any()  # without the message: the caller's to check

    # The forward converges; the adjoint of a rough dy needs more iterations than the cap.
    smooth = sources(bands=(1,))
    rough = tf.random.stateless_normal(smooth.shape, [4, 2], dtype=tf.float64)
    _, result = poisson.simulate(smooth, rtol=1e-3, max_iterations=2000)
    cap = int(result.num_iterations.numpy().max()) + 1
    with tf.GradientTape() as tape:
        tape.watch(smooth)
        y, _ = poisson.simulate(smooth, rtol=1e-3, max_iterations=cap, require_convergence="cap")
    with pytest.raises(tf.errors.InvalidArgumentError, match="Adjoint solve: cap"):
        tape.gradient(y, smooth, output_gradients=rough)


def test_analytic_pg_recovers_x_star_in_one_step_noise_free():
    """x̃ = x − ∇²(P(x) − P(x*)) = x*, up to the CG tolerance."""
    x_true, x = sources(seed=1), sources(seed=2)
    y_target, _ = poisson.simulate(x_true, rtol=1e-12)
    y, _ = poisson.simulate(x, rtol=1e-12)
    x_tilde = poisson.analytic_inverse(x, y, y_target)
    np.testing.assert_allclose(x_tilde, x_true, atol=1e-9)


def test_simulate_gradient_is_the_adjoint_poisson_solve():
    x = sources(batch=1, grid=(4, 4), bands=(1, 2))
    theoretical, numerical = tf.test.compute_gradient(
        lambda z: poisson.simulate(z, rtol=1e-12)[0], [x]
    )
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)
    v = sources(batch=1, grid=(4, 4), seed=5, bands=(1, 2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, _ = poisson.simulate(x, rtol=1e-12)
    # ∇⁻² is self-adjoint: Jᵀv = P(v).
    np.testing.assert_allclose(
        tape.gradient(y, x, output_gradients=v), poisson.simulate(v, rtol=1e-12)[0], atol=1e-9
    )


def test_fluctuations_have_every_band_and_vanish_beyond_the_boundary():
    x = sources(batch=8, grid=(32, 32)).numpy()
    spectrum = np.abs(np.fft.rfft2(x)).mean(axis=0)
    assert spectrum[1:3, 1:3].max() > 0 and spectrum[6:9, 6:9].max() > 0
    assert 0.05 < x.std() < 5
    with pytest.raises(ValueError, match=r"bands=\(1, 64\)"):
        poisson.random_fluctuations(1, tf.constant([0, 0], tf.int64), (16, 16), (1, 64))


def test_by_default_the_solve_reaches_the_authors_relative_residual():
    x = sources(batch=8, grid=(32, 32))
    _, result = poisson.simulate(x)
    relative = result.residual_norm / tf.norm(tf.reshape(x, [8, -1]), axis=1)
    assert result.converged.numpy().all() and (relative.numpy() <= 1e-5).all(), relative


def test_a_source_without_a_batch_axis_is_refused_by_name():
    with pytest.raises(ValueError, match=r"`x` of shape \[batch, ny, nx\].*shape=\(16, 16\)"):
        poisson.simulate(tf.zeros([16, 16]))


def test_fluctuations_default_to_the_papers_grid():
    x = poisson.random_fluctuations(1, tf.constant([0, 1], tf.int64))
    assert x.shape == (1, 64, 64) and x.dtype == tf.float32


def sine_coefficients(x):
    """`c[b, m, n]` of `x = Σ c sin(π m (j+1)/(n+1)) sin(π n (i+1)/(n+1))` on a square grid,
    and each mode's level `max(m, n)` (the zero-boundary sine modes are orthogonal)."""
    n = x.shape[-1]
    sine = np.sin(np.pi * np.outer(np.arange(1, n + 1), np.arange(1, n + 1)) / (n + 1))
    coefficients = (2 / (n + 1)) ** 2 * np.einsum("ym,byx,xn->bmn", sine, x, sine)
    return coefficients, np.maximum.outer(np.arange(1, n + 1), np.arange(1, n + 1))


def test_each_mode_has_the_variance_of_its_band_by_default():
    """Mode (m, n) is in the band of the first of 1, 2, 4, 8, 16 that is ≥ max(m, n); its
    coefficient is N(0, 1) · U[0, 1) / sqrt(modes in the band), so E[c²] = 1 / (3 · size)."""
    x = poisson.random_fluctuations(1000, tf.constant([0, 3], tf.int64), (16, 16), dtype=tf.float64)
    coefficients, level = sine_coefficients(x.numpy())
    for low, high in [(1, 1), (2, 2), (3, 4), (5, 8), (9, 16)]:
        size = ((level >= low) & (level <= high)).sum()
        for top in range(low, high + 1):
            mean_square = (coefficients[:, level == top] ** 2).mean()
            np.testing.assert_allclose(mean_square, 1 / (3 * size), rtol=0.2, err_msg=top)


def test_the_first_example_of_a_batch_has_the_same_law():
    """Amplitude and coefficient are independent draws in every example, the first too:
    over 400 seeds, one example each, the (1, 1) mode's E[c²] is still 1/3."""
    x = np.concatenate(
        [
            poisson.random_fluctuations(1, tf.constant([seed, 3], tf.int64), (16, 16)).numpy()
            for seed in range(400)
        ]
    )
    coefficients, _ = sine_coefficients(x)
    np.testing.assert_allclose((coefficients[:, 0, 0] ** 2).mean(), 1 / 3, rtol=0.3)


def test_a_nan_source_stops_at_the_default_cap_of_2000_iterations_unconverged():
    x = tf.fill([1, 4, 4], tf.constant(np.nan, tf.float64))
    _, result = tf.function(poisson.simulate)(x)  # a graph loop: 2000 iterations in a blink
    assert result.num_iterations.numpy().tolist() == [2000]
    assert not result.converged.numpy().any()
