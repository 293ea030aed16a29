"""Where did it come from? The source of a 1D advection–diffusion, from the field it left.

A pollutant (or heat, or a dye) is released along a periodic channel of `cells` cells
of width `dx` by an unknown, steady source `s(ξ)`, carried by a flow of speed `c` and
spread by diffusion `ν`:

    ∂u/∂t + c ∂u/∂ξ = ν ∂²u/∂ξ² + s(ξ),    u(0, ξ) = 0.

After time `T` one measures `u(T, ξ)` everywhere, with noise. Find `s`. Here
`x = s` and `y = P(x) = u(T)`: the inverse problem behind locating emitters from a
concentration map. It is not one of the paper's.

The simulator steps the equation with implicit (backward) Euler: central differences
in space, and each step's linear system `(1 + Δt A) u⁺ = u + Δt s` solved exactly (the
operator is circulant, so the FFT diagonalises it). Per Fourier mode `k` the step is
`û⁺ = (û + Δt ŝ) r_k` with `r_k = 1 / (1 + Δt a_k)` and

    a_k = i c sin(θ_k) / dx + ν (2 − 2 cos θ_k) / dx²,    θ_k = 2π k / cells,

so after `n` steps from rest `û = g_k ŝ`, `g_k = Δt Σ_{j=1..n} r_k^j`. That gain is the
problem's own inverse: `x̃ = x + F⁻¹[(ŷ* − ŷ) / g_k]`, exact for every mode (`g_0 = T`,
the mean is conserved; the finest modes keep `|g_k| ≈ Δt/(2 + 4νΔt/dx²)`, so noise is
amplified at most `T / min|g_k|` ≈ 64 times relative to the mean mode at the defaults).
Backprop instead scales mode `k` of the residual by `conj(g_k)`, so the network sees the
fine structure of the source through a gradient ~64 times weaker than its mean — the
ill-conditioning that physical gradients remove.

Try it (from this directory; see docs/own_problem.md):

    pg-keras list own_problem:OwnProblem
    pg-keras compare own_problem:OwnProblem --gradients adjoint,inverse-physics --steps 2000
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from pg_keras.batch import X_TARGET, Y_TARGET, Batch
from pg_keras.problems import Problem
from pg_keras.rules import BackwardContext
from pg_keras.specs import PhysicsPrecision, Spec, check_at_least, check_positive


# Physics: pure TF, tensors in and out, batch on axis 0 ------------------------------------
def step_symbol(cells: int, dx: float, velocity: float, diffusivity: float) -> np.ndarray:
    """`a_k` of the central-difference operator `c ∂ξ − ν ∂ξξ` per FFT mode, `[cells]` complex."""
    theta = 2 * np.pi * np.fft.fftfreq(cells)
    return 1j * velocity * np.sin(theta) / dx + diffusivity * (2 - 2 * np.cos(theta)) / dx**2


def _spectrum(field: tf.Tensor) -> tf.Tensor:
    # tf.complex, not tf.cast: its gradient is the real part, without a lossy-cast warning.
    return tf.signal.fft(tf.complex(field, tf.zeros_like(field)))


def simulate(source: tf.Tensor, symbol: np.ndarray, dt: float, steps: int) -> tf.Tensor:
    """`u(T)` from rest under the source `[batch, cells]`: `steps` implicit Euler steps of `dt`."""
    complex_dtype = tf.complex128 if source.dtype == tf.float64 else tf.complex64
    damping = tf.constant(1 / (1 + dt * symbol), complex_dtype)
    forcing = dt * _spectrum(source)
    u = tf.zeros_like(forcing)
    for _ in range(steps):
        u = (u + forcing) * damping
    return tf.math.real(tf.signal.ifft(u))


def gain(symbol: np.ndarray, dt: float, steps: int) -> np.ndarray:
    """`g_k`: what `steps` implicit steps do to mode `k` of the source, `[cells]` complex."""
    r = 1 / (1 + dt * symbol)
    return dt * sum(r**j for j in range(1, steps + 1))


def inverse(x: tf.Tensor, y: tf.Tensor, y_target: tf.Tensor, gains: np.ndarray) -> tf.Tensor:
    """`x̃ = x + F⁻¹[(ŷ* − ŷ) / g]`: the source that leaves `y*`, given `x` left `y`."""
    complex_dtype = tf.complex128 if x.dtype == tf.float64 else tf.complex64
    residual = _spectrum(y_target - y)
    return x + tf.math.real(tf.signal.ifft(residual / tf.constant(gains, complex_dtype)))


def random_sources(
    batch_size: int, seed: tf.Tensor, cells: int, sources: tuple[int, int], widths, dtype
) -> tf.Tensor:
    """1 to `sources[1]` Gaussian emitters per example, `[batch, cells]`: strength U[0.5, 1.5),
    width U[widths) cells, centre anywhere (distances wrap around the channel)."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    count = tf.random.stateless_uniform(
        [batch_size, 1], seeds[0], sources[0], sources[1] + 1, tf.int32
    )
    present = tf.cast(tf.range(sources[1])[None, :] < count, dtype)
    shape = [batch_size, sources[1], 1]
    strength = tf.random.stateless_uniform(shape, seeds[1], 0.5, 1.5, dtype) * present[..., None]
    width = tf.random.stateless_uniform(shape, seeds[2], widths[0], widths[1], dtype)
    centre = tf.random.stateless_uniform(shape, seeds[3], 0, cells, dtype)
    offset = tf.range(cells, dtype=dtype)[None, None, :] + 0.5 - centre
    distance = offset - cells * tf.round(offset / cells)
    return tf.reduce_sum(strength * tf.exp(-0.5 * tf.square(distance / width)), axis=1)


# The problem: spec, data, network and the hooks it uses ------------------------------------
@dataclasses.dataclass(frozen=True)
class ChannelPhysics(PhysicsPrecision):
    """The channel and the flow: `cells` × `dx`, speed `velocity`, diffusivity, time stepping."""

    cells: int = 64
    dx: float = 1.0
    velocity: float = 1.0
    diffusivity: float = 1.0
    dt: float = 0.5
    steps: int = 32

    def __post_init__(self):
        check_positive(self, "dx", "dt", "diffusivity")
        check_at_least(self, 1, "cells", "steps")
        super().__post_init__()


@dataclasses.dataclass(frozen=True)
class EmitterData(Spec):
    """The events: up to `max_sources` emitters of width in [min_width, max_width) cells, and
    Gaussian measurement noise of standard deviation `noise`."""

    max_sources: int = 3
    min_width: float = 1.0
    max_width: float = 3.0
    noise: float = 0.01

    def __post_init__(self):
        check_at_least(self, 1, "max_sources")
        if not 0 < self.min_width < self.max_width:
            raise ValueError(
                "Expected 0 < min_width < max_width. "
                f"Received: min_width={self.min_width}, max_width={self.max_width}"
            )
        if self.noise < 0:
            raise ValueError(f"Expected `noise` >= 0. Received: noise={self.noise}")
        super().__post_init__()


@dataclasses.dataclass(frozen=True)
class OwnSpec(EmitterData, ChannelPhysics):
    """Physics, data and the network's hidden layer widths."""

    hidden: tuple[int, ...] = (256, 256)


class OwnProblem(Problem):
    """Source of a 1D advection–diffusion from the field after time T (docs/own_problem.md)."""

    name = "own"
    spec_class = OwnSpec
    learning_rate = 1e-3
    batch_size = 64
    inverse_name = "exact inverse of the implicit stepper"
    inverse_description = "PG from the stepper's exact inverse, mode by mode"
    # The inverse is exact: one step lands on the source that leaves y*.
    refine_iterations = 1

    @property
    def symbol(self) -> np.ndarray:
        spec = self.spec
        return step_symbol(spec.cells, spec.dx, spec.velocity, spec.diffusivity)

    # Required hooks --------------------------------------------------------------------
    def simulate(self, x: tf.Tensor, context: Batch) -> tf.Tensor:
        del context  # every event shares the channel and the flow
        return simulate(x, self.symbol, self.spec.dt, self.spec.steps)

    def generate(self, batch_size: int, seed: tf.Tensor) -> dict[str, tf.Tensor]:
        spec = self.spec
        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2)
        widths = (spec.min_width, spec.max_width)
        x = random_sources(
            batch_size, seeds[0], spec.cells, (1, spec.max_sources), widths, self.physics_dtype
        )
        noise = spec.noise * tf.random.stateless_normal(
            [batch_size, spec.cells], seeds[1], dtype=self.physics_dtype
        )
        return {Y_TARGET: self.simulate(x, {}) + noise, X_TARGET: x}

    def build_network(self) -> keras.Model:
        cells = self.spec.cells
        field = keras.Input((cells,), name="field")
        h = field
        for i, width in enumerate(self.spec.hidden):
            h = keras.layers.Dense(width, activation="relu", name=f"dense{i}")(h)
        source = keras.layers.Dense(cells, name="source")(h)
        return keras.Model(field, source, name="own_mlp")

    # Optional hooks, each enabling something (pg_keras.problems.base) --------------------
    def inverse(self, context: BackwardContext) -> tf.Tensor:
        """The exact inverse of the implicit stepper: the inverse-physics PG, solver, refine."""
        gains = gain(self.symbol, self.spec.dt, self.spec.steps)
        return inverse(context.x, context.y, context.y_target, gains)

    def postprocess(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """The total emission is known exactly: `mean(u(T)) = T · mean(s)` (mode 0, g_0 = T)."""
        duration = self.spec.dt * self.spec.steps
        target = tf.reduce_mean(tf.cast(batch[Y_TARGET], x.dtype), axis=1, keepdims=True)
        return x - tf.reduce_mean(x, axis=1, keepdims=True) + target / duration

    def initial_guess(self, batch: Batch) -> tf.Tensor:
        """A uniform source of the right total: enables `pg-keras solve`."""
        y_target = tf.cast(batch[Y_TARGET], tf.float64)
        duration = self.spec.dt * self.spec.steps
        mean = tf.reduce_mean(y_target, axis=1, keepdims=True) / duration
        return tf.broadcast_to(mean, tf.shape(y_target))

    def observation_shape(self) -> tuple[int, ...]:
        """A request is the measured field itself: enables `pg-keras export`."""
        return (self.spec.cells,)
