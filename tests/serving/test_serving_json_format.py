"""The REST answer's float text: the vectorised writer must print exactly what the
value-by-value one prints (TF Serving's `%g`, else full precision, ".0" on whole numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from serving import _json_tensor

SPECIAL = [0.0, -0.0, 3.0, -3.0, 1234567.0, 999999.0, 1e6, 123456.0, np.nan, np.inf, -np.inf,
           1e-30, 1.4e-45, 3.4e38, 0.5, 1e10, 1e-5, 1e-4, 0.1, 0.3, 1e16, 1e17, 2.0**-14,
           1000005.0, 9.999999e5]  # fmt: skip


def _one_by_one(array: np.ndarray) -> str:
    digits = 9 if array.dtype == np.float32 else 17
    return _json_tensor._nest(_json_tensor._format_floats(array.reshape(-1), digits), array.shape)


def _samples(dtype: type, rng: np.random.Generator):
    for trial in range(120):
        n = int(rng.integers(1, 150))
        kind = trial % 5
        if kind == 0:
            values = rng.standard_normal(n)
        elif kind == 1:
            values = rng.standard_normal(n) * 10.0 ** rng.integers(-45, 39, n)
        elif kind == 2:
            values = np.round(rng.standard_normal(n) * 10.0 ** rng.integers(0, 8), 3)
        elif kind == 3:
            values = rng.choice(np.array(SPECIAL), n)
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
        assert _json_tensor._tensor_text(array, False) == _one_by_one(array)


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
