"""The pressure solvers of `pg_keras.physics.fluid.pressure`: exact, at any cell size, with no
part in the null space, and each reporting how it ended."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import grid, pressure, projection, stencils

RNG = np.random.default_rng(23)
RHS = tf.constant(RNG.normal(size=(2, 8, 6)) + 3.0)  # with a mean: a part in the null space


def relative_residual(p, rhs, dx, name):
    stencil = stencils.STENCILS[name]
    solvable = stencils.range_part(rhs, stencil)
    error = np.linalg.norm((stencil.apply(p, dx) - solvable).numpy().reshape(len(rhs), -1), axis=1)
    return error / np.linalg.norm(solvable.numpy().reshape(len(rhs), -1), axis=1)


def max_residual(p, rhs, dx, name):
    """What `PoissonResult.residual` documents: max |∇²p − rhs| over rhs's solvable part."""
    stencil = stencils.STENCILS[name]
    error = stencil.apply(p, dx) - stencils.range_part(rhs, stencil)
    return np.abs(error.numpy()).max(axis=(1, 2))


@pytest.mark.parametrize("name", ["compact", "wide"])
@pytest.mark.parametrize("dx", [1e-3, 2.0, 1e7])
def test_fft_solve_is_exact_at_any_cell_size_and_leaves_out_the_null_space(name, dx):
    """A cell of 10^7 puts the eigenvalues near 1e-15: still modes to solve, not null ones."""
    p, result = pressure.spectral_poisson(RHS, dx, stencil=name)
    assert relative_residual(p, RHS, dx, name).max() < 1e-10
    null = stencils.null_part(p, stencils.STENCILS[name])
    assert np.abs(null.numpy()).max() < 1e-10 * np.abs(p.numpy()).max()
    assert result.converged.numpy().tolist() == [True, True]
    assert result.num_iterations.numpy().tolist() == [0, 0]
    np.testing.assert_allclose(result.residual, max_residual(p, RHS, dx, name))


def test_fft_solve_keeps_the_dtype_and_both_solves_check_the_rank():
    p, result = pressure.spectral_poisson(tf.cast(RHS, tf.float32), 2.0)
    assert p.dtype == tf.float32 and result.residual.dtype == tf.float32
    assert relative_residual(tf.cast(p, tf.float64), RHS, 2.0, "compact").max() < 1e-5
    for solve in (pressure.spectral_poisson, pressure.conjugate_gradient_poisson()):
        with pytest.raises(ValueError, match=r"`rhs` of rank 3.*Received: shape=\(8, 6\)"):
            solve(RHS[0], 2.0)


@pytest.mark.parametrize("name", ["compact", "wide"])
def test_cg_solve_matches_the_fft_solve_and_starts_from_the_guess(name):
    exact, _ = pressure.spectral_poisson(RHS, 2.0, stencil=name)
    cg = pressure.conjugate_gradient_poisson(rtol=1e-10)
    p, result = cg(RHS, 2.0, stencil=name)
    np.testing.assert_allclose(p, exact, atol=1e-8 * np.abs(exact.numpy()).max())
    assert result.converged.numpy().all()
    assert relative_residual(p, RHS, 2.0, name).max() < 1e-9
    np.testing.assert_allclose(result.residual, max_residual(p, RHS, 2.0, name))
    _, warm = cg(RHS, 2.0, exact + 1e-7, stencil=name)
    assert (warm.num_iterations.numpy() < result.num_iterations.numpy()).all()
    _, at_solution = cg(RHS, 2.0, exact, stencil=name)
    assert at_solution.num_iterations.numpy().tolist() == [0, 0]


def test_cg_reports_a_capped_solve_as_not_converged():
    p, result = pressure.conjugate_gradient_poisson(rtol=1e-10, max_iterations=2)(RHS, 2.0)
    assert result.converged.numpy().tolist() == [False, False]
    assert result.num_iterations.numpy().tolist() == [2, 2]
    assert (relative_residual(p, RHS, 2.0, "compact") > 1e-3).all()
    with pytest.raises(tf.errors.InvalidArgumentError, match="pressure solve did not converge"):
        pressure.check_converged(result)


def test_cg_stops_by_default_at_b5s_tolerance():
    """On this right-hand side a tolerance twice as loose stops one iteration sooner."""
    rhs = tf.constant(np.random.default_rng(5).normal(size=(1, 12, 10)))
    p, result = pressure.conjugate_gradient_poisson()(rhs, 2.0)
    assert relative_residual(p, rhs, 2.0, "compact")[0] < 1e-5
    _, looser = pressure.conjugate_gradient_poisson(rtol=2e-5)(rhs, 2.0)
    assert result.num_iterations.numpy() == looser.num_iterations.numpy() + 1


@pytest.mark.parametrize("rtol, max_iterations", [(0.0, 10), (-1e-5, 10), (1e-5, 0)])
def test_cg_refuses_a_tolerance_or_cap_that_cannot_stop(rtol, max_iterations):
    with pytest.raises(ValueError, match=f"rtol={rtol}, max_iterations={max_iterations}"):
        pressure.conjugate_gradient_poisson(rtol, max_iterations)


def test_one_iteration_is_a_valid_cap():
    _, result = pressure.conjugate_gradient_poisson(1e-5, 1)(RHS, 2.0)
    assert result.num_iterations.numpy().tolist() == [1, 1]


def solve_result(converged, iterations, residual):
    return pressure.PoissonResult(
        tf.constant(converged), tf.constant(iterations), tf.constant(residual, tf.float64)
    )


def test_merged_results_are_per_example_all_converged_summed_and_worst():
    merged = pressure.merge_results(
        [
            solve_result([True, True, False], [1, 2, 3], [0.1, 0.5, 0.2]),
            solve_result([True, False, True], [10, 20, 30], [0.3, 0.4, 0.1]),
        ]
    )
    assert merged.converged.numpy().tolist() == [True, False, False]
    assert merged.num_iterations.numpy().tolist() == [11, 22, 33]
    np.testing.assert_array_equal(merged.residual, [0.3, 0.5, 0.2])
    with pytest.raises(ValueError, match="at least one PoissonResult"):
        pressure.merge_results([])


def test_check_converged_passes_only_when_every_example_converged():
    pressure.check_converged(solve_result([True, True], [1, 1], [0.0, 0.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="projection did not converge"):
        pressure.check_converged(solve_result([True, False], [1, 9], [0.0, 1.0]), "projection")


@pytest.mark.parametrize("dx", [0.01, 2.0, 100.0])
def test_float32_cg_of_round_off_stops_early_at_any_cell_size(dx):
    """The divergence of a projected velocity is round-off, as much in the wide stencil's
    null space (the checkerboards) as outside. The solve shifts the null space by 1/dx²,
    the size of the Laplacian's own eigenvalues, so CG does not work on that part: the
    projection of an already projected velocity ends in a few iterations."""
    velocity = 3.0 * tf.random.stateless_normal([2, 16, 16, 2], [15, 0], dtype=tf.float32)
    projected, _ = projection.make_incompressible_centered(velocity, dx)
    rhs = grid.centered_divergence(projected, dx)
    _, result = pressure.conjugate_gradient_poisson(rtol=1e-6)(rhs, dx, stencil="wide")
    assert result.converged.numpy().all() and (result.num_iterations.numpy() < 20).all(), (
        result.num_iterations.numpy()
    )
