"""The fluid's events (paper B.5; EXPERIMENTS.md 5; the numbers from the authors' later code).

Per example:

* marker centre `c ~ U[32, 96]²`; `m0` = 1 on the top `f ~ U[0.05, 0.15]` of
  the *domain's* cells of a smooth noise field masked to the box `c ± 28`, as
  the authors' code ranks it (`top_of_masked_noise`): the box's positive cells
  above that rank, so about 100–500 (median 315) of the box's 784 cells. Until
  issue 18 `f` was a fraction of the box (40–120 cells), with which the adjoint
  did not learn (docs/fluid.md). "Smooth noise": white noise low-passed in
  Fourier space by `exp(−½ |k|² σ²)`, `σ = marker_smoothness` (8 length units;
  not given in the paper, chosen so that a marker is a few irregular blobs like
  Fig. 6a);
* uniform velocity `u = (64 − centre_of_mass(m0)) / t` (moves the marker to
  the domain centre), vortex strength `ω ~ U[−2, 2]`;
* `v0 = u + ω · exp(−|d|²/(2·20²)) · (−d_y, d_x) + 0.1 · n`, `d = r − (64, 64)`,
  with `n` two smooth noise maps (`σ = velocity_noise_smoothness`) scaled to
  unit standard deviation per example.

`draw_events` returns `(m0, v0)`; the problem makes `v0` divergence-free and
simulates `m_t = P(v0)`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import tensorflow as tf

from pg_keras.physics import fluid as physics
from pg_keras.specs import Spec, check_positive

if TYPE_CHECKING:
    from pg_keras.problems.fluid import FluidSpec

__all__ = ["Events", "FluidData", "draw_events", "smooth_noise", "top_of_masked_noise"]


@dataclasses.dataclass(frozen=True)
class FluidData(Spec):
    """The events: marker boxes, their filled fraction (of the domain) and smoothness, and
    the velocity's vortex and small-scale noise (see the module docstring)."""

    marker_center_min: float = 32.0
    marker_center_max: float = 96.0
    marker_half_box: float = 28.0
    fraction_min: float = 0.05
    fraction_max: float = 0.15
    marker_smoothness: float = 8.0
    vortex_width: float = 20.0
    vortex_strength_max: float = 2.0
    velocity_noise: float = 0.1
    velocity_noise_smoothness: float = 6.0

    def __post_init__(self):
        check_positive(self, "marker_half_box", "vortex_width")
        if not 0 < self.fraction_min <= self.fraction_max < 1:
            raise ValueError(
                "Expected 0 < fraction_min <= fraction_max < 1. Received: "
                f"fraction_min={self.fraction_min}, fraction_max={self.fraction_max}"
            )
        super().__post_init__()


class Events(NamedTuple):
    """A batch of drawn events: `marker0` `[batch, n, n]`, `velocity0` centred
    `[batch, n, n, 2]`, not yet divergence-free."""

    marker0: tf.Tensor
    velocity0: tf.Tensor


def smooth_noise(shape, seed: tf.Tensor, smoothness: float, dx: float, dtype) -> tf.Tensor:
    """White noise `[batch, ny, nx]` low-passed by `exp(−½|k|²σ²)` (k in cycles per length
    unit), then normalised to zero mean and unit standard deviation per example."""
    ny, nx = shape[1], shape[2]
    white = tf.random.stateless_normal(shape, seed, dtype=dtype)
    ky, kx = np.fft.fftfreq(ny, dx), np.fft.fftfreq(nx, dx)
    k2 = (2 * np.pi) ** 2 * (ky[:, None] ** 2 + kx[None, :] ** 2)
    complex_dtype = tf.complex128 if dtype == tf.float64 else tf.complex64
    gain = tf.constant(np.exp(-0.5 * k2 * smoothness**2), complex_dtype)
    field = tf.math.real(tf.signal.ifft2d(tf.signal.fft2d(tf.cast(white, complex_dtype)) * gain))
    field = field - tf.reduce_mean(field, axis=[1, 2], keepdims=True)
    return field / tf.math.reduce_std(field, axis=[1, 2], keepdims=True)


def top_of_masked_noise(noise: tf.Tensor, box: tf.Tensor, fraction: tf.Tensor) -> tf.Tensor:
    """The marker of the authors' data: the top `fraction` of all cells of `noise · box`.

    `noise`, `box` (bool) are `[batch, ny, nx]`, `fraction` `[batch]`. The count is a
    fraction of the *domain*, `round(f·ny·nx)`, and cells outside the box rank as 0, so
    the marker is the box's cells above that rank and above 0: at most the box's
    positive-noise cells (about half of it), at least its largest one.
    """
    batch, ny, nx = tf.shape(noise)[0], tf.shape(noise)[1], tf.shape(noise)[2]
    masked = tf.where(box, noise, tf.zeros_like(noise))
    ranked = tf.sort(tf.reshape(masked, [batch, -1]), axis=1, direction="DESCENDING")
    count = tf.cast(tf.round(fraction * tf.cast(ny * nx, fraction.dtype)), tf.int32)
    threshold = tf.gather(ranked, tf.maximum(count, 1) - 1, batch_dims=1)
    largest = tf.reduce_max(tf.where(box, noise, -np.inf), axis=[1, 2])
    threshold = tf.minimum(tf.maximum(threshold, 0), largest)
    return box & (noise >= threshold[:, None, None])


def draw_events(spec: FluidSpec, batch_size: int, seed: tf.Tensor, dtype: tf.DType) -> Events:
    """`batch_size` events from the stateless `seed` (module docstring)."""
    n = spec.resolution
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 6)
    centre = tf.random.stateless_uniform(
        [batch_size, 2], seeds[0], spec.marker_center_min, spec.marker_center_max, dtype
    )
    fraction = tf.random.stateless_uniform(
        [batch_size], seeds[1], spec.fraction_min, spec.fraction_max, dtype
    )
    noise = smooth_noise([batch_size, n, n], seeds[2], spec.marker_smoothness, spec.dx, dtype)
    coordinates = (tf.range(n, dtype=dtype) + 0.5) * spec.dx
    in_x = tf.abs(coordinates[None, None, :] - centre[:, 0, None, None]) <= spec.marker_half_box
    in_y = tf.abs(coordinates[None, :, None] - centre[:, 1, None, None]) <= spec.marker_half_box
    marker0 = tf.cast(top_of_masked_noise(noise, in_x & in_y, fraction), dtype)

    uniform = physics.uniform_velocity(marker0, spec.dx, spec.duration)
    strength = tf.random.stateless_uniform(
        [batch_size], seeds[3], -spec.vortex_strength_max, spec.vortex_strength_max, dtype
    )
    middle = tf.fill([batch_size, 2], tf.constant(spec.size / 2, dtype))
    vortex = physics.vortex_profile(n, n, spec.dx, middle, spec.vortex_width, dtype)
    small = tf.stack(
        [
            smooth_noise([batch_size, n, n], s, spec.velocity_noise_smoothness, spec.dx, dtype)
            for s in (seeds[4], seeds[5])
        ],
        axis=-1,
    )
    velocity0 = (
        uniform[:, None, None, :]
        + strength[:, None, None, None] * vortex
        + spec.velocity_noise * small
    )
    return Events(marker0, velocity0)
