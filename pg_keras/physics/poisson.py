"""Poisson's equation `∇²y = x`, solved implicitly by conjugate gradients (paper 3.2, B.3).

    y = P(x) = ∇⁻²x,   5-point Laplacian, cell size dx, y = 0 outside the grid

Fields are `[batch, ny, nx]` (the authors' code: 64 × 64, dx = 1). `−∇²` is
symmetric positive definite with zero boundaries, so `simulate` solves
`(−∇²) y = −x` by CG to a relative residual `rtol` (1e-5, as the authors); its
gradient is one more CG solve with the same operator (`fields.linear_solve`).

The inverse is explicit: `x = ∇²y`, so the physical gradient's solver is

    x̃ = ∇²y* = x − ∇²(y − y*)        (`analytic_inverse`)

with no implicit solve, while the adjoint `Jᵀdy = ∇⁻²dy` needs one.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pg_keras.physics import fields


def simulate(
    x: tf.Tensor,
    dx: float = 1.0,
    rtol: float = 1e-5,
    max_iterations: int = 2000,
    require_convergence: str | None = None,
) -> tuple[tf.Tensor, fields.CGResult]:
    """`y = ∇⁻²x` (zero boundary) by CG; returns `(y, CGResult)` for the caller to check,
    or, with `require_convergence` (a message), raises with it when a solve, forward or
    adjoint, stops at `max_iterations` (`fields.linear_solve`)."""
    fields.check_field(x, "x")

    def negative_laplacian(field):
        return -fields.laplacian(field, dx, "zero")

    return fields.linear_solve(
        negative_laplacian,
        -x,
        rtol=rtol,
        max_iterations=max_iterations,
        require_convergence=require_convergence,
    )


def analytic_inverse(x: tf.Tensor, y: tf.Tensor, y_target: tf.Tensor, dx: float = 1.0) -> tf.Tensor:
    """`x̃ = x − ∇²(y − y*)`: exactly `x*` when `y = P(x)` and `y* = P(x*)` (up to CG tolerance)."""
    return x - fields.laplacian(y - y_target, dx, "zero")


def random_fluctuations(
    batch_size: int,
    seed: tf.Tensor,
    grid: tuple[int, int] = (64, 64),
    bands: tuple[int, ...] = (1, 2, 4, 8, 16),
    dtype: tf.DType = tf.float32,
) -> tf.Tensor:
    """x*: fluctuations of several frequencies with random amplitudes, `[batch, ny, nx]`.

    A sum of sine modes `sin(π m (j+1)/(ny+1)) sin(π n (i+1)/(nx+1))` (the
    eigenmodes of the zero-boundary Laplacian) with `1 ≤ m, n ≤ bands[-1]`.
    Mode (m, n) belongs to the band of the first `bands` entry ≥ max(m, n);
    each example draws one amplitude U[0, 1) per band, and each mode a normal
    coefficient scaled by its band's amplitude / sqrt(modes in the band), so
    every band contributes O(amplitude) at every cell.
    """
    ny, nx = grid
    top = bands[-1]
    if list(bands) != sorted(set(bands)) or bands[0] < 1 or top > min(ny, nx):
        raise ValueError(
            f"Expected increasing bands in [1, min(ny, nx) = {min(ny, nx)}]. "
            f"Received: bands={bands}"
        )
    modes = np.arange(1, top + 1)
    band_of = np.searchsorted(np.asarray(bands), np.maximum(modes[:, None], modes[None, :]))
    band_size = np.bincount(band_of.ravel(), minlength=len(bands))
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
    amplitude = tf.random.stateless_uniform([batch_size, len(bands)], seeds[0], 0, 1, dtype)
    scale = tf.gather(amplitude, tf.constant(band_of), axis=1)  # [batch, top, top]
    scale = scale / tf.constant(np.sqrt(band_size[band_of]), dtype)
    coefficients = tf.random.stateless_normal([batch_size, top, top], seeds[1], dtype=dtype) * scale
    basis_y = np.sin(np.pi * np.outer(np.arange(1, ny + 1), modes) / (ny + 1))
    basis_x = np.sin(np.pi * np.outer(np.arange(1, nx + 1), modes) / (nx + 1))
    return tf.einsum(
        "ym,bmn,xn->byx", tf.constant(basis_y, dtype), coefficients, tf.constant(basis_x, dtype)
    )
