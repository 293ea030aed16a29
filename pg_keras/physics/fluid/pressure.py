"""Pressure solvers for the projection: `∇²p = rhs` on the periodic grid, and how each ended.

A solver is a parameter of the projection (as in jax-cfd's `projection(v,
solve=...)`): any function `(rhs, dx, guess) -> (p, PoissonResult)` fits.
Two are given:

* `spectral_poisson`, exact by FFT: on a periodic grid the 5-point Laplacian's
  eigenvectors are Fourier modes, with eigenvalues `(2 cos(2πk_y/n_y) − 2 +
  2 cos(2πk_x/n_x) − 2)/dx²`; the mean mode (eigenvalue 0) is set to 0.
  Autodiff through it is the adjoint solve (the Laplacian is symmetric);
* `conjugate_gradient_poisson`, B.5's CG (`pg_keras.physics.fields.linear_solve`,
  adjoint-solve gradient), warm-started from `guess`.

Every solve returns a `PoissonResult`; callers check it (`check_converged`)
or report it, outside any XLA-compiled function (XLA drops `Assert`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from pg_keras.physics import fields
from pg_keras.physics.fluid.grid import check_grid, laplacian

__all__ = [
    "PoissonResult",
    "PoissonSolver",
    "check_converged",
    "conjugate_gradient_poisson",
    "merge_results",
    "spectral_poisson",
]


class PoissonResult(NamedTuple):
    """How a pressure solve ended (TFP-style result tuple).

    Attributes:
        converged: `[batch]` bool (a direct solve: its residual is finite).
        num_iterations: `[batch]` int32 (0 for a direct solve).
        residual: `[batch]` max |∇²p − rhs| over the zero-mean part of `rhs`.
    """

    converged: tf.Tensor
    num_iterations: tf.Tensor
    residual: tf.Tensor


PoissonSolver = Callable[[tf.Tensor, float, "tf.Tensor | None"], tuple[tf.Tensor, PoissonResult]]


def _zero_mean(rhs: tf.Tensor) -> tf.Tensor:
    return rhs - tf.reduce_mean(rhs, axis=[1, 2], keepdims=True)


def _residual(p: tf.Tensor, zero_mean_rhs: tf.Tensor, dx: float) -> tf.Tensor:
    residual = tf.reduce_max(tf.abs(laplacian(p, dx) - zero_mean_rhs), axis=[1, 2])
    return tf.stop_gradient(residual)


def _laplacian_eigenvalues(ny: int, nx: int, dx: float) -> np.ndarray:
    ky = 2.0 * np.cos(2.0 * np.pi * np.fft.fftfreq(ny)) - 2.0
    kx = 2.0 * np.cos(2.0 * np.pi * np.fft.fftfreq(nx)) - 2.0
    eigenvalues = (ky[:, None] + kx[None, :]) / (dx * dx)
    eigenvalues[0, 0] = 1.0  # the mean mode, zeroed in the solution
    return eigenvalues


def spectral_poisson(
    rhs: tf.Tensor, dx: float, guess: tf.Tensor | None = None
) -> tuple[tf.Tensor, PoissonResult]:
    """Exact periodic solve of `∇²p = rhs` (5-point Laplacian) by FFT, `mean(p) = 0`.

    Args:
        rhs: `[batch, ny, nx]`, real; its mean is dropped (a divergence on a
            periodic grid has mean 0).
        dx: cell size.
        guess: ignored (a direct solve needs no warm start); there so that an
            iterative solver with warm start fits the same signature.
    """
    del guess
    check_grid(rhs, "rhs", 3)
    ny, nx = int(rhs.shape[1]), int(rhs.shape[2])
    complex_dtype = tf.complex128 if rhs.dtype == tf.float64 else tf.complex64
    eigenvalues = tf.constant(_laplacian_eigenvalues(ny, nx, dx), rhs.dtype)
    spectrum = tf.signal.fft2d(tf.cast(rhs, complex_dtype))
    keep = np.ones((ny, nx))
    keep[0, 0] = 0.0
    inverse = tf.cast(tf.constant(keep, rhs.dtype) / eigenvalues, complex_dtype)
    p = tf.math.real(tf.signal.ifft2d(spectrum * inverse))
    residual = _residual(p, _zero_mean(rhs), dx)
    return p, PoissonResult(
        converged=tf.math.is_finite(residual),
        num_iterations=tf.zeros(tf.shape(residual), tf.int32),
        residual=residual,
    )


def conjugate_gradient_poisson(rtol: float = 1e-5, max_iterations: int = 500) -> PoissonSolver:
    """The pressure solve by the shared CG, B.5's choice, as a `PoissonSolver`.

    Solves `−∇²p = −rhs` (the periodic `−∇²` is symmetric positive
    semi-definite; its null space, the constant, is orthogonal to the
    zero-mean part of `rhs` that is solved for) from `guess` (warm start) to
    `‖r‖ ≤ rtol·‖rhs‖`, and returns `p` with mean 0. The gradient is the
    adjoint CG solve. Non-convergence within `max_iterations` is reported in
    `PoissonResult.converged`, not raised (the call may be traced by XLA).
    """
    if not rtol > 0 or max_iterations < 1:
        raise ValueError(
            "Expected `rtol` > 0 and `max_iterations` >= 1. "
            f"Received: rtol={rtol}, max_iterations={max_iterations}"
        )

    def solve(
        rhs: tf.Tensor, dx: float, guess: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, PoissonResult]:
        check_grid(rhs, "rhs", 3)
        zero_mean = _zero_mean(rhs)
        p, result = fields.linear_solve(
            lambda q: -laplacian(q, dx),
            -zero_mean,
            rtol=rtol,
            max_iterations=max_iterations,
            x0=guess,
        )
        p = p - tf.reduce_mean(p, axis=[1, 2], keepdims=True)
        return p, PoissonResult(
            result.converged, result.num_iterations, _residual(p, zero_mean, dx)
        )

    return solve


def merge_results(results: Sequence[PoissonResult]) -> PoissonResult:
    """Several solves of one batch as one: all converged, iterations summed, worst residual."""
    if not results:
        raise ValueError("Expected at least one PoissonResult. Received: none")
    return PoissonResult(
        converged=tf.reduce_all(tf.stack([r.converged for r in results]), axis=0),
        num_iterations=tf.add_n([r.num_iterations for r in results]),
        residual=tf.reduce_max(tf.stack([r.residual for r in results]), axis=0),
    )


def check_converged(result: PoissonResult, what: str = "pressure solve") -> tf.Operation | None:
    """Raises (eagerly, or when the graph runs) unless every example's solve converged.

    Call it outside XLA-compiled functions: XLA drops `Assert` ops, so a
    compiled function returns its `PoissonResult` and the caller checks it.
    """
    return tf.debugging.Assert(
        tf.reduce_all(result.converged),
        [
            f"{what} did not converge for some examples (raise `max_iterations` or the "
            "tolerance, or check the input for NaN). Converged per example:",
            result.converged,
            "iterations:",
            result.num_iterations,
            "max residual:",
            result.residual,
        ],
        summarize=16,
    )
