"""Tiny SavedModels for the serving tests, and helpers the tests share.

A module with a unique name rather than conftest.py, so `import` cannot pick up another
directory's conftest.
"""

from __future__ import annotations

import os
import socket

import keras
import numpy as np
import tensorflow as tf

# Version 2 of each model multiplies by this, so answers tell the versions apart.
SCALES = {1: 1.0, 2: 10.0}
KERAS_KERNEL = np.array([[1.0, -1.0], [0.5, 2.0], [-2.0, 0.25]], dtype=np.float32)
KERAS_BIAS = np.array([0.5, -0.5], dtype=np.float32)


# A request whose shape the signature does not take: the real server's TF error, then ours
# (which checks shapes before running anything).
SHAPE_ERRORS = ("Matrix size-incompatible", "Expected input features of shape [-1,3]")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keras_reference(x: np.ndarray, version: int) -> np.ndarray:
    return (x @ (KERAS_KERNEL * SCALES[version]) + KERAS_BIAS * SCALES[version]).astype(np.float32)


def _export_keras(path: str, version: int) -> None:
    model = keras.Sequential([keras.Input((3,), name="features"), keras.layers.Dense(2)])
    model.layers[0].set_weights([KERAS_KERNEL * SCALES[version], KERAS_BIAS * SCALES[version]])
    model.export(path, format="tf_saved_model", verbose=False)


class _Multi(tf.Module):
    """Several signatures: multi-output, int and string inputs, two named inputs."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def predict(self, x):
        scaled = x * self.scale
        return {"scaled": scaled, "total": tf.reduce_sum(scaled, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="n")])
    def count(self, n):
        return {"doubled": n * 2}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="s")])
    def greet(self, s):
        return {"length": tf.strings.length(s), "echo_bytes": s}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="a"),
            tf.TensorSpec([None], tf.float64, name="b"),
        ]
    )
    def pair(self, a, b):
        return {"sum": tf.cast(a, tf.float64) + b}


def _export_multi(path: str, version: int) -> None:
    module = _Multi(SCALES[version])
    signatures = {
        "serving_default": module.predict,
        "count": module.count,
        "greet": module.greet,
        "pair": module.pair,
    }
    tf.saved_model.save(module, path, signatures=signatures)


def export_models(root: str) -> None:
    """Versions 1 and 2 of `keras_model` and `multi` under `root`, plus non-version entries."""
    for version in (1, 2):
        _export_keras(os.path.join(root, "keras_model", str(version)), version)
        _export_multi(os.path.join(root, "multi", str(version)), version)
    # Not versions: the server must ignore them.
    os.makedirs(os.path.join(root, "keras_model", "tmp_export"))
    with open(os.path.join(root, "keras_model", "README"), "w") as f:
        f.write("not a version\n")


class _Abuse(tf.Module):
    """A model for the abuse tests: a cheap signature, one whose work grows with an
    `iterations` input (as `refine` does) and one whose answer is much larger than its
    request."""

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def predict(self, x):
        return {"y": x * 2.0}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="x"),
            tf.TensorSpec([None], tf.int32, name="iterations"),
        ]
    )
    def refine(self, x, iterations):
        step = tf.eye(64) * 0.5 + 0.5 / 64.0

        def body(i, acc):
            return i + 1, tf.linalg.matmul(acc, step)

        _, acc = tf.while_loop(
            lambda i, _: i < tf.reduce_max(iterations), body, (tf.constant(0), tf.eye(64))
        )
        return {"y": x + 0.0 * tf.reduce_sum(acc)}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def wide(self, x):
        # 3 floats in, 600000 out per row: a few MB of JSON for a request of a few bytes.
        return {"y": tf.tile(x, [1, WIDE_REPEATS])}


WIDE_REPEATS = 200_000


def export_abuse_model(path: str) -> None:
    module = _Abuse()
    signatures = {"serving_default": module.predict, "refine": module.refine, "wide": module.wide}
    tf.saved_model.save(module, path, signatures=signatures)
