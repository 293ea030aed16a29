"""Batch normalisation whose training pass is TensorFlow's fused kernel.

Keras 3's `BatchNormalization` on the TF backend computes the batch moments
and the normalisation as a dozen separate elementwise and reduction ops, and
autodiff differentiates each; on the CPU that made batch norm about a third of
the heat U-Net's training step (`pg-keras bench-train heat`). TensorFlow's
`FusedBatchNormV3` does the forward pass in one op and its hand-written
gradient in another, for the same function.

Same layer otherwise: same weights, initialisers, config and inference path
(Keras's own); `momentum` is read at call time, as `calibrate_batch_norm`
needs. Only the plain case is fused (training, trainable, NHWC float32, or
bfloat16 with float32 statistics, last axis, center and scale, no mask, no
renorm or synchronisation); anything else falls back to Keras.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="pg_keras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with a fused training pass on 4-D inputs."""

    def _fusable(self, inputs, training, mask) -> bool:
        return (
            bool(training)
            and self.trainable
            and mask is None
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and inputs.dtype in (tf.float32, tf.bfloat16)
            and self.center
            and self.scale
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True
        )
        # The kernel returns the unbiased (n − 1) variance; Keras averages the biased one,
        # the variance the normalisation itself used.
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), variance.dtype)
        variance = variance * (count - 1.0) / count
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return outputs
