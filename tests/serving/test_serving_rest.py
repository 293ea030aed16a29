"""The REST API against TF Serving's contract: formats, routing, status, metadata, errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from serving_models import SCALES, SHAPE_ERRORS, keras_reference


def call(base: str, path: str, body: object = None, method: str | None = None, timeout: float = 30):
    """(HTTP status, parsed JSON) of one request; `body` may be raw bytes."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        payload = e.read()
        try:
            return e.code, json.loads(payload)
        except ValueError:
            return e.code, payload


X = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_row_format_single_output_is_a_plain_list(rest_url):
    status, doc = call(rest_url, "/v1/models/keras_model:predict", {"instances": X})
    assert status == 200
    np.testing.assert_allclose(doc["predictions"], keras_reference(np.array(X), 2), rtol=1e-6)


def test_columnar_format_answers_outputs(rest_url):
    status, doc = call(rest_url, "/v1/models/keras_model:predict", {"inputs": X})
    assert status == 200
    np.testing.assert_allclose(doc["outputs"], keras_reference(np.array(X), 2), rtol=1e-6)


def test_row_format_multi_output_is_a_list_of_objects(rest_url):
    status, doc = call(rest_url, "/v1/models/multi:predict", {"instances": X})
    assert status == 200
    assert doc == {
        "predictions": [
            {"scaled": [10.0, 20.0, 30.0], "total": 60.0},
            {"scaled": [40.0, 50.0, 60.0], "total": 150.0},
        ]
    }


def test_columnar_multi_output_is_an_object_of_tensors(rest_url):
    status, doc = call(rest_url, "/v1/models/multi/versions/1:predict", {"inputs": {"x": X}})
    assert status == 200
    assert doc == {"outputs": {"scaled": X, "total": [6.0, 15.0]}}


def test_int_signature_and_integer_json(rest_url):
    body = {"signature_name": "count", "instances": [1, 2, -3]}
    assert call(rest_url, "/v1/models/multi:predict", body) == (
        200,
        {"predictions": [2, 4, -6]},
    )


def test_string_input_plain_and_b64_and_bytes_output_as_b64(rest_url):
    body = {"signature_name": "greet", "instances": ["ab", {"b64": "AAEC"}]}
    status, doc = call(rest_url, "/v1/models/multi:predict", body)
    assert status == 200
    # Outputs named *_bytes come back base64-encoded, as from the real server.
    assert doc["predictions"] == [
        {"echo_bytes": {"b64": "YWI="}, "length": 2},
        {"echo_bytes": {"b64": "AAEC"}, "length": 3},
    ]


def test_row_format_with_named_inputs_per_instance(rest_url):
    body = {"signature_name": "pair", "instances": [{"a": 1.5, "b": 2}, {"a": -1, "b": 0.25}]}
    assert call(rest_url, "/v1/models/multi:predict", body) == (
        200,
        {"predictions": [3.5, -0.75]},
    )


def test_nan_and_infinity_tokens_round_trip(rest_url):
    body = b'{"inputs": {"x": [[NaN, Infinity, -Infinity]]}}'
    status, doc = call(rest_url, "/v1/models/multi/versions/1:predict", body)
    assert status == 200
    scaled = doc["outputs"]["scaled"][0]
    assert np.isnan(scaled[0]) and scaled[1] == np.inf and scaled[2] == -np.inf


def test_float32_outputs_print_like_the_real_server(rest_url):
    # 0.1f does not round-trip in six digits as a double, but does as a float: "0.1".
    # 1/3 needs nine digits; whole numbers keep ".0".
    body = {"inputs": {"x": [[0.1, 1 / 3, 2.0]]}}
    request = urllib.request.Request(
        rest_url + "/v1/models/multi/versions/1:predict", data=json.dumps(body).encode()
    )
    with urllib.request.urlopen(request) as response:
        text = response.read().decode()
    assert "[[0.1, 0.333333343, 2.0]]" in text


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/v1/models/keras_model/versions/1:predict", 1),
        ("/v1/models/keras_model/versions/2:predict", 2),
        ("/v1/models/keras_model/labels/stable:predict", 1),
        ("/v1/models/keras_model/labels/canary:predict", 2),
        ("/v1/models/keras_model:predict", 2),
    ],
)
def test_versions_and_labels_route_to_their_version(rest_url, path, version):
    status, doc = call(rest_url, path, {"instances": X})
    assert status == 200
    np.testing.assert_allclose(doc["predictions"], keras_reference(np.array(X), version), rtol=1e-6)


def test_status_lists_loaded_versions_with_int64_as_strings(rest_url):
    status, doc = call(rest_url, "/v1/models/keras_model")
    assert status == 200
    ok = {"error_code": "OK", "error_message": ""}
    assert doc == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": ok},
            {"version": "2", "state": "AVAILABLE", "status": ok},
        ]
    }
    assert call(rest_url, "/v1/models/keras_model/versions/1")[1] == {
        "model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]
    }


def test_metadata_carries_spec_and_signature_defs(rest_url):
    status, doc = call(rest_url, "/v1/models/multi/versions/1/metadata")
    assert status == 200
    assert doc["model_spec"] == {"name": "multi", "version": "1", "signature_name": ""}
    signatures = doc["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "count", "greet", "pair"} <= set(signatures)
    x = signatures["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert x["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}],
        "unknown_rank": False,
    }
    assert signatures["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert (
        call(rest_url, "/v1/models/keras_model/labels/stable/metadata")[1]["model_spec"]["version"]
        == "1"
    )


# (method, path, body, HTTP status, message or fragment)
ERRORS = [
    (
        "POST",
        "/v1/models/foo:predict",
        {"instances": [1]},
        404,
        "Servable not found for request: Latest(foo)",
    ),
    (
        "POST",
        "/v1/models/foo/versions/50:predict",
        {"instances": [1]},
        404,
        "Servable not found for request: Specific(foo, 50)",
    ),
    (
        "POST",
        "/v1/models/keras_model/versions/50:predict",
        {"instances": X},
        404,
        "Servable not found for request: Specific(keras_model, 50)",
    ),
    ("GET", "/v1/models/foo/metadata", None, 404, "Servable not found for request: Latest(foo)"),
    (
        "POST",
        "/v1/models/keras_model/labels/nope:predict",
        {"instances": X},
        400,
        "Unrecognized servable version label: nope",
    ),
    (
        "POST",
        "/v1/models/keras_model/versions/1/labels/stable:predict",
        {"instances": X},
        400,
        "Malformed request: POST /v1/models/keras_model/versions/1/labels/stable:predict",
    ),
    ("GET", "/v1/foo", None, 400, "Malformed request: GET /v1/foo"),
    ("POST", "/v1/models", b"", 400, "Malformed request: POST /v1/models"),
    ("GET", "/v1/models/foo:predict", None, 400, "Malformed request: GET /v1/models/foo:predict"),
    (
        "POST",
        "/v1/models/foo/metadata",
        b"",
        400,
        "Malformed request: POST /v1/models/foo/metadata",
    ),
    ("PUT", "/v1/models/foo", b"", 400, "Malformed request: PUT /v1/models/foo"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    (
        "POST",
        "/v1/models/foo/versions/99999999999999999999:predict",
        b"{}",
        400,
        "Failed to convert version: 99999999999999999999 to numeric.",
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": "nope", "instances": X},
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": 100},
        400,
        "'signature_name' key must be a string value.",
    ),
    (
        "POST",
        "/v1/models/keras_model:predict",
        {"instances": ["x", "y"]},
        400,
        'JSON Value: "x" Type: String is not of expected type: float',
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": "count", "instances": [1.5]},
        400,
        "is not of expected type: int32",
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        b'{"signature_name": "count", "instances": [1, NaN]}',
        400,
        "JSON Value: NaN Type: Number is not of expected type: int32",
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        b'{"signature_name": "count", "inputs": [true]}',
        400,
        "JSON Value: true Type: True is not of expected type: int32",
    ),
    (
        "POST",
        "/v1/models/keras_model:predict",
        b'{"instances": [[1.0, 2.0, false]]}',
        400,
        "JSON Value: false Type: False is not of expected type: float",
    ),
    (
        "POST",
        "/v1/models/keras_model:predict",
        b'{"instances": [[1.0, 2.0, "3"]]}',
        400,
        'JSON Value: "3" Type: String is not of expected type: float',
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"instances": [[1, 2], [3, 4, 5]]},
        400,
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting "
        "tensor size: 2 but got: 3",
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"inputs": [[1, 2, 3], [4, 5]]},
        400,
        "Encountered list at unexpected size: 2 at level: 1 expected size: 3",
    ),
    ("POST", "/v1/models/multi:predict", b"", 400, "JSON Parse error: The document is empty"),
    ("POST", "/v1/models/multi:predict", b"instances = [1, 2]", 400, "JSON Parse error"),
    ("POST", "/v1/models/multi:predict", b"[1, 2]", 400, "Is not object"),
    (
        "POST",
        "/v1/models/multi:predict",
        {"instances": X, "inputs": X},
        400,
        "expecting only one of 'inputs' or 'instances' keys to exist",
    ),
    ("POST", "/v1/models/multi:predict", {"instances": []}, 400, "No values in 'instances' array"),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": "serving_default"},
        400,
        "Missing 'inputs' or 'instances' key",
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": "pair", "instances": [1.0]},
        400,
        "instances is a plain list, but expecting list of objects",
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": "pair", "inputs": {"a": [1.0]}},
        400,
        "Missing named input: b in 'inputs' object.",
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": "pair", "instances": [{"a": 1.0, "b": 1.0, "c": 1.0}]},
        400,
        "does not have named input: c",
    ),
    (
        "POST",
        "/v1/models/keras_model:predict",
        {"inputs": [[1, 2]]},
        400,
        SHAPE_ERRORS,
    ),
    (
        "POST",
        "/v1/models/multi:predict",
        {"signature_name": "greet", "inputs": [{"b64": "%%"}]},
        400,
        "Unable to base64 decode",
    ),
    ("POST", "/v1/models/multi:regress", {"examples": []}, 501, "not implemented"),
]


@pytest.mark.parametrize(("method", "path", "body", "code", "message"), ERRORS)
def test_errors_have_the_real_servers_code_and_message(rest_url, method, path, body, code, message):
    status, doc = call(rest_url, path, body, method=method)
    assert status == code, doc
    assert set(doc) == {"error"}
    alternatives = (message,) if isinstance(message, str) else message
    assert any(m in doc["error"] for m in alternatives), doc
    assert call(rest_url, "/v1/models/keras_model:predict", {"instances": X})[0] == 200


def _fifty_megabytes_of_rows() -> tuple[bytes, int]:
    row = b"[0.5, -0.25, 0.125], "
    count = 50_000_000 // len(row) + 1
    return b'{"instances": [' + row * count + b"[1.0, 2.0, 3.0]]}", count + 1


# The real server sets no body limit on REST (libevent's default is unlimited) nor on gRPC
# (2 GiB), so a large valid request is answered and a large broken one gets the parse error;
# either way the next request is served.
@pytest.mark.slow
def test_a_valid_50_megabyte_body_is_answered(rest_url):
    body, rows = _fifty_megabytes_of_rows()
    status, doc = call(rest_url, "/v1/models/keras_model/versions/1:predict", body, timeout=300)
    assert status == 200, doc
    assert len(doc["predictions"]) == rows
    expected = keras_reference(np.array([[0.5, -0.25, 0.125], [1.0, 2.0, 3.0]], np.float32), 1)
    np.testing.assert_allclose(doc["predictions"][0], expected[0], rtol=1e-6)
    np.testing.assert_allclose(doc["predictions"][-1], expected[1], rtol=1e-6)
    assert call(rest_url, "/v1/models/keras_model:predict", {"instances": X})[0] == 200


def test_a_broken_50_megabyte_body_is_a_parse_error_and_the_server_goes_on(rest_url):
    body, _ = _fifty_megabytes_of_rows()
    status, doc = call(rest_url, "/v1/models/keras_model:predict", body[:-2], timeout=300)
    assert status == 400
    assert doc["error"].startswith("JSON Parse error")
    assert call(rest_url, "/v1/models/keras_model:predict", {"instances": X})[0] == 200


def test_paths_outside_v1_are_not_found(rest_url):
    status, _ = call(rest_url, "/statuspage")
    assert status == 404


def test_server_survives_garbage_and_keeps_answering(rest_url):
    for body in (b"\xff\xfe", b"{" * 5000, b'{"instances": [[[[[[1]]]]]]}', b'{"inputs": null}'):
        status, _ = call(rest_url, "/v1/models/keras_model:predict", body)
        assert 400 <= status < 600, body
    assert call(rest_url, "/v1/models/multi")[0] == 200


def test_scales_differ_between_versions():
    # Guards the fixtures: routing tests would pass vacuously if versions answered alike.
    assert SCALES[1] != SCALES[2]
