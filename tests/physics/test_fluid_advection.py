"""MacCormack advection (`pg_keras.physics.fluid.advection`) against per-cell references
written from its docstring, at displacements of a fraction of a cell and of several cells."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import advection, grid

DX, DT = 2.0, 0.5
RNG = np.random.default_rng(27)
FIELD = RNG.random((2, 6, 5))


def reference_lookup(field, shift_x, shift_y):
    """Bilinear periodic lookup written out per cell, each corner indexed on its own."""
    values, lower, upper = (np.empty_like(field) for _ in range(3))
    for b, j, i in np.ndindex(*field.shape):
        y, x = j + shift_y[b, j, i], i + shift_x[b, j, i]
        j0, i0 = int(np.floor(y)), int(np.floor(x))
        fy, fx = y - j0, x - i0
        ny, nx = field.shape[1:]
        c = [field[b, (j0 + dj) % ny, (i0 + di) % nx] for dj in (0, 1) for di in (0, 1)]
        values[b, j, i] = (1 - fy) * ((1 - fx) * c[0] + fx * c[1]) + fy * (
            (1 - fx) * c[2] + fx * c[3]
        )
        lower[b, j, i], upper[b, j, i] = min(c), max(c)
    return values, lower, upper


def reference_maccormack(field, vx, vy, dt, correction):
    """The module docstring's f' = clamp(f̃ + c·½(f − f̂), lo, hi), f̃ = f(r − v·dt),
    f̂ = f̃(r + v·dt), positions in cells."""
    back_x, back_y = -vx * dt / DX, -vy * dt / DX
    forward, lower, upper = reference_lookup(field, back_x, back_y)
    there_and_back = reference_lookup(forward, -back_x, -back_y)[0]
    return np.clip(forward + 0.5 * correction * (field - there_and_back), lower, upper)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_periodic_lookup_matches_a_per_cell_reference(jit_compile):
    # Shifts of several cells either way, so lookups wrap around both axes.
    shift_x, shift_y = 4 * RNG.normal(size=(2, *FIELD.shape))
    lookup = tf.function(advection.sample_periodic, jit_compile=jit_compile)
    got = lookup(*(tf.constant(a) for a in (FIELD, shift_x, shift_y)))
    for actual, expected in zip(got, reference_lookup(FIELD, shift_x, shift_y), strict=True):
        np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_semi_lagrangian_looks_back_along_the_velocity():
    vx, vy = 3 * RNG.normal(size=(2, *FIELD.shape))
    expected = reference_lookup(FIELD, -vx * DT / DX, -vy * DT / DX)[0]
    got = advection.semi_lagrangian(*(tf.constant(a) for a in (FIELD, vx, vy)), DT, DX)
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("dt, correction", [(DT, 1.0), (-DT, 1.0), (DT, 0.5), (DT, 0.0)])
def test_maccormack_is_the_clamped_corrected_lookup(dt, correction):
    vx, vy = 3 * RNG.normal(size=(2, *FIELD.shape))
    expected = reference_maccormack(FIELD, vx, vy, dt, correction)
    field, vx, vy = (tf.constant(a) for a in (FIELD, vx, vy))
    got = advection.maccormack(field, vx, vy, dt, DX, correction)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    if correction == 1.0:
        np.testing.assert_allclose(advection.maccormack(field, vx, vy, dt, DX), got, atol=0)


def test_maccormack_with_zero_correction_is_semi_lagrangian():
    field, vx, vy = (tf.constant(a) for a in RNG.normal(size=(3, 1, 8, 8)))
    np.testing.assert_allclose(
        advection.maccormack(field, vx, vy, 0.7, DX, correction=0.0).numpy(),
        advection.semi_lagrangian(field, vx, vy, 0.7, DX).numpy(),
    )


def uniform_along(values, axis, shape):
    """`values` varying along `axis` (1: y, 2: x) of `shape`, constant along the other."""
    index = [None, None, None]
    index[axis] = slice(None)
    return np.broadcast_to(values[tuple(index)], shape)


def test_each_velocity_component_is_carried_by_the_flow_at_its_own_faces():
    """u = U with w(x) moves w along x by U·dt; u(y) with w = W moves u along y by W·dt
    (fractions of a cell, so the default MacCormack correction shows)."""
    shape = (1, 6, 5)
    profile_x, profile_y = RNG.random(5), RNG.random(6)
    for u, w, moved, speed in (
        (np.full(shape, 1.3), uniform_along(profile_x, 2, shape), 1, (1.3, 0.0)),
        (uniform_along(profile_y, 1, shape), np.full(shape, -2.2), 0, (0.0, -2.2)),
    ):
        velocity = tf.constant(np.stack([u, w], -1))
        advected = advection.advect_velocity(velocity, DT, DX).numpy()
        carried = np.stack([u, w], -1)[..., moved]
        expected = reference_maccormack(carried, *(np.full(shape, s) for s in speed), DT, 1.0)
        np.testing.assert_allclose(advected[..., moved], expected, atol=1e-12)
        np.testing.assert_allclose(advected[..., 1 - moved], np.stack([u, w], -1)[..., 1 - moved])


def test_the_marker_is_carried_by_the_velocity_at_cell_centres():
    velocity = tf.constant(2 * RNG.normal(size=(2, 6, 5, 2)))
    centred = grid.staggered_to_centered(velocity).numpy()
    for correction in (1.0, 0.0):
        expected = reference_maccormack(FIELD, centred[..., 0], centred[..., 1], DT, correction)
        got = advection.advect_marker(tf.constant(FIELD), velocity, DT, DX, correction)
        np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(
        advection.advect_marker(tf.constant(FIELD), velocity, DT, DX),
        reference_maccormack(FIELD, centred[..., 0], centred[..., 1], DT, 1.0),
        atol=1e-12,
    )
