"""Fully-connected networks."""

from __future__ import annotations

from collections.abc import Sequence

import keras


def mlp(
    input_dim: int,
    hidden: Sequence[int],
    output_dim: int,
    activation: str = "relu",
    name: str = "mlp",
) -> keras.Model:
    """Dense layers with bias everywhere, `activation` after each hidden layer."""
    inputs = keras.Input(shape=(input_dim,), name="observation")
    h = inputs
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation=activation, name=f"hidden_{i}")(h)
    outputs = keras.layers.Dense(output_dim, name="x")(h)
    return keras.Model(inputs, outputs, name=name)
