"""serving/deploy/: compose and Kubernetes manifests agree with the config files they mount,
every flag they pass is one our server accepts, and our server runs on those very files.

The manifests are JSON-compatible YAML (JSON is a YAML subset), so `json` reads them here
without a YAML library, and `docker compose` / `kubectl apply -k` read them as they are.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import urllib.request

import pytest
from serving_models import free_port

from serving import model_config, tf_runtime
from serving._config_protos import BatchingParameters, MonitoringConfig
from serving.batching import read_batching_parameters
from serving.flags import parse_flags
from serving.monitoring import read_monitoring_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "serving", "deploy")
CONFIG_FILES = ("models.config", "batching.config", "monitoring.config", "session.config")


def load(*parts: str) -> dict:
    with open(os.path.join(DEPLOY, *parts)) as f:
        return json.load(f)


def compose_service() -> dict:
    return load("compose.yaml")["services"]["tf-serving"]


def deployment_container() -> dict:
    (container,) = load("kubernetes", "deployment.json")["spec"]["template"]["spec"]["containers"]
    return container


def flags_of(args: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in args)


def local_path(container_path: str, mounts: dict[str, str]) -> str:
    for target, source in mounts.items():
        if container_path == target or container_path.startswith(target + "/"):
            return source + container_path[len(target) :]
    raise AssertionError(f"{container_path} is not under any mount: {sorted(mounts)}")


def compose_mounts() -> dict[str, str]:
    mounts = {}
    for volume in compose_service()["volumes"]:
        source, target, *_ = volume.split(":")
        mounts[target] = os.path.normpath(os.path.join(DEPLOY, source))
    return mounts


def kubernetes_mounts() -> dict[str, str]:
    """Container path -> repository path, through the kustomize ConfigMap and the models PVC
    (which holds a copy of saved_models/)."""
    kustomization = load("kustomization.yaml")
    (generator,) = kustomization["configMapGenerator"]
    pod = load("kubernetes", "deployment.json")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {}
    for mount in deployment_container()["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            assert volume["configMap"]["name"] == generator["name"]
            for name in generator["files"]:
                mounts[f"{mount['mountPath']}/{name}"] = os.path.join(DEPLOY, name)
        else:
            claim = volume["persistentVolumeClaim"]["claimName"]
            assert claim == load("kubernetes", "models-pvc.json")["metadata"]["name"]
            mounts[mount["mountPath"]] = os.path.join(ROOT, "saved_models")
    return mounts


@pytest.mark.parametrize("target", ["compose", "kubernetes"])
def test_flags_paths_and_ports_agree_with_the_config_files(target):
    if target == "compose":
        service = compose_service()
        args, mounts = service["command"], compose_mounts()
        assert service["entrypoint"] == ["tensorflow_model_server"]
        published = {tuple(map(int, p.split(":"))) for p in service["ports"]}
    else:
        container = deployment_container()
        args, mounts = container["args"], kubernetes_mounts()
        assert container["command"] == ["tensorflow_model_server"]
        published = {(p["containerPort"],) * 2 for p in container["ports"]}
    image = (compose_service() if target == "compose" else deployment_container())["image"]
    assert image.startswith("tensorflow/serving:")
    # Every flag is one tensorflow_model_server has and our server accepts.
    options = parse_flags(args)
    flags = flags_of(args)
    assert published == {(options.port, options.port), (options.rest_api_port,) * 2}
    for flag in (
        "model_config_file",
        "batching_parameters_file",
        "monitoring_config_file",
        "tensorflow_session_config_file",
    ):
        path = local_path(flags[flag], mounts)
        assert os.path.isfile(path), path
        assert os.path.basename(path) in CONFIG_FILES
    config = model_config.read_model_server_config(local_path(flags["model_config_file"], mounts))
    for model in config.model_config_list.config:
        versions = model_config.list_versions(local_path(model.base_path, mounts))
        assert versions, f"{model.name}: no version under {model.base_path}"
    if target == "kubernetes":
        container = deployment_container()
        ready = container["readinessProbe"]["httpGet"]
        assert ready["port"] == options.rest_api_port
        assert ready["path"] in {f"/v1/models/{m.name}" for m in config.model_config_list.config}
        assert container["livenessProbe"]["grpc"]["port"] == options.port
        assert options.enable_grpc_healthcheck_service  # the gRPC probe needs it
        service = load("kubernetes", "service.json")
        assert {p["targetPort"] for p in service["spec"]["ports"]} == {
            options.port,
            options.rest_api_port,
        }
        monitoring = read_monitoring_config(local_path(flags["monitoring_config_file"], mounts))
        annotations = service["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == monitoring.prometheus_config.path
        assert int(annotations["prometheus.io/port"]) == options.rest_api_port
        hpa = load("kubernetes", "hpa.json")
        assert (
            hpa["spec"]["scaleTargetRef"]["name"]
            == load("kubernetes", "deployment.json")["metadata"]["name"]
        )
        for resource in load("kustomization.yaml")["resources"]:
            assert os.path.isfile(os.path.join(DEPLOY, resource)), resource


def test_config_files_parse_with_tf_servings_field_names():
    config = model_config.read_model_server_config(os.path.join(DEPLOY, "models.config"))
    assert config.model_config_list.config
    batching = read_batching_parameters(os.path.join(DEPLOY, "batching.config"))
    assert batching.max_batch_size == batching.allowed_batch_sizes[-1]
    assert read_monitoring_config(
        os.path.join(DEPLOY, "monitoring.config")
    ).prometheus_config.enable
    session = tf_runtime.read_session_config(os.path.join(DEPLOY, "session.config"))
    assert session.experimental.disable_thread_spinning
    # Names and numbers as in session_bundle_config.proto and monitoring_config.proto.
    fields = {f.name: f.number for f in BatchingParameters.DESCRIPTOR.fields}
    assert fields == {
        "max_batch_size": 1,
        "batch_timeout_micros": 2,
        "max_enqueued_batches": 3,
        "num_batch_threads": 4,
        "thread_pool_name": 5,
        "allowed_batch_sizes": 6,
        "pad_variable_length_inputs": 7,
    }
    assert BatchingParameters.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
    assert MonitoringConfig.DESCRIPTOR.full_name == "tensorflow.serving.MonitoringConfig"
    prometheus = MonitoringConfig.DESCRIPTOR.fields_by_name["prometheus_config"].message_type
    assert {f.name: f.number for f in prometheus.fields} == {"enable": 1, "path": 2}


def test_our_server_runs_on_the_deploy_files(tmp_path):
    """The same flags and files, with /models pointing at this checkout's saved_models/."""
    import tensorflow as tf

    from serving.client import Client
    from serving.server import ModelServer

    flags = flags_of(compose_service()["command"])
    mounts = compose_mounts()
    models_config = tmp_path / "models.config"
    with open(local_path(flags["model_config_file"], mounts)) as f:
        models_config.write_text(
            f.read().replace('"/models/', f'"{os.path.join(ROOT, "saved_models")}/')
        )
    args = [f"--{k}={v}" for k, v in flags.items()]
    args = [a for a in args if not a.startswith(("--port=", "--rest_api_port="))]
    args += [f"--model_config_file={models_config}", "--port=1", f"--rest_api_port={free_port()}"]
    for name in ("batching_parameters_file", "monitoring_config_file"):
        args.append(f"--{name}={local_path(flags[name], mounts)}")
    session_config = local_path(flags["tensorflow_session_config_file"], mounts)
    args.append(f"--tensorflow_session_config_file={session_config}")
    options = parse_flags(args)
    # Once TF runs in a process, the runtime's config can no longer change: the server says
    # so rather than serve without it. A fresh process applies it (test_serving_tf_runtime,
    # test_python_dash_m_serving_serves_the_latest_version).
    float(tf.reduce_sum(tf.ones([1])))
    with pytest.raises(RuntimeError, match="can only be set before it starts"):
        ModelServer(dataclasses.replace(options, port=0)).start()
    server = ModelServer(dataclasses.replace(options, port=0, tensorflow_session_config_file=""))
    server.start()
    try:
        # Every shipped model is deployed, each at its latest version.
        models = pathlib.Path(ROOT, "saved_models")
        shipped = sorted(p.name for p in models.iterdir() if p.is_dir())
        assert sorted(server.manager.model_names()) == shipped
        with Client(f"http://127.0.0.1:{server.rest_port}") as client:
            for name in shipped:
                versions = [int(v.name) for v in (models / name).iterdir()]
                (status,) = client.status(name)
                assert (status.version, status.state) == (max(versions), "AVAILABLE"), name
        url = f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b":tensorflow:serving:request_count" in response.read()
    finally:
        server.stop()
