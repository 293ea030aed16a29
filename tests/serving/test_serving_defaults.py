"""SignatureDef `defaults`: what gRPC Predict fills in for inputs a request leaves out."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from serving.errors import InvalidArgumentError
from serving.servable import Servable


def _signature() -> meta_graph_pb2.SignatureDef:
    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for alias, dtype in (("a", tf.float32), ("b", tf.float32), ("k", tf.int32)):
        signature.inputs[alias].name = f"serving_{alias}:0"
        signature.inputs[alias].dtype = dtype.as_datatype_enum
    signature.defaults["k"].CopyFrom(tf.make_tensor_proto(np.array([3], np.int32)))
    return signature


def test_a_defaulted_input_left_out_is_filled_in():
    a = np.ones((2, 1), np.float32)
    filled = Servable.with_defaults(_signature(), {"a": a, "b": a})
    assert set(filled) == {"a", "b", "k"}
    np.testing.assert_array_equal(filled["k"], [3])
    assert filled["k"].dtype == np.int32
    sent = {"a": a, "b": a, "k": np.array([5, 6], np.int32)}
    np.testing.assert_array_equal(Servable.with_defaults(_signature(), sent)["k"], [5, 6])


def test_an_input_without_a_default_stays_required():
    with pytest.raises(InvalidArgumentError) as error:
        Servable.with_defaults(_signature(), {"a": np.ones((1, 1), np.float32)})
    assert error.value.message == (
        "Signature input alias: b(feed name: serving_b:0) not found in request and no default "
        "value provided. Inputs expected to be in the request {a,b}"
    )
