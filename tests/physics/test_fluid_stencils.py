"""The periodic Laplacians of `pg_keras.physics.fluid.stencils`: eigenvalues that diagonalise
what `apply` does, and the null spaces their solves leave out."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import stencils

DX = 0.5
FIELD = tf.constant(np.random.default_rng(22).normal(size=(2, 6, 5)))  # x odd, y even


@pytest.mark.parametrize("name", sorted(stencils.STENCILS))
def test_eigenvalues_are_what_the_stencil_does_to_each_fourier_mode(name):
    stencil = stencils.get_stencil(name)
    eigenvalues = stencil.eigenvalues(6, 5, DX)
    spectral = np.real(np.fft.ifft2(np.fft.fft2(FIELD.numpy()) * eigenvalues))
    np.testing.assert_allclose(stencil.apply(FIELD, DX), spectral, atol=1e-10)
    assert eigenvalues.max() <= 1e-12 and eigenvalues.min() < -1  # negative semi-definite


def null_part_reference(field, qy, qx):
    """Each cell replaced by the mean over its residue class (j mod qy, i mod qx)."""
    out = np.empty_like(field)
    for b, j, i in np.ndindex(*field.shape):
        out[b, j, i] = field[b, j % qy :: qy, i % qx :: qx].mean()
    return out


@pytest.mark.parametrize(
    "name, shape, periods",
    [
        ("compact", (2, 6, 5), (1, 1)),
        ("wide", (2, 6, 5), (2, 1)),
        ("wide", (2, 5, 6), (1, 2)),
        ("wide", (2, 4, 6), (2, 2)),
    ],
)
def test_null_part_is_the_mean_over_each_period_that_fits(name, shape, periods):
    """Period 2 for the wide stencil along an even axis, 1 along an odd one."""
    field = tf.constant(np.random.default_rng(22).normal(size=shape))
    stencil = stencils.STENCILS[name]
    null = stencils.null_part(field, stencil)
    np.testing.assert_allclose(null, null_part_reference(field.numpy(), *periods), atol=1e-12)
    assert np.abs(stencil.apply(null, DX).numpy()).max() < 1e-12
    solvable = stencils.range_part(field, stencil)
    np.testing.assert_allclose(solvable + null, field, atol=1e-12)
    assert np.abs(np.sum(solvable * null, axis=(1, 2))).max() < 1e-12


def test_the_checkerboard_is_in_the_wide_stencils_null_space_only():
    checker = tf.constant(np.cos(np.pi * np.arange(6))[None, :, None] * np.ones([1, 6, 4]))
    np.testing.assert_allclose(
        stencils.null_part(checker, stencils.STENCILS["wide"]), checker, atol=1e-14
    )
    np.testing.assert_allclose(
        stencils.null_part(checker, stencils.STENCILS["compact"]), 0.0, atol=1e-14
    )


def test_an_unknown_stencil_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"\['compact', 'wide'\]. Received: stencil='narrow'"):
        stencils.get_stencil("narrow")
