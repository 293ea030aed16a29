"""serving.client over both transports: same numbers as the model in-process, typed errors,
and the `pg-model-server query` command."""

from __future__ import annotations

import numpy as np
import pytest
from serving_models import keras_reference

from serving._rest_transport import loads, predict_body
from serving.client import Client
from serving.errors import InvalidArgumentError, NotFoundError, UnavailableError
from serving.query import main as query_main

tf = pytest.importorskip("tensorflow")

X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [-0.5, 0.1, 1 / 3]], dtype=np.float32)


@pytest.fixture(scope="module", params=["grpc", "http"])
def client(request, server):
    port = server.grpc_port if request.param == "grpc" else server.rest_port
    with Client(f"{request.param}://127.0.0.1:{port}") as c:
        yield c


@pytest.fixture(scope="module")
def in_process(model_root):
    return {
        (name, v): tf.saved_model.load(f"{model_root}/{name}/{v}")
        for name in ("keras_model", "multi")
        for v in (1, 2)
    }


def test_predict_equals_in_process_bit_for_bit(client, in_process):
    # float64 input is cast to the signature's float32, like the in-process call below.
    got = client.predict("keras_model", X.astype(np.float64))
    want = in_process["keras_model", 2].signatures["serving_default"](features=tf.constant(X))
    assert list(got) == ["output_0"]
    assert got["output_0"].dtype == np.float32
    np.testing.assert_array_equal(got["output_0"], want["output_0"].numpy())
    np.testing.assert_allclose(got["output_0"], keras_reference(X, 2), rtol=1e-6)


def test_predict_multi_output_versions_and_labels(client, in_process):
    for kwargs, version in (({"version": 1}, 1), ({}, 2)):
        got = client.predict("multi", {"x": X}, **kwargs)
        want = in_process["multi", version].signatures["serving_default"](x=tf.constant(X))
        assert sorted(got) == ["scaled", "total"]
        for alias in got:
            np.testing.assert_array_equal(got[alias], want[alias].numpy())
    stable = client.predict("keras_model", X, label="stable")["output_0"]
    np.testing.assert_allclose(stable, keras_reference(X, 1), rtol=1e-6)


def test_predict_int_and_string_signatures(client):
    doubled = client.predict("multi", np.array([1, 2, 3]), signature="count")["doubled"]
    assert doubled.dtype == np.int32
    np.testing.assert_array_equal(doubled, [2, 4, 6])
    out = client.predict(
        "multi", np.array([b"ab", b"\x00\xff\x01"], dtype=object), signature="greet"
    )
    assert list(out["echo_bytes"]) == [b"ab", b"\x00\xff\x01"]
    np.testing.assert_array_equal(out["length"], [2, 3])


def test_status_and_metadata(client):
    statuses = client.status("keras_model")
    assert [(s.version, s.state, s.error_code) for s in statuses] == [
        (1, "AVAILABLE", "OK"),
        (2, "AVAILABLE", "OK"),
    ]
    assert [s.version for s in client.status("keras_model", version=1)] == [1]
    meta = client.metadata("multi", version=1)
    assert (meta.name, meta.version) == ("multi", 1)
    pair = meta.signatures["pair"]
    assert pair.inputs["a"].dtype == "DT_FLOAT" and pair.inputs["b"].dtype == "DT_DOUBLE"
    assert pair.inputs["a"].shape == (-1,)
    assert client.metadata("keras_model", label="canary").version == 2


def test_errors_are_typed_and_carry_the_servers_message(client):
    with pytest.raises(NotFoundError, match=r"Latest\(foo\)") as info:
        client.predict("foo", X)
    assert info.value.code == "NOT_FOUND"
    with pytest.raises(NotFoundError, match=r"Specific\(keras_model, 50\)"):
        client.predict("keras_model", X, version=50)
    with pytest.raises(InvalidArgumentError, match="Unrecognized servable version label: nope"):
        client.predict("keras_model", X, label="nope")
    with pytest.raises(InvalidArgumentError, match="not found in signature def"):
        client.predict("keras_model", X, signature="nope")
    with pytest.raises(InvalidArgumentError, match=r"Matrix size-incompatible|of shape \[-1,3\]"):
        client.predict("keras_model", X[:, :2])
    with pytest.raises(ValueError, match="not both"):
        client.predict("keras_model", X, version=1, label="stable")


@pytest.mark.parametrize("scheme", ["grpc", "http"])
def test_unreachable_server_is_unavailable(scheme):
    from serving_models import free_port

    with (
        Client(f"{scheme}://127.0.0.1:{free_port()}", timeout=5) as c,
        pytest.raises(UnavailableError),
    ):
        c.status("anything")


def test_bad_url_names_the_accepted_forms():
    with pytest.raises(ValueError, match="grpc://127.0.0.1:8500"):
        Client("127.0.0.1:8500")


def test_query_main_writes_outputs(server, tmp_path, capsys):
    events = tmp_path / "events.npy"
    np.save(events, X.astype(np.float64))
    out = tmp_path / "out.npz"
    url = f"grpc://127.0.0.1:{server.grpc_port}"
    argv = ["keras_model", "--server", url, "--input", str(events), "--output", str(out)]
    assert query_main(argv) == 0
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["output_0"], keras_reference(X, 2), rtol=1e-6)
    named = tmp_path / "named.npz"
    np.savez(named, x=X)
    rest = f"http://127.0.0.1:{server.rest_port}"
    argv = ["multi", "--server", rest, "--input", str(named), "--version", "1"]
    assert query_main(argv) == 0
    printed = capsys.readouterr().out
    assert "scaled: shape=[3, 3] dtype=float32" in printed
    assert query_main(["foo", "--server", rest, "--input", str(named)]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    assert query_main(["foo", "--server", rest]) == 2


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(0).standard_normal((2, 64, 64)).astype(np.float32),
        np.array([1e-45, 3.4028235e38, -0.0, 0.1], dtype=np.float32),
        np.array([0.1, 1 / 3, 1e300], dtype=np.float64),
        np.arange(6, dtype=np.int64).reshape(2, 3) - 3,
        np.array([True, False]),
        np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32),
        np.arange(4, dtype=">f4"),
        np.ones((3, 4), np.float32)[:, ::2],
    ],
    ids=[
        "float32",
        "float32-extremes",
        "float64",
        "int64",
        "bool",
        "non-finite",
        "big-endian",
        "strided",
    ],
)
def test_rest_request_body_reads_back_exactly(array):
    # The server's own parser: every value must come back bit for bit in the array's dtype.
    from serving._json_document import parse_document

    text = predict_body("serving_default", {"y": array})
    doc = parse_document(text)
    assert doc["signature_name"] == "serving_default"
    back = np.array(doc["inputs"]["y"], dtype=array.dtype.newbyteorder("="))
    assert back.shape == array.shape
    np.testing.assert_array_equal(
        back.view(np.uint8), np.ascontiguousarray(array, back.dtype).view(np.uint8)
    )
    if not np.isfinite(array.astype(np.float64)).all():
        assert b"NaN" in text and b"-Infinity" in text and b"null" not in text


def test_rest_answers_with_nan_tokens_decode():
    assert np.isnan(loads(b'{"outputs": [NaN, 1.5]}')["outputs"][0])
    assert loads(b'{"outputs": [Infinity]}')["outputs"] == [float("inf")]
