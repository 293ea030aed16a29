"""The gRPC API: PredictionService and ModelService, typed outputs and status codes."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from serving_models import SHAPE_ERRORS, keras_reference

tf = pytest.importorskip("tensorflow")
from tensorflow_serving.apis import (  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)


@pytest.fixture(scope="module")
def channel(grpc_target):
    with grpc.insecure_channel(grpc_target) as ch:
        yield ch


@pytest.fixture(scope="module")
def prediction(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def models(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(name, inputs, signature="", version=None, label=None):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for alias, array in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(array))
    return request


def test_predict_uses_typed_fields_and_reports_the_spec(prediction):
    response = prediction.Predict(predict_request("keras_model", {"features": X}), timeout=30)
    assert response.model_spec.name == "keras_model"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    (alias,) = response.outputs
    output = response.outputs[alias]
    assert output.tensor_content == b""
    assert len(output.float_val) == 4
    np.testing.assert_allclose(tf.make_ndarray(output), keras_reference(X, 2), rtol=1e-6)


def test_predict_by_label_and_version(prediction):
    for kwargs, version in (({"label": "stable"}, 1), ({"version": 2}, 2), ({"version": 1}, 1)):
        request = predict_request("keras_model", {"features": X}, **kwargs)
        response = prediction.Predict(request, timeout=30)
        assert response.model_spec.version.value == version
        (output,) = response.outputs.values()
        np.testing.assert_allclose(tf.make_ndarray(output), keras_reference(X, version), rtol=1e-6)


def test_predict_multi_output_strings_and_output_filter(prediction):
    response = prediction.Predict(predict_request("multi", {"x": X}, version=1), timeout=30)
    assert sorted(response.outputs) == ["scaled", "total"]
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["total"]), X.sum(axis=1))
    strings = np.array([b"ab", b"\x00\x01"], dtype=object)
    response = prediction.Predict(predict_request("multi", {"s": strings}, "greet"), timeout=30)
    assert list(response.outputs["echo_bytes"].string_val) == [b"ab", b"\x00\x01"]
    assert list(response.outputs["length"].int_val) == [2, 2]
    request = predict_request("multi", {"x": X})
    request.output_filter.append("total")
    assert list(prediction.Predict(request, timeout=30).outputs) == ["total"]


def code_and_details(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    return info.value.code(), info.value.details()


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        ({"name": "foo"}, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(foo)"),
        (
            {"name": "foo", "version": 50},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(foo, 50)",
        ),
        (
            {"label": "nope"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: nope",
        ),
        (
            {"signature": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            {"inputs": {"x": X}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input size does not match signature: 1!=1 len({x}) != len({features}). Sent extra: "
            "{x}. Missing but required: {features}.",
        ),
        (
            {"inputs": {"features": X.astype(np.float64)}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Expects arg[0] to be float but double is provided",
        ),
        (
            {"inputs": {"features": X[:, :2]}},
            grpc.StatusCode.INVALID_ARGUMENT,
            SHAPE_ERRORS,
        ),
    ],
)
def test_predict_errors(prediction, kwargs, code, message):
    kwargs = {"name": "keras_model", "inputs": {"features": X}, **kwargs}
    request = predict_request(
        kwargs["name"],
        kwargs["inputs"],
        kwargs.get("signature", ""),
        kwargs.get("version"),
        kwargs.get("label"),
    )
    got_code, details = code_and_details(prediction.Predict, request)
    assert got_code == code
    assert any(m in details for m in ((message,) if isinstance(message, str) else message))


def test_a_tiny_request_asking_for_terabytes_is_refused(prediction):
    # One float_val fills the whole shape, as in TensorFlow: a few bytes on the wire.
    request = predict_request("keras_model", {"features": X})
    proto = request.inputs["features"]
    proto.ClearField("tensor_content")
    proto.float_val.append(1.0)
    proto.tensor_shape.dim[0].size = 10**12
    code, details = code_and_details(prediction.Predict, request)
    # Refused from the declared shape, before anything is allocated.
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--pg_max_input_bytes" in details and "features: [1000000000000,3]" in details
    response = prediction.Predict(predict_request("keras_model", {"features": X}), timeout=30)
    assert response.model_spec.name == "keras_model"


def test_output_filter_errors(prediction):
    request = predict_request("multi", {"x": X})
    request.output_filter.append("nope")
    code, details = code_and_details(prediction.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "output tensor alias not found in signature: nope" in details


def test_get_model_metadata(prediction):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "keras_model"
    request.model_spec.version_label = "stable"
    response = prediction.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "keras_model"
    assert response.model_spec.version.value == 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    assert signatures.signature_def["serving_default"].inputs["features"].dtype == 1
    request.ClearField("metadata_field")
    code, details = code_and_details(prediction.GetModelMetadata, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "GetModelMetadataRequest must specify at least one metadata_field"
    request.metadata_field.append("nope")
    code, details = code_and_details(prediction.GetModelMetadata, request)
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Metadata field nope is not supported",
    )
    missing = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    missing.model_spec.name = "foo"
    code, details = code_and_details(prediction.GetModelMetadata, missing)
    assert (code, details) == (
        grpc.StatusCode.NOT_FOUND,
        "Servable not found for request: Latest(foo)",
    )


def test_get_model_status(models):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "multi"
    response = models.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0),
    ]
    request.model_spec.version.value = 7
    code, details = code_and_details(models.GetModelStatus, request)
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "Could not find version 7 of model multi")
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "foo"
    code, details = code_and_details(models.GetModelStatus, request)
    assert (code, details) == (
        grpc.StatusCode.NOT_FOUND,
        "Could not find any versions of model foo",
    )
    code, details = code_and_details(
        models.GetModelStatus, get_model_status_pb2.GetModelStatusRequest()
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def test_unimplemented_apis_answer_unimplemented(prediction):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "multi"
    code, _ = code_and_details(prediction.Classify, request)
    assert code == grpc.StatusCode.UNIMPLEMENTED
