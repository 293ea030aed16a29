"""Batch-norm statistics for inference, recomputed once training is done.

Keras keeps batch normalisation's running mean and variance as an exponential
moving average (momentum 0.99) of the batch statistics seen in training. A
network whose weights change quickly drifts away from that average: on the heat
problem the PG-trained U-Net lost its whole 1.5x advantage when evaluated with
the moving statistics (255 vs 174 ‖x − x*‖₁ with batch statistics), and
recomputing them on 50 batches from the final weights brought it back (161).
This is "precise BN" (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021):
an equal-weight average of batch statistics under the final weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import tensorflow as tf


def batch_norm_layers(network: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer in `network`, nested models included."""
    return [
        layer
        for layer in network._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def calibrate_batch_norm(network: keras.Model, inputs: Iterable[tf.Tensor]) -> int:
    """Sets every batch-norm layer's moving statistics to the mean over `inputs`.

    Each element of `inputs` is one batch of network inputs. The forward passes
    run in training mode (batch statistics) with the momentum of the k-th batch
    set to (k − 1)/k, so after n batches the moving mean and variance are the
    plain averages of the n batch statistics. Trainable weights are untouched.

    Returns:
        The number of batches used (0 when the network has no batch norm, in
        which case `inputs` is not read).
    """
    layers = batch_norm_layers(network)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, batch in enumerate(inputs, start=1):
            for layer in layers:
                # Read eagerly on every call, so it may change between batches.
                layer.momentum = (count - 1) / count
            network(batch, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return count
