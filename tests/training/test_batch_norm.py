"""Batch-norm statistics recomputed from the final weights ("precise BN")."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from pg_keras.config import TrainingConfig
from pg_keras.problems import get_problem
from pg_keras.training.batch_norm import batch_norm_layers, calibrate_batch_norm
from pg_keras.training.run import build_model, calibration_inputs, make_checkpoint, train

TINY_HEAT = {"ny": 16, "nx": 16, "levels": 2, "filters": 4, "max_half_size": 4.0}


def small_network():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(4)(inputs)
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.BatchNormalization(name="inner")], name="nested"
    )
    outputs = keras.layers.BatchNormalization(name="outer")(inner(hidden))
    return keras.Model(inputs, outputs), keras.Model(inputs, hidden)


def test_statistics_are_plain_averages_of_the_batch_statistics():
    network, features = small_network()
    rng = np.random.default_rng(0)
    batches = [tf.constant(rng.normal(2.0, 3.0, (8, 5)), tf.float32) for _ in range(5)]
    weights_before = [w.numpy() for w in network.trainable_weights]

    assert calibrate_batch_norm(network, iter(batches)) == 5

    inner = network.get_layer("nested").get_layer("inner")
    hidden = [features(b).numpy() for b in batches]
    np.testing.assert_allclose(
        inner.moving_mean.numpy(), np.mean([h.mean(0) for h in hidden], 0), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        inner.moving_variance.numpy(), np.mean([h.var(0) for h in hidden], 0), rtol=1e-4
    )
    for before, after in zip(weights_before, network.trainable_weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    assert {layer.momentum for layer in batch_norm_layers(network)} == {0.99}


def test_a_network_without_batch_norm_reads_no_input():
    network = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    def never():
        raise AssertionError("read")
        yield

    assert calibrate_batch_norm(network, never()) == 0


def final_network(run_dir):
    config = TrainingConfig.read(run_dir / "config.json")
    model = build_model(get_problem(config.problem, config.spec), config)
    make_checkpoint(model).restore(tf.train.latest_checkpoint(str(run_dir / "checkpoints")))
    return model.network


@pytest.fixture(scope="module")
def heat_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bn")
    configs = {}
    for batches in (0, 3):
        config = TrainingConfig(
            problem="heat",
            gradient="inverse-physics",
            steps=4,
            batch_size=4,
            log_every=2,
            checkpoint_every=2,  # the last step is saved before training ends, too
            spec=TINY_HEAT,
            calibration_batches=batches,
        )
        train(config, root / f"calibrated{batches}", verbose=0)
        configs[batches] = config
    return root, configs


def test_training_ends_with_recomputed_statistics_and_the_same_weights(heat_runs):
    root, configs = heat_runs
    plain = final_network(root / "calibrated0")
    calibrated = final_network(root / "calibrated3")
    for a, b in zip(plain.trainable_weights, calibrated.trainable_weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    moved = [
        not np.allclose(a.moving_mean.numpy(), b.moving_mean.numpy())
        for a, b in zip(batch_norm_layers(plain), batch_norm_layers(calibrated), strict=True)
    ]
    assert all(moved)


def test_calibration_batches_may_change_on_resume_but_must_be_valid(heat_runs):
    root, configs = heat_runs
    resumed = TrainingConfig(**{**configs[3].to_dict(), "steps": 6, "calibration_batches": 2})
    result = train(resumed, root / "calibrated3", verbose=0)
    assert result.points[-1]["step"] == 6
    assert json.loads((root / "calibrated3" / "config.json").read_text())["steps"] == 6
    with pytest.raises(ValueError, match="calibration_batches"):
        TrainingConfig(problem="heat", gradient="adjoint", calibration_batches=-1)


MIRRORED = textwrap.dedent(
    """
    import sys, tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    from pg_keras.config import TrainingConfig
    from pg_keras.training.run import train
    config = TrainingConfig(problem="heat", gradient="adjoint", steps=2, batch_size=4,
                            log_every=1, spec={spec!r}, strategy="mirrored", calibration_batches=2)
    train(config, sys.argv[1], verbose=0)
    reader = tf.train.load_checkpoint(sys.argv[1] + "/checkpoints")
    print("MEANS", sum("moving_mean" in n for n in reader.get_variable_to_shape_map()))
    """
).format(spec=TINY_HEAT)


def test_calibration_runs_under_a_mirrored_strategy(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path / "run")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MEANS" in result.stdout


def test_calibrate_command_recomputes_an_older_runs_statistics(heat_runs, capsys):
    from pg_keras.cli import main

    root, _ = heat_runs
    run_dir = root / "calibrated0"  # trained without calibration
    before = final_network(run_dir)
    old_means = [layer.moving_mean.numpy() for layer in batch_norm_layers(before)]
    step = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))

    assert main(["calibrate", str(run_dir), "--batches", "3"]) == 0

    after = final_network(run_dir)
    assert "recomputed on 3 batches" in capsys.readouterr().out
    assert not any(
        np.allclose(old, layer.moving_mean.numpy())
        for old, layer in zip(old_means, batch_norm_layers(after), strict=True)
    )
    assert tf.train.latest_checkpoint(str(run_dir / "checkpoints")) == step
    for a, b in zip(before.trainable_weights, after.trainable_weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # What the command saved is the calibration of the old weights on the calibration stream.
    config = TrainingConfig.read(run_dir / "config.json")
    inputs = calibration_inputs(get_problem(config.problem, config.spec), config, 3)
    assert calibrate_batch_norm(before, inputs) == 3
    for a, b in zip(batch_norm_layers(before), batch_norm_layers(after), strict=True):
        np.testing.assert_allclose(a.moving_mean.numpy(), b.moving_mean.numpy(), rtol=1e-5)
        np.testing.assert_allclose(a.moving_variance.numpy(), b.moving_variance.numpy(), rtol=1e-5)
    assert main(["calibrate", str(root / "missing")]) == 2
