"""Tiny SavedModels and one in-process model server shared by the whole serving test suite.

TensorFlow takes seconds to import and each server start loads every model, so everything
here is session-scoped: tests read the server, none of them changes it.
"""

from __future__ import annotations

import os
import socket
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

# Version 2 of each model multiplies by this, so answers tell the versions apart.
SCALES = {1: 1.0, 2: 10.0}
KERAS_KERNEL = np.array([[1.0, -1.0], [0.5, 2.0], [-2.0, 0.25]], dtype=np.float32)
KERAS_BIAS = np.array([0.5, -0.5], dtype=np.float32)


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


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("models"))
    for version in (1, 2):
        _export_keras(os.path.join(root, "keras_model", str(version)), version)
        _export_multi(os.path.join(root, "multi", str(version)), version)
    # Not versions: the server must ignore them.
    os.makedirs(os.path.join(root, "keras_model", "tmp_export"))
    with open(os.path.join(root, "keras_model", "README"), "w") as f:
        f.write("not a version\n")
    return root


@pytest.fixture(scope="session")
def config_file(model_root: str) -> str:
    path = os.path.join(model_root, "models.config")
    with open(path, "w") as f:
        f.write(
            textwrap.dedent(
                f"""\
                model_config_list {{
                  config {{
                    name: "keras_model"
                    base_path: "{model_root}/keras_model"
                    model_platform: "tensorflow"
                    model_version_policy {{ all {{}} }}
                    version_labels {{ key: "stable" value: 1 }}
                    version_labels {{ key: "canary" value: 2 }}
                  }}
                  config {{
                    name: "multi"
                    base_path: "{model_root}/multi"
                    model_platform: "tensorflow"
                    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
                  }}
                }}
                """
            )
        )
    return path


@pytest.fixture(scope="session")
def server(config_file: str):
    from serving.flags import ServerOptions
    from serving.server import ModelServer

    options = ServerOptions(
        port=0,  # the OS picks; read server.grpc_port
        rest_api_port=free_port(),
        model_config_file=config_file,
        rest_api_num_threads=8,
        grpc_max_threads=8,
    )
    model_server = ModelServer(options)
    model_server.start()
    yield model_server
    model_server.stop()


@pytest.fixture(scope="session")
def rest_url(server) -> str:
    return f"http://127.0.0.1:{server.rest_port}"


@pytest.fixture(scope="session")
def grpc_target(server) -> str:
    return f"127.0.0.1:{server.grpc_port}"
