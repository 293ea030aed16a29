"""One model server shared by the whole serving test suite.

TensorFlow takes seconds to import and each server start loads every model, so everything
here is session-scoped: tests read the server, none of them changes it (the concurrency
tests patch a servable only through monkeypatch, which restores it).

Conformance with the real server: with `TF_SERVING_BIN=/path/to/tensorflow_model_server`
the same REST, gRPC and client tests run against that binary, started on the same models
and config file, over real sockets; the modules that look inside our server (batching,
lifecycle, monitoring, concurrency, ...) are skipped then. Without it they run against
`pg-model-server` and `test_serving_conformance.py` says why the real one was not tried.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import textwrap
import time
import urllib.request

import pytest

pytest.importorskip("tensorflow")

from serving_models import export_models, free_port  # noqa: E402


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("models"))
    export_models(root)
    return root


@pytest.fixture(scope="session")
def config_file(model_root: str) -> str:
    path = os.path.join(model_root, "models.config")
    with open(path, "w") as f:
        f.write(
            textwrap.dedent(
                f"""\
                model_config_list {{
                  config {{
                    name: "keras_model"
                    base_path: "{model_root}/keras_model"
                    model_platform: "tensorflow"
                    model_version_policy {{ all {{}} }}
                    version_labels {{ key: "stable" value: 1 }}
                    version_labels {{ key: "canary" value: 2 }}
                  }}
                  config {{
                    name: "multi"
                    base_path: "{model_root}/multi"
                    model_platform: "tensorflow"
                    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
                  }}
                }}
                """
            )
        )
    return path


REAL_SERVER = os.environ.get("TF_SERVING_BIN")
#: Modules that test the real server's public protocol only, so they also run against it.
CONFORMANCE_MODULES = {
    "test_serving_rest.py",
    "test_serving_grpc.py",
    "test_serving_client.py",
    "test_serving_conformance.py",
}


def pytest_collection_modifyitems(config, items):
    if not REAL_SERVER:
        return
    skip = pytest.mark.skip(reason="looks inside pg-model-server; TF_SERVING_BIN is set")
    for item in items:
        if item.path.parent.name == "serving" and item.path.name not in CONFORMANCE_MODULES:
            item.add_marker(skip)


@dataclasses.dataclass
class RealServer:
    process: subprocess.Popen
    grpc_port: int
    rest_port: int


def _start_real_server(config_file: str) -> RealServer:
    grpc_port, rest_port = free_port(), free_port()
    process = subprocess.Popen(
        [REAL_SERVER, f"--port={grpc_port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={config_file}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{REAL_SERVER} exited with code {process.returncode}")
        try:
            url = f"http://127.0.0.1:{rest_port}/v1/models/multi"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return RealServer(process, grpc_port, rest_port)
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{REAL_SERVER} did not load the test models within 120 s")


@pytest.fixture(scope="session")
def server(config_file: str):
    if REAL_SERVER:
        real = _start_real_server(config_file)
        yield real
        real.process.terminate()
        real.process.wait(timeout=30)
        return

    from serving.options import ServerOptions
    from serving.server import ModelServer

    options = ServerOptions(
        port=0,  # the OS picks; read server.grpc_port
        rest_api_port=free_port(),
        model_config_file=config_file,
        rest_api_num_threads=8,
        grpc_max_threads=8,
    )
    model_server = ModelServer(options)
    model_server.start()
    yield model_server
    model_server.stop()


@pytest.fixture(scope="session")
def rest_url(server) -> str:
    return f"http://127.0.0.1:{server.rest_port}"


@pytest.fixture(scope="session")
def grpc_target(server) -> str:
    return f"127.0.0.1:{server.grpc_port}"
