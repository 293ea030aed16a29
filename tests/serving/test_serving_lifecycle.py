"""Model lifecycle: base-path polling, warm-up, broken versions, config reloads.

The manager-level tests call `poll()` themselves, so nothing waits on a timer; the server-level
tests (hot swap under load, config reloads) run a real server on a private model folder.
"""

from __future__ import annotations

import os
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
from serving_models import free_port, keras_reference

tf = pytest.importorskip("tensorflow")
from tensorflow_serving.apis import (  # noqa: E402
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
)
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

from serving import model_config  # noqa: E402
from serving.client import Client  # noqa: E402
from serving.errors import NotFoundError  # noqa: E402
from serving.manager import ServableManager  # noqa: E402
from serving.options import ServerOptions  # noqa: E402
from serving.server import ModelServer  # noqa: E402
from serving.warmup import warm_up, write_warmup_requests  # noqa: E402

X = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)


def warmup_request(alias: str = "features", rows: int = 1) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "keras_model"
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(np.ones((rows, 3), np.float32)))
    return request


def copy_version(model_root: str, source_version: int, base: str, version: int) -> str:
    """Copy a version in the way TF Serving's docs ask: to a hidden name, then one rename."""
    staging = os.path.join(base, f".staging-{version}")
    shutil.copytree(os.path.join(model_root, "keras_model", str(source_version)), staging)
    target = os.path.join(base, str(version))
    os.rename(staging, target)
    return target


def manager_for(base: str, **kwargs) -> ServableManager:
    return ServableManager(model_config.single_model_config("m", base), **kwargs)


def answer_version(manager: ServableManager) -> int:
    out = manager.get("m").run("", {"features": X})["output_0"]
    for version in (1, 2):
        if np.allclose(out, keras_reference(X, version), rtol=1e-5):
            return version
    raise AssertionError(f"answer matches no version: {out}")


def test_new_version_is_warmed_then_swapped_in_and_removed_one_unloaded(model_root, tmp_path):
    base = str(tmp_path / "m")
    os.makedirs(base)
    copy_version(model_root, 1, base, 1)
    warmed = []
    manager = manager_for(base, prepare=lambda s: warmed.append((s.version, warm_up(s, 2))))
    manager.load()
    assert answer_version(manager) == 1 and warmed == [(1, 0)]

    staging = os.path.join(base, ".staging")
    shutil.copytree(os.path.join(model_root, "keras_model", "2"), staging)
    write_warmup_requests(staging, [warmup_request(rows=1), warmup_request(rows=4)])
    os.rename(staging, os.path.join(base, "2"))
    manager.poll()
    assert warmed[-1] == (2, 4)  # two records, each replayed twice, before serving
    assert answer_version(manager) == 2
    states = {s.version: s.state for s in manager.version_states("m")}
    assert states == {1: "END", 2: "AVAILABLE"}

    held = manager.get("m")  # an in-flight request keeps its servable alive
    shutil.rmtree(os.path.join(base, "2"))
    manager.poll()  # latest{1} now means version 1 again
    assert answer_version(manager) == 1
    shutil.rmtree(os.path.join(base, "1"))
    manager.poll()
    with pytest.raises(NotFoundError, match=r"Latest\(m\)"):
        manager.get("m")
    np.testing.assert_allclose(
        held.run("", {"features": X})["output_0"], keras_reference(X, 2), rtol=1e-5
    )


@pytest.mark.parametrize("breakage", ["half_written", "corrupt", "bad_warmup"])
def test_broken_version_shows_its_error_and_never_replaces_the_served_one(
    model_root, tmp_path, breakage
):
    base = str(tmp_path / "m")
    os.makedirs(base)
    copy_version(model_root, 1, base, 1)
    manager = manager_for(
        base, prepare=lambda s: warm_up(s), max_num_load_retries=1, load_retry_interval_s=0.0
    )
    manager.load()
    broken = os.path.join(base, "2")
    if breakage == "half_written":
        os.makedirs(os.path.join(broken, "variables"))  # saved_model.pb not there yet
        message = "Could not find SavedModel .pb"
    elif breakage == "corrupt":
        shutil.copytree(os.path.join(model_root, "keras_model", "2"), broken)
        with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
            f.write(b"\x00not a protobuf\xff" * 10)
        message = "saved_model.pb"
    else:
        shutil.copytree(os.path.join(model_root, "keras_model", "2"), broken)
        write_warmup_requests(broken, [warmup_request(alias="nope")])
        message = "Warmup request 0"
    manager.poll()
    rows = {s.version: s for s in manager.version_states("m")}
    assert rows[1].state == "AVAILABLE"
    assert rows[2].state == "END" and rows[2].error_code != "OK"
    assert message in rows[2].error_message
    assert answer_version(manager) == 1
    if breakage == "half_written":
        # The copy finishes; the retry (after --load_retry_interval_micros) loads it.
        shutil.rmtree(broken)
        shutil.copytree(os.path.join(model_root, "keras_model", "2"), broken)
        manager.poll()
        assert answer_version(manager) == 2
        assert {s.version: s.state for s in manager.version_states("m")}[2] == "AVAILABLE"
    else:
        for _ in range(3):  # retries are bounded: still broken, still version 1
            manager.poll()
        assert answer_version(manager) == 1


def test_hot_swap_under_load_fails_no_request(model_root, tmp_path):
    """Issue 7's acceptance test: 8 clients for 20 s while v2 is copied in, then v1 deleted."""
    period_s = 2
    base = str(tmp_path / "keras_model")
    os.makedirs(base)
    copy_version(model_root, 1, base, 1)
    server = ModelServer(
        ServerOptions(
            port=0,
            rest_api_port=free_port(),
            model_name="keras_model",
            model_base_path=base,
            file_system_poll_wait_seconds=period_s,
            grpc_max_threads=8,
        )
    )
    server.start()
    urls = [f"grpc://127.0.0.1:{server.grpc_port}", f"http://127.0.0.1:{server.rest_port}"]
    expected = {v: keras_reference(X, v) for v in (1, 2)}
    stop = threading.Event()
    failures: list[str] = []
    first_v2: list[float] = []
    counts = [0] * 8

    def client_loop(index: int) -> None:
        seen_v2 = False
        with Client(urls[index % 2], timeout=60) as client:
            while not stop.is_set():
                try:
                    out = client.predict("keras_model", X)["output_0"]
                except Exception as e:  # noqa: BLE001 - every failure counts, whatever its type
                    failures.append(f"client {index}: {type(e).__name__}: {e}")
                    continue
                counts[index] += 1
                if np.allclose(out, expected[2], rtol=1e-5):
                    if not seen_v2:
                        first_v2.append(time.monotonic())
                    seen_v2 = True
                elif not np.allclose(out, expected[1], rtol=1e-5) or seen_v2:
                    failures.append(
                        f"client {index}: unexpected answer {out} (after v2: {seen_v2})"
                    )

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(8)]
    try:
        start = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(3)
        copied_at = time.monotonic()
        copy_version(model_root, 2, base, 2)
        deadline = copied_at + 3 * period_s
        while not first_v2 and time.monotonic() < deadline + 5:
            time.sleep(0.05)
        time.sleep(2)
        shutil.rmtree(os.path.join(base, "1"))
        time.sleep(max(0.0, 20 - (time.monotonic() - start)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        server.stop()
    assert not failures, failures[:5]
    assert all(c > 0 for c in counts), counts
    assert len(first_v2) == 8, "every client must end up on version 2"
    switch_s = max(first_v2) - copied_at
    print(f"\nhot swap: {sum(counts)} requests, 0 failed, all clients on v2 after {switch_s:.2f} s")
    assert switch_s <= 3 * period_s, f"switch took {switch_s:.2f} s > 3 poll periods"


def write_config(path: str, models: dict[str, str], labels: str = "") -> None:
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" {labels} }}\n'
        for name, base in models.items()
    )
    with open(path, "w") as f:
        f.write("model_config_list {\n" + entries + "}\n")


def read_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    return model_config.read_model_server_config(path)


def test_reload_config_over_grpc_replaces_the_model_list(model_root, tmp_path):
    config_path = str(tmp_path / "models.config")
    keras_base, multi_base = f"{model_root}/keras_model", f"{model_root}/multi"
    write_config(config_path, {"keras_model": keras_base})
    server = ModelServer(ServerOptions(port=0, rest_api_port=0, model_config_file=config_path))
    server.start()
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel,
            Client(f"grpc://127.0.0.1:{server.grpc_port}") as client,
        ):
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            request = model_management_pb2.ReloadConfigRequest()
            write_config(config_path, {"multi": multi_base})
            request.config.CopyFrom(read_config(config_path))
            response = stub.HandleReloadConfigRequest(request, timeout=120)
            assert response.status.error_code == 0
            assert client.predict("multi", {"x": X})["total"].tolist() == [60.0]
            with pytest.raises(NotFoundError, match=r"Latest\(keras_model\)"):
                client.predict("keras_model", X)
            assert [s.state for s in client.status("keras_model")] == ["END"]

            # A label on a version that is not loaded: FAILED_PRECONDITION, nothing unloads.
            write_config(config_path, {"multi": multi_base}, 'version_labels { key: "x" value: 7 }')
            request.config.CopyFrom(read_config(config_path))
            with pytest.raises(grpc.RpcError) as info:
                stub.HandleReloadConfigRequest(request, timeout=120)
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "version 7 of model multi" in info.value.details()
            assert client.predict("multi", {"x": X})["total"].tolist() == [60.0]

            request.config.Clear()
            with pytest.raises(grpc.RpcError) as info:
                stub.HandleReloadConfigRequest(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop()


def test_config_file_is_polled(model_root, tmp_path):
    config_path = str(tmp_path / "models.config")
    write_config(config_path, {"keras_model": f"{model_root}/keras_model"})
    server = ModelServer(
        ServerOptions(
            port=0,
            rest_api_port=0,
            model_config_file=config_path,
            model_config_file_poll_wait_seconds=1,
        )
    )
    server.start()
    try:
        write_config(
            config_path,
            {"keras_model": f"{model_root}/keras_model", "multi": f"{model_root}/multi"},
        )
        deadline = time.monotonic() + 60
        while not server.manager.is_ready("multi") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.manager.is_ready("multi")
        assert server.manager.is_ready("keras_model")
    finally:
        server.stop()
