"""float32 tensors as the JSON number text TF Serving writes, built with array operations.

The real server prints a float32 with six significant digits (`%g`) when they read back as
the same float, else with nine (`%.9g`), and appends ".0" to a number printed without a point
or exponent. Python's `%` formatting does that one value at a time, about 0.2 microseconds
each: 0.8 ms for a 64x64 answer, a fifth of the model's own inference. Here the decimal
digits of every value come from one float64 multiplication (`_decimal`); then, when no value
needs an exponent (the usual answer), orjson prints the float64 nearest each decimal
(`_plain_json`), else each character is written into a slot of a byte matrix (`_slot_json`).
A 64x64 answer costs about 0.35 ms instead of 1.25 ms.

Exactness: a float32 times a power of ten up to 10**22 (exact in float64) is one correctly
rounded float64 operation, at most 1.2e-7 away from the exact value of a nine-digit mantissa
(and exact for powers up to 10**12), so its rounding is the exact one unless an inexact
product lies within that of a half. Such values, and non-finite or out-of-range ones, are
printed with `%` like before (`fallback`), so the text is the same byte for byte; the tests
compare it with value-by-value printing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import orjson

__all__ = ["float32_json"]

_DIGITS = 9
_WIDTH = 6 + 2 * _DIGITS + 5  # the character slots below
_NEAR_HALF = 1e-6  # far above the 1.2e-7 error bound of the float64 product
# Magnitudes whose decimal exponent e (in [-13, 25]) keeps every power of ten used below,
# 10**(P-1-e) for P = 6 and 9 with e moved by one either way, within 10**22, the largest
# exact in float64.
_SMALLEST, _LARGEST = 1e-13, 1e26
# 10**k as a factor and as a divisor, for k = -22..22 at index k + 22: x * _TIMES / _OVER is
# one correctly rounded operation (the other is by 1.0, exact).
_TIMES = np.concatenate([np.ones(22), 10.0 ** np.arange(0, 23)])
_OVER = np.concatenate([10.0 ** np.arange(22, 0, -1), np.ones(23)])
# The three digit characters of 0..999, as columns; and how many of them are left once
# trailing zeros are dropped.
_GROUP_DIGITS = np.array([[ord(c) for c in f"{i:03d}"] for i in range(1000)], np.uint8).T.copy()
_GROUP_SIGNIFICANT = np.array([len(f"{i:03d}".rstrip("0")) for i in range(1000)], np.int64)
_ZERO, _POINT, _MINUS, _PLUS, _E = (np.uint8(ord(c)) for c in "0.-+e")


def _scaled(magnitude: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """magnitude * 10**shift, one correctly rounded float64 operation (|shift| <= 22)."""
    index = shift + 22
    return magnitude * _TIMES[index] / _OVER[index]


def _round_digits(
    magnitude: np.ndarray, exponent: np.ndarray, digits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mantissa, exponent, exact) of magnitude rounded to `digits` significant digits.

    mantissa is an integer in [10**(digits-1), 10**digits); `exact` is False where an
    inexact float64 product lies too near a rounding half to trust.
    """
    scaled = _scaled(magnitude, digits - 1 - exponent)
    # log10 may be one off next to a power of ten: move the exponent to put the mantissa in
    # range before rounding.
    off = (scaled < 10.0 ** (digits - 1)) | (scaled >= 10.0**digits)
    if off.any():
        exponent = exponent.copy()
        exponent[off] -= np.where(scaled[off] < 10.0 ** (digits - 1), 1, -1)
        scaled[off] = _scaled(magnitude[off], digits - 1 - exponent[off])
    rounded = np.rint(scaled)  # ties to even, as printf
    # A float32 (24-bit mantissa) times 10**k for 0 <= k <= 12 (5**12 has 28 bits) fits in
    # float64's 53 bits: that product is exact, ties included (732945.3125 is one at nine
    # digits). Other products are trusted away from a half.
    shift = digits - 1 - exponent
    exact = ((shift >= 0) & (shift <= 12)) | (np.abs(scaled - rounded) < 0.5 - _NEAR_HALF)
    carry = rounded >= 10.0**digits  # 9.999999995 rounds to 10.0000000: next exponent
    if carry.any():
        rounded[carry] = 10.0 ** (digits - 1)
        exponent = exponent + carry
    return rounded.astype(np.int64), exponent, exact


class _Decimal(NamedTuple):
    """Each value as the real server prints it: sign, nine-digit mantissa (a six-digit one
    times 1000 where six digits read back), decimal exponent and %g precision (6 or 9)."""

    negative: np.ndarray
    zero: np.ndarray
    usable: np.ndarray  # False: printed by the fallback (non-finite, out of range, near-tie)
    mantissa: np.ndarray
    exponent: np.ndarray
    precision: np.ndarray


def _decimal(flat: np.ndarray) -> _Decimal:
    count = flat.size
    with np.errstate(invalid="ignore"):  # signalling NaN payloads
        magnitude = np.abs(flat.astype(np.float64))
    negative = np.signbit(flat)
    zero = magnitude == 0.0
    # False for zeros, NaN and infinities too.
    usable = (magnitude >= _SMALLEST) & (magnitude < _LARGEST)
    magnitude = np.where(usable, magnitude, 1.0)
    exponent = np.floor(np.log10(magnitude)).astype(np.int64)

    mantissa, exponent, exact = _round_digits(magnitude, exponent, _DIGITS)
    usable &= exact
    # The six-digit text can read back as the same float32 only if the value lies within
    # half a float32 spacing (6e-8 of it, 60 units of the nine-digit mantissa) of it: a
    # mantissa within 70 of a multiple of 1000. Only those are rounded to six digits.
    candidates = np.flatnonzero(usable & ((mantissa + 70) % 1000 <= 140))
    precision = np.full(count, _DIGITS)
    if candidates.size:
        mantissa6, exponent6, exact6 = _round_digits(magnitude[candidates], exponent[candidates], 6)
        # Parsed as float64 first, as the reference printer does.
        back = _scaled(mantissa6.astype(np.float64), exponent6 - 5)
        short = back.astype(np.float32) == magnitude[candidates].astype(np.float32)
        usable[candidates] &= exact6
        chosen = candidates[short]
        mantissa[chosen] = mantissa6[short] * 1000
        exponent[chosen] = exponent6[short]
        precision[chosen] = 6
    return _Decimal(negative, zero, usable, mantissa, exponent, precision)


def float32_json(
    array: np.ndarray, separators: np.ndarray, fallback: Callable[[np.ndarray], list[str]]
) -> bytes:
    """The nested JSON list text of float32 `array` (at least one dimension, not empty).

    `separators` is a [width, n] uint8 matrix: what follows value i in the nested lists,
    in column i, padded with zero bytes. `fallback(values)` prints, one at a time, the
    values this cannot print exactly (non-finite, subnormal or huge ones, near-ties).
    """
    flat = array.reshape(-1)
    decimal = _decimal(flat)
    plain = decimal.zero | (
        decimal.usable & (decimal.exponent >= -4) & (decimal.exponent < decimal.precision)
    )
    if plain.all():
        return _plain_json(array.shape, decimal)
    return b"[" * array.ndim + _slot_json(flat, decimal, separators, fallback)


def _plain_json(shape: tuple[int, ...], decimal: _Decimal) -> bytes:
    """All values printed without an exponent: orjson writes them.

    The float64 nearest each decimal has that decimal (trailing zeros dropped) as its
    shortest round-trip text, the one orjson prints: no other decimal of nine digits or
    fewer lies within float64 precision of it. Without an exponent (from 1e-4, where %g
    switches, to 1e16, where orjson does) orjson and %g write such a number alike, ".0" on
    whole numbers and "-0.0" included; ", " then separates values as in TF Serving's text.
    """
    value = _scaled(decimal.mantissa.astype(np.float64), decimal.exponent - (_DIGITS - 1))
    value = np.where(decimal.zero, 0.0, value)
    value = np.where(decimal.negative, -value, value)  # -0.0 too
    text = orjson.dumps(value.reshape(shape), option=orjson.OPT_SERIALIZE_NUMPY)
    return text.replace(b",", b", ")


def _slot_json(
    flat: np.ndarray,
    decimal: _Decimal,
    separators: np.ndarray,
    fallback: Callable[[np.ndarray], list[str]],
) -> bytes:
    """Any values: each character written into its slot of a byte matrix."""
    count = flat.size
    negative, zero, usable, mantissa, exponent, precision = decimal
    # Digit j (most significant first), looked up three at a time, and the number of digits
    # left after dropping trailing zeros, as %g does. Arrays are [slot, value] so every
    # operation runs along the long axis.
    high, low = np.divmod(mantissa.astype(np.int32), 1000)  # mantissa < 10**9
    top, middle = np.divmod(high, 1000)
    digit = np.empty((_DIGITS, count), dtype=np.uint8)
    for group, value in enumerate((top, middle, low)):
        for k in range(3):
            digit[3 * group + k] = _GROUP_DIGITS[k][value]
    significant = np.where(
        low > 0,
        6 + _GROUP_SIGNIFICANT[low],
        np.where(middle > 0, 3 + _GROUP_SIGNIFICANT[middle], _GROUP_SIGNIFICANT[top]),
    )
    scientific = ((exponent < -4) | (exponent >= precision)) & ~zero
    fixed_int = ~scientific & (exponent >= 0) & ~zero
    fixed_frac = ~scientific & (exponent < 0) & ~zero
    place = np.arange(_DIGITS)[:, None]

    # One slot per character any number may need; absent characters are zero bytes, dropped
    # when the rows are joined below. Slots: sign | "0." and up to three zeros before the
    # digits | d0 p0 d1 p1 ... d8 p8 (p: the point after that digit) | the "0" of ".0" |
    # e, sign and two exponent digits.
    out = np.zeros((_WIDTH, count), dtype=np.uint8)
    out[0] = negative * _MINUS
    leading = fixed_frac | zero
    out[1] = leading * _ZERO
    out[2] = leading * _POINT
    out[3:6] = (fixed_frac & (place[:3] < -exponent - 1)) * _ZERO
    shown = ((place < significant) | (fixed_int & (place <= exponent))) & ~zero
    point = fixed_int & (place == exponent)
    point[0] |= scientific & (significant > 1)
    out[6 : 6 + 2 * _DIGITS : 2] = shown * digit
    out[7 : 6 + 2 * _DIGITS : 2] = point * _POINT
    tail = 6 + 2 * _DIGITS
    out[tail] = ((fixed_int & (significant <= exponent + 1)) | zero) * _ZERO
    size = np.abs(exponent).astype(np.uint8)  # < 100 in this range
    out[tail + 1] = scientific * _E
    out[tail + 2] = scientific * np.where(exponent < 0, _MINUS, _PLUS)
    out[tail + 3] = scientific * (size // 10 + _ZERO)
    out[tail + 4] = scientific * (size % 10 + _ZERO)

    slow = ~usable & ~zero
    if slow.any():
        texts = fallback(flat[slow])
        encoded = np.array([t.encode("ascii") for t in texts], dtype=f"S{_WIDTH}")
        out[:, slow] = encoded.view(np.uint8).reshape(-1, _WIDTH).T
    text = np.ascontiguousarray(np.concatenate([out, separators]).T).reshape(-1)
    # np.compress: a quarter of the time of boolean indexing on this mask.
    return np.compress(text != 0, text).tobytes()
