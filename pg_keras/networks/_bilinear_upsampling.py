"""2× bilinear upsampling without the saturating cast that `tf.image.resize` adds.

`keras.layers.UpSampling2D(interpolation="bilinear")` calls `tf.image.resize`,
whose kernel computes in float32 and which, for any other dtype, casts the
result back through `saturate_cast`: a clip to the dtype's range, that is a
`clip_by_value` (minimum, maximum and, in the backward pass, two selects) over
every upsampled value. For bfloat16, whose range is float32's, the clip does
nothing, yet on the heat U-Net's bfloat16 training step (batch 32, 64 × 64,
2 CPU cores) it cost more than the resize itself. This layer runs the same
`ResizeBilinear` kernel (half-pixel centres, as `tf.image.resize`) and casts
plainly; in float32 it is the Keras layer's computation exactly.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="pg_keras")
class BilinearUpsampling2D(keras.layers.Layer):
    """`keras.layers.UpSampling2D(2, interpolation="bilinear")` on `[batch, ny, nx, c]`."""

    def call(self, inputs):
        size = 2 * tf.shape(inputs)[1:3]
        upsampled = tf.raw_ops.ResizeBilinear(
            images=inputs, size=size, align_corners=False, half_pixel_centers=True
        )
        return tf.cast(upsampled, inputs.dtype)

    def compute_output_shape(self, input_shape):
        batch, ny, nx, channels = input_shape
        doubled = [None if n is None else 2 * n for n in (ny, nx)]
        return (batch, *doubled, channels)
