"""Which server the protocol tests ran against (see conftest.py)."""

import os

import pytest


def test_protocol_suite_ran_against_the_real_tensorflow_model_server(server, rest_url):
    binary = os.environ.get("TF_SERVING_BIN")
    if not binary:
        pytest.skip(
            "TF_SERVING_BIN is not set, so the REST/gRPC/client tests ran against "
            "pg-model-server only; point it at a tensorflow_model_server binary to run "
            "the same tests against the real server"
        )
    assert getattr(server, "process", None) is not None, "the real binary was not started"
    assert rest_url.endswith(str(server.rest_port))
