"""The TensorProto codec agrees with TensorFlow's own, for every dtype the server decodes:
TensorFlow reads what we write (typed fields and tensor_content), we read what TensorFlow
writes, and a one-value tensor is byte-for-byte the message `tf.make_tensor_proto` makes
(so each dtype sits in its proper field: DT_HALF in half_val, DT_UINT8 in int_val, ...)."""

import numpy as np
import pytest
import tensorflow as tf

from serving import _dtypes, _tensor_proto


def _values(dtype: np.dtype) -> np.ndarray:
    """A `[2, 3]` array with the dtype's edge values, where a wrong field or width shows."""
    if dtype.kind == "O":
        return np.array([[b"", b"a", b"\xff\x00"], [b"x" * 300, "é".encode(), b"z"]], object)
    if dtype.kind == "b":
        return np.array([[True, False, True], [False, False, True]])
    if dtype.kind == "c":
        return np.array([[1 + 2j, -3j, 0], [np.inf, 1e-30 - 1j, np.nan + 1j]], dtype)
    if dtype.kind == "f":
        info = np.finfo(dtype)
        return np.array([[1.5, -0.25, info.max], [info.tiny, np.inf, np.nan]], dtype)
    info = np.iinfo(dtype)
    return np.array([[info.min, info.max, 0], [1, info.max // 3, info.min // 2 + 1]], dtype)


DTYPES = list(_tensor_proto._VALUE_FIELD)  # the dtypes the decoder accepts


def _numpy(dtype: int) -> np.dtype:
    return _dtypes.numpy_dtype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtypes.dtype_string)
@pytest.mark.parametrize("as_tensor_content", [False, True])
def test_tensorflow_reads_what_we_write(dtype, as_tensor_content):
    array = _values(_numpy(dtype))
    if as_tensor_content and dtype == _dtypes.DT_STRING:
        pytest.skip("strings have no tensor_content encoding")
    proto = _tensor_proto.to_tensor_proto(array, dtype, as_tensor_content=as_tensor_content)
    read = tf.make_ndarray(proto)
    assert read.dtype == (np.object_ if dtype == _dtypes.DT_STRING else array.dtype)
    np.testing.assert_array_equal(read, array)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtypes.dtype_string)
def test_we_read_what_tensorflow_writes(dtype):
    array = _values(_numpy(dtype))
    for tensor in (array, array[:1, :1]):  # tensor_content, and a typed field of one value
        back = _tensor_proto.from_tensor_proto(tf.make_tensor_proto(tensor))
        assert back.shape == tensor.shape
        np.testing.assert_array_equal(back, tensor)
    # One value and a bigger shape: TensorFlow fills the tensor with it.
    filled = tf.make_tensor_proto(array.reshape(-1)[1], tf.as_dtype(dtype), shape=[2, 2])
    np.testing.assert_array_equal(_tensor_proto.from_tensor_proto(filled), tf.make_ndarray(filled))


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtypes.dtype_string)
def test_a_one_value_tensor_is_the_message_tensorflow_makes(dtype):
    value = _values(_numpy(dtype))[:1, 1:2]
    ours = _tensor_proto.to_tensor_proto(value, dtype)
    theirs = tf.make_tensor_proto(value, tf.as_dtype(dtype))
    assert [f.name for f, _ in ours.ListFields()] == [f.name for f, _ in theirs.ListFields()]
    assert ours.SerializeToString() == theirs.SerializeToString()


def test_every_dtype_tensorflow_serving_accepts_is_covered():
    # The numeric and string dtypes of the Predict API that numpy can hold.
    names = {_dtypes.dtype_string(d) for d in DTYPES}
    assert names == {
        "float", "double", "half", "int8", "int16", "int32", "int64", "uint8", "uint16",
        "uint32", "uint64", "bool", "string", "complex64", "complex128",
    }  # fmt: skip


def test_bfloat16_which_numpy_cannot_hold_is_refused_by_name():
    proto = tf.make_tensor_proto(np.ones([2], np.float32), tf.bfloat16)
    with pytest.raises(_tensor_proto.InvalidArgumentError, match="Received: bfloat16"):
        _tensor_proto.from_tensor_proto(proto)
