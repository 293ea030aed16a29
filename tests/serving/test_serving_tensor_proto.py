"""numpy <-> TensorProto: the packed fast path writes the same message as the typed field
filled value by value, and every dtype reads back unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2

from serving import _dtypes, _tensor_proto


def _value_by_value(array: np.ndarray, dtype: int, field: str) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.CopyFrom(_tensor_proto.shape_proto(array.shape))
    getattr(proto, field).extend(array.reshape(-1).tolist())
    return proto


# Sizes around the one- and two-byte varint length boundaries (127 and 16383 bytes).
@pytest.mark.parametrize("shape", [(0,), (1,), (31,), (32,), (4095,), (4097,), (2, 64, 64)])
@pytest.mark.parametrize(
    "np_dtype,dtype,field",
    [(np.float32, _dtypes.DT_FLOAT, "float_val"), (np.float64, _dtypes.DT_DOUBLE, "double_val")],
)
def test_packed_float_fields_match_value_by_value(shape, np_dtype, dtype, field):
    rng = np.random.default_rng(3)
    array = rng.standard_normal(shape).astype(np_dtype)
    if array.size:
        array.reshape(-1)[0] = np.nan
    proto = _tensor_proto.to_tensor_proto(array, dtype=dtype)
    expected = _value_by_value(array, dtype, field)
    assert proto.SerializeToString() == expected.SerializeToString()
    np.testing.assert_array_equal(_tensor_proto.from_tensor_proto(proto), array)


def test_big_endian_and_strided_arrays_are_written_as_values():
    array = np.arange(12, dtype=">f4").reshape(3, 4)[:, ::2]
    proto = _tensor_proto.to_tensor_proto(array, dtype=_dtypes.DT_FLOAT)
    assert list(proto.float_val) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    np.testing.assert_array_equal(_tensor_proto.from_tensor_proto(proto), array)


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1, -2], [3, 2**31 - 1]], np.int32),
        np.array([2**40, -5], np.int64),
        np.array([True, False]),
        np.array([1.5, -0.25], np.float16),
        np.array([1 + 2j, -3j], np.complex64),
        np.array([b"a", b"\xff"], object),
    ],
)
def test_other_dtypes_round_trip(array):
    proto = _tensor_proto.to_tensor_proto(array)
    back = _tensor_proto.from_tensor_proto(proto)
    assert back.shape == array.shape
    assert back.tolist() == array.tolist()


def test_a_shape_past_int64_is_refused_not_wrapped():
    # 2**62 * 8 wraps to 0 in int64: the old count said "at most 0 values".
    proto = tensor_pb2.TensorProto(dtype=_dtypes.DT_FLOAT, float_val=[1.0])
    proto.tensor_shape.CopyFrom(_tensor_proto.shape_proto((2**62, 8)))
    with pytest.raises(_tensor_proto.InvalidArgumentError, match=r"at most 2\*\*63 - 1 elements"):
        _tensor_proto.from_tensor_proto(proto)


@pytest.mark.parametrize("count", [10**12, 2**62])
def test_one_value_filling_terabytes_is_a_bad_request(count):
    # 10**12 floats: more than the machine has; 2**62: more bytes than an address holds.
    proto = tensor_pb2.TensorProto(dtype=_dtypes.DT_FLOAT, float_val=[1.0])
    proto.tensor_shape.CopyFrom(_tensor_proto.shape_proto((count,)))
    with pytest.raises(_tensor_proto.InvalidArgumentError, match=rf"{count} values fit in memory"):
        _tensor_proto.from_tensor_proto(proto)
