"""The single-parameter problem `P_a(x) = sin(a / x)` (paper 3.1, appendix B.2).

Shapes: `x`, `a`, `y` are `[batch, 1]`. The minima of `P_a` (where `P_a = −1`)
sit at `x_n = a / (3π/2 + 2πn)` for integers `n`; `n ≥ 0` gives the positive
branch (n = 0 is the outermost, `2a/3π`), `n ≤ −1` the negative one (n = −1 is
the outermost, `−2a/π`). They accumulate at `x = 0`, where `∂P/∂x` oscillates
without bound.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

# Beyond this index the minima are closer than float64 resolves near 0; capping
# it keeps `x0 → 0` finite instead of dividing by zero.
_MAX_BRANCH = 1e7


def _max_branch(dtype: tf.DType) -> float:
    """The branch cap in `dtype`: `_MAX_BRANCH`, or lower where `dtype` could not resolve
    the phase `a / x_n = 3π/2 + 2πn` to 1e-3 (float32: n ≤ 8388, where sin(a / x_n) is −1
    to 1e-5; at n = 1e7 its spacing is 4, and sin lands anywhere)."""
    return min(_MAX_BRANCH, 1e-3 / float(np.finfo(dtype.as_numpy_dtype).eps))


def simulate(x: tf.Tensor, a: tf.Tensor) -> tf.Tensor:
    """`y = sin(a / x)`, elementwise."""
    return tf.sin(a / x)


def minimum(a: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """The minimum of branch `n`: `x_n = a / (3π/2 + 2πn)`."""
    return a / (1.5 * math.pi + 2.0 * math.pi * n)


def nearest_branch(x0: tf.Tensor, a: tf.Tensor) -> tf.Tensor:
    """Index `n` of the minimum closest to `x0` in `1/x`, on `x0`'s side of zero.

    `n = round(a / (2π x0) − 3/4)` (paper B.2), restricted to `n ≥ 0` for
    `x0 ≥ 0` and `n ≤ −1` for `x0 < 0`: without that, a large positive `x0`
    rounds to `n = −1`, whose minimum is negative, on the far side of zero.
    """
    safe_x0 = tf.where(tf.equal(x0, 0.0), tf.ones_like(x0) * 1e-30, x0)
    cap = _max_branch(x0.dtype)
    raw = tf.clip_by_value(a / (2.0 * math.pi * safe_x0) - 0.75, -cap, cap)
    n = tf.round(raw)
    return tf.where(safe_x0 > 0, tf.maximum(n, 0.0), tf.minimum(n, -1.0))


def analytic_inverse(x0: tf.Tensor, a: tf.Tensor) -> tf.Tensor:
    """`P⁻¹(−1 | x0)`: the paper's analytic inverse, a jump to the minimum nearest `x0`."""
    return minimum(a, nearest_branch(x0, a))


def distance_to_solution(x: tf.Tensor, a: tf.Tensor) -> tf.Tensor:
    """`|x − x_n|` for the exact solution `x_n` nearest to `x` in x (not 1/x) distance.

    The rounding in `nearest_branch` works in `1/x`; the true nearest minimum in
    `x` is that branch or one of its neighbours on the same side of zero.
    """
    n = nearest_branch(x, a)
    positive = n >= 0
    distances = []
    for offset in (-1.0, 0.0, 1.0):
        candidate = n + offset
        valid = tf.where(positive, candidate >= 0, candidate <= -1)
        distance = tf.abs(x - minimum(a, candidate))
        distances.append(
            tf.where(
                valid, distance, tf.fill(tf.shape(distance), tf.constant(math.inf, distance.dtype))
            )
        )
    return tf.reduce_min(tf.stack(distances), axis=0)
