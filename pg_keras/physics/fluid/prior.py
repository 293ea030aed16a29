"""B.5's low-dimensional velocity prior: uniform flow plus one Gaussian vortex.

    v ≈ u + ω·φ,   φ(r) = exp(−|d|² / (2 width²)) · (−d_y, d_x),   d = r − centre

`u` moves the marker's centre of mass to the domain centre in time `t`; `ω`
is the vortex strength. The data are drawn from this prior plus small-scale
noise, and the inverse simulator fits `ω` within it.
"""

from __future__ import annotations

import tensorflow as tf

from pg_keras.physics.fluid.grid import cell_centers

__all__ = [
    "center_of_mass",
    "domain_center",
    "project_strength",
    "uniform_velocity",
    "vortex_profile",
]


def center_of_mass(marker: tf.Tensor, dx: float) -> tf.Tensor:
    """`Σ m r / Σ m` in domain units, `[..., ny, nx]` -> `[..., 2]` as (x, y).

    Not periodic-aware: meant for markers away from the boundary (the data
    moves them to the domain centre). A marker without mass sits at 0.
    """
    ny, nx = int(marker.shape[-2]), int(marker.shape[-1])
    mass = tf.reduce_sum(marker, axis=[-2, -1])
    safe = tf.where(mass > 0, mass, tf.ones_like(mass))
    cx = tf.reduce_sum(marker * cell_centers(nx, dx, marker.dtype), axis=[-2, -1]) / safe
    cy = tf.reduce_sum(marker * cell_centers(ny, dx, marker.dtype)[:, None], axis=[-2, -1]) / safe
    return tf.stack([cx, cy], axis=-1)


def domain_center(ny: int, nx: int, dx: float, dtype: tf.DType) -> tf.Tensor:
    """The domain's centre `(nx·dx/2, ny·dx/2)`, `[2]` as (x, y)."""
    return tf.constant([nx * dx / 2.0, ny * dx / 2.0], dtype)


def uniform_velocity(marker0: tf.Tensor, dx: float, duration: float) -> tf.Tensor:
    """The prior's translation `(centre of domain − centre_of_mass(m0)) / t`, `[batch, 2]`."""
    ny, nx = int(marker0.shape[1]), int(marker0.shape[2])
    middle = domain_center(ny, nx, dx, marker0.dtype)
    return (middle[None, :] - center_of_mass(marker0, dx)) / duration


def vortex_profile(
    ny: int, nx: int, dx: float, center: tf.Tensor, width: float, dtype=tf.float32
) -> tf.Tensor:
    """Unit-strength Gaussian vortex `φ` at cell centres, `[batch, ny, nx, 2]` (module docstring).

    Counter-clockwise (x right, y up) for positive strength. `center` is
    `[batch, 2]` (x, y); `width` in domain units (B.5: 20).
    """
    d_x = cell_centers(nx, dx, dtype)[None, None, :] - center[:, 0, None, None]
    d_y = cell_centers(ny, dx, dtype)[None, :, None] - center[:, 1, None, None]
    falloff = tf.exp(-(d_x * d_x + d_y * d_y) / (2.0 * width * width))
    return tf.stack([-d_y * falloff, d_x * falloff], axis=-1)


def project_strength(velocity: tf.Tensor, uniform: tf.Tensor, profile: tf.Tensor) -> tf.Tensor:
    """Least-squares vortex strength `<v − u, φ> / <φ, φ>` in a centred velocity, `[batch]`."""
    residual = velocity - uniform[:, None, None, :]
    numerator = tf.reduce_sum(residual * profile, axis=[1, 2, 3])
    return numerator / tf.reduce_sum(profile * profile, axis=[1, 2, 3])
