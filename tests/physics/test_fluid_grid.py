"""The MAC grid of `pg_keras.physics.fluid.grid` against per-cell references written from its
docstrings (where each value lives), on a small non-square grid with a cell size other than 1."""

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.physics.fluid import grid

DX = 0.5
RNG = np.random.default_rng(21)
SCALAR = RNG.normal(size=(2, 5, 6))  # [batch, ny, nx]
VECTOR = RNG.normal(size=(2, 5, 6, 2))  # staggered or centred, [batch, ny, nx, 2]


def per_cell(shape, value):
    """`value(b, j, i)` at every cell; `j` the y index (axis 1), `i` the x index (axis 2)."""
    return np.array([value(*index) for index in np.ndindex(*shape)]).reshape(*shape, -1).squeeze()


def at(field, b, j, i):
    """`field[b, j, i]` with periodic indices."""
    return field[b, j % field.shape[1], i % field.shape[2]]


def test_check_grid_names_the_field_and_the_shape_it_received():
    grid.check_grid(tf.constant(SCALAR), "marker", 3)
    grid.check_grid(tf.constant(VECTOR), "velocity", 4)
    with pytest.raises(ValueError, match=r"`marker` of rank 3.*shape=\(2, 5, 6, 2\)"):
        grid.check_grid(tf.constant(VECTOR), "marker", 3)
    with pytest.raises(ValueError, match=r"`velocity` of rank 4 \(\[batch, ny, nx, 2\]\)"):
        grid.check_grid(tf.constant(SCALAR), "velocity", 4)


def test_cell_centers_sit_half_a_cell_in():
    np.testing.assert_allclose(grid.cell_centers(4, DX, tf.float64), [0.25, 0.75, 1.25, 1.75])


def test_laplacian_is_the_periodic_five_point_stencil():
    u = SCALAR
    expected = per_cell(
        u.shape,
        lambda b, j, i: (
            (
                at(u, b, j + 1, i)
                + at(u, b, j - 1, i)
                + at(u, b, j, i + 1)
                + at(u, b, j, i - 1)
                - 4 * u[b, j, i]
            )
            / DX**2
        ),
    )
    np.testing.assert_allclose(grid.laplacian(tf.constant(u), DX), expected, atol=1e-12)


def test_divergence_and_gradient_are_the_mac_differences():
    u, w = VECTOR[..., 0], VECTOR[..., 1]  # u on left faces, w on bottom faces
    divergence = per_cell(
        u.shape,
        lambda b, j, i: (at(u, b, j, i + 1) - u[b, j, i] + at(w, b, j + 1, i) - w[b, j, i]) / DX,
    )
    np.testing.assert_allclose(grid.divergence(tf.constant(VECTOR), DX), divergence, atol=1e-12)
    p = SCALAR
    gradient = per_cell(
        VECTOR.shape[:3],
        lambda b, j, i: [
            (p[b, j, i] - at(p, b, j, i - 1)) / DX,
            (p[b, j, i] - at(p, b, j - 1, i)) / DX,
        ],
    )
    np.testing.assert_allclose(grid.gradient(tf.constant(p), DX), gradient, atol=1e-12)


def test_divergence_of_the_gradient_is_the_laplacian_and_minus_its_adjoint():
    p, v = tf.constant(SCALAR), tf.constant(VECTOR)
    np.testing.assert_allclose(
        grid.divergence(grid.gradient(p, DX), DX), grid.laplacian(p, DX), atol=1e-12
    )
    np.testing.assert_allclose(
        tf.reduce_sum(grid.gradient(p, DX) * v), -tf.reduce_sum(p * grid.divergence(v, DX))
    )


def test_centred_differences_are_central():
    u, w = VECTOR[..., 0], VECTOR[..., 1]
    divergence = per_cell(
        u.shape,
        lambda b, j, i: (
            (at(u, b, j, i + 1) - at(u, b, j, i - 1) + at(w, b, j + 1, i) - at(w, b, j - 1, i))
            / (2 * DX)
        ),
    )
    velocity = tf.constant(VECTOR)
    np.testing.assert_allclose(grid.centered_divergence(velocity, DX), divergence, atol=1e-12)
    np.testing.assert_allclose(
        grid.centered_divergence(velocity, DX),
        grid.divergence(grid.centered_to_staggered(velocity), DX),
        atol=1e-12,
    )
    p = SCALAR
    gradient = per_cell(
        VECTOR.shape[:3],
        lambda b, j, i: [
            (at(p, b, j, i + 1) - at(p, b, j, i - 1)) / (2 * DX),
            (at(p, b, j + 1, i) - at(p, b, j - 1, i)) / (2 * DX),
        ],
    )
    np.testing.assert_allclose(grid.centered_gradient(tf.constant(p), DX), gradient, atol=1e-12)


def test_faces_average_their_two_cells_and_cells_their_two_faces():
    u, w = VECTOR[..., 0], VECTOR[..., 1]
    to_faces = per_cell(
        u.shape,
        lambda b, j, i: [
            (u[b, j, i] + at(u, b, j, i - 1)) / 2,
            (w[b, j, i] + at(w, b, j - 1, i)) / 2,
        ],
    )
    velocity = tf.constant(VECTOR)
    np.testing.assert_allclose(grid.centered_to_staggered(velocity), to_faces, atol=1e-12)
    to_cells = per_cell(
        u.shape,
        lambda b, j, i: [
            (u[b, j, i] + at(u, b, j, i + 1)) / 2,
            (w[b, j, i] + at(w, b, j + 1, i)) / 2,
        ],
    )
    np.testing.assert_allclose(grid.staggered_to_centered(velocity), to_cells, atol=1e-12)
    with pytest.raises(ValueError, match="rank 4"):
        grid.centered_to_staggered(velocity[..., 0])


def test_velocity_at_faces_averages_the_four_faces_of_the_other_kind_around():
    u, w = VECTOR[..., 0], VECTOR[..., 1]
    # The x-face (j, i) touches the y-faces (j, i−1), (j, i), (j+1, i−1), (j+1, i).
    w_at_x = per_cell(
        u.shape,
        lambda b, j, i: (
            (at(w, b, j, i - 1) + w[b, j, i] + at(w, b, j + 1, i - 1) + at(w, b, j + 1, i)) / 4
        ),
    )
    u_at_y = per_cell(
        u.shape,
        lambda b, j, i: (
            (at(u, b, j - 1, i) + u[b, j, i] + at(u, b, j - 1, i + 1) + at(u, b, j, i + 1)) / 4
        ),
    )
    velocity = tf.constant(VECTOR)
    stored_u, averaged_w = grid.velocity_at_x_faces(velocity)
    averaged_u, stored_w = grid.velocity_at_y_faces(velocity)
    np.testing.assert_array_equal(stored_u, u)
    np.testing.assert_array_equal(stored_w, w)
    np.testing.assert_allclose(averaged_w, w_at_x, atol=1e-12)
    np.testing.assert_allclose(averaged_u, u_at_y, atol=1e-12)
