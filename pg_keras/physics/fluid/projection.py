"""Pressure projection (Helmholtz decomposition, paper B.5): the divergence-free part of v.

    v ← v − ∇p   with   ∇²p = ∇·v        (staggered; ∇·∇ is the 5-point Laplacian)

so that `∇·v = 0` to the solver's precision. The pressure solver is a
parameter (`pressure.PoissonSolver`: FFT or CG).
"""

from __future__ import annotations

import tensorflow as tf

from pg_keras.physics.fluid.grid import check_grid, divergence, gradient
from pg_keras.physics.fluid.pressure import PoissonResult, PoissonSolver, spectral_poisson

__all__ = ["make_incompressible"]


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
