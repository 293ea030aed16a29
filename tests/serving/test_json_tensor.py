"""A `:predict` document's tensors, alone (no server): the row (`instances`) and columnar
(`inputs`) request formats as named arrays of the signature's dtypes, and named arrays back
as the `predictions` / `outputs` answer, with TF Serving's messages (json_tensor.cc)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serving import _dtypes
from serving._json_tensor import RequestFormat, document_from_tensors, tensors_from_document
from serving.errors import InvalidArgumentError

ROW, COLUMNAR = RequestFormat.ROW, RequestFormat.COLUMNAR
ONE = {"x": _dtypes.DT_FLOAT}
PAIR = {"a": _dtypes.DT_FLOAT, "b": _dtypes.DT_INT32}


def tensors(doc: dict, dtypes: dict = ONE, fast: bool = False) -> tuple[dict, RequestFormat]:
    return tensors_from_document(doc, dtypes, "serving_default", fast_numeric=fast)


def refused(doc: dict, dtypes: dict = ONE, fast: bool = False) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        tensors(doc, dtypes, fast)
    return caught.value.message


def answer(outputs: dict, fmt: RequestFormat) -> dict:
    return json.loads(document_from_tensors(outputs, fmt))


@pytest.mark.parametrize("fast", [False, True])
def test_rows_stack_on_a_new_batch_axis_and_columns_are_taken_whole(fast):
    x, fmt = tensors({"instances": [[1, 2], [3, 4], [5, 6]]}, fast=fast)
    assert fmt is ROW and x["x"].dtype == np.float32 and x["x"].shape == (3, 2)
    np.testing.assert_array_equal(x["x"], [[1, 2], [3, 4], [5, 6]])
    x, fmt = tensors({"inputs": [[1, 2], [3, 4], [5, 6]]}, fast=fast)
    assert fmt is COLUMNAR and x["x"].shape == (3, 2)
    scalars, _ = tensors({"instances": [7, 8]}, {"n": _dtypes.DT_INT64}, fast)
    assert scalars["n"].dtype == np.int64 and scalars["n"].tolist() == [7, 8]
    scalar, _ = tensors({"inputs": 7}, {"n": _dtypes.DT_INT64}, fast)
    assert scalar["n"].shape == () and scalar["n"] == 7


@pytest.mark.parametrize("fast", [False, True])
def test_named_rows_and_columns_fill_every_input_by_name(fast):
    rows = [{"a": [1.5, 2.5], "b": 3}, {"b": 4, "a": [5.5, 6.5]}]
    x, fmt = tensors({"instances": rows}, PAIR, fast)
    assert fmt is ROW and sorted(x) == ["a", "b"]
    np.testing.assert_array_equal(x["a"], [[1.5, 2.5], [5.5, 6.5]])
    assert x["b"].dtype == np.int32 and x["b"].tolist() == [3, 4]
    x, fmt = tensors({"inputs": {"b": [3, 4], "a": [[1.5, 2.5], [5.5, 6.5]]}}, PAIR, fast)
    assert fmt is COLUMNAR and x["b"].tolist() == [3, 4] and x["a"].shape == (2, 2)
    # One input may also be named, in either format.
    x, _ = tensors({"instances": [{"x": 1.0}, {"x": 2.0}]}, fast=fast)
    assert x["x"].tolist() == [1.0, 2.0]
    x, _ = tensors({"inputs": {"x": [1.0, 2.0]}}, fast=fast)
    assert x["x"].tolist() == [1.0, 2.0]


def test_base64_objects_are_string_values_not_named_inputs():
    strings = {"s": _dtypes.DT_STRING}
    x, _ = tensors({"instances": [{"b64": "AP8="}, "ab"]}, strings)
    assert x["s"].tolist() == [b"\x00\xff", b"ab"]
    x, _ = tensors({"inputs": {"b64": "AP8="}}, strings)
    assert x["s"] == b"\x00\xff"
    x, _ = tensors({"instances": [{"s": {"b64": "AP8="}}]}, strings)
    assert x["s"].tolist() == [b"\x00\xff"]


def test_the_fast_path_converts_a_dense_numeric_body_in_one_call(monkeypatch):
    # The promise of `fast_numeric`: a large dense body is not walked value by value.
    def one_by_one(value, dtype):
        raise AssertionError("converted value by value")

    monkeypatch.setattr("serving._json_tensor.array_from_json", one_by_one)
    x, _ = tensors({"instances": [[1.0, 2.0], [3.0, 4.0]]}, fast=True)
    assert x["x"].shape == (2, 2)
    x, _ = tensors({"inputs": {"a": [1.0], "b": [2]}}, PAIR, fast=True)
    assert x["b"].dtype == np.int32


@pytest.mark.parametrize(
    ("doc", "dtypes", "message"),
    [
        ({"instances": 1}, ONE, "Expecting 'instances' to be an list/array"),
        ({"instances": {"x": [1]}}, ONE, "Expecting 'instances' to be an list/array"),
        (
            {"instances": [{"x": 1.0}, [2.0]]},
            ONE,
            "Expecting object but got list at item 1 of input list",
        ),
        (
            {"instances": [[1.0], {"x": [2.0]}]},
            ONE,
            "Expecting value/list but got object at item 1 of input list",
        ),
        (
            {"instances": [[1.0, 2.0], [[3.0, 4.0]]]},
            ONE,
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting shape [2] but got: [1,2]",
        ),
        (
            {"instances": [[[1.0, 2.0]], [[3.0], [4.0]]]},
            ONE,
            "Expecting shape [1,2] but got: [2,1]",
        ),
        (
            {"instances": [{"a": [1.0], "b": 1}, {"a": [1.0, 2.0], "b": 2}]},
            PAIR,
            "Failed to process element: 1 key: a of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 1 but got: 2",
        ),
        (
            {"instances": [{"a": [1.0], "b": 1}, {"a": [2.0]}]},
            PAIR,
            "Failed to process element: 1 of 'instances' list. JSON object: {\"a\":[2.0]} "
            "keys must be equal to: a,b",
        ),
        (
            {"instances": [{"a": [1.0]}]},
            PAIR,
            "keys must be equal to: a,b",
        ),
        (
            {"instances": [{"a": 1.0, "b": 2, "x": 3}]},
            PAIR,
            "Failed to process element: 0 key: x of 'instances' list. Error: INVALID_ARGUMENT: "
            "JSON object: does not have named input: x",
        ),
        ({"instances": [1.0]}, PAIR, "instances is a plain list, but expecting list of objects"),
        ({"inputs": [1.0]}, PAIR, "inputs is a plain value/list, but expecting an object"),
        ({"inputs": {"b64": "AA=="}}, PAIR, "inputs is a plain value/list, but expecting"),
        ({"inputs": {"a": [1.0]}}, PAIR, "Missing named input: b in 'inputs' object."),
        ({"inputs": {"y": [1.0]}}, ONE, "Missing named input: x in 'inputs' object."),
        ({"signature_name": "s"}, ONE, "Missing 'inputs' or 'instances' key"),
    ],
)
@pytest.mark.parametrize("fast", [False, True])
def test_malformed_requests_are_refused_with_the_real_servers_message(doc, dtypes, message, fast):
    assert message in refused(doc, dtypes, fast)


def test_a_signature_without_inputs_is_named_in_the_refusal():
    with pytest.raises(InvalidArgumentError, match="input map for signature: DEFAULT$"):
        tensors_from_document({"inputs": [1.0]}, {}, "")
    with pytest.raises(InvalidArgumentError, match="input map for signature: count$"):
        tensors_from_document({"inputs": [1.0]}, {}, "count")


def test_columnar_answers_are_one_tensor_or_an_object_of_them():
    y = np.array([[1.5, 2.0]], np.float32)
    assert answer({"y": y}, COLUMNAR) == {"outputs": [[1.5, 2.0]]}
    assert answer({"y": y, "n": np.array(3, np.int32)}, COLUMNAR) == {
        "outputs": {"n": 3, "y": [[1.5, 2.0]]}
    }
    assert answer({"y": np.float32(2.5)}, COLUMNAR) == {"outputs": 2.5}


def test_row_answers_are_the_tensor_or_one_object_per_example():
    y = np.array([[1.5, 2.0], [3.0, 4.0]], np.float32)
    assert answer({"y": y}, ROW) == {"predictions": [[1.5, 2.0], [3.0, 4.0]]}
    n = np.array([5, 6], np.int64)
    assert answer({"y": y, "n": n}, ROW) == {
        "predictions": [{"n": 5, "y": [1.5, 2.0]}, {"n": 6, "y": [3.0, 4.0]}]
    }
    assert answer({"y": y[:0], "n": n[:0]}, ROW) == {"predictions": []}


def test_string_outputs_named_bytes_are_base64_and_others_are_text():
    words = np.array([b"hi", b"\x00"], object)
    assert answer({"w_bytes": words}, COLUMNAR) == {"outputs": [{"b64": "aGk="}, {"b64": "AA=="}]}
    assert answer({"w": np.array([b"hi"], object)}, ROW) == {"predictions": ["hi"]}
    assert answer({"n_bytes": np.array([1, 2], np.int32)}, ROW) == {"predictions": [1, 2]}
    fixed = np.array([b"hi", b"yo"], "S2")
    assert answer({"w_bytes": fixed, "n": np.array([1, 2])}, ROW) == {
        "predictions": [{"n": 1, "w_bytes": {"b64": "aGk="}}, {"n": 2, "w_bytes": {"b64": "eW8="}}]
    }


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({}, "Cannot convert empty tensor map to JSON"),
        ({"y": np.float32(1.0)}, "Tensor name: y has no shape information"),
        (
            {"a": np.zeros((2, 1)), "b": np.zeros((2,)), "c": np.zeros((3, 1))},
            "Tensor name: c has inconsistent batch size: 3 expecting: 2",
        ),
        (
            {"a": np.zeros((0, 1)), "b": np.zeros((2,))},
            "Tensor name: b has inconsistent batch size: 2 expecting: 0",
        ),
        (
            {"a": np.zeros((2, 1)), "b": np.zeros(())},
            "Tensor name: b has no shape information",
        ),
    ],
)
def test_row_answers_need_one_batch_size(outputs, message):
    with pytest.raises(InvalidArgumentError, match=message):
        document_from_tensors(outputs, ROW)


def test_by_default_a_bool_among_numbers_is_refused_as_the_real_server_does():
    # Only a caller that knows the body has no true/false token may take the fast path,
    # where numpy would read `true` as 1.
    for doc in ({"instances": [1, True]}, {"inputs": [[1], [True]]}):
        with pytest.raises(InvalidArgumentError, match="JSON Value: true Type: True is not of"):
            tensors_from_document(doc, {"n": _dtypes.DT_INT32}, "")
