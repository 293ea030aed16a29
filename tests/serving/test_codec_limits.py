"""The TensorProto decoder's edges: where its size and rank limits sit exactly, what an empty
typed field means, and how string elements are encoded."""

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2

from serving import _dtypes, _tensor_proto
from serving.errors import InvalidArgumentError


def _proto(shape, **values):
    proto = tensor_pb2.TensorProto(dtype=_dtypes.DT_FLOAT, **values)
    proto.tensor_shape.CopyFrom(_tensor_proto.shape_proto(shape))
    return proto


def test_the_element_limit_is_exactly_2_to_the_63_minus_1():
    with pytest.raises(InvalidArgumentError, match=r"at most 2\*\*63 - 1 elements"):
        _tensor_proto.from_tensor_proto(_proto((2**62, 2), float_val=[1.0]))
    # One fewer passes the shape check and is refused only for the memory it asks for.
    with pytest.raises(InvalidArgumentError, match="values fit in memory"):
        _tensor_proto.from_tensor_proto(_proto((2**63 - 1,), float_val=[1.0]))


def test_the_rank_limit_is_numpys_64():
    assert _tensor_proto.from_tensor_proto(_proto((1,) * 64, float_val=[2.0])).ndim == 64
    with pytest.raises(InvalidArgumentError, match="rank at most 64. Received: rank 65"):
        _tensor_proto.from_tensor_proto(_proto((1,) * 65, float_val=[2.0]))


def test_an_empty_typed_field_means_zeros():
    np.testing.assert_array_equal(_tensor_proto.from_tensor_proto(_proto((3,))), np.zeros(3))


def test_str_elements_are_utf8_and_other_elements_are_refused():
    proto = _tensor_proto.to_tensor_proto(np.array(["é", b"a"], object), _dtypes.DT_STRING)
    assert list(proto.string_val) == ["é".encode(), b"a"]
    with pytest.raises(InvalidArgumentError, match="bytes or str elements.*Received: int"):
        _tensor_proto.to_tensor_proto(np.array([b"a", 3], object), _dtypes.DT_STRING)
