"""One step of the fluid and the simulation `P` (paper 3.4, B.5).

    ∂v/∂t = −(v·∇)v − ∇p,   ∇·v = 0,   ∂m/∂t = −v·∇m     (no explicit viscosity, as in B.5)

One step (B.5 and the authors' later code):

    E0 = mean(v²);  v ← MacCormack(v, v, dt);  v ← v − ∇p with ∇²p = ∇·v;
    v ← v·sqrt(E0/E);  m ← MacCormack(m, v, dt)

Neither advection nor projection conserves energy; B.5 restores it each step.
The marker is advected with the updated velocity (EXPERIMENTS.md's order).
Before the first step the centred `v0` is made divergence-free
(`projection.make_incompressible_centered`), as the authors do: otherwise the
first step's `E0` counts the energy of its curl-free part, which the
projection removes and the renormalisation puts back into the flow. So
`P(x)` depends on the divergence-free part of `x` only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from pg_keras.physics.fluid.advection import advect_marker, advect_velocity
from pg_keras.physics.fluid.grid import centered_to_staggered, check_grid
from pg_keras.physics.fluid.pressure import (
    PoissonResult,
    PoissonSolver,
    merge_results,
    spectral_poisson,
)
from pg_keras.physics.fluid.projection import make_incompressible, make_incompressible_centered

__all__ = [
    "FluidState",
    "kinetic_energy",
    "pressure_solves",
    "renormalize_energy",
    "simulate",
    "step",
]


class FluidState(NamedTuple):
    """The simulation state after a step (all batched on axis 0).

    Attributes:
        velocity: staggered `[batch, ny, nx, 2]`.
        marker: `[batch, ny, nx]`.
        pressure: `[batch, ny, nx]`, the last projection's (the next warm start).
        solve: how the step's pressure solve ended; None for a state no
            projection made (a start state built by hand).
    """

    velocity: tf.Tensor
    marker: tf.Tensor
    pressure: tf.Tensor
    solve: PoissonResult | None = None


def kinetic_energy(velocity: tf.Tensor) -> tf.Tensor:
    """`E = mean(v²)` over faces and components, `[batch]` (∝ ∫v² dx at constant density)."""
    return tf.reduce_mean(tf.square(velocity), axis=[1, 2, 3])


def renormalize_energy(velocity: tf.Tensor, energy: tf.Tensor) -> tf.Tensor:
    """`v · sqrt(E0/E)`, so that the energy of `velocity` is `energy` `[batch]`.

    A zero field stays zero.
    """
    current = kinetic_energy(velocity)
    tiny = tf.constant(np.finfo(velocity.dtype.as_numpy_dtype).tiny, velocity.dtype)
    # Both clamps keep sqrt and its gradient finite at v = 0 (a solver's usual start).
    scale = tf.sqrt(tf.maximum(energy, tiny) / tf.maximum(current, tiny))
    scale = tf.where(current > tiny, scale, tf.ones_like(scale))
    return velocity * scale[:, None, None, None]


def step(
    state: FluidState,
    dt: float,
    dx: float,
    solve_poisson: PoissonSolver = spectral_poisson,
    correction: float = 1.0,
) -> FluidState:
    """One step of B.5 (module docstring); `dt` < 0 runs it backwards (B.5's inverse)."""
    energy = kinetic_energy(state.velocity)
    velocity = advect_velocity(state.velocity, dt, dx, correction)
    velocity, pressure, solve = make_incompressible(velocity, dx, solve_poisson, state.pressure)
    velocity = renormalize_energy(velocity, energy)
    marker = advect_marker(state.marker, velocity, dt, dx, correction)
    return FluidState(velocity, marker, pressure, solve)


def simulate(
    velocity0: tf.Tensor,
    marker0: tf.Tensor,
    dt: float,
    dx: float,
    steps: int,
    solve_poisson: PoissonSolver = spectral_poisson,
    correction: float = 1.0,
) -> list[FluidState]:
    """`P`: runs `steps` steps from `(v0, m0)` and returns the states `[s0, s1, …, s_steps]`.

    `s0` holds the projected `v0`, staggered, and its projection's result.

    Args:
        velocity0: centred `[batch, ny, nx, 2]`, the paper's `x ≡ v0`.
        marker0: `[batch, ny, nx]`.
        dt, dx: time step and cell size (B.5: 0.25 and 2).
        steps: number of steps (B.5: 8, t = 2).
        solve_poisson: the pressure solver of every projection.
        correction: MacCormack's correction weight (0: semi-Lagrangian).

    The loop is unrolled in Python (8 steps), so XLA fuses it whole.
    `pressure_solves(states)` says how the projections ended.
    """
    check_grid(velocity0, "velocity0", 4)
    check_grid(marker0, "marker0", 3)
    if steps < 0:
        raise ValueError(f"Expected `steps` >= 0. Received: steps={steps}")
    if not dx > 0:
        raise ValueError(f"Expected `dx` > 0. Received: dx={dx}")
    velocity0, solve = make_incompressible_centered(velocity0, dx, solve_poisson)
    start = FluidState(centered_to_staggered(velocity0), marker0, tf.zeros_like(marker0), solve)
    states = [start]
    for _ in range(steps):
        states.append(step(states[-1], dt, dx, solve_poisson, correction))
    return states


def pressure_solves(states: list[FluidState]) -> PoissonResult:
    """All projections of a simulation as one result (`pressure.merge_results`)."""
    return merge_results([s.solve for s in states if s.solve is not None])
