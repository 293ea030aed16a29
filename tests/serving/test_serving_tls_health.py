"""TLS on both ports (`--ssl_config_file` for gRPC, with client certificates required, and
`--pg_rest_ssl_config_file` for REST) with certificates this test makes (openssl), standard
gRPC health (Check and Watch, for the server and per model) and the request cost limit
over V2. One server for the module."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import textwrap
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from serving_models import export_abuse_model, free_port

tf = pytest.importorskip("tensorflow")
triton_grpc = pytest.importorskip("tritonclient.grpc")
triton_http = pytest.importorskip("tritonclient.http")
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from serving import model_config  # noqa: E402
from serving.options import ServerOptions  # noqa: E402
from serving.server import ModelServer  # noqa: E402

X = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
STATUS = health_pb2.HealthCheckResponse
COST = 50


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: str) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, both
    signed by the CA: {name: PEM text}."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    days = ("-days", "2")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-subj", "/CN=pg-test-ca", *days, cwd=folder)  # fmt: skip
    with open(os.path.join(folder, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extension in (("server", ["-extfile", "san.ext"]), ("client", [])):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", f"/CN=pg-test-{name}", cwd=folder)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", *days, *extension,
                 cwd=folder)  # fmt: skip
    pems = {}
    for name in ("ca.pem", "server.key", "server.pem", "client.key", "client.pem"):
        with open(os.path.join(folder, name)) as f:
            pems[name] = f.read()
    return pems


def ssl_config_text(pems: dict[str, str], client_verify: bool) -> str:
    def quoted(text: str) -> str:
        return '"' + text.replace("\n", "\\n") + '"'

    return (
        f"server_key: {quoted(pems['server.key'])}\n"
        f"server_cert: {quoted(pems['server.pem'])}\n"
        f"custom_ca: {quoted(pems['ca.pem'])}\n"
        f"client_verify: {'true' if client_verify else 'false'}\n"
    )


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, model_root):
    folder = str(tmp_path_factory.mktemp("tls"))
    pems = make_certificates(folder)
    export_abuse_model(os.path.join(folder, "abuse", "1"))
    files = {}
    for name, verify in (("grpc.ssl", True), ("rest.ssl", False)):
        files[name] = os.path.join(folder, name)
        with open(files[name], "w") as f:
            f.write(ssl_config_text(pems, verify))
    config = os.path.join(folder, "models.config")
    with open(config, "w") as f:
        f.write(
            textwrap.dedent(
                f"""\
                model_config_list {{
                  config {{ name: "abuse" base_path: "{folder}/abuse" }}
                  config {{ name: "keras_model" base_path: "{model_root}/keras_model" }}
                }}
                """
            )
        )
    options = ServerOptions(
        port=0,
        rest_api_port=free_port(),
        model_config_file=config,
        ssl_config_file=files["grpc.ssl"],
        pg_rest_ssl_config_file=files["rest.ssl"],
        enable_grpc_healthcheck_service=True,
        file_system_poll_wait_seconds=0,
        pg_max_request_cost=COST,
        rest_api_num_threads=2,
        grpc_max_threads=4,
    )
    server = ModelServer(options)
    server.start()
    paths = {name: os.path.join(folder, name) for name in pems}
    yield server, pems, paths, config
    server.stop()


def client_credentials(pems, with_client_certificate=True):
    if not with_client_certificate:
        return grpc.ssl_channel_credentials(root_certificates=pems["ca.pem"].encode())
    return grpc.ssl_channel_credentials(
        root_certificates=pems["ca.pem"].encode(),
        private_key=pems["client.key"].encode(),
        certificate_chain=pems["client.pem"].encode(),
    )


def predict(channel) -> np.ndarray:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "abuse"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(X))
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    return tf.make_ndarray(stub.Predict(request, timeout=30).outputs["y"])


def test_grpc_takes_only_tls_with_a_client_certificate_from_the_ca(tls_server):
    server, pems, paths, _ = tls_server
    target = f"127.0.0.1:{server.grpc_port}"
    with grpc.secure_channel(target, client_credentials(pems)) as channel:
        np.testing.assert_array_equal(predict(channel), X * 2)
    for channel in (
        grpc.insecure_channel(target),
        grpc.secure_channel(target, client_credentials(pems, with_client_certificate=False)),
    ):
        with channel, pytest.raises(grpc.RpcError) as info:
            predict(channel)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    client = triton_grpc.InferenceServerClient(
        target,
        ssl=True,
        root_certificates=paths["ca.pem"],
        private_key=paths["client.key"],
        certificate_chain=paths["client.pem"],
    )
    tensor = triton_grpc.InferInput("x", [1, 3], "FP32")
    tensor.set_data_from_numpy(X)
    np.testing.assert_array_equal(client.infer("abuse", [tensor]).as_numpy("y"), X * 2)
    client.close()


def test_rest_is_https_with_the_servers_certificate(tls_server):
    server, _, paths, _ = tls_server
    context = ssl.create_default_context(cafile=paths["ca.pem"])
    url = f"https://127.0.0.1:{server.rest_port}/v2/models/abuse"
    with urllib.request.urlopen(url, context=context, timeout=30) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.URLError):  # a CA that did not sign it
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=30)
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP
        urllib.request.urlopen(url.replace("https", "http"), timeout=30)
    client = triton_http.InferenceServerClient(
        f"127.0.0.1:{server.rest_port}", ssl=True, ssl_options={"ca_certs": paths["ca.pem"]}
    )
    tensor = triton_http.InferInput("x", [1, 3], "FP32")
    tensor.set_data_from_numpy(X)
    np.testing.assert_array_equal(client.infer("abuse", [tensor]).as_numpy("y"), X * 2)
    client.close()
    from serving.client import Client

    for protocol in ("tf", "v2"):
        base = f"https://127.0.0.1:{server.rest_port}"
        with Client(base, protocol=protocol, ca_file=paths["ca.pem"]) as ours:
            np.testing.assert_array_equal(ours.predict("abuse", X)["y"], X * 2)


def test_refine_iterations_are_an_input_and_the_cost_limit_holds_over_v2(tls_server):
    server, _, paths, _ = tls_server
    client = triton_http.InferenceServerClient(
        f"127.0.0.1:{server.rest_port}", ssl=True, ssl_options={"ca_certs": paths["ca.pem"]}
    )
    x = triton_http.InferInput("x", [1, 3], "FP32")
    x.set_data_from_numpy(X)
    parameters = {"signature_name": "refine"}
    for count, ok in ((COST, True), (COST + 1, False)):
        iterations = triton_http.InferInput("iterations", [1], "INT32")
        iterations.set_data_from_numpy(np.array([count], np.int32))
        if ok:
            result = client.infer("abuse", [x, iterations], parameters=parameters)
            np.testing.assert_array_equal(result.as_numpy("y"), X)
            continue
        with pytest.raises(InferenceServerException) as info:
            client.infer("abuse", [x, iterations], parameters=parameters)
        assert info.value.status() == "429"
        assert f"1 events x {COST + 1} iterations" in info.value.message()
    client.close()


def test_health_check_and_watch_for_the_server_and_each_model(tls_server):
    server, pems, _, config_path = tls_server
    with grpc.secure_channel(f"127.0.0.1:{server.grpc_port}", client_credentials(pems)) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        def check(service: str) -> int:
            return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status

        for service in ("", "tensorflow.serving.PredictionService",
                        "inference.GRPCInferenceService", "tensorflow.serving.ModelService",
                        "abuse", "keras_model"):  # fmt: skip
            assert check(service) == STATUS.SERVING, service
        with pytest.raises(grpc.RpcError) as info:
            check("nope")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        # A Watch hears the change as it happens: keras_model leaves the config.
        watch = health.Watch(health_pb2.HealthCheckRequest(service="keras_model"), timeout=60)
        heard = []

        def listen() -> None:
            with contextlib.suppress(grpc.RpcError):  # cancelled below
                heard.extend(response.status for response in watch)

        listener = threading.Thread(target=listen)
        listener.start()
        try:
            # Reload only once the watch has its first answer: a watch that reaches the
            # server after the reload rightly hears only SERVICE_UNKNOWN (seen under load).
            deadline = time.monotonic() + 10
            while not heard and time.monotonic() < deadline:
                time.sleep(0.05)
            assert heard == [STATUS.SERVING]
            config = model_config.read_model_server_config(config_path)
            kept = model_server_config_pb2.ModelServerConfig()
            kept.model_config_list.config.add().CopyFrom(config.model_config_list.config[0])
            reload = model_management_pb2.ReloadConfigRequest(config=kept)
            model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
                reload, timeout=60
            )
            assert check("keras_model") == STATUS.SERVICE_UNKNOWN
            assert check("abuse") == STATUS.SERVING
            deadline = time.monotonic() + 10
            while len(heard) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            watch.cancel()
            listener.join(10)
        assert heard[:2] == [STATUS.SERVING, STATUS.SERVICE_UNKNOWN]
