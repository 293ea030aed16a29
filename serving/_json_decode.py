"""JSON values to numpy arrays of a signature's dtype, as TF Serving's json_tensor.cc does.

The shape is read off the first element at each level and every other list is checked
against it; each leaf must be a JSON value of the dtype's kind (base64 objects for strings),
with the real server's messages. A dense numeric tensor can instead be converted in one
numpy call (`numeric_array_fast`).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from serving import _dtypes
from serving._json_document import debug_string
from serving.errors import InvalidArgumentError, UnimplementedError

_MAX_RANK = 64  # numpy's limit on dimensions
_INT_RANGES = {
    _dtypes.DT_INT32: (-(2**31), 2**31 - 1),
    _dtypes.DT_INT16: (-(2**31), 2**31 - 1),
    _dtypes.DT_INT8: (-(2**31), 2**31 - 1),
    _dtypes.DT_UINT8: (-(2**31), 2**31 - 1),
    _dtypes.DT_INT64: (-(2**63), 2**63 - 1),
    _dtypes.DT_UINT32: (0, 2**32 - 1),
    _dtypes.DT_UINT64: (0, 2**64 - 1),
}


def _json_type(value: object) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _type_error(value: object, dtype: int) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"JSON Value: {debug_string(value)} Type: {_json_type(value)} is not of expected "
        f"type: {_dtypes.dtype_string(dtype)}"
    )


def is_b64_object(value: object) -> bool:
    """Whether `value` is `{"b64": "..."}`, the JSON form of binary string data."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value: object) -> bytes:
    if not is_b64_object(value):
        raise InvalidArgumentError(
            f"JSON Value: {debug_string(value)} not formatted correctly for base64 data"
        )
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentError("Unable to base64 decode") from None


def _leaf(value: object, dtype: int) -> object:
    if isinstance(value, dict):
        if dtype == _dtypes.DT_STRING:
            return _decode_b64(value)
        raise _type_error(value, dtype)
    if dtype in (_dtypes.DT_FLOAT, _dtypes.DT_DOUBLE):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(value, dtype)
        return value
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _type_error(value, dtype)
        return value
    if dtype == _dtypes.DT_BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    if dtype == _dtypes.DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8")
    raise UnimplementedError(
        f"Conversion of JSON Value: {debug_string(value)} to type: {_dtypes.dtype_string(dtype)}"
    )


def _dense_shape(value: object) -> tuple[int, ...]:
    # Like the real server, the shape is read off the first element at each level; every
    # other list is then checked against it, which is what makes ragged input an error.
    shape = []
    while isinstance(value, list):
        if len(shape) == _MAX_RANK:
            raise InvalidArgumentError(
                f"Expected a tensor of rank at most {_MAX_RANK}. Received: lists nested "
                f"deeper than {_MAX_RANK} levels"
            )
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _fill(value: object, level: int, shape: tuple[int, ...], dtype: int, out: list) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise InvalidArgumentError(
                f"JSON Value: {debug_string(value)} found at incorrect level: {level + 1} in "
                f"the JSON DOM. Expected at level: {rank}"
            )
        out.append(_leaf(value, dtype))
        return
    if level >= rank:
        raise InvalidArgumentError(
            f"Encountered list at unexpected level: {level} expected < {rank}"
        )
    if len(value) != shape[level]:
        raise InvalidArgumentError(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected "
            f"size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def array_from_json(value: object, dtype: int) -> np.ndarray:
    """The array of `dtype` (a DataType enum) that the JSON `value` (nested lists) holds."""
    shape = _dense_shape(value)
    flat: list = []
    _fill(value, 0, shape, dtype, flat)
    if dtype == _dtypes.DT_STRING:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    np_dtype = _dtypes.numpy_dtype(dtype)
    if np_dtype.kind in "iu":
        # The real server stores small ints in an int32 field and then narrows, wrapping
        # out-of-range values; casting through int64 reproduces that.
        return (
            np.array(flat, dtype=np.int64 if dtype != _dtypes.DT_UINT64 else np.uint64)
            .astype(np_dtype)
            .reshape(shape)
        )
    return np.array(flat, dtype=np_dtype).reshape(shape)


def numeric_array_fast(value: object, dtype: int) -> np.ndarray | None:
    """The array for a dense list of JSON numbers in one numpy call, or None to take the
    element-by-element path (which also produces the real server's error messages).

    Only for bodies known to hold no `true`/`false` token, since numpy would read a bool as
    a number where the real server refuses it.
    """
    if dtype not in (_dtypes.DT_FLOAT, _dtypes.DT_DOUBLE) and dtype not in _INT_RANGES:
        return None
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # ragged: let the slow path say where
        return None
    if array.ndim == 0 or array.size == 0:
        return None
    if dtype in (_dtypes.DT_FLOAT, _dtypes.DT_DOUBLE):
        if array.dtype.kind not in "fi":
            return None
        return array.astype(_dtypes.numpy_dtype(dtype))
    if array.dtype.kind != "i":  # floats (NaN included) are not ints: slow path refuses them
        return None
    low, high = _INT_RANGES[dtype]
    if array.min() < low or array.max() > high:
        return None
    return array.astype(np.int64).astype(_dtypes.numpy_dtype(dtype))
