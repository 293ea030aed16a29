"""JSON values as arrays of a signature's dtype, alone (no server): which values each dtype
takes (rapidjson's IsInt/IsUint/IsInt64/IsUint64 ranges, no bools as numbers, base64 objects
for strings), the shapes nested lists make, and TF Serving's messages (json_tensor.cc)."""

from __future__ import annotations

import numpy as np
import pytest

from serving import _dtypes
from serving._json_decode import array_from_json, is_b64_object, numeric_array_fast
from serving.errors import InvalidArgumentError, UnimplementedError

# dtype -> (numpy dtype, smallest and largest JSON integer it takes)
INTEGERS = {
    _dtypes.DT_INT8: (np.int8, -(2**31), 2**31 - 1),
    _dtypes.DT_UINT8: (np.uint8, -(2**31), 2**31 - 1),
    _dtypes.DT_INT16: (np.int16, -(2**31), 2**31 - 1),
    _dtypes.DT_INT32: (np.int32, -(2**31), 2**31 - 1),
    _dtypes.DT_INT64: (np.int64, -(2**63), 2**63 - 1),
    _dtypes.DT_UINT32: (np.uint32, 0, 2**32 - 1),
    _dtypes.DT_UINT64: (np.uint64, 0, 2**64 - 1),
}


def refusal(value: object, dtype: int) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        array_from_json(value, dtype)
    return caught.value.message


@pytest.mark.parametrize("dtype", sorted(INTEGERS), ids=_dtypes.dtype_string)
def test_each_integer_dtype_takes_exactly_its_json_range(dtype):
    np_dtype, low, high = INTEGERS[dtype]
    array = array_from_json([[low, 0], [1, high]], dtype)
    assert array.dtype == np_dtype and array.shape == (2, 2)
    # The small types are sent in int32 and narrowed by the server, wrapping like a C cast.
    wide = np.uint64 if dtype == _dtypes.DT_UINT64 else np.int64
    assert array.tolist() == np.array([[low, 0], [1, high]], wide).astype(np_dtype).tolist()
    name = _dtypes.dtype_string(dtype)
    for outside in (low - 1, high + 1):
        assert refusal([1, outside], dtype) == (
            f"JSON Value: {outside} Type: Number is not of expected type: {name}"
        )
        assert numeric_array_fast([1, outside], dtype) is None  # the slow path refuses it


def test_narrow_integers_wrap_as_the_real_server_narrows_its_int32_field():
    assert array_from_json([300, -1, 2**31 - 1], _dtypes.DT_UINT8).tolist() == [44, 255, 255]
    assert array_from_json([200, -129], _dtypes.DT_INT8).tolist() == [-56, 127]
    assert array_from_json([40000], _dtypes.DT_INT16).tolist() == [-25536]
    assert numeric_array_fast([300, -1], _dtypes.DT_UINT8).tolist() == [44, 255]


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        (1.5, _dtypes.DT_INT32, "JSON Value: 1.5 Type: Number is not of expected type: int32"),
        (2.0, _dtypes.DT_INT64, "JSON Value: 2.0 Type: Number is not of expected type: int64"),
        (True, _dtypes.DT_INT32, "JSON Value: true Type: True is not of expected type: int32"),
        (True, _dtypes.DT_FLOAT, "JSON Value: true Type: True is not of expected type: float"),
        (False, _dtypes.DT_DOUBLE, "JSON Value: false Type: False is not of expected type: double"),
        (None, _dtypes.DT_FLOAT, "JSON Value: null Type: Null is not of expected type: float"),
        ("1", _dtypes.DT_FLOAT, 'JSON Value: "1" Type: String is not of expected type: float'),
        ("1", _dtypes.DT_INT32, 'JSON Value: "1" Type: String is not of expected type: int32'),
        (
            {"b64": "AA=="},
            _dtypes.DT_FLOAT,
            'JSON Value: {"b64":"AA=="} Type: Object is not of expected type: float',
        ),
        (1, _dtypes.DT_BOOL, "JSON Value: 1 Type: Number is not of expected type: bool"),
        (None, _dtypes.DT_BOOL, "JSON Value: null Type: Null is not of expected type: bool"),
        (1, _dtypes.DT_STRING, "JSON Value: 1 Type: Number is not of expected type: string"),
        (False, _dtypes.DT_STRING, "JSON Value: false Type: False is not of expected type: string"),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_by_type(value, dtype, message):
    assert refusal([value], dtype) == message
    assert refusal(value, dtype) == message


def test_floats_bools_and_strings_take_their_own_json_values():
    floats = array_from_json([[1, 2.5], [-3, 1e300]], _dtypes.DT_DOUBLE)
    assert floats.dtype == np.float64 and floats.tolist() == [[1.0, 2.5], [-3.0, 1e300]]
    single = array_from_json([0.1], _dtypes.DT_FLOAT)
    assert single.dtype == np.float32 and single[0] == np.float32(0.1)
    flags = array_from_json([[True], [False]], _dtypes.DT_BOOL)
    assert flags.dtype == np.bool_ and flags.tolist() == [[True], [False]]
    text = array_from_json([["é", {"b64": "AP8="}]], _dtypes.DT_STRING)
    assert text.dtype == object and text.shape == (1, 2)
    assert text.tolist() == [["é".encode(), b"\x00\xff"]]
    assert array_from_json({"b64": ""}, _dtypes.DT_STRING) == b""


def test_only_a_lone_b64_string_member_is_binary_data():
    assert is_b64_object({"b64": "AA=="})
    assert not is_b64_object({"b64": "AA==", "x": 1})
    assert not is_b64_object({"b64": 5})
    assert not is_b64_object({"B64": "AA=="})
    assert not is_b64_object(["b64"])
    for value in ({"b64": "AA==", "x": 1}, {"b64": 5}, {}):
        assert refusal([value], _dtypes.DT_STRING).endswith(
            "not formatted correctly for base64 data"
        )
    assert refusal([{"b64": "A"}], _dtypes.DT_STRING) == "Unable to base64 decode"
    assert refusal([{"b64": "AA==!"}], _dtypes.DT_STRING) == "Unable to base64 decode"


@pytest.mark.parametrize("dtype", [_dtypes.DT_HALF, _dtypes.DT_UINT16, _dtypes.DT_COMPLEX64])
def test_dtypes_without_a_json_conversion_are_unimplemented(dtype):
    with pytest.raises(UnimplementedError, match=f"to type: {_dtypes.dtype_string(dtype)}$"):
        array_from_json([1], dtype)
    assert numeric_array_fast([1], dtype) is None


def test_the_shape_is_the_first_elements_and_every_list_must_match_it():
    assert array_from_json([], _dtypes.DT_FLOAT).shape == (0,)
    assert array_from_json([[], []], _dtypes.DT_FLOAT).shape == (2, 0)
    assert array_from_json([[[1], [2]]], _dtypes.DT_INT32).shape == (1, 2, 1)
    assert array_from_json(7, _dtypes.DT_INT32).shape == ()
    assert refusal([[1, 2], 3], _dtypes.DT_FLOAT) == (
        "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"
    )
    assert refusal([[[1], [2]], [[3], 4]], _dtypes.DT_FLOAT) == (
        "JSON Value: 4 found at incorrect level: 3 in the JSON DOM. Expected at level: 3"
    )
    assert refusal([[1], [[2]]], _dtypes.DT_FLOAT) == (
        "Encountered list at unexpected level: 2 expected < 2"
    )
    assert refusal([1, [2]], _dtypes.DT_FLOAT) == (
        "Encountered list at unexpected level: 1 expected < 1"
    )
    assert refusal([[1, 2], [3]], _dtypes.DT_FLOAT) == (
        "Encountered list at unexpected size: 1 at level: 1 expected size: 2"
    )
    assert refusal([[], [3]], _dtypes.DT_FLOAT) == (
        "Encountered list at unexpected size: 1 at level: 1 expected size: 0"
    )


def test_rank_is_limited_to_numpys_sixty_four_dimensions():
    def nested(depth: int) -> object:
        value: object = 1.0
        for _ in range(depth):
            value = [value]
        return value

    assert array_from_json(nested(64), _dtypes.DT_FLOAT).shape == (1,) * 64
    assert refusal(nested(65), _dtypes.DT_FLOAT) == (
        "Expected a tensor of rank at most 64. Received: lists nested deeper than 64 levels"
    )


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        ([[1.5, 2], [3, 4]], _dtypes.DT_FLOAT, np.array([[1.5, 2], [3, 4]], np.float32)),
        ([1, 2], _dtypes.DT_DOUBLE, np.array([1, 2], np.float64)),
        ([float("nan"), 1.0], _dtypes.DT_FLOAT, np.array([np.nan, 1], np.float32)),
        ([[-(2**31), 2**31 - 1]], _dtypes.DT_INT32, np.array([[-(2**31), 2**31 - 1]], np.int32)),
        ([2**32 - 1], _dtypes.DT_UINT32, np.array([2**32 - 1], np.uint32)),
        ([0, 2**63 - 1], _dtypes.DT_UINT64, np.array([0, 2**63 - 1], np.uint64)),
        ([7], _dtypes.DT_INT64, np.array([7], np.int64)),
    ],
)
def test_a_dense_numeric_list_converts_in_one_call_to_what_the_slow_path_gives(
    value, dtype, expected
):
    fast = numeric_array_fast(value, dtype)
    assert fast is not None and fast.dtype == expected.dtype
    np.testing.assert_array_equal(fast, expected)
    np.testing.assert_array_equal(array_from_json(value, dtype), expected)


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        ([1.5], _dtypes.DT_INT32),  # not an integer: the slow path says so
        ([float("nan")], _dtypes.DT_INT64),
        ([[1, 2], [3]], _dtypes.DT_FLOAT),  # ragged: the slow path says where
        (["1"], _dtypes.DT_FLOAT),
        ([[1.0], ["a"]], _dtypes.DT_DOUBLE),
        ([{"b64": "AA=="}], _dtypes.DT_FLOAT),
        (["a"], _dtypes.DT_STRING),
        ([True], _dtypes.DT_BOOL),
        ([2**64 - 1], _dtypes.DT_UINT64),  # beyond int64: numpy's uint64, the slow path's
    ],
)
def test_anything_but_a_dense_list_of_numbers_takes_the_slow_path(value, dtype):
    assert numeric_array_fast(value, dtype) is None
