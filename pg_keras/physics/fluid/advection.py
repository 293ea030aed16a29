"""MacCormack advection on the periodic MAC grid (Selle et al. 2008; paper B.5).

    ∂f/∂t = −v·∇f:   f̃ = f(r − v·dt);  f̂ = f̃(r + v·dt);  f' = clamp(f̃ + c·½(f − f̂), lo, hi)

`[lo, hi]` is the range of the four grid values that the backward lookup
interpolated (as in PhiFlow's `mac_cormack`), so a marker in [0, 1] stays in
[0, 1]; `c = 0` is semi-Lagrangian advection. Lookups are bilinear and
periodic, at any displacement: semi-Lagrangian advection is stable for any
`|v|·dt/dx`, only less accurate where it is large.
"""

from __future__ import annotations

import tensorflow as tf

from pg_keras.physics.fluid.grid import (
    staggered_to_centered,
    velocity_at_x_faces,
    velocity_at_y_faces,
)

__all__ = [
    "advect_marker",
    "advect_velocity",
    "corner_table",
    "maccormack",
    "sample_periodic",
    "semi_lagrangian",
]


def corner_table(field: tf.Tensor) -> tf.Tensor:
    """Each cell's value and its periodic neighbours at +x, +y and +x+y, `[batch·ny·nx, 4]`.

    Row `(b, j, i)` holds the four corners of a bilinear lookup whose lower-left
    corner is cell `(j, i)` of example `b`, so one gather of a row fetches all
    four: XLA on the CPU gathers a row of 4 in little more than the time of one
    value, and four separate lookups were most of a fluid step (docs/fluid.md).
    """
    above = tf.roll(field, -1, 1)
    corners = tf.stack([field, tf.roll(field, -1, 2), above, tf.roll(above, -1, 2)], axis=-1)
    return tf.reshape(corners, [-1, 4])


def sample_periodic(
    field: tf.Tensor, shift_x: tf.Tensor, shift_y: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Bilinear periodic lookup of `field` at its own sample points moved by `(shift_x, shift_y)`.

    Args:
        field: `[batch, ny, nx]`.
        shift_x, shift_y: `[batch, ny, nx]`, displacement in cells (any size;
            positions wrap around).

    Returns:
        `(values, lower, upper)`, each `[batch, ny, nx]`: the interpolated
        values and the min and max of the four grid values interpolated
        (MacCormack's clamp range).
    """
    shape = tf.shape(field)
    batch, ny, nx = shape[0], shape[1], shape[2]
    jj = tf.cast(tf.range(ny), field.dtype)[None, :, None] + shift_y
    ii = tf.cast(tf.range(nx), field.dtype)[None, None, :] + shift_x
    j0f, i0f = tf.floor(jj), tf.floor(ii)
    fy, fx = jj - j0f, ii - i0f
    j0 = tf.math.floormod(tf.cast(j0f, tf.int32), ny)
    i0 = tf.math.floormod(tf.cast(i0f, tf.int32), nx)
    row = (tf.range(batch) * ny * nx)[:, None, None] + j0 * nx + i0
    corners = tf.gather(corner_table(field), row)  # [batch, ny, nx, 4]
    v00, v01, v10, v11 = corners[..., 0], corners[..., 1], corners[..., 2], corners[..., 3]
    values = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11)
    return values, tf.reduce_min(corners, -1), tf.reduce_max(corners, -1)


def semi_lagrangian(
    field: tf.Tensor, vx: tf.Tensor, vy: tf.Tensor, dt: float, dx: float
) -> tf.Tensor:
    """`f(r − v·dt)`: first-order backward lookup. `vx`, `vy` at `field`'s sample points."""
    return sample_periodic(field, -vx * (dt / dx), -vy * (dt / dx))[0]


def maccormack(
    field: tf.Tensor,
    vx: tf.Tensor,
    vy: tf.Tensor,
    dt: float,
    dx: float,
    correction: float = 1.0,
) -> tf.Tensor:
    """MacCormack advection with clamping (module docstring), periodic.

    Args:
        field: `[batch, ny, nx]`.
        vx, vy: velocity at `field`'s sample points, `[batch, ny, nx]`.
        dt: time step (may be negative: the reverse simulation of B.5).
        dx: cell size.
        correction: `c`, the weight of the error correction (0: semi-Lagrangian).
    """
    back_x, back_y = -vx * (dt / dx), -vy * (dt / dx)
    forward, lower, upper = sample_periodic(field, back_x, back_y)
    there_and_back = sample_periodic(forward, -back_x, -back_y)[0]
    corrected = forward + (0.5 * correction) * (field - there_and_back)
    return tf.minimum(tf.maximum(corrected, lower), upper)


def advect_velocity(
    velocity: tf.Tensor, dt: float, dx: float, correction: float = 1.0
) -> tf.Tensor:
    """Self-advection `v ← v(r − v·dt)` of a staggered velocity `[batch, ny, nx, 2]`.

    Each component is advected at its own faces, by the velocity interpolated there.
    """
    ux, wx = velocity_at_x_faces(velocity)
    uy, wy = velocity_at_y_faces(velocity)
    u = maccormack(velocity[..., 0], ux, wx, dt, dx, correction)
    w = maccormack(velocity[..., 1], uy, wy, dt, dx, correction)
    return tf.stack([u, w], axis=-1)


def advect_marker(
    marker: tf.Tensor, velocity: tf.Tensor, dt: float, dx: float, correction: float = 1.0
) -> tf.Tensor:
    """Marker `[batch, ny, nx]` at cell centres carried by a staggered velocity (averaged
    to the centres)."""
    centred = staggered_to_centered(velocity)
    return maccormack(marker, centred[..., 0], centred[..., 1], dt, dx, correction)
