"""B.5's inverse simulator `ṽ0 = P⁻¹(m0, m* | v0)`: one update of the prior's vortex strength.

1. `u` from m0 (`prior.uniform_velocity`), `ω` = the vortex strength in `v0`
   (`prior.project_strength`), the vortex `φ` centred at the domain centre and
   made divergence-free (`make_incompressible_centered`; `u` is), as every
   velocity the authors simulate.
2. Forward: simulate `u + ω·φ` from m0 and record the marker centres of mass
   `c_fwd[k]` and the final velocity `v_t`.
3. Reverse: from `(m*, v_t)` step with `−dt` and record `c_rev[k]`.
4. The vortex is carried by the flow: at step k it sits at
   `c_k = centre + u·k·dt`. With the expected marker path
   `p_k = ½(c_fwd[k] + c_rev[k])`, a rotation of the forward path by an angle
   θ about `c_k` relative to the reverse one gives
   `(c_fwd − c_rev) × (c_k − p_k) = θ·|p_k − c_k|²`, > 0 for too much
   counter-clockwise rotation, i.e. too large an `ω`. So

       ω ← ω − step_size · mean_k (c_fwd[k] − c_rev[k]) × (c_k − p_k).

B.5 garbles which positions enter the cross product; this is the reading that
gives a descent direction (a test checks that it converges to the true `ω`).
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from pg_keras.physics.fluid.pressure import (
    PoissonResult,
    PoissonSolver,
    merge_results,
    spectral_poisson,
)
from pg_keras.physics.fluid.prior import (
    center_of_mass,
    domain_center,
    project_strength,
    uniform_velocity,
    vortex_profile,
)
from pg_keras.physics.fluid.projection import make_incompressible_centered
from pg_keras.physics.fluid.simulation import FluidState, pressure_solves, simulate, step

__all__ = ["InverseUpdate", "inverse_vortex_update"]


class InverseUpdate(NamedTuple):
    """One update of the inverse simulator.

    Attributes:
        velocity: centred `u + ω'·φ`, `[batch, ny, nx, 2]` (the PG's `x̃`).
        strength: `ω'`, `[batch]`.
        uniform: `u`, `[batch, 2]`.
        solves: how the forward and reverse simulations' pressure solves ended.
    """

    velocity: tf.Tensor
    strength: tf.Tensor
    uniform: tf.Tensor
    solves: PoissonResult


def _reverse(final: FluidState, marker_target: tf.Tensor, dt, dx, steps, solve_poisson):
    """Steps with `−dt` from `(m*, v_t)`; the states in forward time order."""
    states = [FluidState(final.velocity, marker_target, final.pressure)]
    for _ in range(steps):
        states.append(step(states[-1], -dt, dx, solve_poisson))
    return states[::-1]


def inverse_vortex_update(
    velocity0: tf.Tensor,
    marker0: tf.Tensor,
    marker_target: tf.Tensor,
    dt: float,
    dx: float,
    steps: int,
    vortex_width: float,
    step_size: float = 1e-3,
    solve_poisson: PoissonSolver = spectral_poisson,
) -> InverseUpdate:
    """One update of `ω` (module docstring) from the centred guess `velocity0` `[batch, ny, nx, 2]`.

    `marker0`, `marker_target` are `[batch, ny, nx]`; `dt`, `dx`, `steps` the
    simulation's; `vortex_width` the prior's (B.5: 20); `step_size` B.5's 1e-3.
    """
    ny, nx = int(marker0.shape[1]), int(marker0.shape[2])
    dtype = velocity0.dtype
    uniform = uniform_velocity(marker0, dx, dt * steps)
    centre = tf.tile(domain_center(ny, nx, dx, dtype)[None, :], [tf.shape(marker0)[0], 1])
    profile = vortex_profile(ny, nx, dx, centre, vortex_width, dtype)
    profile, profile_solve = make_incompressible_centered(profile, dx, solve_poisson)
    strength = project_strength(velocity0, uniform, profile)
    prior = uniform[:, None, None, :] + strength[:, None, None, None] * profile
    forward = simulate(prior, marker0, dt, dx, steps, solve_poisson)
    backward = _reverse(forward[-1], marker_target, dt, dx, steps, solve_poisson)
    c_fwd = center_of_mass(tf.stack([s.marker for s in forward]), dx)  # [steps + 1, batch, 2]
    c_rev = center_of_mass(tf.stack([s.marker for s in backward]), dx)
    times = tf.range(steps + 1, dtype=dtype)[:, None, None] * dt
    lever = centre[None] + uniform[None] * times - 0.5 * (c_fwd + c_rev)
    a = c_fwd - c_rev
    torque = a[..., 0] * lever[..., 1] - a[..., 1] * lever[..., 0]
    strength = strength - step_size * tf.reduce_mean(torque, axis=0)
    velocity = uniform[:, None, None, :] + strength[:, None, None, None] * profile
    solves = merge_results([profile_solve, pressure_solves(forward + backward)])
    return InverseUpdate(velocity, strength, uniform, solves)
