"""The two periodic Laplacians that the projections solve with, and their null spaces.

* `"compact"`: the MAC grid's 5-point `∇·∇` (`grid.laplacian`), for the
  staggered projection; eigenvalues `(2 cos θ_y − 2 + 2 cos θ_x − 2)/dx²` with
  `θ = 2π·fftfreq(n)`; null space: the constants;
* `"wide"`: central differences twice (`centered_divergence ∘
  centered_gradient`), for the projection of a centred velocity; eigenvalues
  `−(sin² θ_y + sin² θ_x)/dx²`; null space: the fields of period 2 (the
  constant and the checkerboards; period 1 along an axis of odd length).

Both are symmetric and negative semi-definite. A right-hand side must have no
part in the null space (a divergence has none, up to round-off, which
`range_part` removes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from pg_keras.physics.fluid.grid import centered_divergence, centered_gradient, laplacian

__all__ = ["STENCILS", "Stencil", "get_stencil", "null_part", "range_part"]


class Stencil(NamedTuple):
    """A periodic Laplacian: applied, by its eigenvalues on the FFT grid, and its null space.

    Attributes:
        apply: `(p [batch, ny, nx], dx) -> ∇²p`.
        eigenvalues: `(ny, nx, dx) -> [ny, nx]` on the `fft2d` grid.
        null_period: the null space is the fields of this period along each
            axis of even length (constant along an odd one).
    """

    apply: Callable[[tf.Tensor, float], tf.Tensor]
    eigenvalues: Callable[[int, int, float], np.ndarray]
    null_period: int


def _compact_eigenvalues(ny: int, nx: int, dx: float) -> np.ndarray:
    ky = 2.0 * np.cos(2.0 * np.pi * np.fft.fftfreq(ny)) - 2.0
    kx = 2.0 * np.cos(2.0 * np.pi * np.fft.fftfreq(nx)) - 2.0
    return (ky[:, None] + kx[None, :]) / (dx * dx)


def _wide_eigenvalues(ny: int, nx: int, dx: float) -> np.ndarray:
    sy = np.sin(2.0 * np.pi * np.fft.fftfreq(ny)) ** 2
    sx = np.sin(2.0 * np.pi * np.fft.fftfreq(nx)) ** 2
    return -(sy[:, None] + sx[None, :]) / (dx * dx)


def _wide_laplacian(p: tf.Tensor, dx: float) -> tf.Tensor:
    return centered_divergence(centered_gradient(p, dx), dx)


STENCILS = {
    "compact": Stencil(laplacian, _compact_eigenvalues, 1),
    "wide": Stencil(_wide_laplacian, _wide_eigenvalues, 2),
}


def get_stencil(name: str) -> Stencil:
    """The stencil `name` ("compact" or "wide")."""
    if name not in STENCILS:
        raise ValueError(f"Expected `stencil` in {sorted(STENCILS)}. Received: stencil={name!r}")
    return STENCILS[name]


def null_part(field: tf.Tensor, stencil: Stencil) -> tf.Tensor:
    """The orthogonal projection of `[batch, ny, nx]` onto the stencil's null space.

    For period `q`, the mean of each residue class of the indices mod `q`.
    """
    ny, nx = int(field.shape[1]), int(field.shape[2])
    qy = stencil.null_period if ny % stencil.null_period == 0 else 1
    qx = stencil.null_period if nx % stencil.null_period == 0 else 1
    classes = tf.reshape(field, [-1, ny // qy, qy, nx // qx, qx])
    means = tf.reduce_mean(classes, axis=[1, 3], keepdims=True)
    return tf.reshape(tf.broadcast_to(means, tf.shape(classes)), tf.shape(field))


def range_part(field: tf.Tensor, stencil: Stencil) -> tf.Tensor:
    """`field` without its null-space part: what a Laplacian solve can match."""
    return field - null_part(field, stencil)
