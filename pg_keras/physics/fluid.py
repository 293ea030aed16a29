"""2D incompressible Navier–Stokes with a passive marker on a periodic MAC grid (paper 3.4, B.5).

    ∂v/∂t = −(v·∇)v − ∇p,   ∇·v = 0,   ∂m/∂t = −v·∇m     (no explicit viscosity, as in B.5)

Grid and shapes (batch on axis 0, then y, then x, like PhiFlow's `(batch, y, x)`):

* cell centres sit at `((i + ½)·dx, (j + ½)·dx)`, `i` the x index (axis 2),
  `j` the y index (axis 1); scalars (marker `m`, pressure `p`) are `[batch, ny, nx]`;
* a staggered (MAC) velocity is `[batch, ny, nx, 2]`: channel 0 is the
  x-component on the left face of cell (j, i), at `(i·dx, (j + ½)·dx)`, channel 1
  the y-component on the bottom face, at `((i + ½)·dx, j·dx)`. With periodic
  boundaries there are exactly `ny·nx` faces of each kind;
* a centred velocity (the network's `x ≡ v0`) is `[batch, ny, nx, 2]`, (vx, vy)
  at cell centres; `centered_to_staggered` averages it onto the faces.

One step (B.5 and the authors' later code, see `step`):

    E0 = mean(v²);  v ← MacCormack(v, v, dt);  v ← v − ∇p with ∇²p = ∇·v;
    v ← v·sqrt(E0/E);  m ← MacCormack(m, v, dt).

The marker is advected with the updated velocity (the order in
EXPERIMENTS.md). MacCormack (Selle et al. 2008) is semi-Lagrangian
backward lookup, a forward lookup of that result, the correction
`½(f − f̂)`, and a clamp of the result to the range of the four grid values
the backward lookup interpolated (as in PhiFlow's `mac_cormack`), so a
marker in [0, 1] stays in [0, 1]. Sampling is bilinear and periodic.

Pressure: on a periodic MAC grid the discrete `∇·∇` is the 5-point Laplacian,
whose eigenvectors are Fourier modes, so `spectral_poisson` solves it exactly
by FFT (eigenvalues `(2 cos(2πk/n) − 2)/dx²`, the mean mode set to 0). It is
the default `solve_poisson`; any function `(rhs, dx, guess) -> (p,
PoissonResult)` can replace it: `conjugate_gradient_poisson` is the shared
CG (`fields.linear_solve`) warm-started from the previous step's pressure,
with the adjoint-solve gradient (B.5's choice; about 3x the FFT step's cost
at 64 × 64, see docs/fluid.md). Autodiff through the FFT is the adjoint
solve (the Laplacian is symmetric).

A velocity that moves more than `max_cfl` cells per step is legal for
semi-Lagrangian advection but loses accuracy; `check_cfl` reports it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from pg_keras.physics import fields


class PoissonResult(NamedTuple):
    """What a pressure solve returns beside `p` (TFP-style result tuple).

    Attributes:
        converged: `[batch]` bool.
        num_iterations: `[batch]` int32 (0 for a direct solve).
        residual: `[batch]` max |∇²p − rhs|.
    """

    converged: tf.Tensor
    num_iterations: tf.Tensor
    residual: tf.Tensor


PoissonSolver = Callable[[tf.Tensor, float, "tf.Tensor | None"], tuple[tf.Tensor, PoissonResult]]


# Grid operators ----------------------------------------------------------------
def _check_grid(field: tf.Tensor, name: str, rank: int) -> None:
    if field.shape.rank != rank:
        raise ValueError(
            f"Expected `{name}` of rank {rank} ([batch, ny, nx{', 2' if rank == 4 else ''}]). "
            f"Received: shape={field.shape}"
        )


def laplacian(p: tf.Tensor, dx: float) -> tf.Tensor:
    """Periodic 5-point Laplacian `∇²p`, `[batch, ny, nx]` -> `[batch, ny, nx]`."""
    neighbours = (
        tf.roll(p, 1, 1) + tf.roll(p, -1, 1) + tf.roll(p, 1, 2) + tf.roll(p, -1, 2) - 4.0 * p
    )
    return neighbours / (dx * dx)


def divergence(velocity: tf.Tensor, dx: float) -> tf.Tensor:
    """`∇·v` at cell centres of a staggered velocity `[batch, ny, nx, 2]` -> `[batch, ny, nx]`.

    `(u[j, i+1] − u[j, i] + w[j+1, i] − w[j, i]) / dx`, periodic.
    """
    u, w = velocity[..., 0], velocity[..., 1]
    return (tf.roll(u, -1, 2) - u + tf.roll(w, -1, 1) - w) / dx


def gradient(p: tf.Tensor, dx: float) -> tf.Tensor:
    """`∇p` on the faces, `[batch, ny, nx]` -> staggered `[batch, ny, nx, 2]`.

    x-face (j, i) lies between cells i−1 and i: `(p[j, i] − p[j, i−1]) / dx`.
    """
    return tf.stack([(p - tf.roll(p, 1, 2)) / dx, (p - tf.roll(p, 1, 1)) / dx], axis=-1)


def centered_to_staggered(velocity: tf.Tensor) -> tf.Tensor:
    """Centred `[batch, ny, nx, 2]` -> staggered: each face averages its two cells."""
    _check_grid(velocity, "velocity", 4)
    u = 0.5 * (velocity[..., 0] + tf.roll(velocity[..., 0], 1, 2))
    w = 0.5 * (velocity[..., 1] + tf.roll(velocity[..., 1], 1, 1))
    return tf.stack([u, w], axis=-1)


def staggered_to_centered(velocity: tf.Tensor) -> tf.Tensor:
    """Staggered `[batch, ny, nx, 2]` -> centred: each cell averages its two faces."""
    u = 0.5 * (velocity[..., 0] + tf.roll(velocity[..., 0], -1, 2))
    w = 0.5 * (velocity[..., 1] + tf.roll(velocity[..., 1], -1, 1))
    return tf.stack([u, w], axis=-1)


def _velocity_at_x_faces(velocity: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(u, w) at the x-faces: u is there; w averages the 4 surrounding y-faces."""
    w = velocity[..., 1]
    w_cells = w + tf.roll(w, -1, 1)  # two y-faces of cell (j, i), summed
    return velocity[..., 0], 0.25 * (w_cells + tf.roll(w_cells, 1, 2))


def _velocity_at_y_faces(velocity: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(u, w) at the y-faces: w is there; u averages the 4 surrounding x-faces."""
    u = velocity[..., 0]
    u_cells = u + tf.roll(u, -1, 2)
    return 0.25 * (u_cells + tf.roll(u_cells, 1, 1)), velocity[..., 1]


# Advection --------------------------------------------------------------------
def sample_periodic(
    field: tf.Tensor, shift_x: tf.Tensor, shift_y: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Bilinear periodic lookup of `field` at its own sample points moved by `(shift_x, shift_y)`.

    Args:
        field: `[batch, ny, nx]`.
        shift_x, shift_y: `[batch, ny, nx]`, displacement in cells (any size;
            positions wrap around).

    Returns:
        `(values, lower, upper)`, each `[batch, ny, nx]`: the interpolated
        values and the min and max of the four grid values interpolated
        (MacCormack's clamp range).
    """
    shape = tf.shape(field)
    batch, ny, nx = shape[0], shape[1], shape[2]
    jj = tf.cast(tf.range(ny), field.dtype)[None, :, None] + shift_y
    ii = tf.cast(tf.range(nx), field.dtype)[None, None, :] + shift_x
    j0f, i0f = tf.floor(jj), tf.floor(ii)
    fy, fx = jj - j0f, ii - i0f
    j0 = tf.math.floormod(tf.cast(j0f, tf.int32), ny)
    i0 = tf.math.floormod(tf.cast(i0f, tf.int32), nx)
    j1, i1 = tf.math.floormod(j0 + 1, ny), tf.math.floormod(i0 + 1, nx)
    base = (tf.range(batch) * ny * nx)[:, None, None]
    flat = tf.reshape(field, [-1])
    rows0, rows1 = base + j0 * nx, base + j1 * nx
    corners = tf.gather(flat, tf.stack([rows0 + i0, rows0 + i1, rows1 + i0, rows1 + i1], 0))
    v00, v01, v10, v11 = corners[0], corners[1], corners[2], corners[3]
    values = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11)
    return values, tf.reduce_min(corners, 0), tf.reduce_max(corners, 0)


def semi_lagrangian(
    field: tf.Tensor, vx: tf.Tensor, vy: tf.Tensor, dt: float, dx: float
) -> tf.Tensor:
    """`f(r − v·dt)`: first-order backward lookup. `vx`, `vy` at `field`'s sample points."""
    return sample_periodic(field, -vx * (dt / dx), -vy * (dt / dx))[0]


def maccormack(
    field: tf.Tensor,
    vx: tf.Tensor,
    vy: tf.Tensor,
    dt: float,
    dx: float,
    correction: float = 1.0,
) -> tf.Tensor:
    """MacCormack advection (Selle et al. 2008) with clamping, periodic.

        f̃ = f(r − v dt);  f̂ = f̃(r + v dt);  f' = clamp(f̃ + c·½(f − f̂), lo, hi)

    where `[lo, hi]` is the range of the four values of `f` that the backward
    lookup interpolated. `correction = 0` is semi-Lagrangian.

    Args:
        field: `[batch, ny, nx]`.
        vx, vy: velocity at `field`'s sample points, `[batch, ny, nx]`.
        dt: time step (may be negative: the reverse simulation of B.5).
        dx: cell size.
    """
    back_x, back_y = -vx * (dt / dx), -vy * (dt / dx)
    forward, lower, upper = sample_periodic(field, back_x, back_y)
    there_and_back = sample_periodic(forward, -back_x, -back_y)[0]
    corrected = forward + (0.5 * correction) * (field - there_and_back)
    return tf.minimum(tf.maximum(corrected, lower), upper)


def advect_velocity(velocity: tf.Tensor, dt: float, dx: float, correction: float = 1.0):
    """Self-advection `v ← v(r − v dt)` of a staggered velocity, component-wise MacCormack."""
    ux, wx = _velocity_at_x_faces(velocity)
    uy, wy = _velocity_at_y_faces(velocity)
    u = maccormack(velocity[..., 0], ux, wx, dt, dx, correction)
    w = maccormack(velocity[..., 1], uy, wy, dt, dx, correction)
    return tf.stack([u, w], axis=-1)


def advect_marker(
    marker: tf.Tensor, velocity: tf.Tensor, dt: float, dx: float, correction: float = 1.0
) -> tf.Tensor:
    """Marker at cell centres carried by a staggered velocity (averaged to the centres)."""
    centred = staggered_to_centered(velocity)
    return maccormack(marker, centred[..., 0], centred[..., 1], dt, dx, correction)


# Pressure projection -----------------------------------------------------------
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
        rhs: `[batch, ny, nx]`, real; its mean must be 0 (a divergence on a
            periodic grid has mean 0; the mean mode is dropped).
        dx: cell size.
        guess: ignored (a direct solve needs no warm start); there so that an
            iterative solver with warm start fits the same signature.

    Returns:
        `(p, PoissonResult)`: `num_iterations` 0, `residual` max |∇²p − rhs|
        over the zero-mean part of `rhs`.
    """
    del guess
    _check_grid(rhs, "rhs", 3)
    ny, nx = int(rhs.shape[1]), int(rhs.shape[2])
    complex_dtype = tf.complex128 if rhs.dtype == tf.float64 else tf.complex64
    eigenvalues = tf.constant(_laplacian_eigenvalues(ny, nx, dx), rhs.dtype)
    spectrum = tf.signal.fft2d(tf.cast(rhs, complex_dtype))
    keep = np.ones((ny, nx))
    keep[0, 0] = 0.0
    inverse = tf.cast(tf.constant(keep, rhs.dtype) / eigenvalues, complex_dtype)
    p = tf.math.real(tf.signal.ifft2d(spectrum * inverse))
    batch = tf.shape(rhs)[0]
    zero_mean = rhs - tf.reduce_mean(rhs, axis=[1, 2], keepdims=True)
    residual = tf.reduce_max(tf.abs(laplacian(p, dx) - zero_mean), axis=[1, 2])
    return p, PoissonResult(
        converged=tf.ones([batch], tf.bool),
        num_iterations=tf.zeros([batch], tf.int32),
        residual=tf.stop_gradient(residual),
    )


def conjugate_gradient_poisson(rtol: float = 1e-5, max_iterations: int = 500) -> PoissonSolver:
    """The pressure solve by the shared CG (`pg_keras.physics.fields.linear_solve`), B.5's choice.

    Solves `−∇²p = −rhs` (the periodic 5-point `−∇²` is symmetric positive
    semi-definite; its null space, the constant, is orthogonal to a zero-mean
    `rhs`, so CG converges) from `guess` (warm start: the previous step's
    pressure) to `‖r‖ ≤ rtol·‖rhs‖`, and returns `p` with mean 0. The gradient
    is the adjoint CG solve. Non-convergence within `max_iterations` is
    reported in `PoissonResult.converged`, not raised (the call is traced).
    """
    if not rtol > 0 or max_iterations < 1:
        raise ValueError(
            "Expected `rtol` > 0 and `max_iterations` >= 1. "
            f"Received: rtol={rtol}, max_iterations={max_iterations}"
        )

    def solve(
        rhs: tf.Tensor, dx: float, guess: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, PoissonResult]:
        _check_grid(rhs, "rhs", 3)
        zero_mean = rhs - tf.reduce_mean(rhs, axis=[1, 2], keepdims=True)
        p, result = fields.linear_solve(
            lambda q: -laplacian(q, dx),
            -zero_mean,
            rtol=rtol,
            max_iterations=max_iterations,
            x0=guess,
        )
        p = p - tf.reduce_mean(p, axis=[1, 2], keepdims=True)
        residual = tf.reduce_max(tf.abs(laplacian(p, dx) - zero_mean), axis=[1, 2])
        return p, PoissonResult(
            converged=result.converged,
            num_iterations=result.num_iterations,
            residual=tf.stop_gradient(residual),
        )

    return solve


def make_incompressible(
    velocity: tf.Tensor,
    dx: float,
    solve_poisson: PoissonSolver = spectral_poisson,
    pressure_guess: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, PoissonResult]:
    """Helmholtz projection `v − ∇p` with `∇²p = ∇·v`, staggered `[batch, ny, nx, 2]`.

    Returns the divergence-free velocity, the pressure `[batch, ny, nx]` (the
    next step's warm start) and the solver's result tuple.
    """
    _check_grid(velocity, "velocity", 4)
    p, result = solve_poisson(divergence(velocity, dx), dx, pressure_guess)
    return velocity - gradient(p, dx), p, result


# Energy and one step -------------------------------------------------------------
def kinetic_energy(velocity: tf.Tensor) -> tf.Tensor:
    """`E = mean(v²)` over faces and components, `[batch]` (∝ ∫v² dx at constant density)."""
    return tf.reduce_mean(tf.square(velocity), axis=[1, 2, 3])


def renormalize_energy(velocity: tf.Tensor, energy: tf.Tensor) -> tf.Tensor:
    """`v · sqrt(E0/E)` so the energy equals `energy` `[batch]` (B.5: neither
    advection nor projection conserves it). A zero field stays zero."""
    current = kinetic_energy(velocity)
    tiny = tf.constant(np.finfo(velocity.dtype.as_numpy_dtype).tiny, velocity.dtype)
    # Both clamps keep sqrt and its gradient finite at v = 0 (a solver's usual start).
    scale = tf.sqrt(tf.maximum(energy, tiny) / tf.maximum(current, tiny))
    scale = tf.where(current > tiny, scale, tf.ones_like(scale))
    return velocity * scale[:, None, None, None]


class FluidState(NamedTuple):
    """The simulation state after a step (all batched on axis 0).

    Attributes:
        velocity: staggered `[batch, ny, nx, 2]`.
        marker: `[batch, ny, nx]`.
        pressure: `[batch, ny, nx]`, the last projection's (warm start).
    """

    velocity: tf.Tensor
    marker: tf.Tensor
    pressure: tf.Tensor


def step(
    state: FluidState,
    dt: float,
    dx: float,
    solve_poisson: PoissonSolver = spectral_poisson,
    correction: float = 1.0,
) -> FluidState:
    """One step of B.5: self-advect, project, renormalise the energy, advect the marker.

    `dt` may be negative (the reverse simulation of the inverse solver).
    """
    energy = kinetic_energy(state.velocity)
    velocity = advect_velocity(state.velocity, dt, dx, correction)
    velocity, pressure, _ = make_incompressible(velocity, dx, solve_poisson, state.pressure)
    velocity = renormalize_energy(velocity, energy)
    marker = advect_marker(state.marker, velocity, dt, dx, correction)
    return FluidState(velocity, marker, pressure)


def simulate(
    velocity0: tf.Tensor,
    marker0: tf.Tensor,
    dt: float,
    dx: float,
    steps: int,
    solve_poisson: PoissonSolver = spectral_poisson,
    correction: float = 1.0,
    staggered: bool = False,
) -> list[FluidState]:
    """Runs `steps` steps from `(v0, m0)` and returns the states `[s0, s1, …, s_steps]`.

    Args:
        velocity0: `[batch, ny, nx, 2]`, centred (the paper's `x ≡ v0`) unless
            `staggered`.
        marker0: `[batch, ny, nx]`.
        dt, dx: time step and cell size (B.5: 0.25 and 2).
        steps: number of steps (B.5: 8, t = 2).

    The loop is unrolled in Python: 8 steps, and XLA fuses it whole.
    """
    _check_grid(velocity0, "velocity0", 4)
    _check_grid(marker0, "marker0", 3)
    if steps < 0:
        raise ValueError(f"Expected `steps` >= 0. Received: steps={steps}")
    if not dx > 0:
        raise ValueError(f"Expected `dx` > 0. Received: dx={dx}")
    velocity = velocity0 if staggered else centered_to_staggered(velocity0)
    states = [FluidState(velocity, marker0, tf.zeros_like(marker0))]
    for _ in range(steps):
        states.append(step(states[-1], dt, dx, solve_poisson, correction))
    return states


def max_cfl(velocity: tf.Tensor, dt: float, dx: float) -> tf.Tensor:
    """Largest `|v|·|dt|/dx` per example, `[batch]`: cells a sample moves per step."""
    return tf.reduce_max(tf.abs(velocity), axis=[1, 2, 3]) * (abs(dt) / dx)


# Observables and the data prior ------------------------------------------------
def center_of_mass(marker: tf.Tensor, dx: float) -> tf.Tensor:
    """`Σ m r / Σ m` in domain units (cell centres at `(i + ½)dx`), `[batch, 2]` as (x, y).

    Not periodic-aware: meant for markers away from the boundary (the data
    moves them to the domain centre).
    """
    ny, nx = int(marker.shape[1]), int(marker.shape[2])
    ys = (tf.range(ny, dtype=marker.dtype) + 0.5) * dx
    xs = (tf.range(nx, dtype=marker.dtype) + 0.5) * dx
    mass = tf.reduce_sum(marker, axis=[1, 2])
    safe = tf.where(mass > 0, mass, tf.ones_like(mass))
    cx = tf.reduce_sum(marker * xs[None, None, :], axis=[1, 2]) / safe
    cy = tf.reduce_sum(marker * ys[None, :, None], axis=[1, 2]) / safe
    return tf.stack([cx, cy], axis=-1)


def vortex_profile(
    ny: int, nx: int, dx: float, center: tf.Tensor, width: float, dtype=tf.float32
) -> tf.Tensor:
    """Unit-strength Gaussian vortex at cell centres, `[batch, ny, nx, 2]`:

        φ(r) = exp(−|d|² / (2 width²)) · (−d_y, d_x),   d = r − center

    Counter-clockwise (x right, y up) for positive strength. `center` is `[batch, 2]` (x, y).
    """
    ys = (tf.range(ny, dtype=dtype) + 0.5) * dx
    xs = (tf.range(nx, dtype=dtype) + 0.5) * dx
    d_x = xs[None, None, :] - center[:, 0, None, None]
    d_y = ys[None, :, None] - center[:, 1, None, None]
    falloff = tf.exp(-(d_x * d_x + d_y * d_y) / (2.0 * width * width))
    return tf.stack([-d_y * falloff, d_x * falloff], axis=-1)


def frequency_weighted_loss(
    marker: tf.Tensor, target: tf.Tensor, dx: float, wavelength: float = 80.0, floor=1e-5
) -> tf.Tensor:
    """B.5's objective `Σ_k sqrt(max(|F(diff)_k · w_k|², floor))`, `[batch]`.

    `diff = m − m*` minus its mean; `w_k = exp(−½ |k|² wavelength²)` with `k`
    the frequency in cycles per unit length (`fftfreq(n, dx)`), so with the
    defaults the lowest modes (period 128, 64, 43) weigh 0.82, 0.46, 0.17 and
    period-16 modes ≈ 1e-5: the loss matches coarse structure first. The
    floor keeps the square root's gradient finite at a perfect match.

    Args:
        marker, target: `[batch, ny, nx]`.
    """
    ny, nx = int(marker.shape[1]), int(marker.shape[2])
    ky, kx = np.fft.fftfreq(ny, dx), np.fft.fftfreq(nx, dx)
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    weights = tf.constant(np.exp(-0.5 * k2 * wavelength**2), marker.dtype)
    diff = marker - target
    diff = diff - tf.reduce_mean(diff, axis=[1, 2], keepdims=True)
    complex_dtype = tf.complex128 if marker.dtype == tf.float64 else tf.complex64
    spectrum = tf.signal.fft2d(tf.cast(diff, complex_dtype))
    power = tf.square(tf.abs(spectrum) * weights)
    return tf.reduce_sum(tf.sqrt(tf.maximum(power, floor)), axis=[1, 2])


# The inverse simulator of B.5 ----------------------------------------------------
class VortexFit(NamedTuple):
    """One or more inverse-simulator updates (see `inverse_vortex_update`).

    Attributes:
        velocity: `[batch, ny, nx, 2]` centred, `u + strength · φ`.
        strength: `[batch]`, the fitted vortex strength.
        uniform: `[batch, 2]`, the uniform velocity.
        converged: `[batch]` bool, last update below the tolerance.
        num_iterations: `[batch]` int32.
    """

    velocity: tf.Tensor
    strength: tf.Tensor
    uniform: tf.Tensor
    converged: tf.Tensor
    num_iterations: tf.Tensor


def uniform_velocity(marker0: tf.Tensor, dx: float, duration: float) -> tf.Tensor:
    """The prior's translation `(centre of domain − centre_of_mass(m0)) / t`, `[batch, 2]`."""
    ny, nx = int(marker0.shape[1]), int(marker0.shape[2])
    middle = tf.constant([nx * dx / 2.0, ny * dx / 2.0], marker0.dtype)
    return (middle[None, :] - center_of_mass(marker0, dx)) / duration


def project_strength(velocity: tf.Tensor, uniform: tf.Tensor, profile: tf.Tensor) -> tf.Tensor:
    """Least-squares vortex strength `<v − u, φ> / <φ, φ>` in a centred velocity, `[batch]`."""
    residual = velocity - uniform[:, None, None, :]
    numerator = tf.reduce_sum(residual * profile, axis=[1, 2, 3])
    return numerator / tf.reduce_sum(profile * profile, axis=[1, 2, 3])


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
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One update of B.5's inverse simulator `ṽ0 = P⁻¹(m0, m* | v0)`.

    1. `u` from m0 (`uniform_velocity`), `ω` = the vortex strength in `v0`
       (`project_strength`), the vortex centred at the domain centre.
    2. Forward: simulate `u + ω·φ` from m0 and record the marker centres of
       mass `c_fwd[k]` and the final velocity `v_t`.
    3. Reverse: from `(m*, v_t)` step with `−dt` and record `c_rev[k]`.
    4. The vortex is carried by the flow: at step k it sits at
       `c_k = centre + u·k·dt`. With the expected marker path
       `p_k = ½(c_fwd[k] + c_rev[k])`, a rotation of the forward path by an
       angle θ about `c_k` relative to the reverse one gives
       `(c_fwd − c_rev) × (c_k − p_k) = θ·|p_k − c_k|²`, > 0 for too much
       counter-clockwise rotation, i.e. too large an `ω`. So

           ω ← ω − step_size · mean_k (c_fwd[k] − c_rev[k]) × (c_k − p_k).

    B.5 garbles which positions enter the cross product; this is the reading
    that gives a descent direction (tests check it reduces |ω − ω*|).

    Returns:
        `(velocity, strength, uniform)`: centred `u + ω'·φ` `[batch, ny, nx, 2]`,
        `ω'` `[batch]`, `u` `[batch, 2]`.
    """
    ny, nx = int(marker0.shape[1]), int(marker0.shape[2])
    dtype = velocity0.dtype
    duration = dt * steps
    uniform = uniform_velocity(marker0, dx, duration)
    batch = tf.shape(marker0)[0]
    middle = tf.constant([nx * dx / 2.0, ny * dx / 2.0], dtype)
    centre = tf.tile(middle[None, :], [batch, 1])
    profile = vortex_profile(ny, nx, dx, centre, vortex_width, dtype)
    strength = project_strength(velocity0, uniform, profile)
    prior = uniform[:, None, None, :] + strength[:, None, None, None] * profile
    forward = simulate(prior, marker0, dt, dx, steps, solve_poisson)
    final = forward[-1]
    backward = [FluidState(final.velocity, marker_target, final.pressure)]
    for _ in range(steps):
        backward.append(step(backward[-1], -dt, dx, solve_poisson))
    backward.reverse()
    torque = []
    for k in range(steps + 1):
        c_fwd = center_of_mass(forward[k].marker, dx)
        c_rev = center_of_mass(backward[k].marker, dx)
        vortex_at = centre + uniform * (k * dt)
        lever = vortex_at - 0.5 * (c_fwd + c_rev)
        a = c_fwd - c_rev
        torque.append(a[:, 0] * lever[:, 1] - a[:, 1] * lever[:, 0])
    strength = strength - step_size * tf.reduce_mean(tf.stack(torque, 0), axis=0)
    velocity = uniform[:, None, None, :] + strength[:, None, None, None] * profile
    return velocity, strength, uniform


def check_time_step(dt: float, steps: int) -> None:
    """Raises for a non-finite or zero `dt` or negative `steps`."""
    if not math.isfinite(dt) or dt == 0:
        raise ValueError(f"Expected a finite nonzero `dt`. Received: dt={dt}")
    if steps < 1:
        raise ValueError(f"Expected `steps` >= 1. Received: steps={steps}")
