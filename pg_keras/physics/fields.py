"""Batched 2D scalar fields: grid operators, Fourier helpers, conjugate gradients.

Shared by the Poisson and heat problems (paper 3.2–3.3, B.3–B.4). Fields are
`[batch, ny, nx]`, batch on axis 0, y on axis 1, x on axis 2; cells have size
`dx` in both directions.

Boundaries of the 5-point Laplacian

    (∇²f)[j, i] = (f[j, i+1] + f[j, i−1] + f[j+1, i] + f[j−1, i] − 4 f[j, i]) / dx²

* `"zero"`: values outside the grid are 0 (homogeneous Dirichlet one cell
  beyond the last centre). `−∇²` is then symmetric positive definite, so
  `∇²y = x` has one solution and conjugate gradients find it.
* `"periodic"`: the grid wraps; `−∇²` is positive semi-definite (constants are
  its null space).

`conjugate_gradient` solves `A y = b` per example for a symmetric positive
definite `A`; `linear_solve` wraps it with a custom gradient that solves the
adjoint system `Aᵀλ = dy` (= `A λ = dy`, `A` symmetric) instead of
differentiating through the iterations (Giles & Pierce's adjoint of a linear
solve): backprop through a loop of ~200 iterations would store every iterate
and return the gradient of the truncated iteration, not of the solution.
Given `require_convergence` (a message), both solves raise `InvalidArgumentError`
with it when an example stops at the iteration cap (`check_converged`), since the
adjoint solve's result cannot be returned beside a gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import tensorflow as tf

BOUNDARIES = ("zero", "periodic")

LinearOperator = Callable[[tf.Tensor], tf.Tensor]


def check_field(field: tf.Tensor, name: str = "field") -> None:
    """Raises unless `field` is `[batch, ny, nx]` with static `ny`, `nx`."""
    if field.shape.rank != 3 or field.shape[1] is None or field.shape[2] is None:
        raise ValueError(
            f"Expected `{name}` of shape [batch, ny, nx] with static ny, nx. "
            f"Received: shape={field.shape}"
        )


def laplacian(field: tf.Tensor, dx: float = 1.0, boundary: str = "zero") -> tf.Tensor:
    """5-point Laplacian `∇²f`, `[batch, ny, nx]` -> `[batch, ny, nx]` (see module docstring)."""
    check_field(field)
    if boundary == "periodic":
        neighbours = (
            tf.roll(field, 1, 1)
            + tf.roll(field, -1, 1)
            + tf.roll(field, 1, 2)
            + tf.roll(field, -1, 2)
        )
    elif boundary == "zero":
        padded = tf.pad(field, [[0, 0], [1, 1], [1, 1]])
        neighbours = (
            padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
        )
    else:
        raise ValueError(f"Expected `boundary` in {BOUNDARIES}. Received: boundary={boundary!r}")
    return (neighbours - 4.0 * field) / (dx * dx)


# Fourier helpers -----------------------------------------------------------------
def complex_dtype(dtype: tf.DType) -> tf.DType:
    """complex128 for float64 fields, complex64 otherwise."""
    return tf.complex128 if dtype == tf.float64 else tf.complex64


def squared_wavenumbers(ny: int, nx: int, dx: float = 1.0) -> np.ndarray:
    """`|k|²` on the FFT grid, `[ny, nx]`, `k = fftfreq(n, dx)` in cycles per unit length."""
    ky = np.fft.fftfreq(ny, dx)
    kx = np.fft.fftfreq(nx, dx)
    return ky[:, None] ** 2 + kx[None, :] ** 2


def rfft2(field: tf.Tensor) -> tf.Tensor:
    """2D FFT over the last two axes of a real field: the half spectrum `[..., ny, nx//2 + 1]`
    (the other half is its complex conjugate), in the matching complex dtype."""
    return tf.signal.rfft2d(field)


def irfft2(spectrum: tf.Tensor, shape: tuple[int, int]) -> tf.Tensor:
    """The real field `[..., ny, nx]` whose half spectrum (`rfft2`) is `spectrum`.

    Exact for a spectrum that `rfft2` made and multiplied by a factor that is
    symmetric under `k → −k` (a function of `|k|`), as the heat kernels are.
    """
    return tf.signal.irfft2d(spectrum, fft_length=list(shape))


def half_spectrum(values: np.ndarray) -> np.ndarray:
    """The `[ny, nx//2 + 1]` columns of a `[ny, nx]` full-grid array that `rfft2` keeps."""
    return values[..., : values.shape[-1] // 2 + 1]


def per_example_dot(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """`Σ a·b` over all axes but the batch axis, `[batch]`."""
    return tf.reduce_sum(tf.reshape(a * b, [tf.shape(a)[0], -1]), axis=1)


# Conjugate gradients -------------------------------------------------------------
class CGResult(NamedTuple):
    """What `conjugate_gradient` returns (TFP-style: callers check `converged`).

    Attributes:
        position: `[batch, ...]`, the last iterate `y`.
        converged: `[batch]` bool, `‖b − A y‖ ≤ rtol·‖b‖ + atol` (recursive residual).
        num_iterations: `[batch]` int32, iterations each example ran (≤ the cap);
            a converged example is frozen while the others iterate.
        residual_norm: `[batch]`, `‖b − A y‖₂` by the CG recursion.
    """

    position: tf.Tensor
    converged: tf.Tensor
    num_iterations: tf.Tensor
    residual_norm: tf.Tensor


def conjugate_gradient(
    operator: LinearOperator,
    rhs: tf.Tensor,
    x0: tf.Tensor | None = None,
    rtol: float = 1e-5,
    atol: float = 0.0,
    max_iterations: int = 1000,
) -> CGResult:
    """Solves `A y = b` for every example of a batch by conjugate gradients.

    Args:
        operator: `A`, batched (`[batch, ...] -> [batch, ...]`), symmetric
            positive definite per example, acting on each example alone.
        rhs: `b`, `[batch, ...]`.
        x0: starting guess (default 0).
        rtol, atol: stop an example once `‖r‖₂ ≤ rtol·‖b‖₂ + atol`.
        max_iterations: cap per example.

    Not differentiable by design (see `linear_solve` for the adjoint gradient).
    """
    if max_iterations < 1:
        raise ValueError(
            f"Expected `max_iterations` >= 1. Received: max_iterations={max_iterations}"
        )
    if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
        raise ValueError(
            f"Expected `rtol` >= 0 and `atol` >= 0, not both 0. Received: rtol={rtol}, atol={atol}"
        )
    rhs = tf.stop_gradient(rhs)
    x = tf.zeros_like(rhs) if x0 is None else tf.stop_gradient(tf.cast(x0, rhs.dtype))
    expand = [-1] + [1] * (rhs.shape.rank - 1)
    r = rhs - operator(x) if x0 is not None else rhs
    rs = per_example_dot(r, r)
    threshold = tf.square(rtol * tf.sqrt(per_example_dot(rhs, rhs)) + atol)
    converged = rs <= threshold
    iterations = tf.zeros_like(rs, tf.int32)

    def body(k, x, r, p, rs, converged, iterations):
        active = tf.logical_not(converged)
        ap = operator(p)
        pap = per_example_dot(p, ap)
        safe_pap = tf.where(pap > 0, pap, tf.ones_like(pap))
        alpha = tf.where(active, rs / safe_pap, tf.zeros_like(rs))
        x = x + tf.reshape(alpha, expand) * p
        r = r - tf.reshape(alpha, expand) * ap
        rs_new = tf.where(active, per_example_dot(r, r), rs)
        safe_rs = tf.where(rs > 0, rs, tf.ones_like(rs))
        beta = tf.where(active, rs_new / safe_rs, tf.ones_like(rs))
        p = tf.where(tf.reshape(active, expand), r + tf.reshape(beta, expand) * p, p)
        iterations = iterations + tf.cast(active, tf.int32)
        converged = tf.logical_or(converged, rs_new <= threshold)
        return k + 1, x, r, p, rs_new, converged, iterations

    def cond(k, x, r, p, rs, converged, iterations):
        return tf.logical_and(k < max_iterations, tf.logical_not(tf.reduce_all(converged)))

    _, x, r, _, rs, converged, iterations = tf.while_loop(
        cond, body, (tf.constant(0), x, r, r, rs, converged, iterations)
    )
    return CGResult(
        position=x, converged=converged, num_iterations=iterations, residual_norm=tf.sqrt(rs)
    )


def check_converged(result: CGResult, message: str, value: tf.Tensor) -> tf.Tensor:
    """`value`, once every example of `result` converged; else `InvalidArgumentError`
    with `message`, how many examples did not, and their largest residual norm."""
    unconverged = tf.logical_not(result.converged)
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(unconverged)),
        [
            message,
            "Examples not converged:",
            tf.reduce_sum(tf.cast(unconverged, tf.int32)),
            "of",
            tf.size(unconverged),
            "largest residual norm:",
            tf.reduce_max(result.residual_norm),
        ],
        summarize=1,
    )
    with tf.control_dependencies([check]):
        return tf.identity(value)


class LinearSolveResiduals(NamedTuple):
    """What the forward solve keeps for the adjoint solve."""

    operator: LinearOperator
    rtol: float
    atol: float
    max_iterations: int
    require_convergence: str | None = None


def linear_solve_forward(
    operator: LinearOperator,
    rhs: tf.Tensor,
    rtol: float = 1e-5,
    atol: float = 0.0,
    max_iterations: int = 1000,
    x0: tf.Tensor | None = None,
    require_convergence: str | None = None,
) -> tuple[tf.Tensor, CGResult, LinearSolveResiduals]:
    """`y = A⁻¹ b` by CG from `x0` (warm start, default 0); returns `(y, CGResult, residuals
    for the backward)`. With `require_convergence`, `y` is only computed once every
    example converged (`check_converged`)."""
    result = conjugate_gradient(operator, rhs, x0, rtol, atol, max_iterations)
    y = result.position
    if require_convergence is not None:
        y = check_converged(result, require_convergence, y)
    residuals = LinearSolveResiduals(operator, rtol, atol, max_iterations, require_convergence)
    return y, result, residuals


def linear_solve_backward(residuals: LinearSolveResiduals, dy: tf.Tensor) -> tf.Tensor:
    """`db = A⁻ᵀ dy = A⁻¹ dy` (`A` symmetric): one more CG solve, same tolerances.

    A gradient function returns only gradients, so the adjoint solve's convergence
    is checked here (with the forward solve's `require_convergence`) or not at all.
    """
    result = conjugate_gradient(
        residuals.operator, dy, None, residuals.rtol, residuals.atol, residuals.max_iterations
    )
    if residuals.require_convergence is None:
        return result.position
    return check_converged(
        result, f"Adjoint solve: {residuals.require_convergence}", result.position
    )


def linear_solve(
    operator: LinearOperator,
    rhs: tf.Tensor,
    rtol: float = 1e-5,
    atol: float = 0.0,
    max_iterations: int = 1000,
    x0: tf.Tensor | None = None,
    require_convergence: str | None = None,
) -> tuple[tf.Tensor, CGResult]:
    """`y = A⁻¹ b` for symmetric positive definite `A`, differentiable in `b` by the adjoint solve.

    Returns `(y, CGResult)`; `y` carries the gradient `dL/db = A⁻¹ dL/dy`.
    `A` itself is treated as constant (no gradient flows into its parameters).
    `x0` warm-starts the forward solve only (e.g. the previous time step's
    pressure); it gets no gradient, since the solution does not depend on it.
    `require_convergence`: a message; both solves raise with it when an example
    stops at `max_iterations` (None: the caller checks the returned `CGResult`).
    """
    results: list[CGResult] = []

    @tf.custom_gradient
    def solve(b):
        y, result, residuals = linear_solve_forward(
            operator, b, rtol, atol, max_iterations, x0, require_convergence
        )
        results.append(result)
        return tf.identity(y), lambda dy: linear_solve_backward(residuals, dy)

    y = solve(rhs)
    return y, results[0]
