"""TensorFlow DataType enum values, their names and numpy counterparts, without importing TF.

The JSON codec and the REST client need these; importing TensorFlow for a table would cost the
REST client seconds of start-up.
"""

from __future__ import annotations

import numpy as np

# enum value -> (name as DataTypeString prints it, numpy dtype or None if numpy has none)
_TABLE: dict[int, tuple[str, np.dtype | None]] = {
    1: ("float", np.dtype(np.float32)),
    2: ("double", np.dtype(np.float64)),
    3: ("int32", np.dtype(np.int32)),
    4: ("uint8", np.dtype(np.uint8)),
    5: ("int16", np.dtype(np.int16)),
    6: ("int8", np.dtype(np.int8)),
    7: ("string", np.dtype(object)),
    8: ("complex64", np.dtype(np.complex64)),
    9: ("int64", np.dtype(np.int64)),
    10: ("bool", np.dtype(np.bool_)),
    14: ("bfloat16", None),
    17: ("uint16", np.dtype(np.uint16)),
    18: ("complex128", np.dtype(np.complex128)),
    19: ("half", np.dtype(np.float16)),
    22: ("uint32", np.dtype(np.uint32)),
    23: ("uint64", np.dtype(np.uint64)),
}

_ENUM_NAMES = {
    1: "DT_FLOAT",
    2: "DT_DOUBLE",
    3: "DT_INT32",
    4: "DT_UINT8",
    5: "DT_INT16",
    6: "DT_INT8",
    7: "DT_STRING",
    8: "DT_COMPLEX64",
    9: "DT_INT64",
    10: "DT_BOOL",
    14: "DT_BFLOAT16",
    17: "DT_UINT16",
    18: "DT_COMPLEX128",
    19: "DT_HALF",
    22: "DT_UINT32",
    23: "DT_UINT64",
}
_ENUM_FOR_NAME = {name: value for value, name in _ENUM_NAMES.items()}

DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_STRING = 1, 2, 3, 4, 5, 6, 7
DT_COMPLEX64, DT_INT64, DT_BOOL, DT_BFLOAT16, DT_UINT16, DT_COMPLEX128 = 8, 9, 10, 14, 17, 18
DT_HALF, DT_UINT32, DT_UINT64 = 19, 22, 23


def dtype_string(dtype: int) -> str:
    """The name TensorFlow's DataTypeString gives `dtype` ("float", "int32", ...)."""
    entry = _TABLE.get(dtype)
    return entry[0] if entry else f"<dtype {dtype}>"


def dtype_enum_name(dtype: int) -> str:
    return _ENUM_NAMES.get(dtype, "DT_INVALID")


def dtype_from_enum_name(name: str) -> int:
    if name not in _ENUM_FOR_NAME:
        raise ValueError(
            f"Expected a supported TensorFlow dtype name such as 'DT_FLOAT'. Received: {name!r}"
        )
    return _ENUM_FOR_NAME[name]


def numpy_dtype(dtype: int) -> np.dtype:
    entry = _TABLE.get(dtype)
    if entry is None or entry[1] is None:
        raise ValueError(
            f"Expected a dtype with a numpy counterpart. Received: {dtype_string(dtype)}"
        )
    return entry[1]


def dtype_for_numpy(array: np.ndarray) -> int:
    """The TensorFlow dtype for a numpy array; unicode and bytes arrays become DT_STRING."""
    kind = array.dtype.kind
    if kind in ("U", "S", "O"):
        return DT_STRING
    for value, (_, np_dtype) in _TABLE.items():
        if np_dtype is not None and np_dtype == array.dtype and value != DT_STRING:
            return value
    raise ValueError(
        f"Expected an array of a dtype TensorFlow Serving supports. Received: dtype={array.dtype}"
    )
