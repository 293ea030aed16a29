"""Pressure projection (Helmholtz decomposition, paper B.5): the divergence-free part of v.

    v ← v − ∇p   with   ∇²p = ∇·v        (staggered; ∇·∇ is the 5-point Laplacian)

so that `∇·v = 0` to the solver's precision; each step of the simulation
does this. The initial velocity `x ≡ v0` is centred, and the authors make it
divergence-free before the first step (EXPERIMENTS.md 5), which
`make_incompressible_centered` does in the centred representation itself:

    x ← x − ∇_c φ   with   ∇_c·∇_c φ = ∇_c·x     (central differences)

Since `∇_c·x` is the MAC divergence of the face averages of `x`, the result
is exactly divergence-free once staggered; and since `∇_c` is minus the
adjoint of `∇_c·`, it is the orthogonal projection onto those `x` (the
nearest such `x` in the L2 norm; applying it twice changes nothing). The
pressure solver is a parameter (`pressure.PoissonSolver`: FFT or CG).
"""

from __future__ import annotations

import tensorflow as tf

from pg_keras.physics.fluid.grid import (
    centered_divergence,
    centered_gradient,
    check_grid,
    divergence,
    gradient,
)
from pg_keras.physics.fluid.pressure import PoissonResult, PoissonSolver, spectral_poisson

__all__ = ["make_incompressible", "make_incompressible_centered"]


def make_incompressible(
    velocity: tf.Tensor,
    dx: float,
    solve_poisson: PoissonSolver = spectral_poisson,
    pressure_guess: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, PoissonResult]:
    """Projection of a staggered velocity `[batch, ny, nx, 2]` onto `∇·v = 0`.

    Args:
        velocity: staggered `[batch, ny, nx, 2]`.
        dx: cell size.
        solve_poisson: the pressure solver.
        pressure_guess: `[batch, ny, nx]` warm start (the previous step's pressure).

    Returns:
        The divergence-free velocity, the pressure `[batch, ny, nx]` (the next
        step's warm start) and the solver's result tuple.
    """
    check_grid(velocity, "velocity", 4)
    p, result = solve_poisson(divergence(velocity, dx), dx, pressure_guess)
    return velocity - gradient(p, dx), p, result


def make_incompressible_centered(
    velocity: tf.Tensor, dx: float, solve_poisson: PoissonSolver = spectral_poisson
) -> tuple[tf.Tensor, PoissonResult]:
    """Orthogonal projection of a centred velocity `[batch, ny, nx, 2]` (module docstring).

    Returns the projected centred velocity, whose face averages have MAC
    divergence 0 to the solver's precision, and the solver's result tuple.
    """
    check_grid(velocity, "velocity", 4)
    potential, result = solve_poisson(centered_divergence(velocity, dx), dx, None, stencil="wide")
    return velocity - centered_gradient(potential, dx), result
