"""The Helmholtz projections of `pg_keras.physics.fluid.projection`, on small grids with the
exact FFT solve (the CG solver has its own tests in test_fluid_pressure.py)."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import grid, projection

DX = 2.0
VELOCITY = tf.constant(np.random.default_rng(24).normal(size=(2, 8, 6, 2)))


def mac_divergence(centred):
    return grid.divergence(grid.centered_to_staggered(centred), DX).numpy()


def test_staggered_projection_removes_the_gradient_of_the_pressure_it_returns():
    projected, p, result = projection.make_incompressible(VELOCITY, DX)
    assert np.abs(grid.divergence(projected, DX).numpy()).max() < 1e-12
    np.testing.assert_allclose(projected, VELOCITY - grid.gradient(p, DX), atol=1e-12)
    np.testing.assert_allclose(grid.laplacian(p, DX), grid.divergence(VELOCITY, DX), atol=1e-12)
    assert result.converged.numpy().all() and result.residual.numpy().max() < 1e-12
    again, _, _ = projection.make_incompressible(projected, DX)
    np.testing.assert_allclose(again, projected, atol=1e-12)


def test_staggered_projection_passes_the_warm_start_to_the_solver():
    seen = []

    def solver(rhs, dx, guess):
        seen.append((dx, guess))
        return tf.zeros_like(rhs), None

    guess = tf.ones([2, 8, 6], tf.float64)
    projected, _, _ = projection.make_incompressible(VELOCITY, DX, solver, guess)
    assert seen == [(DX, guess)]
    np.testing.assert_array_equal(projected, VELOCITY)  # p = 0 removes nothing


def test_centred_projection_is_orthogonal_and_leaves_no_mac_divergence():
    projected, result = projection.make_incompressible_centered(VELOCITY, DX)
    assert result.converged.numpy().all()
    assert np.abs(mac_divergence(projected)).max() < 1e-12 * np.abs(mac_divergence(VELOCITY)).max()
    removed = (VELOCITY - projected).numpy()
    assert np.abs(np.sum(removed * projected.numpy(), axis=(1, 2, 3))).max() < 1e-10
    again, _ = projection.make_incompressible_centered(projected, DX)
    np.testing.assert_allclose(again, projected, atol=1e-12)


@pytest.mark.parametrize(
    "project", [projection.make_incompressible, projection.make_incompressible_centered]
)
def test_projections_want_a_velocity_field(project):
    with pytest.raises(ValueError, match=r"`velocity` of rank 4.*Received: shape=\(2, 8, 6\)"):
        project(VELOCITY[..., 0], DX)
