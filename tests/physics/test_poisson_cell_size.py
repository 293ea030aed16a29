"""Poisson's inverse on a grid whose cells are not unit size: `∇²` carries 1/dx², so an
inverse that dropped `dx` would be off by a factor of dx² in every source it returns."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physical_gradient import physics_backward, physics_forward
from pg_keras.physics import poisson
from pg_keras.problems import get_problem

DX = 0.5


def _sources(seed):
    return poisson.random_fluctuations(
        2, tf.constant([seed, 7], tf.int64), (12, 12), (1, 2, 4), tf.float64
    )


def test_analytic_inverse_recovers_the_source_for_dx_below_one():
    x_true, x = _sources(1), _sources(2)
    y_target, _ = poisson.simulate(x_true, DX, rtol=1e-12)
    y, _ = poisson.simulate(x, DX, rtol=1e-12)
    np.testing.assert_allclose(poisson.analytic_inverse(x, y, y_target, DX), x_true, atol=1e-8)


@pytest.mark.parametrize("dx", [0.5, 2.0])
def test_the_problems_pg_lands_on_x_star_for_its_cell_size(dx):
    spec = {"ny": 12, "nx": 12, "bands": "1,2,4", "dx": dx, "cg_rtol": 1e-11}
    spec["physics_dtype"] = "float64"
    problem = get_problem("poisson", spec)
    batch = problem.generate(2, tf.constant([3, 4], tf.int64))
    x = tf.zeros_like(batch["x_target"])
    rule = problem.scheme("inverse-physics").rule
    y, residuals = physics_forward(x, lambda z: problem.simulate(z, {}), rule)
    delta = physics_backward(residuals, y - batch["y_target"], rule, "sum")
    np.testing.assert_allclose(x - delta, batch["x_target"], atol=1e-7)


def test_a_source_without_its_batch_axis_is_refused_by_name():
    with pytest.raises(ValueError, match=r"`x` of shape \[batch, ny, nx\].*shape=\(12, 12\)"):
        poisson.simulate(tf.zeros([12, 12], tf.float64), DX)
