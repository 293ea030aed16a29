"""The U-Net's first convolution after a skip connection, without the concatenation.

A 3×3 convolution of `concat([up, skip], axis=-1)` with one kernel
`[3, 3, c_up + c_skip, filters]` equals the sum of two convolutions, of `up`
with the kernel's first `c_up` input channels and of `skip` with the rest.
Computed that way, neither the concatenated tensor nor, in the backward pass,
the two slices of its gradient (strided copies along the channel axis) are
ever made: on the heat U-Net's training step (batch 32, 64 × 64, 2 CPU
cores) the skip concatenation's gradient took about a tenth of the op time.
The weights, their shapes and their initialisation are those of the
`keras.layers.Conv2D` it replaces, so the parameter count stays the paper's.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="pg_keras")
class SkipConv2D(keras.layers.Layer):
    """`Conv2D(filters, 3, padding="same")(concat([up, skip]))`, called as `layer([up, skip])`."""

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if filters < 1 or kernel_size < 1:
            raise ValueError(
                "Expected `filters` >= 1 and `kernel_size` >= 1. "
                f"Received: filters={filters}, kernel_size={kernel_size}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2 or any(len(shape) != 4 for shape in input_shape):
            raise ValueError(
                "Expected two 4-D inputs [up, skip] of shape [batch, ny, nx, channels]. "
                f"Received: input_shape={input_shape}"
            )
        up, skip = input_shape
        self.up_channels = int(up[-1])
        channels = self.up_channels + int(skip[-1])
        size = self.kernel_size
        self.kernel = self.add_weight(
            shape=(size, size, channels, self.filters),
            initializer=self.kernel_initializer,
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.filters,), initializer=self.bias_initializer, name="bias"
        )

    def call(self, inputs):
        up, skip = inputs
        kernel = tf.cast(self.kernel, up.dtype)
        from_up = tf.nn.conv2d(up, kernel[:, :, : self.up_channels], 1, "SAME")
        from_skip = tf.nn.conv2d(skip, kernel[:, :, self.up_channels :], 1, "SAME")
        return tf.nn.bias_add(from_up, tf.cast(self.bias, up.dtype)) + from_skip

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
