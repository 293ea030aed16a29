"""Field images for TensorBoard: several 2D fields side by side on one colour scale."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def field_strip(fields: Sequence[tf.Tensor], examples: int = 4) -> tf.Tensor:
    """`[examples, ny, k·(nx + 1) − 1, 1]` images in [0, 1], one row of `k` fields per example.

    All fields of one example share its min and max (so `y*`, the predicted
    `x`, `x*` and `P(x)` compare by brightness); a white column separates them.
    """
    stacked = tf.stack([tf.cast(f[:examples], tf.float32) for f in fields], axis=1)
    low = tf.reduce_min(stacked, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(stacked, axis=[1, 2, 3], keepdims=True)
    scaled = (stacked - low) / tf.maximum(high - low, 1e-12)
    separator = tf.ones_like(scaled[:, 0, :, :1])
    columns = []
    for i in range(len(fields)):
        if i:
            columns.append(separator)
        columns.append(scaled[:, i])
    return tf.concat(columns, axis=2)[..., None]
