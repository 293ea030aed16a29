"""Numpy arrays to the JSON text TF Serving writes (tensorflow_serving/util/json_tensor.cc).

Floats as the real server prints them: six significant digits (`%g`) when they read back as
the same value, else full precision (9 digits for float32, 17 for float64), ".0" on whole
numbers, NaN/Infinity/-Infinity tokens; strings as JSON text or `{"b64": ...}` objects.
The value-by-value writer (`_format_flat`, `_nest`) is the reference; float tensors take
array-at-once writers that produce the same bytes (`tensor_text`).
"""

from __future__ import annotations

import base64
import functools
import json
import math

import numpy as np

from serving._float_text import float32_json
from serving.errors import InvalidArgumentError


def _non_finite_token(value: float) -> str:
    # The real server's tokens for non-finite floats, which strict JSON has none of.
    return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")


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
        texts[i] = _non_finite_token(values[i])
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
            values[i] = _non_finite_token(values[i])
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


def tensor_text(array: np.ndarray, as_b64: bool) -> str:
    """`array` as JSON (nested lists); strings as `{"b64": ...}` objects when `as_b64`."""
    if array.size and array.ndim:  # the array-at-once writers build nested lists
        if array.dtype == np.float32:
            fallback = functools.partial(_format_floats, precise_digits=9)
            return float32_json(array, _separator_bytes(array.shape), fallback).decode("ascii")
        if array.dtype == np.float64:
            return _float64_text(array)
    return _nest(_format_flat(array, as_b64), array.shape)
