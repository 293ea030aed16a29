"""The REST answer's float text: the vectorised writer must print exactly what the
value-by-value one prints (TF Serving's `%g`, else full precision, ".0" on whole numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from serving import _json_encode, _json_tensor
from serving.errors import InvalidArgumentError

SPECIAL = [0.0, -0.0, 3.0, -3.0, 1234567.0, 999999.0, 1e6, 123456.0, np.nan, np.inf, -np.inf,
           1e-30, 1.4e-45, 3.4e38, 0.5, 1e10, 1e-5, 1e-4, 0.1, 0.3, 1e16, 1e17, 2.0**-14,
           1000005.0, 9.999999e5, 2097151.875, 1048575.9375,
           # within 2e-7 of a rounding half at the ninth digit, exactly: float64 products
           # of these are not to be trusted
           8.5715435e-09, 9.771298e-10, 9.865955e-07, 9.731385e-13, 3.5165278e-05,
           5.087901e-07, 1.2685362e-09, 7.1571735e-11, 2.121555e-10]  # fmt: skip


def _one_by_one(array: np.ndarray) -> str:
    digits = 9 if array.dtype == np.float32 else 17
    return _json_encode._nest(_json_encode._format_floats(array.reshape(-1), digits), array.shape)


def _samples(dtype: type, rng: np.random.Generator):
    for trial in range(240):
        n = int(rng.integers(1, 300))
        kind = trial % 8
        if kind == 0:
            values = rng.standard_normal(n)
        elif kind == 1:
            values = rng.standard_normal(n) * 10.0 ** rng.integers(-45, 39, n)
        elif kind == 2:
            values = np.round(rng.standard_normal(n) * 10.0 ** rng.integers(0, 8), 3)
        elif kind == 3:
            values = rng.choice(np.array(SPECIAL), n)
        elif kind == 4:  # next to powers of ten, where the decimal exponent changes
            powers = (10.0 ** rng.integers(-15, 28, n)).astype(dtype)
            steps = rng.integers(-4, 5, n)
            bits = np.int32 if dtype == np.float32 else np.int64
            values = (powers.view(bits) + steps.astype(bits)).view(dtype)  # a few ulps away
        elif kind == 5:  # rounding ties: binary fractions with a decimal 5 just past the
            # sixth or ninth digit (2097151.875 is a tie at nine), and decimal halves
            binary = rng.integers(2**23, 2**24, n) / 2.0 ** rng.integers(-20, 40, n)
            digits = rng.choice([6, 9], n)
            mantissa = rng.integers(10**5, 10**6, n) * 10.0 ** (digits - 6)
            decimal = (mantissa + 0.5) * 10.0 ** (rng.integers(-12, 20, n) - digits.astype(float))
            values = np.where(rng.random(n) < 0.5, binary, decimal)
        elif kind == 6:  # zeros of both signs among ordinary values
            values = np.where(rng.random(n) < 0.4, 0.0, rng.standard_normal(n))
            values = values * np.where(rng.random(n) < 0.5, -1.0, 1.0)
        else:  # every bit pattern: subnormals, NaN payloads, extremes
            width = np.dtype(dtype).itemsize
            values = np.frombuffer(rng.bytes(width * n), dtype=dtype)
        with np.errstate(all="ignore"):
            array = values.astype(dtype)
        yield array.reshape([(n,), (1, n), (n, 1, 1)][trial % 3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorised_float_text_matches_value_by_value(dtype):
    rng = np.random.default_rng(7)
    for array in _samples(dtype, rng):
        assert _json_encode.tensor_text(array, False) == _one_by_one(array)


def test_documents_keep_the_real_server_layout():
    x = np.array([[1.0, 0.5], [np.nan, -2.25]], np.float32)
    columnar = _json_tensor.document_from_tensors({"x": x}, _json_tensor.RequestFormat.COLUMNAR)
    assert columnar == b'{"outputs": [[1.0, 0.5], [NaN, -2.25]]}'
    rows = _json_tensor.document_from_tensors({"x": x}, _json_tensor.RequestFormat.ROW)
    assert rows == b'{"predictions": [[1.0, 0.5], [NaN, -2.25]]}'
    two = _json_tensor.document_from_tensors(
        {"x": x, "r": np.array([0.1, 7.0], np.float32)}, _json_tensor.RequestFormat.ROW
    )
    assert two == (b'{"predictions": [{"r": 0.1, "x": [1.0, 0.5]}, {"r": 7.0, "x": [NaN, -2.25]}]}')
    empty = _json_tensor.document_from_tensors(
        {"x": np.zeros((0, 2), np.float32)}, _json_tensor.RequestFormat.ROW
    )
    assert empty == b'{"predictions": []}'
    # Non-finite values as the real server's tokens (both writers print them alike, so
    # comparing the writers with each other cannot catch a wrong token).
    special = np.array([np.inf, -np.inf, np.nan, 2.0])
    for dtype in (np.float32, np.float64):
        text = _json_tensor.document_from_tensors(
            {"x": special.astype(dtype)}, _json_tensor.RequestFormat.COLUMNAR
        )
        assert text == b'{"outputs": [Infinity, -Infinity, NaN, 2.0]}', dtype


def test_ordinary_answers_take_the_plain_writer_and_others_the_slot_writer(monkeypatch):
    from serving import _float_text

    rng = np.random.default_rng(11)
    magnitude = 10.0 ** rng.uniform(-3.9, 5.9, [2, 64, 64])
    ordinary = (magnitude * rng.choice([-1.0, 1.0], magnitude.shape)).astype(np.float32)
    ordinary[0, 0, :3] = [0.0, -0.0, 250.0]
    expected = _one_by_one(ordinary)

    def no_slots(*args, **kwargs):
        raise AssertionError("the slot writer ran for values orjson can print")

    with monkeypatch.context() as patch:
        patch.setattr(_float_text, "_slot_json", no_slots)
        assert _json_encode.tensor_text(ordinary, False) == expected

    def no_plain(*args, **kwargs):
        raise AssertionError("orjson ran for values it prints in another style")

    for unusual in (1e-5, 2.5e6, 1.23456789e9, np.nan):
        array = ordinary.copy()
        array[1, 5, 7] = unusual
        with monkeypatch.context() as patch:
            patch.setattr(_float_text, "_plain_json", no_plain)
            assert _json_encode.tensor_text(array, False) == _one_by_one(array)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (np.float32(1 / 3), "0.333333343"),  # float32: nine digits when six do not read back
        (np.float64(1 / 3), "0.33333333333333331"),  # float64: seventeen
        (np.float32(7.0), "7.0"),
        (np.float64(1e-5), "1e-05"),
    ],
)
def test_full_precision_only_where_six_digits_do_not_read_back(value, text):
    # A row-format answer writes each instance's scalar on its own; inside a tensor the
    # array-at-once writers take the same digits.
    assert _json_encode.tensor_text(np.array(value), False) == text
    assert _json_encode.tensor_text(np.array([value, value]), False) == f"[{text}, {text}]"


def test_integers_booleans_and_strings_as_tf_serving_writes_them():
    def text(values, dtype=None, as_b64=False):
        return _json_encode.tensor_text(np.array(values, dtype), as_b64)

    for dtype in (np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint32):
        info = np.iinfo(dtype)
        assert text([[info.min, 0], [1, info.max]], dtype) == (
            f"[[{info.min}, 0], [1, {info.max}]]"
        ), dtype
    assert text([-(2**63), 2**63 - 1], np.int64) == "[-9223372036854775808, 9223372036854775807]"
    assert text([2**64 - 1], np.uint64) == "[18446744073709551615]"
    assert text(5, np.int32) == "5"
    assert text([[True, False]]) == "[[true, false]]"
    assert text(False) == "false"
    strings = np.array([b'a"b', "\u00e9".encode()], object)
    assert text(strings) == '["a\\"b", "\\u00e9"]'
    assert text(strings, as_b64=True) == '[{"b64": "YSJi"}, {"b64": "w6k="}]'
    assert text(np.array(b"\x00\xff", object), as_b64=True) == '{"b64": "AP8="}'
    assert text(["x", "yz"]) == '["x", "yz"]'  # numpy unicode


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_])
def test_empty_tensors_are_empty_lists(dtype):
    assert _json_encode.tensor_text(np.zeros((0, 2), dtype), False) == "[]"
    assert _json_encode.tensor_text(np.zeros((2, 0), dtype), False) == "[[], []]"


def test_a_dtype_without_a_json_form_is_refused_by_name():
    with pytest.raises(InvalidArgumentError, match="complex64"):
        _json_encode.tensor_text(np.zeros(2, np.complex64), False)


def test_cached_separator_tables_cannot_be_changed_by_a_caller():
    # They are shared by every later answer of the same shape: a caller writing into one
    # would corrupt those answers, so they refuse writes.
    with pytest.raises(ValueError, match="read-only"):
        _json_encode._separators((2, 3))[0] = "]]"
    with pytest.raises(ValueError, match="read-only"):
        _json_encode._separator_bytes((2, 3))[0, 0] = 0
