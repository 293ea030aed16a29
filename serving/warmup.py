"""Model warm-up: replay `assets.extra/tf_serving_warmup_requests` before a version serves.

The file is a TFRecord of `tensorflow.serving.PredictionLog`, as the real server reads it
(servables/tensorflow/saved_model_warmup_util.cc): at most 1000 records, each replayed
`--num_request_iterations_for_warmup` times; any failing record fails the load, so a version
whose warm-up does not run is never swapped in.
"""

from __future__ import annotations

import os

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving import _tensor_proto
from serving.errors import (
    InvalidArgumentError,
    ServingError,
    UnimplementedError,
    error_from_code,
)
from serving.servable import Servable

__all__ = [
    "MAX_WARMUP_RECORDS",
    "WARMUP_FILE",
    "read_warmup_logs",
    "warm_up",
    "write_warmup_requests",
]

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


def _records(path: str) -> list[bytes]:
    try:
        return [record.numpy() for record in tf.data.TFRecordDataset(path)]
    except tf.errors.OpError as e:
        raise InvalidArgumentError(
            f"Failed to read warmup requests from {path}: {e.message}"
        ) from None


def read_warmup_logs(version_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """The version's warm-up records ([] without a warm-up file)."""
    path = os.path.join(version_dir, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    records = _records(path)
    if len(records) > MAX_WARMUP_RECORDS:
        raise InvalidArgumentError(
            f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
        )
    return [prediction_log_pb2.PredictionLog.FromString(record) for record in records]


def warm_up(servable: Servable, iterations: int = 1) -> int:
    """Replay the version's warm-up requests; returns how many calls ran (0: no file)."""
    path = os.path.join(servable.path, WARMUP_FILE)
    calls = 0
    for index, log in enumerate(read_warmup_logs(servable.path)):
        kind = log.WhichOneof("log_type")
        if kind != "predict_log":
            raise UnimplementedError(
                f"Warmup record {index} in {path} is a {kind}; this server replays only "
                "predict_log records."
            )
        request = log.predict_log.request
        inputs = {
            alias: _tensor_proto.from_tensor_proto(proto) for alias, proto in request.inputs.items()
        }
        for _ in range(max(1, iterations)):
            try:
                servable.run(
                    request.model_spec.signature_name,
                    inputs,
                    output_filter=list(request.output_filter),
                )
            except ServingError as e:
                raise error_from_code(
                    e.code, f"Warmup request {index} from {path} failed: {e.message}"
                ) from e
            calls += 1
    return calls


def write_warmup_requests(version_dir: str, requests: list) -> str:
    """Write `PredictRequest`s as the version's warm-up file (what exporters call)."""
    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            log = prediction_log_pb2.PredictionLog()
            log.predict_log.request.CopyFrom(request)
            writer.write(log.SerializeToString())
    return path
