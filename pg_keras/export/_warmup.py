"""`assets.extra/tf_serving_warmup_requests`: PredictRequests TF Serving replays on load.

The file is a TFRecord of `tensorflow.serving.PredictionLog` protos, each holding one
`predict_log.request`; TF Serving reads at most 1000 records. Requests come from the
problem's data generator, so they look like real traffic.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from pg_keras.export._serving import serving_inputs
from pg_keras.problems import Problem

WARMUP_FILE = "tf_serving_warmup_requests"
#: TF Serving's cap on replayed records.
MAX_WARMUP_RECORDS = 1000


def warmup_inputs(problem: Problem, batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """One request's inputs: the serving inputs of a generated batch, float32."""
    batch = problem.generate(batch_size, tf.constant([seed, batch_size], tf.int64))
    specs = serving_inputs(problem)
    return {name: tf.cast(batch[name], spec.dtype).numpy() for name, spec in specs.items()}


def write_warmup_requests(
    path: pathlib.Path,
    problem: Problem,
    model_name: str,
    batch_sizes: Sequence[int] = (1, 4),
    seed: int = 0,
    signature_name: str = "serving_default",
) -> int:
    """Writes one PredictRequest per batch size to `path`; returns how many."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    if not 0 < len(batch_sizes) <= MAX_WARMUP_RECORDS:
        raise ValueError(
            f"Expected 1 to {MAX_WARMUP_RECORDS} warm-up batch sizes. Received: {len(batch_sizes)}"
        )
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch_size in batch_sizes:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = signature_name
            for name, array in warmup_inputs(problem, batch_size, seed).items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return len(batch_sizes)
