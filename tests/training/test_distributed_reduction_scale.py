"""Under a mirrored strategy the PG's solver still aims at `y*` and each replica's gradient
is its share of the global mean.

The check needs a rule whose answer depends nonlinearly on `y_target` and no optimizer in
between (Adam would cancel a constant scale): it compares the physical gradient itself. Two
logical CPUs must be configured before TensorFlow starts, so this file runs itself afresh.
"""

import json
import subprocess
import sys

import numpy as np

GLOBAL_BATCH = 4


def _replica_gradients() -> dict:
    """Runs one mean-reduced PG backward pass on two replicas; returns what each one saw."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from pg_keras.physical_gradient import physical_gradient
    from pg_keras.rules import InversePhysics

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x_all = tf.reshape(tf.range(GLOBAL_BATCH * 2, dtype=tf.float64), [GLOBAL_BATCH, 2])
    y_star_all = 10.0 - x_all**2
    rule = InversePhysics(
        lambda context: tf.sign(context.y_target) * tf.abs(context.y_target) ** (1 / 3)
    )
    forward = physical_gradient(lambda z: z**3, rule, "mean")

    def step(x, y_star):
        with tf.GradientTape() as tape:
            tape.watch(x)
            per_example = 0.5 * tf.reduce_sum((forward(x) - y_star) ** 2, axis=1)
            # The per-replica loss of a global mean, as tf.nn.compute_average_loss forms it.
            loss = tf.reduce_sum(per_example) / GLOBAL_BATCH
        return tape.gradient(loss, x)

    def shard(tensor):
        half = GLOBAL_BATCH // 2
        return lambda context: tensor[context.replica_id_in_sync_group * half :][:half]

    grads = strategy.run(
        step,
        args=(
            strategy.experimental_distribute_values_from_function(shard(x_all)),
            strategy.experimental_distribute_values_from_function(shard(y_star_all)),
        ),
    )
    return {
        "replicas": strategy.num_replicas_in_sync,
        "grad": np.concatenate([g.numpy() for g in strategy.experimental_local_results(grads)]),
        "x": x_all.numpy(),
        "y_star": y_star_all.numpy(),
    }


def test_each_replica_gets_the_global_mean_gradient_of_its_examples():
    result = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["replicas"] == 2
    x, y_star = np.array(seen["x"]), np.array(seen["y_star"])
    # x̃ = P⁻¹(y*) exactly when s = B_global; the network sees (x − x̃)/B_global. A
    # nonlinear P: for a linear one the scale cancels between target and gradient.
    np.testing.assert_allclose(seen["grad"], (x - np.cbrt(y_star)) / GLOBAL_BATCH, rtol=1e-10)


if __name__ == "__main__":
    found = _replica_gradients()
    print(json.dumps({k: np.asarray(v).tolist() for k, v in found.items()}))
