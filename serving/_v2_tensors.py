"""Tensors of the Open Inference Protocol (V2): data types, raw bytes, typed contents.

The V2 names of TensorFlow's dtypes, and the two ways V2 carries elements without JSON:
raw bytes (little-endian, row-major; each BYTES element preceded by its length as 4
little-endian bytes), used by gRPC's `raw_*_contents` and REST's binary data extension, and
gRPC's typed `InferTensorContents` fields. Neither TensorFlow nor gRPC is imported here.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from serving import _dtypes
from serving.errors import InvalidArgumentError

__all__ = [
    "CONTENTS_FIELD",
    "datatype_for_dtype",
    "dtype_for_datatype",
    "element_count",
    "from_contents",
    "from_raw",
    "numpy_for_datatype",
    "to_contents",
    "to_raw",
]

# TensorFlow dtype enum -> V2 datatype, for the dtypes both have.
_DATATYPE = {
    _dtypes.DT_BOOL: "BOOL",
    _dtypes.DT_UINT8: "UINT8",
    _dtypes.DT_UINT16: "UINT16",
    _dtypes.DT_UINT32: "UINT32",
    _dtypes.DT_UINT64: "UINT64",
    _dtypes.DT_INT8: "INT8",
    _dtypes.DT_INT16: "INT16",
    _dtypes.DT_INT32: "INT32",
    _dtypes.DT_INT64: "INT64",
    _dtypes.DT_HALF: "FP16",
    _dtypes.DT_FLOAT: "FP32",
    _dtypes.DT_DOUBLE: "FP64",
    _dtypes.DT_STRING: "BYTES",
    _dtypes.DT_BFLOAT16: "BF16",
}
_DTYPE = {name: dtype for dtype, name in _DATATYPE.items()}

#: V2 datatype -> the InferTensorContents field that carries it (FP16, BF16: raw only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def datatype_for_dtype(dtype: int) -> str:
    """The V2 datatype of a TensorFlow dtype enum ("FP32" for DT_FLOAT)."""
    if dtype not in _DATATYPE:
        raise InvalidArgumentError(
            f"Expected a tensor dtype the V2 protocol has. Received: {_dtypes.dtype_string(dtype)}"
        )
    return _DATATYPE[dtype]


def dtype_for_datatype(datatype: str) -> int:
    if datatype not in _DTYPE:
        raise InvalidArgumentError(
            f"Expected a V2 datatype ({', '.join(sorted(_DTYPE))}). Received: {datatype!r}"
        )
    return _DTYPE[datatype]


def numpy_for_datatype(datatype: str) -> np.dtype:
    """The numpy dtype of a V2 datatype, little-endian (BYTES: object)."""
    dtype = dtype_for_datatype(datatype)
    if datatype == "BYTES":
        return np.dtype(object)
    try:
        return _dtypes.numpy_dtype(dtype).newbyteorder("<")
    except ValueError:
        raise InvalidArgumentError(f"Datatype {datatype} is not supported here") from None


def element_count(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _count_error(name: str, shape: tuple[int, ...], expected: int, received: str) -> Exception:
    return InvalidArgumentError(
        f"Expected {expected} elements for input {name} of shape {list(shape)}. "
        f"Received: {received}"
    )


def from_raw(name: str, datatype: str, shape: tuple[int, ...], data: bytes) -> np.ndarray:
    """An array from raw V2 bytes; INVALID_ARGUMENT if their size does not fit the shape."""
    count = element_count(shape)
    if datatype == "BYTES":
        return _bytes_from_raw(name, shape, count, data)
    dtype = numpy_for_datatype(datatype)
    if len(data) != count * dtype.itemsize:
        raise _count_error(name, shape, count, f"{len(data)} bytes of {datatype}")
    array = np.frombuffer(data, dtype=dtype)
    if datatype == "BOOL" and array.size and array.view(np.uint8).max() > 1:
        raise InvalidArgumentError(f"Expected BOOL bytes of 0 or 1 for input {name}")
    return array.astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def _bytes_from_raw(name: str, shape: tuple[int, ...], count: int, data: bytes) -> np.ndarray:
    elements, offset = [], 0
    while offset < len(data) and len(elements) < count:
        if offset + 4 > len(data):
            break
        (length,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if offset + length > len(data):
            raise InvalidArgumentError(
                f"Expected raw BYTES of input {name} as 4-byte lengths, each followed by that "
                f"many bytes. Received: an element of {length} bytes with {len(data) - offset} left"
            )
        elements.append(data[offset : offset + length])
        offset += length
    if len(elements) != count or offset != len(data):
        raise _count_error(name, shape, count, f"{len(elements)} BYTES elements")
    array = np.empty(count, dtype=object)
    array[:] = elements
    return array.reshape(shape)


def to_raw(array: np.ndarray, datatype: str) -> bytes:
    """Raw V2 bytes of an array of `datatype`."""
    if datatype == "BYTES":
        parts = []
        for value in array.reshape(-1):
            element = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(element)))
            parts.append(element)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=numpy_for_datatype(datatype)).tobytes()


def from_contents(name: str, datatype: str, shape: tuple[int, ...], contents) -> np.ndarray:
    """An array from gRPC's InferTensorContents (the field of `datatype`)."""
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidArgumentError(
            f"Expected raw_input_contents for input {name}: {datatype} has no typed contents"
        )
    values = getattr(contents, field)
    count = element_count(shape)
    if len(values) != count:
        raise _count_error(name, shape, count, f"{len(values)} values in {field}")
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    dtype = numpy_for_datatype(datatype).newbyteorder("=")
    wide = np.asarray(values)
    array = wide.astype(dtype)
    if datatype not in ("FP32", "FP64", "BOOL") and not np.array_equal(array, wide):
        raise InvalidArgumentError(f"Expected values that fit {datatype} for input {name}")
    return array.reshape(shape)


def to_contents(array: np.ndarray, datatype: str, contents) -> None:
    """Fill gRPC's InferTensorContents with `array`."""
    field = getattr(contents, CONTENTS_FIELD[datatype])
    if datatype == "BYTES":
        field.extend(
            v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.reshape(-1)
        )
    else:
        field.extend(array.reshape(-1).tolist())
