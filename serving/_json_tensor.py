"""TF Serving's JSON tensor encoding (tensorflow_serving/util/json_tensor.cc), in Python.

Request side: the JSON document of a `:predict` call becomes named numpy arrays whose dtypes
come from the signature, with the real server's checks and messages (type, level, ragged).
Response side: named arrays become the `predictions` (row) or `outputs` (columnar) document,
with floats printed the way the real server prints them, so clients see the same text.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import json
import math
from collections.abc import Mapping

import numpy as np
import orjson

from serving import _dtypes
from serving._float_text import float32_json
from serving.errors import InvalidArgumentError, UnimplementedError

_MAX_DEBUG_CHARS = 256
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


class RequestFormat(enum.Enum):
    ROW = "instances"
    COLUMNAR = "inputs"


def _debug_string(value: object) -> str:
    # Error messages quote the offending value, truncated like the real server's.
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=True, default=str)
    except (RecursionError, ValueError):  # nested too deeply, or a number too long to print
        return "<value too deep or too long to print>"
    return text[:_MAX_DEBUG_CHARS]


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
        f"JSON Value: {_debug_string(value)} Type: {_json_type(value)} is not of expected "
        f"type: {_dtypes.dtype_string(dtype)}"
    )


class _NumberTooBigError(ValueError):
    pass


def _finite_float(text: str) -> float:
    # JSON's number grammar has no infinity: `1e400` overflows a double, which the real
    # server's parser (rapidjson) refuses; NaN/Infinity tokens are parse_constant's.
    value = float(text)
    if math.isinf(value):
        raise _NumberTooBigError(
            f"Number too big to be stored in double: {text[:_MAX_DEBUG_CHARS]}"
        )
    return value


def parse_document(body: bytes) -> dict:
    """Parse a request body into its top-level JSON object (NaN/Infinity tokens allowed)."""
    if not body:
        raise InvalidArgumentError("JSON Parse error: The document is empty")
    try:
        # orjson is strict JSON: NaN/Infinity tokens, integers beyond 64 bits, numbers beyond
        # a double, nesting past 1024 and invalid UTF-8 fall through to the standard parser,
        # whose messages the errors quote.
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    try:
        if doc is None:
            doc = json.loads(body, parse_float=_finite_float)
    except json.JSONDecodeError as e:
        raise InvalidArgumentError(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except UnicodeDecodeError as e:
        raise InvalidArgumentError(f"JSON Parse error: Invalid encoding in string. {e}") from None
    except RecursionError:
        raise InvalidArgumentError(
            "JSON Parse error: the document is nested too deeply (more than about 1000 levels)"
        ) from None
    except _NumberTooBigError as e:
        raise InvalidArgumentError(f"JSON Parse error: {e}") from None
    except ValueError:  # an integer past the standard parser's 4300 digits
        raise InvalidArgumentError(
            "JSON Parse error: Number too big to be stored in int64 or double (an integer of "
            "more than 4300 digits)"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidArgumentError(f"JSON Value: {_debug_string(doc)} Is not object")
    return doc


def signature_name_of(doc: dict) -> str:
    """The request's `signature_name`, or "" when absent (the caller applies the default)."""
    if "signature_name" not in doc:
        return ""
    name = doc["signature_name"]
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"JSON Value: {_debug_string(doc)} not formatted correctly. 'signature_name' key "
            "must be a string value."
        )
    return name


def _is_b64_object(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_b64(value: object) -> bytes:
    if not _is_b64_object(value):
        raise InvalidArgumentError(
            f"JSON Value: {_debug_string(value)} not formatted correctly for base64 data"
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
        f"Conversion of JSON Value: {_debug_string(value)} to type: {_dtypes.dtype_string(dtype)}"
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
                f"JSON Value: {_debug_string(value)} found at incorrect level: {level + 1} in "
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


def _to_array(value: object, dtype: int) -> np.ndarray:
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


def _numeric_array_fast(value: object, dtype: int) -> np.ndarray | None:
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


def _shape_string(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def _status_string(error: InvalidArgumentError) -> str:
    return f"{error.code}: {error.message}"


def _tensors_from_instances(
    instances: list, input_dtypes: Mapping[str, int], fast_numeric: bool
) -> dict:
    first = instances[0]
    if fast_numeric and len(input_dtypes) == 1 and not isinstance(first, dict):
        (name,) = input_dtypes
        array = _numeric_array_fast(instances, input_dtypes[name])
        if array is not None:
            return {name: array}
    if not isinstance(first, dict) and len(input_dtypes) > 1:
        raise InvalidArgumentError(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )

    def is_named_object(v: object) -> bool:
        return isinstance(v, dict) and not _is_b64_object(v)

    objects = is_named_object(first)
    input_names = sorted(input_dtypes)
    rows: dict[str, list[np.ndarray]] = {}

    def add(name: str, value: object) -> None:
        if name not in input_dtypes:
            raise InvalidArgumentError(f"JSON object: does not have named input: {name}")
        array = _to_array(value, input_dtypes[name])
        previous = rows.setdefault(name, [])
        if previous:
            if previous[0].size != array.size:
                raise InvalidArgumentError(
                    f"Expecting tensor size: {previous[0].size} but got: {array.size}"
                )
            if previous[0].shape != array.shape:
                raise InvalidArgumentError(
                    f"Expecting shape {_shape_string(previous[0].shape)} but got: "
                    f"{_shape_string(array.shape)}"
                )
        previous.append(array)

    for index, element in enumerate(instances):
        if objects:
            if not is_named_object(element):
                raise InvalidArgumentError(
                    f"Expecting object but got list at item {index} of input list"
                )
            for name, value in element.items():
                try:
                    add(name, value)
                except InvalidArgumentError as e:
                    raise InvalidArgumentError(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {_status_string(e)}"
                    ) from None
            if sorted(element) != input_names:
                raise InvalidArgumentError(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{_debug_string(element)} keys must be equal to: {','.join(input_names)}"
                )
        else:
            if is_named_object(element):
                raise InvalidArgumentError(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                add(input_names[0], element)
            except InvalidArgumentError as e:
                raise InvalidArgumentError(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {_status_string(e)}"
                ) from None
    return {name: np.stack(arrays) for name, arrays in rows.items()}


def _tensors_from_inputs(
    value: object, input_dtypes: Mapping[str, int], fast_numeric: bool
) -> dict:
    def to_array(item: object, dtype: int) -> np.ndarray:
        fast = _numeric_array_fast(item, dtype) if fast_numeric else None
        return fast if fast is not None else _to_array(item, dtype)

    if not isinstance(value, dict) or _is_b64_object(value):
        if len(input_dtypes) > 1:
            raise InvalidArgumentError(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        (name,) = input_dtypes
        return {name: to_array(value, input_dtypes[name])}
    tensors = {}
    for name in sorted(input_dtypes):
        if name not in value:
            raise InvalidArgumentError(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = to_array(value[name], input_dtypes[name])
    return tensors


def tensors_from_document(
    doc: dict, input_dtypes: Mapping[str, int], signature_name: str, fast_numeric: bool = False
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    """Named input arrays of the request, typed by the signature's `input_dtypes`.

    `fast_numeric=True` (the body has no `true`/`false` token) lets dense numeric tensors be
    converted in one numpy call: a 50 MB body then takes seconds, not a minute.
    """
    if not input_dtypes:
        raise InvalidArgumentError(
            f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
        )
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise InvalidArgumentError(
            f"JSON Value: {_debug_string(doc)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise InvalidArgumentError(
                f"JSON Value: {_debug_string(doc)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise InvalidArgumentError(
                f"JSON Value: {_debug_string(doc)} No values in 'instances' array"
            )
        return _tensors_from_instances(instances, input_dtypes, fast_numeric), RequestFormat.ROW
    if has_inputs:
        return (
            _tensors_from_inputs(doc["inputs"], input_dtypes, fast_numeric),
            RequestFormat.COLUMNAR,
        )
    raise InvalidArgumentError("Missing 'inputs' or 'instances' key")


# ---- response side -------------------------------------------------------------------------


def _format_floats(flat: np.ndarray, precise_digits: int) -> list[str]:
    # Six significant digits when they round-trip to the same value, else full precision;
    # whole numbers get ".0" so a list never mixes integer and decimal tokens. The round-trip
    # test runs in one numpy parse so that megabyte answers stay fast.
    values = flat.tolist()
    texts = [f"{value:g}" for value in values]
    if not texts:
        return texts
    finite = np.isfinite(flat)
    with np.errstate(invalid="ignore", over="ignore"):
        parsed = np.array([float(t) for t in texts]).astype(flat.dtype)
    for i in np.flatnonzero(finite & (parsed != flat)).tolist():
        texts[i] = f"{values[i]:.{precise_digits}g}"
    texts = [t if "." in t or "e" in t else t + ".0" for t in texts]
    for i in np.flatnonzero(~finite).tolist():
        value = values[i]
        texts[i] = "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    return texts


def _short_form_round_trips(flat: np.ndarray) -> np.ndarray:
    """Per float64 value: does `%g` (six significant digits) read back as the same value?

    Printing and re-reading every value costs more than the model on a 64x64 answer, so the
    six-digit rounding is first computed in float64: where it lies more than eight units in
    the last place away (float64's own rounding errors are that size), it cannot read back
    (that needs half a unit), and a rounding tie taken the other way would lie even farther.
    Only the rest are printed and read back.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exponent = np.floor(np.log10(np.abs(flat)))
        scale = np.power(10.0, 5 - exponent)
        rounded = np.rint(flat * scale) / scale
        far = np.abs(rounded - flat) > 8 * np.spacing(np.abs(flat))
    check = np.flatnonzero(~far & np.isfinite(flat))
    result = np.zeros(flat.shape, dtype=bool)
    if check.size:
        values = flat[check].tolist()
        texts = ("%g," * len(values))[:-1] % tuple(values)
        result[check] = np.array(texts.split(","), dtype=np.float64) == flat[check]
    return result


@functools.lru_cache(maxsize=32)
def _separators(shape: tuple[int, ...]) -> np.ndarray:
    """What follows each value of a C-order tensor of `shape` in nested JSON lists."""
    count = math.prod(shape)
    closing = np.zeros(count, dtype=np.int64)
    position = np.arange(1, count + 1)
    stride = 1
    for size in reversed(shape):
        stride *= size
        closing += position % stride == 0
    table = np.array(["]" * k + ", " + "[" * k for k in range(len(shape) + 1)])
    separators = table[closing]
    separators[-1] = "]" * len(shape)
    separators.flags.writeable = False
    return separators


@functools.lru_cache(maxsize=32)
def _separator_bytes(shape: tuple[int, ...]) -> np.ndarray:
    """`_separators(shape)` as a [width, n] uint8 matrix, zero-padded: separator i is
    column i."""
    separators = _separators(shape)
    width = max(len(s) for s in separators.tolist())
    matrix = separators.astype(f"S{width}").view(np.uint8).reshape(len(separators), width).T
    matrix = np.ascontiguousarray(matrix)
    matrix.flags.writeable = False
    return matrix


def _float64_text(array: np.ndarray) -> str:
    """`_nest(_format_floats(..., 17))` for a float64 tensor of at least one dimension and
    one value, built as one %-format template.

    Same text byte for byte: `%g` where six digits round-trip, else `%.17g`; `%.1f` for
    whole numbers printed without a point (that is what adding ".0" gives);
    NaN/Infinity/-Infinity as the real server writes them.
    """
    flat = array.reshape(-1)
    finite = np.isfinite(flat)
    short = _short_form_round_trips(flat)
    with np.errstate(invalid="ignore"):
        # %g prints an integer without a point below 10**digits (its switch to exponents).
        whole = finite & (np.trunc(flat) == flat) & (np.abs(flat) < np.where(short, 1e6, 1e17))
    codes = np.where(short, "%g", "%.17g")
    codes = np.where(whole, "%.1f", codes)
    values = flat.tolist()
    if not finite.all():
        codes = np.where(finite, codes, "%s")
        for i in np.flatnonzero(~finite).tolist():
            value = values[i]
            values[i] = "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    template = "[" * array.ndim + "".join(np.strings.add(codes, _separators(array.shape)).tolist())
    return template % tuple(values)


def _format_flat(array: np.ndarray, as_b64: bool) -> list[str]:
    flat = array.reshape(-1)
    kind = array.dtype.kind
    if array.dtype == np.float32:
        return _format_floats(flat, 9)
    if array.dtype == np.float64:
        return _format_floats(flat, 17)
    if kind == "b":
        return ["true" if v else "false" for v in flat.tolist()]
    if kind in "iu":
        return [str(v) for v in flat.tolist()]
    if kind in "OSU":
        out = []
        for v in flat.tolist():
            data = v if isinstance(v, bytes) else str(v).encode("utf-8")
            if as_b64:
                out.append('{"b64": ' + json.dumps(base64.b64encode(data).decode("ascii")) + "}")
            else:
                out.append(json.dumps(data.decode("utf-8", errors="replace")))
        return out
    raise InvalidArgumentError(f"Failed to write JSON value for tensor type: {array.dtype}")


def _nest(values: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return values[0]
    if len(shape) == 1:
        return "[" + ", ".join(values) + "]"
    step = len(values) // shape[0] if shape[0] else 0
    return (
        "["
        + ", ".join(_nest(values[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0]))
        + "]"
    )


def _is_bytes_output(name: str, array: np.ndarray) -> bool:
    # The real server's convention: string outputs whose alias ends in "_bytes" are binary.
    return array.dtype.kind in "OS" and name.endswith("_bytes")


def _tensor_text(array: np.ndarray, as_b64: bool) -> str:
    if array.size and array.ndim:  # the array-at-once writers build nested lists
        if array.dtype == np.float32:
            fallback = functools.partial(_format_floats, precise_digits=9)
            return float32_json(array, _separator_bytes(array.shape), fallback).decode("ascii")
        if array.dtype == np.float64:
            return _float64_text(array)
    return _nest(_format_flat(array, as_b64), array.shape)


def document_from_tensors(outputs: Mapping[str, np.ndarray], fmt: RequestFormat) -> bytes:
    """The response body for `outputs`, in the format the request used."""
    if not outputs:
        raise InvalidArgumentError("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    as_b64 = {n: _is_bytes_output(n, outputs[n]) for n in names}
    if fmt is RequestFormat.COLUMNAR:
        if len(names) == 1:
            body = _tensor_text(outputs[names[0]], as_b64[names[0]])
        else:
            body = (
                "{"
                + ", ".join(
                    f"{json.dumps(n)}: {_tensor_text(outputs[n], as_b64[n])}" for n in names
                )
                + "}"
            )
        return ('{"outputs": ' + body + "}").encode("utf-8")

    batch = -1
    for name in names:
        shape = outputs[name].shape
        if not shape:
            raise InvalidArgumentError(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and shape[0] != batch:
            raise InvalidArgumentError(
                f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}"
            )
        batch = shape[0]
    if len(names) == 1:
        # One output: the list of rows is the tensor itself.
        return (
            '{"predictions": ' + _tensor_text(outputs[names[0]], as_b64[names[0]]) + "}"
        ).encode("utf-8")
    rows = []
    for item in range(batch):
        parts = [
            f"{json.dumps(name)}: {_tensor_text(outputs[name][item, ...], as_b64[name])}"
            for name in names
        ]
        rows.append("{" + ", ".join(parts) + "}")
    return ('{"predictions": [' + ", ".join(rows) + "]}").encode("utf-8")


def error_document(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")
