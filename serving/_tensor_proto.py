"""numpy arrays to and from `tensorflow.TensorProto`, using the typed `*_val` fields.

`tf.make_tensor_proto` packs numbers into `tensor_content`; TF Serving answers with the typed
fields unless `--enable_serialization_as_tensor_content` is set, and clients (ours and others)
may send either, so both directions are written here.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

from serving import _dtypes
from serving.errors import InvalidArgumentError

# dtype -> name of the repeated field holding its values
_VALUE_FIELD = {
    _dtypes.DT_FLOAT: "float_val",
    _dtypes.DT_DOUBLE: "double_val",
    _dtypes.DT_INT32: "int_val",
    _dtypes.DT_UINT8: "int_val",
    _dtypes.DT_INT16: "int_val",
    _dtypes.DT_INT8: "int_val",
    _dtypes.DT_UINT16: "int_val",
    _dtypes.DT_STRING: "string_val",
    _dtypes.DT_INT64: "int64_val",
    _dtypes.DT_BOOL: "bool_val",
    _dtypes.DT_HALF: "half_val",
    _dtypes.DT_UINT32: "uint32_val",
    _dtypes.DT_UINT64: "uint64_val",
    _dtypes.DT_COMPLEX64: "scomplex_val",
    _dtypes.DT_COMPLEX128: "dcomplex_val",
}


# Wire-format key (field number << 3 | length-delimited) of the packed float_val and double_val
# fields of TensorProto (tensorflow/core/framework/tensor.proto: fields 5 and 6).
_PACKED_FIELD_TAG = {_dtypes.DT_FLOAT: bytes([5 << 3 | 2]), _dtypes.DT_DOUBLE: bytes([6 << 3 | 2])}


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def shape_proto(shape: tuple[int, ...]) -> tensor_shape_pb2.TensorShapeProto:
    proto = tensor_shape_pb2.TensorShapeProto()
    for size in shape:
        proto.dim.add().size = int(size)
    return proto


def _as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise InvalidArgumentError(
        f"Expected bytes or str elements in a string tensor. Received: {type(value).__name__}"
    )


def to_tensor_proto(
    array: np.ndarray,
    dtype: int | None = None,
    as_tensor_content: bool = False,
    out: tensor_pb2.TensorProto | None = None,
) -> tensor_pb2.TensorProto:
    """Encode `array` as a TensorProto of `dtype` (inferred from the array if None), into
    the empty message `out` when given (a response field, saving a copy)."""
    array = np.asarray(array)
    if dtype is None:
        dtype = _dtypes.dtype_for_numpy(array)
    proto = tensor_pb2.TensorProto() if out is None else out
    proto.dtype = dtype
    proto.tensor_shape.CopyFrom(shape_proto(array.shape))
    flat = array.reshape(-1)
    if dtype == _dtypes.DT_STRING:
        proto.string_val.extend(_as_bytes(v) for v in flat.tolist())
        return proto
    np_dtype = _dtypes.numpy_dtype(dtype)
    flat = flat.astype(np_dtype, copy=False)
    if as_tensor_content:
        proto.tensor_content = (
            np.ascontiguousarray(flat).astype(np_dtype.newbyteorder("<")).tobytes()
        )
        return proto
    if dtype in _PACKED_FIELD_TAG:
        # Packed fixed-width values are their little-endian bytes: one parse of those
        # bytes fills the repeated field, where extending it from a Python list cost
        # 0.2 ms for a 64x64 tensor.
        data = flat.astype(np_dtype.newbyteorder("<"), copy=False).tobytes()
        proto.MergeFromString(_PACKED_FIELD_TAG[dtype] + _varint(len(data)) + data)
        return proto
    field = _VALUE_FIELD[dtype]
    if dtype == _dtypes.DT_HALF:
        values = flat.view(np.uint16).astype(np.int32).tolist()
    elif dtype in (_dtypes.DT_COMPLEX64, _dtypes.DT_COMPLEX128):
        values = np.stack([flat.real, flat.imag], axis=-1).reshape(-1).tolist()
    else:
        values = flat.tolist()
    getattr(proto, field).extend(values)
    return proto


_MAX_ELEMENTS = 2**63 - 1
_MAX_RANK = 64  # numpy's limit on dimensions


def from_tensor_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """Decode a TensorProto, from `tensor_content` or the typed fields, into a numpy array.

    As in TensorFlow, a typed field shorter than the shape is padded with its last value
    (so one value fills a whole tensor); an empty field means zeros.
    """
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    if len(shape) > _MAX_RANK:
        raise InvalidArgumentError(
            f"Expected a tensor of rank at most {_MAX_RANK}. Received: rank {len(shape)}"
        )
    if any(size < 0 for size in shape):
        raise InvalidArgumentError(
            f"Expected a fully defined tensor shape. Received: shape={list(shape)}"
        )
    count = math.prod(shape)
    if count > _MAX_ELEMENTS:
        # TensorFlow's TensorShape refuses these too; an int64 product would wrap around.
        raise InvalidArgumentError(
            f"Expected a shape of at most 2**63 - 1 elements. Received: shape={list(shape)}"
        )
    dtype = proto.dtype
    if dtype not in _VALUE_FIELD:
        raise InvalidArgumentError(
            f"Expected a tensor of a supported dtype. Received: {_dtypes.dtype_string(dtype)}"
        )
    if dtype == _dtypes.DT_STRING:
        values = np.empty(len(proto.string_val), dtype=object)
        values[:] = list(proto.string_val)
        default = b""
    else:
        np_dtype = _dtypes.numpy_dtype(dtype)
        if proto.tensor_content:
            if len(proto.tensor_content) % np_dtype.itemsize:
                raise InvalidArgumentError(
                    f"Expected tensor_content of whole {_dtypes.dtype_string(dtype)} values "
                    f"({np_dtype.itemsize} bytes each). Received: {len(proto.tensor_content)} "
                    "bytes"
                )
            data = np.frombuffer(proto.tensor_content, dtype=np_dtype.newbyteorder("<"))
            if data.size != count:
                raise InvalidArgumentError(
                    f"Expected tensor_content to hold {count} values for shape {list(shape)}. "
                    f"Received: {data.size} values"
                )
            return data.astype(np_dtype).reshape(shape)
        raw = getattr(proto, _VALUE_FIELD[dtype])
        if dtype == _dtypes.DT_HALF:
            values = np.asarray(raw, dtype=np.int32).astype(np.uint16).view(np.float16)
        elif dtype in (_dtypes.DT_COMPLEX64, _dtypes.DT_COMPLEX128):
            pairs = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
            values = (pairs[:, 0] + 1j * pairs[:, 1]).astype(np_dtype)
        else:
            values = np.asarray(raw).astype(np_dtype)
        default = np_dtype.type(0)
    if values.size == count:
        return values.reshape(shape)
    if values.size > count:
        raise InvalidArgumentError(
            f"Expected at most {count} values for shape {list(shape)}. "
            f"Received: {values.size} values"
        )
    fill = values[-1] if values.size else default
    try:
        padded = np.empty(count, dtype=values.dtype)
    except (MemoryError, ValueError):
        # A few bytes can ask for terabytes (MemoryError) or for more bytes than an address
        # holds (numpy's ValueError); refuse the request, not the server.
        raise InvalidArgumentError(
            f"Expected a shape whose {count} values fit in memory; {values.size} values were "
            f"sent for shape {list(shape)}"
        ) from None
    padded[: values.size] = values
    padded[values.size :] = fill
    return padded.reshape(shape)
