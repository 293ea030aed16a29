"""The wave packet `y(ξ) = A · sin(f ξ) · exp(−½ (ξ − ξ0)² / σ²)` (paper Fig. 1, appendix B.1).

Shapes: `x = (ξ0, A)` is `[batch, 2]`, the sample positions `xi` are `[samples]`
(the paper: `ξ = 0, 1, …, 255`), `y` is `[batch, samples]`.

With `f = 4` rad per sample the carrier is above the Nyquist rate (π per
sample) and aliases to `2π − 4 ≈ 2.28` rad per sample, a period of about 2.75
samples. The objective `½‖y(x) − y*‖²` therefore has a local minimum in ξ0
every few samples, and is flat in ξ0 once the packet `σ` away from ξ0 no
longer overlaps the true one: the landscape the paper uses to show that
per-event L-BFGS-B only finds packets near its initial guess.
"""

from __future__ import annotations

import tensorflow as tf


def sample_positions(samples: int, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """`ξ = 0, 1, …, samples − 1`, shape `[samples]`."""
    if samples < 1:
        raise ValueError(f"Expected `samples` >= 1. Received: samples={samples}")
    return tf.range(samples, dtype=dtype)


def envelope(xi0: tf.Tensor, xi: tf.Tensor, width: float) -> tf.Tensor:
    """`exp(−½ (ξ − ξ0)² / σ²)`, `[batch, samples]` for `xi0` `[batch, 1]`."""
    offset = (xi[None, :] - xi0) / width
    return tf.exp(-0.5 * offset * offset)


def simulate(x: tf.Tensor, xi: tf.Tensor, frequency: float, width: float) -> tf.Tensor:
    """`y = A · sin(f ξ) · exp(−½ (ξ − ξ0)² / σ²)` for every row `(ξ0, A)` of `x`.

    Args:
        x: `[batch, 2]`, columns ξ0 (in samples) and A.
        xi: `[samples]` sample positions, same dtype as `x`.
        frequency: `f`, radians per sample.
        width: `σ`, in samples (> 0).

    Returns:
        `[batch, samples]`.
    """
    xi0, amplitude = x[:, 0:1], x[:, 1:2]
    return amplitude * tf.sin(frequency * xi)[None, :] * envelope(xi0, xi, width)


def jacobian(x: tf.Tensor, xi: tf.Tensor, frequency: float, width: float) -> tf.Tensor:
    """`∂y/∂x`, `[batch, samples, 2]`: columns `∂y/∂ξ0 = y · (ξ − ξ0)/σ²` and `∂y/∂A = y / A`.

    Written out (not `y / A`, which is 0/0 at A = 0) so that tests can hold
    autodiff against it.
    """
    xi0, amplitude = x[:, 0:1], x[:, 1:2]
    carrier = tf.sin(frequency * xi)[None, :] * envelope(xi0, xi, width)
    d_xi0 = amplitude * carrier * (xi[None, :] - xi0) / (width * width)
    return tf.stack([d_xi0, carrier], axis=-1)
