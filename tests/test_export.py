"""`pg-keras export` and `pg-model-server query`: SavedModels TF Serving loads, and answers that
match.

One tiny trained `sin` run is shared by the module (TensorFlow is slow to start on 2 cores).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from pg_keras.cli import main
from pg_keras.config import TrainingConfig
from pg_keras.export import WARMUP_FILE, export_run, load_run
from pg_keras.training.run import train
from serving.query import main as query_main

A_SMALL = np.array([[2.5]], np.float32)
A_BATCH = np.linspace(0.3, 10.0, 7, dtype=np.float32)[:, None]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    config = TrainingConfig(problem="sin", gradient="inverse-physics", steps=20, log_every=10)
    train(config, run, verbose=0)
    return run


@pytest.fixture(scope="module")
def network(run_dir):
    return load_run(run_dir)[2]


@pytest.fixture(scope="module")
def version_dir(run_dir, tmp_path_factory):
    return export_run(run_dir, "sin", tmp_path_factory.mktemp("models"))


_RELOAD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    model = tf.saved_model.load(sys.argv[1])
    out = {}
    for tag, path in (("small", sys.argv[2]), ("batch", sys.argv[3])):
        a = tf.constant(np.load(path))
        out[f"{tag}_x"] = model.signatures["serving_default"](a=a)["x"].numpy()
        for key, value in model.signatures["with_residual"](a=a).items():
            out[f"{tag}_with_residual_{key}"] = value.numpy()
        for k in (0, 1, 3):
            refined = model.signatures["refine"](a=a, iterations=tf.constant([k]))
            out[f"{tag}_refine{k}"] = refined["x"].numpy()
    np.savez(sys.argv[4], **out)
    """
)


@pytest.fixture(scope="module")
def reloaded(version_dir, tmp_path_factory):
    """Every signature's answers from a fresh process that only loads the SavedModel."""
    work = tmp_path_factory.mktemp("reload")
    np.save(work / "small.npy", A_SMALL)
    np.save(work / "batch.npy", A_BATCH)
    script = work / "reload.py"
    script.write_text(_RELOAD)
    args = [str(version_dir), str(work / "small.npy"), str(work / "batch.npy")]
    out = work / "out.npz"
    subprocess.run(
        [sys.executable, str(script), *args, str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=120,
    )
    with np.load(out) as data:
        return dict(data)


def _residual(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """½‖P(x) − y*‖² for sin, y* = −1, in float64."""
    y = np.sin(a.astype(np.float64) / x.astype(np.float64))
    return 0.5 * np.sum((y + 1.0) ** 2, axis=1)


def test_layout_and_assets(run_dir, version_dir):
    assert version_dir.name == "1"
    assert (version_dir / "saved_model.pb").is_file()
    assert (version_dir / "variables").is_dir()
    extra = version_dir / "assets.extra"
    config = json.loads((extra / "config.json").read_text())
    assert config == json.loads((run_dir / "config.json").read_text())
    assert json.loads((extra / "problem.json").read_text())["problem"] == "sin"
    metrics = json.loads((extra / "metrics.json").read_text())
    last = json.loads((run_dir / "curve.json").read_text())[-1]
    assert metrics["step"] == last["step"] == metrics["checkpoint_step"] == 20
    assert metrics["y_loss"] == last["y_loss"]
    serving = json.loads((extra / "serving.json").read_text())
    assert serving["signatures"]["refine"]["iterations"] == {
        "required": False,
        "default": 1,
        "shape": "[batch] (one count per event) or [1] (one for the request)",
        "max": 10_000,
    }
    # What TF Serving reads from the MetaGraph: Predict signatures, float32 batched inputs.
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((version_dir / "saved_model.pb").read_bytes())
    defs = saved.meta_graphs[0].signature_def
    assert {"serving_default", "with_residual", "refine"} <= set(defs)
    for name, outputs in [("serving_default", {"x"}), ("with_residual", {"x", "y", "residual"})]:
        assert defs[name].method_name == "tensorflow/serving/predict"
        assert set(defs[name].inputs) == {"a"} and set(defs[name].outputs) == outputs
        shape = [d.size for d in defs[name].inputs["a"].tensor_shape.dim]
        assert shape == [-1, 1] and defs[name].inputs["a"].dtype == tf.float32.as_datatype_enum
    iterations = defs["refine"].inputs["iterations"]
    assert iterations.dtype == tf.int32.as_datatype_enum
    assert [d.size for d in iterations.tensor_shape.dim] == [-1]
    # The default TF Serving's gRPC Predict fills in when a request leaves `iterations` out.
    assert set(defs["refine"].defaults) == {"iterations"}
    np.testing.assert_array_equal(tf.make_ndarray(defs["refine"].defaults["iterations"]), [1])
    # Only the version: the staging directory was renamed, not left beside it.
    assert sorted(p.name for p in version_dir.parent.iterdir()) == ["1"]
    # Readable by a server running as another user (the staging directory was made 0700).
    for path in [version_dir, *version_dir.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


@pytest.mark.parametrize("tag, a", [("small", A_SMALL), ("batch", A_BATCH)])
def test_serving_default_matches_the_network_in_a_fresh_process(reloaded, network, tag, a):
    expected = network(a, training=False).numpy()
    assert reloaded[f"{tag}_x"].dtype == np.float32
    assert reloaded[f"{tag}_x"].shape == (len(a), 1)
    np.testing.assert_allclose(reloaded[f"{tag}_x"], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(reloaded[f"{tag}_x"], reloaded[f"{tag}_refine0"])


@pytest.mark.parametrize("tag, a", [("small", A_SMALL), ("batch", A_BATCH)])
def test_with_residual_is_half_squared_distance_to_the_target(reloaded, tag, a):
    x = reloaded[f"{tag}_with_residual_x"]
    # The same prediction as serving_default, with y and the residual computed from it.
    np.testing.assert_array_equal(x, reloaded[f"{tag}_x"])
    y, residual = reloaded[f"{tag}_with_residual_y"], reloaded[f"{tag}_with_residual_residual"]
    np.testing.assert_allclose(y, np.sin(a / x), rtol=1e-5, atol=1e-6)
    assert residual.shape == (len(a),)
    np.testing.assert_allclose(residual, _residual(x, a), rtol=1e-4, atol=1e-6)


def test_refine_lowers_the_residual(reloaded):
    raw = _residual(reloaded["batch_x"], A_BATCH)
    for k in (1, 3):
        refined = _residual(reloaded[f"batch_refine{k}"], A_BATCH)
        assert refined.sum() < raw.sum()
        assert np.all(refined <= raw + 1e-6)
        # The analytic inverse jumps onto an exact minimum (float32 rounding aside).
        assert refined.max() < 1e-6


def test_an_export_that_fails_midway_leaves_nothing_behind(run_dir, tmp_path, monkeypatch):
    """A server polling the model's directory never meets a half-written version, nor does
    a failed export leave its staging directory there."""
    from pg_keras.export import _export

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(_export, "write_warmup_requests", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_run(run_dir, "sin", tmp_path)
    assert list((tmp_path / "sin").iterdir()) == []


def test_an_export_under_a_private_umask_is_still_readable_by_a_server(run_dir, tmp_path):
    """TF Serving often runs as another user: the version's directories are 0755 and its
    files 0644 whatever the exporting process's umask."""
    old = os.umask(0o077)
    try:
        version = export_run(run_dir, "sin", tmp_path)
    finally:
        os.umask(old)
    for path in [version, *version.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path


def test_refine_rejects_a_negative_iteration_count(version_dir):
    model = tf.saved_model.load(str(version_dir))
    with pytest.raises(tf.errors.InvalidArgumentError, match="iterations"):
        model.signatures["refine"](a=tf.constant(A_SMALL), iterations=tf.constant([-1]))


def test_warmup_requests_match_the_signature(version_dir):
    from tensorflow_serving.apis import prediction_log_pb2

    path = version_dir / "assets.extra" / WARMUP_FILE
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert 0 < len(records) <= 1000
    signature = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    expected = signature.structured_input_signature[1]
    sizes = []
    for record in records:
        request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
        assert request.model_spec.name == "sin"
        assert request.model_spec.signature_name == "serving_default"
        assert set(request.inputs) == set(expected) == {"a"}
        value = tf.make_ndarray(request.inputs["a"])
        assert value.dtype == np.float32 and expected["a"].shape.is_compatible_with(value.shape)
        assert np.all((value >= 0.1) & (value < 10.1))
        sizes.append(value.shape[0])
    assert 1 in sizes and max(sizes) > 1


def run(capsys, *argv):
    """`pg-keras ARGV`, or `pg-model-server query ...` for ARGV starting with "query"."""
    command = query_main if argv[0] == "query" else main
    code = command([str(arg) for arg in (argv[1:] if argv[0] == "query" else argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_increments_the_version(capsys, run_dir, tmp_path):
    for version in ("1", "2"):
        code, out, err = run(capsys, "export", run_dir, "--name", "sin", "--base-path", tmp_path)
        assert code == 0, err
        assert f"version {version}" in out
    (tmp_path / "sin" / "not-a-version").mkdir()
    (tmp_path / "sin" / "9").mkdir()
    code, out, _ = run(capsys, "export", run_dir, "--name", "sin", "--base-path", tmp_path)
    assert code == 0 and "version 10" in out
    names = sorted(p.name for p in (tmp_path / "sin").iterdir())
    assert names == ["1", "10", "2", "9", "not-a-version"]


def test_cli_export_errors_are_one_line(capsys, run_dir, tmp_path):
    untrained = tmp_path / "untrained"
    untrained.mkdir()
    (untrained / "config.json").write_text((run_dir / "config.json").read_text())
    base = tmp_path / "models"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cases = [
        ((untrained, "--name", "sin", "--base-path", base), "no checkpoint"),
        ((tmp_path / "missing", "--name", "sin", "--base-path", base), "does not exist"),
        ((run_dir, "--name", "bad/name", "--base-path", base), "Received: name='bad/name'"),
        ((run_dir, "--name", "..", "--base-path", base), "Received: name='..'"),
        ((run_dir, "--name", "sin", "--base-path", blocker), "Cannot write to base path"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, "export", *argv)
        assert code == 2, (argv, err)
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    assert not base.exists() or not any((base / "sin").iterdir())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(run_dir, tmp_path):
    from serving.options import ServerOptions
    from serving.server import ModelServer

    export_run(run_dir, "sin", tmp_path / "models")
    options = ServerOptions(
        port=0,
        rest_api_port=_free_port(),
        model_name="sin",
        model_base_path=str(tmp_path / "models" / "sin"),
    )
    model_server = ModelServer(options)
    model_server.start()
    yield model_server
    model_server.stop()


def test_query_over_grpc_and_rest_matches_in_process(capsys, server, network, tmp_path):
    capsys.readouterr()  # the server's start-up log
    events = tmp_path / "events.npy"
    np.save(events, A_BATCH)
    requests = tmp_path / "refine.npz"
    np.savez(requests, a=A_BATCH, iterations=np.ones(len(A_BATCH), np.int32))
    expected = network(A_BATCH, training=False).numpy()
    urls = [f"grpc://127.0.0.1:{server.grpc_port}", f"http://127.0.0.1:{server.rest_port}"]
    for url in urls:
        out_path = tmp_path / f"{url.split(':')[0]}.npz"
        code, out, err = run(
            capsys, "query", "sin", "--server", url, "--input", events, "--output", out_path
        )
        assert code == 0, err
        with np.load(out_path) as answer:
            np.testing.assert_allclose(answer["x"], expected, rtol=1e-6, atol=1e-7)
        code, out, err = run(
            capsys,
            "query",
            "sin",
            "--server",
            url,
            "--input",
            events,
            "--signature",
            "with_residual",
        )
        assert code == 0, err
        assert "residual: shape=[7]" in out and "y: shape=[7, 1]" in out
        # refine's `iterations` (one count per event) is sent beside the batch (.npz).
        refined = tmp_path / "refined.npz"
        code, out, err = run(
            capsys,
            "query",
            "sin",
            "--server",
            url,
            "--input",
            requests,
            "--signature",
            "refine",
            "--output",
            refined,
        )
        assert code == 0, err
        with np.load(refined) as answer:
            assert _residual(answer["x"], A_BATCH).max() < 1e-6


def test_query_errors_are_one_line(capsys, server, tmp_path):
    capsys.readouterr()  # the server's start-up log
    events = tmp_path / "events.npy"
    np.save(events, A_SMALL)
    grpc_url = f"grpc://127.0.0.1:{server.grpc_port}"
    # From the server (unknown model, unknown signature): exit 1, as serving.client does.
    for argv in (("nope",), ("sin", "--signature", "nope")):
        code, _, err = run(capsys, "query", *argv, "--server", grpc_url, "--input", events)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
    # Bad input on our side: exit 2.
    for argv in (
        ("sin", "--server", grpc_url, "--input", tmp_path / "missing.npy"),
        ("sin", "--server", "ftp://127.0.0.1:1", "--input", events),
    ):
        code, _, err = run(capsys, "query", *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, err


def test_a_problem_whose_observation_is_y_star_passes_it_through():
    """Wave packet: the default hook names the input `y_target`; no inverse-physics, no refine."""
    from pg_keras.export import InverseSolverModule, warmup_inputs
    from pg_keras.problems import get_problem

    problem = get_problem("wavepacket")
    module = InverseSolverModule(problem, problem.build_network())
    assert module.name == "wavepacket_inverse_solver"  # a tf.Module named after its problem
    signatures = module.signatures()
    assert sorted(signatures) == ["serving_default", "with_residual"]
    inputs = warmup_inputs(problem, 3, seed=0)
    assert list(inputs) == ["y_target"] and inputs["y_target"].shape == (3, 256)
    answer = signatures["with_residual"](y_target=tf.constant(inputs["y_target"]))
    y_star = inputs["y_target"].astype(np.float64)
    direct = 0.5 * np.sum((answer["y"].numpy().astype(np.float64) - y_star) ** 2, axis=1)
    np.testing.assert_allclose(answer["residual"].numpy(), direct, rtol=1e-4)


def test_refine_runs_rules_that_need_the_vjp():
    """`refine` drives any PG rule, here the clipped inverse gradient −h/P'(x) (uses Jᵀv)."""
    from pg_keras.export import refine
    from pg_keras.problems import get_problem

    problem = get_problem("sin")
    rule = problem.scheme("inverse-gradient").rule
    assert rule.needs_vjp
    a = tf.constant(A_BATCH, tf.float32)
    x0 = problem.physics_dtype.as_numpy_dtype(2.0 / (3.0 * np.pi)) * a + 0.02
    y_star = -tf.ones_like(a)
    x = tf.function(lambda x, k: refine(x, y_star, {"a": a}, problem, rule, k))(x0, 20)
    assert _residual(x.numpy(), A_BATCH).sum() < _residual(x0.numpy(), A_BATCH).sum()


def test_refine_takes_one_count_per_event_or_its_default(version_dir):
    model = tf.saved_model.load(str(version_dir))
    refine = model.signatures["refine"]
    a = tf.constant(A_BATCH)
    raw = model.signatures["serving_default"](a=a)["x"].numpy()
    once = refine(a=a, iterations=tf.constant([1]))["x"].numpy()
    counts = np.arange(len(A_BATCH), dtype=np.int32) % 2  # 0, 1, 0, 1, ...
    mixed = refine(a=a, iterations=tf.constant(counts))["x"].numpy()
    np.testing.assert_array_equal(mixed[counts == 0], raw[counts == 0])
    np.testing.assert_array_equal(mixed[counts == 1], once[counts == 1])
    # The Python default is what the SignatureDef's `defaults` holds.
    np.testing.assert_array_equal(model.refine(a)["x"].numpy(), once)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one count per event"):
        refine(a=a, iterations=tf.constant([1, 1]))


def test_refine_without_iterations_as_tf_serving_answers_it(server):
    """gRPC Predict fills in the SignatureDef default; REST needs every input in the JSON
    (as predict_util.cc and json_tensor.cc do); row format carries a count per event."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sin"
    request.model_spec.signature_name = "refine"
    request.inputs["a"].CopyFrom(tf.make_tensor_proto(A_BATCH))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        defaulted = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["x"])
        request.inputs["iterations"].CopyFrom(tf.make_tensor_proto(np.ones(len(A_BATCH), np.int32)))
        explicit = tf.make_ndarray(stub.Predict(request, timeout=60).outputs["x"])
        np.testing.assert_array_equal(defaulted, explicit)
        del request.inputs["iterations"]
        request.model_spec.signature_name = "serving_default"
        request.inputs["b"].CopyFrom(tf.make_tensor_proto(A_BATCH))
        with pytest.raises(grpc.RpcError) as error:  # no defaults: every input required
            stub.Predict(request, timeout=60)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "input size does not match signature" in error.value.details()

    def rest(body: dict) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)
        connection.request("POST", "/v1/models/sin:predict", json.dumps(body))
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    status, doc = rest({"signature_name": "refine", "inputs": {"a": A_BATCH.tolist()}})
    assert status == 400 and "Missing named input: iterations" in doc["error"]
    instances = [{"a": row.tolist(), "iterations": 1} for row in A_BATCH]
    status, doc = rest({"signature_name": "refine", "instances": instances})
    assert status == 200, doc
    np.testing.assert_allclose(np.array(doc["predictions"]), explicit, rtol=1e-6)
