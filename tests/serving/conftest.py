"""One in-process model server shared by the whole serving test suite.

TensorFlow takes seconds to import and each server start loads every model, so everything
here is session-scoped: tests read the server, none of them changes it (the concurrency
tests patch a servable only through monkeypatch, which restores it).
"""

from __future__ import annotations

import os
import textwrap

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


@pytest.fixture(scope="session")
def server(config_file: str):
    from serving.flags import ServerOptions
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
