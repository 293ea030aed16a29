"""The heat equation `∂u/∂t = ν∇²u` on a periodic grid, computed exactly (paper 3.3, B.4).

    ŷ_k = x̂_k · exp(−κ_k),   κ_k = (2π)²|k|² ν t,   k = fftfreq(n, dx) (cycles per unit)

Fields are `[batch, ny, nx]`. The paper's setting is 64 × 64 unit cells,
`ν t = 8`: a mode with `|k|² ≥ 0.28` is damped below e⁻⁸⁸ and cannot be
recovered. The physics runs in float64: in float32 `exp(−κ)` underflows for
most modes and the inverse's amplification `exp(κ)` (up to e⁸⁸ ≈ 1.7e38)
overflows; `check_dtype` refuses float32 where the inverse is used.

`probabilistic_inverse` is the authors' stable inverse (EXPERIMENTS.md
section 4): per Fourier mode of the residual it weighs the probability that
the mode is signal (amplitude ~ `64·e^{−κ}`) against noise (amplitude ~
`1e-6·‖r‖₂`) and inverts, leaves or damps the mode accordingly.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pg_keras.physics import fields

#: The inverse amplifies a mode by at most e^88 (the authors' cap; float64 overflows near e^709).
MAX_EXPONENT = 88.0


def decay_exponents(ny: int, nx: int, nu_t: float, dx: float = 1.0) -> np.ndarray:
    """`κ_k = (2π)²|k|² ν t`, `[ny, nx]` on the FFT grid."""
    if not nu_t >= 0:
        raise ValueError(f"Expected `nu_t` >= 0. Received: nu_t={nu_t}")
    return (2 * np.pi) ** 2 * fields.squared_wavenumbers(ny, nx, dx) * nu_t


def check_dtype(field: tf.Tensor, what: str) -> None:
    if field.dtype != tf.float64:
        raise ValueError(
            f"Expected float64 fields for the {what} (exp(±κ) leaves float32's range at "
            f"ν t = 8). Received: dtype={field.dtype.name}; cast to float64 first"
        )


def simulate(x: tf.Tensor, nu_t: float, dx: float = 1.0) -> tf.Tensor:
    """`y = P(x)`: diffusion of `x` `[batch, ny, nx]` for time `t` with viscosity `ν`, exactly."""
    fields.check_field(x, "x")
    shape = (int(x.shape[1]), int(x.shape[2]))
    kernel = fields.half_spectrum(np.exp(-decay_exponents(*shape, nu_t, dx)))
    spectrum = fields.rfft2(x) * tf.constant(kernel, fields.complex_dtype(x.dtype))
    return fields.irfft2(spectrum, shape)


def inverse_weights(
    residual: tf.Tensor, nu_t: float, dx: float = 1.0, noise_floor: tf.Tensor | float = 0.0
) -> tf.Tensor:
    """The per-mode exponent `a ∈ [−1, 1]` of the probabilistic inverse, `[batch, ny, nx]`.

    `a = 1` inverts the mode exactly, `a = 0` leaves it, `a = −1` damps it
    (steps 2–4 of the algorithm in EXPERIMENTS.md section 4).

    `noise_floor` (`[batch]` or scalar, default 0: the authors' algorithm)
    bounds the noise scale from below, `σ = max(1e-6·‖r‖₂, noise_floor)`; an
    iterated solver needs it once `r` nears round-off (see `heat` solvers).
    This full-grid form is for inspection; `probabilistic_inverse` decides
    the same on the half spectrum.
    """
    check_dtype(residual, "probabilistic inverse")
    fields.check_field(residual, "residual")
    kappa = decay_exponents(int(residual.shape[1]), int(residual.shape[2]), nu_t, dx)
    spectrum = tf.signal.fft2d(tf.complex(residual, tf.zeros_like(residual)))
    return _mode_exponents(spectrum, kappa, _noise_scale(residual, noise_floor))


def _noise_scale(residual: tf.Tensor, noise_floor: tf.Tensor | float) -> tf.Tensor:
    """`σ = max(1e-6·‖r‖₂, noise_floor)` per example, `[batch, 1, 1]`."""
    noise = 1e-6 * tf.norm(tf.reshape(residual, [tf.shape(residual)[0], -1]), axis=1)
    return tf.reshape(tf.maximum(noise, tf.cast(noise_floor, tf.float64)), [-1, 1, 1])


def _mode_exponents(spectrum: tf.Tensor, kappa: np.ndarray, noise: tf.Tensor) -> tf.Tensor:
    """`a` per mode of the residual's `spectrum`, whose modes have decay exponents `kappa`."""
    amplitude = tf.constant(64.0 * np.exp(-kappa), tf.float64)
    magnitude = tf.abs(spectrum)

    def half_gaussian(ratio):
        p = 0.5 * tf.exp(-0.5 * tf.square(ratio))
        return tf.where(tf.math.is_nan(p), tf.zeros_like(p), p)

    p_signal = half_gaussian(magnitude / amplitude)
    # A zero residual gives 0/0 here; its modes are all 0, so any weight is right.
    p_noise = half_gaussian(magnitude / noise)
    total = p_signal + p_noise
    p = tf.where(total > 0, p_signal / tf.where(total > 0, total, 1.0), tf.zeros_like(total))
    decided = tf.logical_or(p <= 0.5, p >= 0.68)
    return tf.where(decided, 2.0 * (p - 0.5), tf.zeros_like(p))


def probabilistic_inverse(
    x: tf.Tensor,
    y: tf.Tensor,
    y_target: tf.Tensor,
    nu_t: float,
    dx: float = 1.0,
    noise_floor: tf.Tensor | float = 0.0,
) -> tf.Tensor:
    """`x̃ = x + Re IFFT(r̂ · exp(a · min(κ, 88)))`, `r = y* − y` (step 5 of the algorithm).

    All `[batch, ny, nx]` float64. With `a = 1` on a mode, `x̃`'s mode is the
    exact inverse `x̂ + r̂ e^{κ}` (for `κ ≤ 88`). One real FFT of `r` serves
    both the decisions and the update (the half spectrum: `r` is real and `a`,
    `κ` depend on `|k|` and `|r̂_k|` only, so the other half follows).
    """
    check_dtype(x, "probabilistic inverse")
    fields.check_field(x, "x")
    residual = y_target - y
    shape = (int(x.shape[1]), int(x.shape[2]))
    kappa = fields.half_spectrum(decay_exponents(*shape, nu_t, dx))
    spectrum = fields.rfft2(residual)
    a = _mode_exponents(spectrum, kappa, _noise_scale(residual, noise_floor))
    gain = tf.cast(tf.exp(a * tf.constant(np.minimum(kappa, MAX_EXPONENT))), tf.complex128)
    return x + fields.irfft2(spectrum * gain, shape)


#: How a box fills the cells its edge crosses (`box_fraction`).
BOX_EDGES = ("authors", "exact", "hard")

#: Bounding radius of a unit cell, `|(½, ½)|`: the width of the authors' soft edge.
_CELL_RADIUS = float(np.sqrt(0.5))


def box_fraction(
    centre: tf.Tensor, half_size: tf.Tensor, n: int, edges: str = "authors"
) -> tf.Tensor:
    """How much of each unit cell along one axis a box fills, `[..., n]`.

    `centre`, `half_size` are `[...]` (one box per entry), in cells; cell `i`
    spans `[i, i + 1]`. Per axis, with `d = |i + ½ − centre| − half_size` the
    signed distance of the cell centre to the box's edge:

    * `"authors"`: `clip(½ − d / r, 0, 1)` with `r = √½`, the cell's bounding
      radius: PhiFlow's `Box.approximate_fraction_inside`, which the authors'
      generator calls (`Cuboid(...).approximate_fraction_inside(cells, 0.5)`).
      In 2D it takes `d` as the max over the axes (an L∞ distance), so the 2D
      value is the *min* of the per-axis ones (`clip(½ − t/r)` falls with `t`).
      It is steeper than the covered area (slope 1/r ≈ 1.41 across an edge).
    * `"exact"`: the covered length `clip(min(i+1, c+h) − max(i, c−h), 0, 1)`;
      the 2D covered area is the product of the per-axis lengths.
    * `"hard"`: 1 where the cell centre lies inside (`d ≤ 0`), else 0.
    """
    cells = tf.range(n, dtype=centre.dtype)
    centre, half_size = centre[..., None], half_size[..., None]
    if edges == "authors":
        distance = tf.abs(cells + 0.5 - centre) - half_size
        return tf.clip_by_value(0.5 - distance / _CELL_RADIUS, 0.0, 1.0)
    if edges == "exact":
        covered = tf.minimum(cells + 1, centre + half_size) - tf.maximum(cells, centre - half_size)
        return tf.clip_by_value(covered, 0.0, 1.0)
    if edges == "hard":
        return tf.cast(tf.abs(cells + 0.5 - centre) <= half_size, centre.dtype)
    raise ValueError(f"Expected `edges` in {BOX_EDGES}. Received: edges={edges!r}")


def box_field(
    strength: tf.Tensor,
    centre: tf.Tensor,
    half_size: tf.Tensor,
    grid: tuple[int, int],
    edges: str = "authors",
) -> tf.Tensor:
    """The sum of boxes `Σ_k strength_k · fill_k`, `[batch, ny, nx]`.

    `strength` is `[batch, boxes]`; `centre` and `half_size` are
    `[batch, boxes, 2]` as (y, x) in cells. The fill of a cell combines the
    per-axis fractions of `box_fraction`: their min for `"authors"` (an L∞
    distance), their product otherwise (area, or inside both).
    """
    fill_y = box_fraction(centre[..., 0], half_size[..., 0], grid[0], edges)[..., :, None]
    fill_x = box_fraction(centre[..., 1], half_size[..., 1], grid[1], edges)[..., None, :]
    fill = tf.minimum(fill_y, fill_x) if edges == "authors" else fill_y * fill_x
    return tf.einsum("bk,bkyx->byx", strength, fill)


def random_boxes(
    batch_size: int,
    seed: tf.Tensor,
    grid: tuple[int, int] = (64, 64),
    boxes: tuple[int, int] = (4, 10),
    max_half_size: float = 10.0,
    centre_fraction: float = 0.8,
    edges: str = "authors",
    clip: bool = True,
    dtype: tf.DType = tf.float32,
) -> tf.Tensor:
    """The authors' x*: a sum of boxes per example, `[batch, ny, nx]`.

    Each example has `boxes[0]..boxes[1]` boxes (inclusive), half-size
    U[0, `max_half_size`) per axis, strength U[0, 1), centre uniform in the
    middle `centre_fraction` of the domain (in cells), then (with `clip`)
    clipped so that the box lies wholly inside the domain (`h ≤ c ≤ n − h`), as
    the authors' generator does: no box touches the periodic seam. Without
    `clip`, a box is cut at the border (the domain is not wrapped). `edges` says how a box
    fills the cells its edge crosses (`box_fraction`; the authors' by default).
    """
    low, high = boxes
    if not 0 < low <= high:
        raise ValueError(f"Expected 0 < boxes[0] <= boxes[1]. Received: boxes={boxes}")
    if edges not in BOX_EDGES:
        raise ValueError(f"Expected `edges` in {BOX_EDGES}. Received: edges={edges!r}")
    strength, centre, half = random_box_parameters(
        batch_size, seed, grid, boxes, max_half_size, centre_fraction, clip, dtype
    )
    return box_field(strength, centre, half, grid, edges)


def random_box_parameters(
    batch_size: int,
    seed: tf.Tensor,
    grid: tuple[int, int],
    boxes: tuple[int, int],
    max_half_size: float,
    centre_fraction: float,
    clip: bool,
    dtype: tf.DType,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """`(strength [batch, boxes], centre [batch, boxes, 2], half_size [batch, boxes, 2])`
    of `random_boxes`; absent boxes (beyond an example's count) have strength 0."""
    low, high = boxes
    ny, nx = grid
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 5)
    shape = [batch_size, high]
    count = tf.random.stateless_uniform([batch_size, 1], seeds[0], low, high + 1, tf.int32)
    present = tf.cast(tf.range(high)[None, :] < count, dtype)
    strength = tf.random.stateless_uniform(shape, seeds[1], 0, 1, dtype) * present
    half = tf.random.stateless_uniform([*shape, 2], seeds[2], 0, max_half_size, dtype)
    margin = 0.5 * (1 - centre_fraction)
    cy = tf.random.stateless_uniform(shape, seeds[3], margin * ny, (1 - margin) * ny, dtype)
    cx = tf.random.stateless_uniform(shape, seeds[4], margin * nx, (1 - margin) * nx, dtype)
    centre = tf.stack([cy, cx], axis=-1)
    if clip:
        centre = tf.clip_by_value(centre, half, tf.constant(grid, dtype) - half)
    return strength, centre, half
