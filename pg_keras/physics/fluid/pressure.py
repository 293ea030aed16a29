"""Pressure solvers for the projections: `∇²p = rhs` on the periodic grid, and how each ended.

A solver is a parameter of the projection (as in jax-cfd's `projection(v,
solve=...)`): any function `(rhs, dx, guess, stencil="compact") -> (p,
PoissonResult)` fits, `stencil` naming the Laplacian (`stencils`). `p` has
no part in the Laplacian's null space, and only the part of `rhs` outside
it is solved for (`stencils.range_part`). Two solvers are given:

* `spectral_poisson`, exact by FFT: the eigenvectors of a periodic stencil are
  Fourier modes, so `p = F⁻¹(F(rhs) / λ)`, 0 where `λ = 0`. Autodiff through
  it is the adjoint solve (the Laplacian is symmetric);
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
from pg_keras.physics.fluid.grid import check_grid
from pg_keras.physics.fluid.stencils import Stencil, get_stencil, null_part, range_part

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
        residual: `[batch]` max |∇²p − rhs| over the part of `rhs` outside the null space.
    """

    converged: tf.Tensor
    num_iterations: tf.Tensor
    residual: tf.Tensor


PoissonSolver = Callable[..., tuple[tf.Tensor, PoissonResult]]


def _residual(p: tf.Tensor, rhs: tf.Tensor, dx: float, stencil: Stencil) -> tf.Tensor:
    residual = tf.reduce_max(tf.abs(stencil.apply(p, dx) - rhs), axis=[1, 2])
    return tf.stop_gradient(residual)


def _inverse_eigenvalues(stencil: Stencil, ny: int, nx: int, dx: float) -> np.ndarray:
    """`1/λ`, and 0 where `λ` is 0 (the null space, left out of `p`)."""
    eigenvalues = stencil.eigenvalues(ny, nx, dx)
    null = np.abs(eigenvalues) * dx * dx < 1e-12
    return np.where(null, 0.0, 1.0 / np.where(null, 1.0, eigenvalues))


def _fourier_solve(rhs: tf.Tensor, inverse_eigenvalues: np.ndarray) -> tf.Tensor:
    """`F⁻¹(F(rhs) / λ)` with the fft2d."""
    complex_dtype = tf.complex128 if rhs.dtype == tf.float64 else tf.complex64
    inverse = tf.constant(inverse_eigenvalues, complex_dtype)
    return tf.math.real(
        tf.signal.ifft2d(tf.signal.fft2d(tf.complex(rhs, tf.zeros_like(rhs))) * inverse)
    )


def spectral_poisson(
    rhs: tf.Tensor, dx: float, guess: tf.Tensor | None = None, stencil: str = "compact"
) -> tuple[tf.Tensor, PoissonResult]:
    """Exact periodic solve of `∇²p = rhs` by FFT (module docstring).

    Args:
        rhs: `[batch, ny, nx]`, real.
        dx: cell size.
        guess: ignored (a direct solve needs no warm start); there so that an
            iterative solver with warm start fits the same signature.
        stencil: "compact" or "wide" (`stencils`).
    """
    del guess
    check_grid(rhs, "rhs", 3)
    laplace = get_stencil(stencil)
    ny, nx = int(rhs.shape[1]), int(rhs.shape[2])
    p = _fourier_solve(rhs, _inverse_eigenvalues(laplace, ny, nx, dx))
    residual = _residual(p, range_part(rhs, laplace), dx, laplace)
    return p, PoissonResult(
        converged=tf.math.is_finite(residual),
        num_iterations=tf.zeros(tf.shape(residual), tf.int32),
        residual=residual,
    )


def conjugate_gradient_poisson(rtol: float = 1e-5, max_iterations: int = 500) -> PoissonSolver:
    """The pressure solve by the shared CG, B.5's choice, as a `PoissonSolver`.

    Solves `(−∇² + N/dx²) p = −rhs`, `N` the projection onto the null space of
    `∇²`: the shift makes the operator positive definite without changing the
    solution for a `rhs` outside the null space, and keeps round-off from
    piling up there (where the checkerboards of the wide stencil made a
    float32 CG diverge). Starts from `guess` (warm start), stops at `‖r‖ ≤
    rtol·‖rhs‖`. The gradient is the adjoint CG solve. Non-convergence within
    `max_iterations` is reported in `PoissonResult.converged`, not raised (the
    call may be traced by XLA).
    """
    if not rtol > 0 or max_iterations < 1:
        raise ValueError(
            "Expected `rtol` > 0 and `max_iterations` >= 1. "
            f"Received: rtol={rtol}, max_iterations={max_iterations}"
        )

    def solve(
        rhs: tf.Tensor, dx: float, guess: tf.Tensor | None = None, stencil: str = "compact"
    ) -> tuple[tf.Tensor, PoissonResult]:
        check_grid(rhs, "rhs", 3)
        laplace = get_stencil(stencil)
        solvable = range_part(rhs, laplace)
        p, result = fields.linear_solve(
            lambda q: null_part(q, laplace) / (dx * dx) - laplace.apply(q, dx),
            -solvable,
            rtol=rtol,
            max_iterations=max_iterations,
            x0=guess,
        )
        p = range_part(p, laplace)
        residual = _residual(p, solvable, dx, laplace)
        return p, PoissonResult(result.converged, result.num_iterations, residual)

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
