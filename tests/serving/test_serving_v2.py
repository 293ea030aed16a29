"""The Open Inference Protocol (V2) beside TF Serving's API, tested with Triton's own client
(`tritonclient`, an independent implementation) over REST and gRPC, and with plain HTTP.

Every answer is compared bit for bit with the TF Serving protocol's answer to the same
inputs on the same server (gRPC Predict and REST :predict).
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from serving_models import keras_reference

tf = pytest.importorskip("tensorflow")
triton_http = pytest.importorskip("tritonclient.http")
triton_grpc = pytest.importorskip("tritonclient.grpc")
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from serving.protos import grpc_predict_v2_pb2 as pb  # noqa: E402
from serving.protos import grpc_predict_v2_pb2_grpc as pb_grpc  # noqa: E402

X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
# Values whose float32 text is long: a lossy JSON path would change their last bits.
ODD = np.random.default_rng(7).standard_normal((5, 3)).astype(np.float32) / 3.0


@pytest.fixture(scope="module")
def http_client(server):
    client = triton_http.InferenceServerClient(f"127.0.0.1:{server.rest_port}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(server):
    client = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def tf_predict(grpc_target):
    """TF Serving's gRPC Predict on the same server: the reference answers."""
    with grpc.insecure_channel(grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def predict(name, inputs, signature="", version=None, label=None):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            request.model_spec.signature_name = signature
            if version is not None:
                request.model_spec.version.value = version
            if label is not None:
                request.model_spec.version_label = label
            for alias, array in inputs.items():
                request.inputs[alias].CopyFrom(tf.make_tensor_proto(array))
            response = stub.Predict(request, timeout=30)
            return {a: tf.make_ndarray(p) for a, p in response.outputs.items()}

        yield predict


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def http_input(name, array, datatype, binary):
    tensor = triton_http.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def grpc_input(name, array, datatype):
    tensor = triton_grpc.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def call(base, path, body=None, headers=None):
    """(status, headers, body bytes) of one plain HTTP request."""
    request = urllib.request.Request(base + path, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


# ---- health and metadata -------------------------------------------------------------------


def test_health_and_server_metadata_over_both_transports(http_client, grpc_client):
    for client in (http_client, grpc_client):
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("keras_model")
        assert client.is_model_ready("keras_model", "1")
        assert client.is_model_ready("keras_model", "stable")  # a label, as TF Serving's
        assert not client.is_model_ready("keras_model", "7")
        assert not client.is_model_ready("nope")
    metadata = http_client.get_server_metadata()
    assert metadata["name"] == "pg-model-server"
    assert "binary_tensor_data" in metadata["extensions"]
    assert grpc_client.get_server_metadata().name == "pg-model-server"


def test_model_metadata_is_the_default_signature(http_client, grpc_client):
    expected = {
        "name": "multi",
        "versions": ["1", "2"],
        "platform": "tensorflow_savedmodel",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [
            {"name": "scaled", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "total", "datatype": "FP32", "shape": [-1]},
        ],
    }
    assert http_client.get_model_metadata("multi") == expected
    metadata = grpc_client.get_model_metadata("multi")
    assert (metadata.name, list(metadata.versions), metadata.platform) == (
        "multi",
        ["1", "2"],
        "tensorflow_savedmodel",
    )
    tensors = [(t.name, t.datatype, list(t.shape)) for t in (*metadata.inputs, *metadata.outputs)]
    assert tensors == [
        (t["name"], t["datatype"], t["shape"]) for k in ("inputs", "outputs") for t in expected[k]
    ]
    assert http_client.get_model_metadata("keras_model", "1")["versions"] == ["1", "2"]


# ---- inference, bit for bit against the TF Serving protocol -------------------------------


@pytest.mark.parametrize("version", ["", "1", "2", "stable", "canary"])
def test_infer_over_both_transports_equals_predict(http_client, grpc_client, tf_predict, version):
    reference_kwargs = (
        {"label": version} if version.isalpha() else {"version": int(version)} if version else {}
    )
    (reference,) = tf_predict("keras_model", {"features": ODD}, **reference_kwargs).values()
    (alias,) = tf_predict("keras_model", {"features": ODD}).keys()
    for binary in (True, False):
        inputs = [http_input("features", ODD, "FP32", binary)]
        outputs = [triton_http.InferRequestedOutput(alias, binary_data=binary)]
        result = http_client.infer("keras_model", inputs, model_version=version, outputs=outputs)
        assert same_bits(result.as_numpy(alias), reference), binary
    result = grpc_client.infer(
        "keras_model", [grpc_input("features", ODD, "FP32")], model_version=version
    )
    assert same_bits(result.as_numpy(alias), reference)
    served_version = {"": "2", "stable": "1", "canary": "2"}.get(version, version)
    assert result.get_response().model_version == served_version


def test_infer_equals_rest_predict_and_the_keras_reference(http_client, rest_url):
    body = json.dumps({"inputs": ODD.tolist()}).encode()
    status, _, payload = call(rest_url, "/v1/models/keras_model/versions/1:predict", body)
    assert status == 200
    rest_answer = np.array(json.loads(payload)["outputs"], dtype=np.float32)
    result = http_client.infer(
        "keras_model", [http_input("features", ODD, "FP32", False)], model_version="1"
    )
    (output,) = result.get_response()["outputs"]
    assert same_bits(result.as_numpy(output["name"]), rest_answer)
    # No outputs named: Triton's client asks for all in binary (binary_data_output).
    result = http_client.infer(
        "keras_model", [http_input("features", ODD, "FP32", True)], model_version="1"
    )
    (output,) = result.get_response()["outputs"]
    assert output["parameters"]["binary_data_size"] == ODD.shape[0] * 2 * 4
    assert same_bits(result.as_numpy(output["name"]), rest_answer)
    np.testing.assert_allclose(rest_answer, keras_reference(ODD, 1), rtol=1e-6)


def test_other_signatures_by_parameter_and_outputs_selection(http_client, grpc_client, tf_predict):
    n = np.array([3, -4, 2**30], dtype=np.int32)
    reference = tf_predict("multi", {"n": n}, "count")["doubled"]
    parameters = {"signature_name": "count"}
    result = http_client.infer("multi", [http_input("n", n, "INT32", False)], parameters=parameters)
    assert same_bits(result.as_numpy("doubled"), reference)
    result = grpc_client.infer("multi", [grpc_input("n", n, "INT32")], parameters=parameters)
    assert same_bits(result.as_numpy("doubled"), reference)
    # Only the outputs asked for, in the order asked.
    outputs = [triton_http.InferRequestedOutput("total", binary_data=False)]
    result = http_client.infer("multi", [http_input("x", X, "FP32", True)], outputs=outputs)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["total"]
    assert same_bits(result.as_numpy("total"), tf_predict("multi", {"x": X})["total"])
    outputs = [triton_grpc.InferRequestedOutput("scaled")]
    result = grpc_client.infer("multi", [grpc_input("x", X, "FP32")], outputs=outputs)
    assert [o.name for o in result.get_response().outputs] == ["scaled"]


def test_bytes_and_two_inputs_of_different_types(http_client, grpc_client, tf_predict):
    strings = np.array([b"ab", b"\x00\xff"], dtype=np.object_)
    parameters = {"signature_name": "greet"}
    reference = tf_predict("multi", {"s": strings}, "greet")
    result = grpc_client.infer("multi", [grpc_input("s", strings, "BYTES")], parameters=parameters)
    assert list(result.as_numpy("echo_bytes")) == [b"ab", b"\x00\xff"]
    assert same_bits(result.as_numpy("length"), reference["length"])
    result = http_client.infer(
        "multi", [http_input("s", strings, "BYTES", True)], parameters=parameters
    )
    assert list(result.as_numpy("echo_bytes")) == [b"ab", b"\x00\xff"]
    a, b = np.array([0.1, 2.5], np.float32), np.array([1e-300, 3.0], np.float64)
    parameters = {"signature_name": "pair"}
    inputs = [http_input("a", a, "FP32", True), http_input("b", b, "FP64", False)]
    result = http_client.infer("multi", inputs, parameters=parameters)
    assert same_bits(result.as_numpy("sum"), tf_predict("multi", {"a": a, "b": b}, "pair")["sum"])


# ---- errors --------------------------------------------------------------------------------


def test_errors_name_what_was_received(http_client, grpc_client):
    cases = [
        ("nope", [("features", X, "FP32")], {}, "NOT_FOUND", "Servable not found"),
        (
            "keras_model",
            [("features", X, "FP64")],
            {},
            "INVALID_ARGUMENT",
            "Expected datatype FP32",
        ),
        ("keras_model", [("other", X, "FP32")], {}, "INVALID_ARGUMENT", "Received: other"),
        ("keras_model", [("features", X[:, :2], "FP32")], {}, "INVALID_ARGUMENT", "shape [-1,3]"),
        ("multi", [("x", X, "FP32")], {"signature_name": "nah"}, "INVALID_ARGUMENT", "'nah'"),
    ]
    for name, tensors, parameters, code, text in cases:
        arrays = [(n, a.astype(np.float64) if d == "FP64" else a, d) for n, a, d in tensors]
        with pytest.raises(InferenceServerException) as info:
            grpc_client.infer(name, [grpc_input(*t) for t in arrays], parameters=parameters)
        assert info.value.status() == f"StatusCode.{code}" and text in info.value.message()
        with pytest.raises(InferenceServerException) as info:
            inputs = [http_input(*t, True) for t in arrays]
            http_client.infer(name, inputs, parameters=parameters)
        assert text in info.value.message()
        assert info.value.status() == ("404" if code == "NOT_FOUND" else "400")
    with pytest.raises(InferenceServerException, match="Unrecognized servable version label"):
        grpc_client.infer("keras_model", [grpc_input("features", X, "FP32")], model_version="x")


def test_plain_json_requests_and_malformed_ones(rest_url):
    doc = {
        "id": "r-1",
        "inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP32", "data": X.tolist()}],
        "outputs": [{"name": "total"}],
    }
    status, headers, payload = call(
        rest_url, "/v2/models/multi/versions/1/infer", json.dumps(doc).encode()
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(payload) == {
        "model_name": "multi",
        "model_version": "1",
        "id": "r-1",
        "outputs": [{"name": "total", "datatype": "FP32", "shape": [2], "data": [6.0, 15.0]}],
    }

    def infer_body(**tensor) -> bytes:
        return json.dumps({"inputs": [{"name": "x", "datatype": "FP32", **tensor}]}).encode()

    bad = [
        (b"{", "Expected a JSON infer request"),
        (b"[]", "Expected a JSON object"),
        (infer_body(shape=[2, 3], data=[1, 2]), "Expected 6 elements"),
        (infer_body(shape=[1, 3], data=["a", "b", "c"]), "Expected FP32 values"),
        (infer_body(shape=[1, 3]), "'data' or parameters.binary_data_size"),
        (infer_body(shape="3", data=[]), "'shape' of JSON type list"),
    ]
    for body, text in bad:
        status, headers, payload = call(rest_url, "/v2/models/multi/infer", body)
        assert status == 400 and text in json.loads(payload)["error"], (body, payload)
    status, _, payload = call(rest_url, "/v2/models/multi/nothing")
    assert status == 404 and "error" in json.loads(payload)
    status, _, payload = call(rest_url, "/v2/models/multi/infer")  # GET
    assert status == 405 and "Expected POST" in json.loads(payload)["error"]


def test_grpc_typed_contents_and_raw_contents_agree(grpc_target, tf_predict):
    (reference,) = tf_predict("keras_model", {"features": ODD}).values()
    with grpc.insecure_channel(grpc_target) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        request = pb.ModelInferRequest(model_name="keras_model", id="7")
        tensor = request.inputs.add(name="features", datatype="FP32", shape=ODD.shape)
        tensor.contents.fp32_contents.extend(ODD.reshape(-1).tolist())
        response = stub.ModelInfer(request, timeout=30)
        assert response.id == "7" and response.model_version == "2"
        typed = np.frombuffer(response.raw_output_contents[0], np.float32).reshape(reference.shape)
        assert same_bits(typed, reference)
        tensor.contents.fp32_contents.pop()
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request, timeout=30)
        assert "Expected 15 elements" in info.value.details()


# ---- gzip, REST v1 and v2 ------------------------------------------------------------------


def test_gzip_request_bodies_and_answers_on_v1_and_v2(rest_url, http_client, tf_predict):
    v1 = gzip.compress(json.dumps({"inputs": ODD.tolist()}).encode())
    tensor = {"name": "features", "shape": [5, 3], "datatype": "FP32", "data": ODD.tolist()}
    v2 = gzip.compress(json.dumps({"inputs": [tensor]}).encode())
    (reference,) = tf_predict("keras_model", {"features": ODD}).values()
    for path, body, key in (
        ("/v1/models/keras_model:predict", v1, None),
        ("/v2/models/keras_model/infer", v2, "data"),
    ):
        headers = {"Content-Encoding": "gzip", "Accept-Encoding": "gzip"}
        status, answer_headers, payload = call(rest_url, path, body, headers)
        assert status == 200 and answer_headers["Content-Encoding"] == "gzip", path
        doc = json.loads(gzip.decompress(payload))
        values = doc["outputs"] if key is None else doc["outputs"][0]["data"]
        assert same_bits(np.array(values, np.float32).reshape(reference.shape), reference)
        # Without Accept-Encoding the answer is not compressed.
        status, answer_headers, payload = call(rest_url, path, body, {"Content-Encoding": "gzip"})
        assert status == 200 and "Content-Encoding" not in answer_headers
        json.loads(payload)
    status, headers, payload = call(
        rest_url, "/v2/models/keras_model", None, {"Accept-Encoding": "gzip;q=0"}
    )
    assert status == 200 and "Content-Encoding" not in headers
    # Triton's client compressing both ways.
    result = http_client.infer(
        "keras_model",
        [http_input("features", ODD, "FP32", True)],
        request_compression_algorithm="gzip",
        response_compression_algorithm="gzip",
    )
    assert same_bits(
        result.as_numpy(next(iter(tf_predict("keras_model", {"features": ODD})))), reference
    )


def test_a_gzip_bomb_is_refused_after_the_body_limit_not_held(server, rest_url):
    limit = server.options.pg_rest_max_body_bytes
    bomb = gzip.compress(b" " * (limit + 2**20), compresslevel=9)
    assert len(bomb) < limit // 100
    for path in ("/v1/models/keras_model:predict", "/v2/models/keras_model/infer"):
        status, _, payload = call(rest_url, path, bomb, {"Content-Encoding": "gzip"})
        assert status == 413, path
        assert "after decompression (--pg_rest_max_body_bytes)" in json.loads(payload)["error"]
    status, _, payload = call(
        rest_url, "/v2/models/keras_model/infer", b"not gzip", {"Content-Encoding": "gzip"}
    )
    assert status == 400 and "does not decode as gzip" in json.loads(payload)["error"]


# ---- serving.client with protocol="v2", and the query command ------------------------------


@pytest.fixture(scope="module", params=["grpc", "http"])
def v2_client(request, server):
    from serving.client import Client

    port = server.grpc_port if request.param == "grpc" else server.rest_port
    with Client(f"{request.param}://127.0.0.1:{port}", protocol="v2") as client:
        yield client


def test_client_v2_equals_predict_bit_for_bit(v2_client, tf_predict):
    from serving.errors import InvalidArgumentError, NotFoundError

    # float64 cast to the signature's float32 from the V2 metadata, as with TF's protocol.
    for kwargs in ({}, {"version": 1}, {"label": "stable"}):
        got = v2_client.predict("keras_model", ODD.astype(np.float64), **kwargs)
        (want,) = tf_predict("keras_model", {"features": ODD}, **kwargs).values()
        assert same_bits(got["output_0"], want)
    got = v2_client.predict("multi", {"n": np.array([1, -2], np.int32)}, signature="count")
    assert same_bits(got["doubled"], np.array([2, -4], np.int32))
    got = v2_client.predict("multi", {"s": np.array([b"ab", b"c"], object)}, signature="greet")
    assert list(got["echo_bytes"]) == [b"ab", b"c"]
    assert [s.version for s in v2_client.status("keras_model")] == [1, 2]
    metadata = v2_client.metadata("multi")
    assert metadata.signatures["serving_default"].inputs["x"].dtype == "DT_FLOAT"
    with pytest.raises(NotFoundError, match="Servable not found"):
        v2_client.predict("nope", {"x": X})
    with pytest.raises(InvalidArgumentError, match="Expected datatype INT32"):
        v2_client.predict("multi", {"n": np.array([1, 2])}, signature="count")  # int64


def test_client_keeps_rest_connections_alive(server, monkeypatch):
    import urllib3.connection

    from serving.client import Client

    opened = []
    connect = urllib3.connection.connection.create_connection

    def counting(*args, **kwargs):
        opened.append(args[0])
        return connect(*args, **kwargs)

    monkeypatch.setattr(urllib3.connection.connection, "create_connection", counting)
    for protocol in ("tf", "v2"):
        opened.clear()
        with Client(f"http://127.0.0.1:{server.rest_port}", protocol=protocol) as client:
            for _ in range(3):
                client.predict("keras_model", X)
        assert len(opened) == 1, protocol  # metadata and three predicts on one connection


def test_query_command_speaks_v2(server, tmp_path, capsys):
    from serving.query import main as query_main

    events = tmp_path / "x.npy"
    np.save(events, X)
    for url in (f"grpc://127.0.0.1:{server.grpc_port}", f"http://127.0.0.1:{server.rest_port}"):
        out = tmp_path / "out.npz"
        argv = ["keras_model", "--server", url, "--input", str(events), "--output", str(out)]
        assert query_main([*argv, "--protocol", "v2", "--version", "1"]) == 0
        with np.load(out) as saved:
            np.testing.assert_allclose(saved["output_0"], keras_reference(X, 1), rtol=1e-6)
    assert (
        query_main(["keras_model", "--server", url, "--input", str(events), "--protocol", "v3"])
        == 2
    )
    capsys.readouterr()
