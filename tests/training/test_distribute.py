"""tf.distribute: a mirrored run over two logical CPUs equals a single-device run with the
same global batch and seed; two workers on 127.0.0.1 train together and agree."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

TRAIN_AND_DUMP = textwrap.dedent(
    """
    import sys, json, numpy as np, tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[3]))
    from pg_keras.config import TrainingConfig
    from pg_keras.training.run import train, make_strategy
    strategy_name, run_dir = sys.argv[1:3]
    config = TrainingConfig(problem="sin", gradient=sys.argv[5], steps=6, log_every=3,
                            batch_size=64, seed=11, strategy=strategy_name)
    train(config, run_dir, verbose=0)
    print("REPLICAS", make_strategy(strategy_name).num_replicas_in_sync)
    """
)

DUMP_WEIGHTS = textwrap.dedent(
    """
    import sys, numpy as np, tensorflow as tf
    reader = tf.train.load_checkpoint(sys.argv[1] + "/checkpoints")
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.startswith("network/"))
    np.savez(sys.argv[2], *[reader.get_tensor(n) for n in names])
    """
)


def run_python(code, *args, env=None):
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def weights(run_dir, tmp_path):
    out = tmp_path / f"{run_dir.name}.npz"
    run_python(DUMP_WEIGHTS, run_dir, out)
    with np.load(out) as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.parametrize("gradient", ["inverse-physics", "adjoint"])
def test_mirrored_over_two_cpus_equals_one_device(tmp_path, gradient):
    single, mirrored = tmp_path / "single", tmp_path / "mirrored"
    run_python(TRAIN_AND_DUMP, "default", single, 1, "-", gradient)
    out = run_python(TRAIN_AND_DUMP, "mirrored", mirrored, 2, "-", gradient)
    assert "REPLICAS 2" in out
    for a, b in zip(weights(single, tmp_path), weights(mirrored, tmp_path), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert json.loads((mirrored / "curve.json").read_text())[-1]["step"] == 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_train_together_and_agree(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        env = dict(os.environ)
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        run_dir = tmp_path / f"worker{index}"
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    TRAIN_AND_DUMP,
                    "multi-worker",
                    str(run_dir),
                    "1",
                    "-",
                    "adjoint",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    outputs = [p.communicate(timeout=240) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
        assert "REPLICAS 2" in out
    # The chief (worker 0) wrote the run; worker 1 wrote only to scratch space.
    chief = tmp_path / "worker0"
    assert json.loads((chief / "curve.json").read_text())[-1]["step"] == 6
    assert not (tmp_path / "worker1" / "curve.json").exists()
    single = tmp_path / "single"
    run_python(TRAIN_AND_DUMP, "default", single, 1, "-", "adjoint")
    for a, b in zip(weights(chief, tmp_path), weights(single, tmp_path), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
