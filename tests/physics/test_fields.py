"""Grid operators and the conjugate-gradient solver of `pg_keras.physics.fields`, tiny grids."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics import fields


def neg_laplacian(field):
    return -fields.laplacian(field, 1.0, "zero")


def dense_matrix(operator, ny, nx):
    """`A` as a dense `[n, n]` matrix, column by column."""
    n = ny * nx
    basis = tf.reshape(tf.eye(n, dtype=tf.float64), [n, ny, nx])
    return tf.transpose(tf.reshape(operator(basis), [n, n]))


def random_field(shape, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float64)


def test_laplacian_zero_boundary_matches_dense_stencil():
    f = random_field([2, 4, 5])
    padded = np.pad(f.numpy(), [(0, 0), (1, 1), (1, 1)])
    expected = (
        padded[:, :-2, 1:-1]
        + padded[:, 2:, 1:-1]
        + padded[:, 1:-1, :-2]
        + padded[:, 1:-1, 2:]
        - 4 * padded[:, 1:-1, 1:-1]
    ) / 4.0
    np.testing.assert_allclose(fields.laplacian(f, 2.0, "zero"), expected, rtol=1e-12)


def test_periodic_laplacian_diagonalised_by_fft():
    """Fourier modes are eigenvectors with eigenvalue (2cos 2πk_y + 2cos 2πk_x − 4)/dx²."""
    f = random_field([1, 6, 8])
    ky = np.fft.fftfreq(6)[:, None]
    kx = np.fft.fftfreq(8)[None, :]
    eigen = 2 * np.cos(2 * np.pi * ky) + 2 * np.cos(2 * np.pi * kx) - 4
    expected = np.real(np.fft.ifft2(np.fft.fft2(f.numpy()) * eigen))
    np.testing.assert_allclose(fields.laplacian(f, 1.0, "periodic"), expected, atol=1e-12)


def test_laplacian_rejects_bad_input():
    with pytest.raises(ValueError, match="boundary=.*neumann"):
        fields.laplacian(tf.zeros([1, 3, 3]), 1.0, "neumann")
    with pytest.raises(ValueError, match=r"\[batch, ny, nx\].*shape=\(3, 3\)"):
        fields.laplacian(tf.zeros([3, 3]))
    # ny and nx must be known when traced (the stencils and spectra are built from them).
    for shape in ([2, None, 4], [2, 4, None]):
        traced = tf.function(fields.laplacian, input_signature=[tf.TensorSpec(shape, tf.float32)])
        with pytest.raises(ValueError, match=r"static ny, nx\. Received: shape=\(2, "):
            traced.get_concrete_function()


def test_cg_solves_each_example_and_reports():
    b = random_field([3, 5, 6])
    b = tf.concat([b[:2], tf.zeros_like(b[2:])], 0)  # a zero rhs converges at once
    result = fields.conjugate_gradient(neg_laplacian, b, rtol=1e-10, max_iterations=200)
    matrix = dense_matrix(neg_laplacian, 5, 6).numpy()
    expected = np.linalg.solve(matrix, b.numpy().reshape(3, -1).T).T.reshape(3, 5, 6)
    np.testing.assert_allclose(result.position, expected, atol=1e-8)
    assert result.converged.numpy().all()
    iterations = result.num_iterations.numpy()
    assert iterations[2] == 0 and 0 < iterations[0] <= 30
    assert (result.residual_norm.numpy() <= 1e-10 * np.linalg.norm(b.numpy()[0]) * 1.01).all()


def test_cg_reports_not_converged_at_the_cap():
    b = random_field([2, 8, 8])
    result = fields.conjugate_gradient(neg_laplacian, b, rtol=1e-12, max_iterations=3)
    assert not result.converged.numpy().any()
    np.testing.assert_array_equal(result.num_iterations, [3, 3])


def test_cg_rejects_bad_settings():
    with pytest.raises(ValueError, match="max_iterations=0"):
        fields.conjugate_gradient(neg_laplacian, tf.zeros([1, 2, 2]), max_iterations=0)
    with pytest.raises(ValueError, match="rtol=0.*atol=0"):
        fields.conjugate_gradient(neg_laplacian, tf.zeros([1, 2, 2]), rtol=0.0)
    # The edges are allowed: one iteration, and an absolute tolerance alone.
    b = random_field([1, 3, 3], seed=1)
    once = fields.conjugate_gradient(neg_laplacian, b, max_iterations=1)
    assert once.num_iterations.numpy().tolist() == [1]
    exact = fields.conjugate_gradient(neg_laplacian, b, rtol=0.0, atol=1e-9)
    assert exact.converged.numpy().all()


def test_half_spectrum_keeps_the_columns_rfft2_keeps():
    values = np.arange(24.0).reshape(4, 6)
    np.testing.assert_array_equal(fields.half_spectrum(values), values[:, :4])
    assert np.fft.rfft2(values).shape == fields.half_spectrum(values).shape


def solve(b):
    return fields.linear_solve(neg_laplacian, b, rtol=1e-12, max_iterations=200)[0]


def test_linear_solve_gradient_matches_finite_differences():
    b = random_field([1, 3, 4], seed=1)
    theoretical, numerical = tf.test.compute_gradient(solve, [b])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def test_linear_solve_gradient_matches_autodiff_through_dense_solve():
    b = random_field([2, 4, 4], seed=2)
    target = random_field([2, 4, 4], seed=3)
    matrix = dense_matrix(neg_laplacian, 4, 4)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(b)
        loss_cg = tf.reduce_sum((solve(b) - target) ** 2)
        dense = tf.linalg.solve(matrix, tf.transpose(tf.reshape(b, [2, 16])))
        loss_dense = tf.reduce_sum((tf.reshape(tf.transpose(dense), [2, 4, 4]) - target) ** 2)
    np.testing.assert_allclose(tape.gradient(loss_cg, b), tape.gradient(loss_dense, b), atol=1e-8)


def test_backward_alone_is_the_adjoint_solve_and_symmetric():
    """⟨A⁻¹u, v⟩ = ⟨u, A⁻¹v⟩ (A symmetric): the backward half, alone, is A⁻¹ dy."""
    u, v = random_field([2, 5, 5], 4), random_field([2, 5, 5], 5)
    y, result, residuals = fields.linear_solve_forward(neg_laplacian, u, rtol=1e-12)
    assert result.converged.numpy().all()
    w = fields.linear_solve_backward(residuals, v)
    np.testing.assert_allclose(
        fields.per_example_dot(y, v), fields.per_example_dot(u, w), rtol=1e-9
    )
    np.testing.assert_allclose(neg_laplacian(w), v, atol=1e-9)


def test_linear_solve_in_a_tf_function_returns_result():
    solve_fn = tf.function(lambda b: fields.linear_solve(neg_laplacian, b, rtol=1e-6))
    y, result = solve_fn(tf.ones([2, 6, 6], tf.float32))
    assert result.converged.numpy().all()
    np.testing.assert_allclose(neg_laplacian(y), np.ones([2, 6, 6]), atol=1e-4)


def test_linear_solve_warm_start_is_used_forward_and_leaves_the_gradient():
    b = random_field([2, 4, 4], seed=3)
    exact, cold = fields.linear_solve(neg_laplacian, b, rtol=1e-10, max_iterations=200)
    warm_y, warm = fields.linear_solve(neg_laplacian, b, rtol=1e-10, max_iterations=200, x0=exact)
    np.testing.assert_array_equal(warm.num_iterations.numpy(), [0, 0])
    assert (cold.num_iterations.numpy() > 0).all()
    np.testing.assert_allclose(warm_y.numpy(), exact.numpy(), atol=1e-10)

    def warm_solve(rhs):
        return fields.linear_solve(neg_laplacian, rhs, rtol=1e-12, max_iterations=200, x0=exact)[0]

    theoretical, _ = tf.test.compute_gradient(warm_solve, [b])
    reference, _ = tf.test.compute_gradient(solve, [b])
    np.testing.assert_allclose(theoretical[0], reference[0], atol=1e-8)


def test_cg_stops_relative_to_the_right_hand_side_or_at_the_absolute_tolerance():
    """`‖r‖ ≤ rtol·‖b‖ + atol`: scaling b scales the solve and leaves its iterations alone,
    and an absolute tolerance of rtol·‖b‖ stops where the relative one does."""
    b = random_field([1, 5, 6], seed=2)
    small = fields.conjugate_gradient(neg_laplacian, b, rtol=1e-4)
    large = fields.conjugate_gradient(neg_laplacian, 1e3 * b, rtol=1e-4)
    np.testing.assert_array_equal(large.num_iterations, small.num_iterations)
    np.testing.assert_allclose(large.position, 1e3 * small.position.numpy(), rtol=1e-9)
    norm = float(tf.norm(b))
    for rtol, atol in [(0.0, 1e-4 * norm), (0.5e-4, 0.5e-4 * norm)]:  # the two add up
        mixed = fields.conjugate_gradient(neg_laplacian, b, rtol=rtol, atol=atol)
        np.testing.assert_array_equal(mixed.num_iterations, small.num_iterations)
        assert mixed.converged.numpy().all()
