"""`PhysicsModel.train_step` on two replicas (a mirrored strategy over two logical CPUs) takes
the step one device takes on the whole batch, logs the global batch's loss, and skips a step
on every replica when one replica's share holds a NaN.

One `train_step` per call with SGD (no `fit`, no run), in one fresh process (the logical CPUs
must be set before TensorFlow starts), so the file runs in seconds, not minutes as
`test_distribute.py`'s whole runs do.
"""

import json
import subprocess
import sys

import numpy as np

GLOBAL_BATCH = 8
RATE = 0.01

_PROGRAM = f"""
import json, keras, numpy as np, tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pg_keras.problems import get_problem
from pg_keras.problems.base import Scheme
from pg_keras.rules import GradientDescent
from pg_keras.training.model import PhysicsModel

problem = get_problem("sin")


def model_for(reduction):
    keras.utils.set_random_seed(0)
    model = PhysicsModel(problem, problem.build_network(), Scheme("test", GradientDescent()),
                         reduction)
    model.compile(optimizer=keras.optimizers.SGD({RATE}))
    model.optimizer.build(model.network.trainable_variables)
    return model


def weights(model):
    return [w.numpy().tolist() for w in model.network.trainable_variables]


batch = problem.generate({GLOBAL_BATCH}, tf.constant([0, 1], tf.int64))
poisoned = dict(batch, a=tf.concat([batch["a"][:4], tf.fill([4, 1], np.nan)], 0))
out = {{}}
for reduction in ("mean", "sum"):
    single = model_for(reduction)
    out[reduction + "_single_loss"] = float(single.train_step(batch)["loss"])
    out[reduction + "_single"] = weights(single)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        mirrored = model_for(reduction)

    def shard(values):
        half = {GLOBAL_BATCH} // 2
        return strategy.experimental_distribute_values_from_function(
            lambda context: {{k: v[context.replica_id_in_sync_group * half:][:half]
                             for k, v in values.items()}})

    step = tf.function(lambda b: strategy.run(mirrored.train_step, args=(b,)))
    out[reduction + "_initial"] = weights(mirrored)
    step(shard(batch))
    # Read across replicas, as `fit` logs it: the interval's mean over both shares.
    out[reduction + "_replicas_loss"] = float(mirrored.trackers["loss"].result())
    out[reduction + "_mirrored"] = weights(mirrored)
    step(shard(poisoned))
    out[reduction + "_after_nan"] = weights(mirrored)
    out[reduction + "_skipped"] = int(mirrored.skipped_steps.numpy())
print("RESULT" + json.dumps(out))
"""


def test_two_replicas_take_the_one_device_step_and_skip_a_nan_together():
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    for reduction in ("mean", "sum"):
        single, mirrored = out[f"{reduction}_single"], out[f"{reduction}_mirrored"]
        assert out[f"{reduction}_initial"] != single  # the step moved the weights
        for expected, got in zip(single, mirrored, strict=True):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)
        # The logged loss is the global batch's, as one device logs it.
        expected_loss = out[f"{reduction}_single_loss"]
        np.testing.assert_allclose(out[f"{reduction}_replicas_loss"], expected_loss, rtol=1e-5)
        # A NaN in the second replica's half: both replicas skip, the weights stay.
        assert out[f"{reduction}_skipped"] == 1
        for kept, got in zip(mirrored, out[f"{reduction}_after_nan"], strict=True):
            np.testing.assert_array_equal(got, kept)
