"""Prometheus metrics, gRPC health, REST readiness, CORS, deadlines and draining on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from serving_models import free_port

tf = pytest.importorskip("tensorflow")
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
)

from serving import model_config  # noqa: E402
from serving.client import Client  # noqa: E402
from serving.errors import DeadlineExceededError  # noqa: E402
from serving.grpc_service import PredictionServicer  # noqa: E402
from serving.options import ServerOptions  # noqa: E402
from serving.server import ModelServer  # noqa: E402

X = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
METRICS_PATH = "/monitoring/prometheus/metrics"


def get(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


@pytest.fixture(scope="module")
def monitored(model_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitored")
    (folder / "monitoring.config").write_text(
        f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n'
    )
    (folder / "batching.config").write_text("max_batch_size { value: 8 }\n")
    base = folder / "keras_model"
    shutil.copytree(f"{model_root}/keras_model", base)
    config = folder / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "keras_model" base_path: "{base}" }} }}'
    )
    server = ModelServer(
        ServerOptions(
            port=0,
            rest_api_port=free_port(),
            model_config_file=str(config),
            monitoring_config_file=str(folder / "monitoring.config"),
            enable_batching=True,
            batching_parameters_file=str(folder / "batching.config"),
            enable_grpc_healthcheck_service=True,
            rest_api_enable_cors_support=True,
        )
    )
    server.start()
    yield server, folder
    server.stop()


def samples(rest_port: int) -> dict:
    status, body, headers = get(f"http://127.0.0.1:{rest_port}{METRICS_PATH}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def request_labels(api: str, entrypoint: str, status: str, model: str = "keras_model"):
    return tuple(
        sorted(
            {"model_name": model, "API": api, "entrypoint": entrypoint, "status": status}.items()
        )
    )


def test_prometheus_counters_match_the_requests_sent(monitored):
    server, _ = monitored
    before = samples(server.rest_port)
    with (
        Client(f"http://127.0.0.1:{server.rest_port}") as rest,
        Client(f"grpc://127.0.0.1:{server.grpc_port}") as grpc_client,
    ):
        for _ in range(5):
            rest.predict("keras_model", X)
        for _ in range(3):
            grpc_client.predict("keras_model", X)
    body = json.dumps({"instances": X.tolist()}).encode()
    for _ in range(2):
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/keras_model/versions/99:predict"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30)
        assert info.value.code == 404
    after = samples(server.rest_port)
    count = ":tensorflow:serving:request_count_total"
    latency = ":tensorflow:serving:request_latency_count"
    for labels, sent in (
        (request_labels("predict", "REST", "OK"), 5),
        (request_labels("predict", "GRPC", "OK"), 3),
        (request_labels("predict", "REST", "NOT_FOUND"), 2),
    ):
        assert after[count, labels] - before.get((count, labels), 0) == sent, labels
        assert after[latency, labels] - before.get((latency, labels), 0) == sent, labels
    batches = ":tensorflow:serving:batching_session:processed_batch_size_count"
    assert after[batches, (("model_name", "keras_model"),)] >= 8
    loads = ":tensorflow:cc:saved_model:load_attempt_count_total"
    assert any(name == loads and ("status", "OK") in labels for name, labels in after)


def test_grpc_health_check(monitored):
    server, _ = monitored
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=HealthCheckRequest.SerializeToString,
            response_deserializer=HealthCheckResponse.FromString,
        )
        for service in ("", "tensorflow.serving.PredictionService"):
            response = check(HealthCheckRequest(service=service), timeout=30)
            assert response.status == HealthCheckResponse.ServingStatus.Value("SERVING")
        with pytest.raises(grpc.RpcError) as info:
            check(HealthCheckRequest(service="nope"), timeout=30)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_readiness_is_per_model_and_a_model_without_version_holds_up_only_itself(
    monitored, model_root
):
    server, folder = monitored
    url = f"http://127.0.0.1:{server.rest_port}/ready"
    assert get(url)[0] == 200
    empty = folder / "multi"
    empty.mkdir()
    config = model_config.read_model_server_config(server.options.model_config_file)
    added = config.model_config_list.config.add(name="multi", base_path=str(empty))
    assert added.name == "multi"
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = model_management_pb2.ReloadConfigRequest()
        request.config.CopyFrom(config)
        stub.HandleReloadConfigRequest(request, timeout=120)
        status, body, _ = get(url)
        # keras_model still serves, so the server is ready; it names the model that is not.
        assert status == 200
        assert json.loads(body) == {"ready": True, "models_not_ready": ["multi"]}
        status, body, _ = get(f"{url}/multi")
        assert status == 503
        assert json.loads(body) == {"error": "Model multi has no loaded version yet"}
        assert get(f"{url}/keras_model")[0] == 200
        assert get(f"{url}/nope")[0] == 404
        shutil.copytree(f"{model_root}/multi/1", empty / "1")
        server.manager.poll()
        assert get(f"{url}/multi")[0] == 200
        assert json.loads(get(url)[1]) == {"ready": True, "models_not_ready": []}
        # Back to the original list, so the other tests see one model.
        config.model_config_list.config.pop()
        request.config.CopyFrom(config)
        stub.HandleReloadConfigRequest(request, timeout=120)


def test_cors_headers_only_when_enabled(monitored, rest_url):
    server, _ = monitored
    status, _, headers = get(f"http://127.0.0.1:{server.rest_port}/v1/models/keras_model")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    status, _, headers = get(f"{rest_url}/v1/models/keras_model")
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_grpc_deadline_ends_the_request(monitored, monkeypatch):
    server, _ = monitored
    servable = server.manager.get("keras_model")
    original = servable.run
    calls = []

    def slow(*args, **kwargs):
        calls.append(args)
        time.sleep(2.0)
        return original(*args, **kwargs)

    monkeypatch.setattr(servable, "run", slow)
    start = time.monotonic()
    with (
        Client(f"grpc://127.0.0.1:{server.grpc_port}", timeout=0.5) as client,
        pytest.raises(DeadlineExceededError),
    ):
        client.predict("keras_model", X)
    # The client hears at its deadline, not when the 2 s inference ends.
    assert time.monotonic() - start < 1.5
    # A request whose deadline has already passed is answered without running the model.
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "keras_model"
    request.inputs["features"].CopyFrom(tf.make_tensor_proto(X))
    calls.clear()
    with pytest.raises(DeadlineExceededError, match="Deadline Exceeded"):
        PredictionServicer(server.manager)._predict(request, 0.0)
    assert calls == []


def test_sigterm_drains_in_flight_requests_then_exits(model_root, tmp_path):
    # A batch timeout of 3 s keeps a request in flight while SIGTERM arrives.
    (tmp_path / "batching.config").write_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 3000000 }\n"
    )
    rest_port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving",
            f"--port={free_port()}",
            f"--rest_api_port={rest_port}",
            "--model_name=keras_model",
            f"--model_base_path={model_root}/keras_model",
            "--enable_batching",
            f"--batching_parameters_file={tmp_path / 'batching.config'}",
        ],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in process.stderr:
            if "Exporting HTTP/REST API" in line:
                break
        else:
            pytest.fail(f"server did not start: exit {process.wait()}")
        threading.Thread(target=lambda: [_ for _ in process.stderr], daemon=True).start()
        answer = {}

        def predict():
            with Client(f"http://127.0.0.1:{rest_port}", timeout=60) as client:
                answer["y"] = client.predict("keras_model", X)["output_0"]

        thread = threading.Thread(target=predict)
        thread.start()
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        thread.join(60)
        assert process.wait(timeout=60) == 0
        assert "y" in answer, "the in-flight request must be answered before exit"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
