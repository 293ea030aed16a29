"""`PhysicsModel.train_step` against a hand computation on `y = sin(a/x)`: the logged loss
and metrics, the weight update, and how a non-finite step is skipped, counted and named.

The model is built by hand (SGD, no `fit`), so each step is one call and runs in a blink.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pg_keras.problems import get_problem
from pg_keras.problems.base import Scheme
from pg_keras.rules import GradientDescent, InversePhysics, Supervised
from pg_keras.training.model import NON_FINITE_TENSORS, PhysicsModel

RATE = 0.01


def model_for(rule, reduction="mean"):
    problem = get_problem("sin")
    keras.utils.set_random_seed(0)
    network = problem.build_network()
    model = PhysicsModel(problem, network, Scheme("test", rule), reduction)
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    model.optimizer.build(network.trainable_variables)
    return problem, model


def batch_of(problem, poisoned=False):
    batch = problem.generate(8, tf.constant([0, 1], tf.int64))
    if poisoned:
        batch["a"] = tf.fill([8, 1], np.nan)
    return batch


def distance_to_nearest_minimum(x, a):
    """|x − x_n|, x_n = a / (3π/2 + 2πn) the minima of sin(a/x), by brute force over n."""
    n = np.arange(-20_000, 20_000)
    minima = a[:, None] / (1.5 * np.pi + 2 * np.pi * n)[None, :]
    return np.abs(x[:, None] - minima).min(axis=1)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_step_logs_its_prediction_and_takes_the_backprop_step(reduction):
    """With `GradientDescent()` the PG is backprop (Theorem 1), so the step is SGD on the
    plain loss; the logs are the loss and metrics of the prediction before the step."""
    problem, model = model_for(GradientDescent(), reduction)
    batch = batch_of(problem)
    a, y_target = batch["a"], batch["y_target"]
    weights = model.network.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        x = problem.predict_x(model.network, batch, training=True)
        tape.watch(x)
        per_example = 0.5 * tf.reduce_sum((tf.sin(a / x) - y_target) ** 2, axis=1)
        total = tf.reduce_sum(per_example)
        loss = total / (8 if reduction == "mean" else 1)
    grads = tape.gradient(loss, weights)
    pg = tape.gradient(total, x)  # dL/dx in sum-reduced units
    before = [w.numpy() for w in weights]

    logs = {name: float(value) for name, value in model.train_step(batch).items()}

    np.testing.assert_allclose(logs["loss"], float(loss), rtol=1e-5)
    np.testing.assert_allclose(logs["y_loss"], float(tf.reduce_mean(per_example)), rtol=1e-5)
    x_mae = distance_to_nearest_minimum(x.numpy()[:, 0], a.numpy()[:, 0]).mean()
    np.testing.assert_allclose(logs["x_mae"], x_mae, rtol=1e-4)
    np.testing.assert_allclose(logs["pg_norm"], float(tf.reduce_mean(tf.abs(pg))), rtol=1e-5)
    assert logs["skipped_steps"] == 0 and int(model.step) == 1
    for old, grad, new in zip(before, grads, weights, strict=True):
        np.testing.assert_allclose(new.numpy(), old - RATE * grad.numpy(), rtol=1e-4, atol=1e-7)


def test_non_finite_steps_are_skipped_counted_and_named_and_a_good_step_ends_the_streak():
    problem, model = model_for(GradientDescent())
    good, bad = batch_of(problem), batch_of(problem, poisoned=True)
    model.train_step(good)
    after_good = [w.numpy() for w in model.network.trainable_variables]
    logs = model.train_step(bad)
    model.train_step(bad)
    for kept, weight in zip(after_good, model.network.trainable_variables, strict=True):
        np.testing.assert_array_equal(weight.numpy(), kept)  # neither bad step moved it
    assert np.isfinite(float(logs["loss"]))  # the bad step's NaN is not in the mean
    counters = ("step", "skipped_steps", "non_finite_streak", "longest_streak")
    assert [int(getattr(model, name)) for name in counters] == [3, 2, 2, 2]
    assert NON_FINITE_TENSORS[int(model.non_finite_tensor)] == "loss"
    model.train_step(good)
    assert [int(getattr(model, name)) for name in counters] == [4, 2, 0, 2]
    assert NON_FINITE_TENSORS[int(model.non_finite_tensor)] == "loss"  # the last bad one's


@pytest.mark.parametrize(
    ("jump", "tensor"),
    # An infinite update; a finite one (3e38 < float32's 3.4e38) that overflows only in
    # the weight gradients, which sum it times the activations.
    [(np.inf, "physical gradient dL/dx"), (3e38, "weight gradients")],
)
def test_a_non_finite_gradient_from_a_finite_loss_is_named_by_where_it_appears(jump, tensor):
    problem, model = model_for(InversePhysics(lambda context: context.x - jump))
    before = [w.numpy() for w in model.network.trainable_variables]
    logs = model.train_step(batch_of(problem))
    assert float(logs["skipped_steps"]) == 1
    assert NON_FINITE_TENSORS[int(model.non_finite_tensor)] == tensor
    for kept, weight in zip(before, model.network.trainable_variables, strict=True):
        np.testing.assert_array_equal(weight.numpy(), kept)


def test_only_the_networks_weights_are_trainable():
    """The step counters are state, not parameters: Keras's trainable variables (what
    `model.summary`, optimizers and strategies see) are the network's alone."""
    _, model = model_for(GradientDescent())
    trainable = {id(v) for v in model.trainable_variables}
    assert trainable == {id(v) for v in model.network.trainable_variables}
    assert not any(v.trainable for v in (model.step, model.skipped_steps, model.longest_streak))


def test_supervised_steps_on_half_the_squared_distance_to_the_labels_and_logs_the_physics():
    problem, model = model_for(Supervised())
    batch = batch_of(problem)
    labels = problem.supervised_labels(batch)
    weights = model.network.trainable_variables
    with tf.GradientTape() as tape:
        x = problem.predict_x(model.network, batch, training=True)
        loss = tf.reduce_mean(0.5 * tf.reduce_sum((x - labels) ** 2, axis=1))
    grads = tape.gradient(loss, weights)
    before = [w.numpy() for w in weights]
    logs = {name: float(value) for name, value in model.train_step(batch).items()}
    np.testing.assert_allclose(logs["loss"], float(loss), rtol=1e-5)
    y_loss = 0.5 * (np.sin(batch["a"].numpy() / x.numpy()) - batch["y_target"].numpy()) ** 2
    np.testing.assert_allclose(logs["y_loss"], y_loss.mean(), rtol=1e-4)
    for old, grad, new in zip(before, grads, weights, strict=True):
        np.testing.assert_allclose(new.numpy(), old - RATE * grad.numpy(), rtol=1e-4, atol=1e-7)


def test_evaluation_logs_the_same_loss_and_metrics_and_moves_nothing():
    problem, model = model_for(GradientDescent())
    batch = batch_of(problem)
    x = problem.predict_x(model.network, batch)
    per_example = 0.5 * ((np.sin(batch["a"].numpy() / x.numpy()) - batch["y_target"].numpy()) ** 2)
    before = [w.numpy() for w in model.network.trainable_variables]
    logs = {name: float(value) for name, value in model.test_step(batch).items()}
    np.testing.assert_allclose(logs["loss"], per_example.mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["y_loss"], per_example.mean(), rtol=1e-4)
    x_mae = distance_to_nearest_minimum(x.numpy()[:, 0], batch["a"].numpy()[:, 0]).mean()
    np.testing.assert_allclose(logs["x_mae"], x_mae, rtol=1e-4)
    assert int(model.step) == 0
    for kept, weight in zip(before, model.network.trainable_variables, strict=True):
        np.testing.assert_array_equal(weight.numpy(), kept)


def test_calling_the_model_is_inference_and_it_arrives_built():
    """`model(batch)` runs the network in inference mode (batch norm on its moving
    statistics, not the batch's); the model is built, so Keras never traces it first."""
    problem = get_problem("sin")
    network = keras.Sequential(
        [keras.Input((1,)), keras.layers.BatchNormalization(), keras.layers.Dense(1)]
    )
    model = PhysicsModel(problem, network, Scheme("test", GradientDescent()))
    assert model.built  # before any call
    batch = batch_of(problem)
    inference = network(batch["a"], training=False)
    np.testing.assert_allclose(model(batch), inference, rtol=1e-6)
    np.testing.assert_allclose(model.predict_x(batch), inference, rtol=1e-6)
    assert not np.allclose(network(batch["a"], training=True), inference, rtol=1e-3)


class SinWithLargestX(type(get_problem("sin"))):
    """A problem with a metric of its own (`extra_metric_names`): the largest |x| of a batch."""

    extra_metric_names = ("largest_x",)

    def extra_metrics(self, x, batch):
        return {"largest_x": tf.fill([tf.shape(x)[0]], tf.reduce_max(tf.abs(x)))}


def test_a_problems_own_metric_is_logged_as_a_mean_over_good_steps():
    problem = SinWithLargestX()
    keras.utils.set_random_seed(0)
    model = PhysicsModel(problem, problem.build_network(), Scheme("test", GradientDescent()))
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    model.optimizer.build(model.network.trainable_variables)
    good = batch_of(problem)
    largest = float(tf.reduce_max(tf.abs(problem.predict_x(model.network, good))))
    logs = model.train_step(good)
    np.testing.assert_allclose(float(logs["largest_x"]), largest, rtol=1e-6)
    logs = model.train_step(batch_of(problem, poisoned=True))  # skipped: not in the mean
    np.testing.assert_allclose(float(logs["largest_x"]), largest, rtol=1e-6)
    assert model.test_step(good)["largest_x"] > 0


def test_a_train_step_learns_batch_statistics_and_evaluation_only_reads_them():
    """Batch norm in training mode during `train_step` (it normalises by the batch and moves
    its moving statistics), in inference mode during `test_step` (it uses and keeps them)."""
    problem = get_problem("sin")
    keras.utils.set_random_seed(0)
    network = keras.Sequential(
        [keras.Input((1,)), keras.layers.BatchNormalization(momentum=0.5), keras.layers.Dense(1)]
    )
    model = PhysicsModel(problem, network, Scheme("test", GradientDescent()))
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    model.optimizer.build(network.trainable_variables)
    norm = network.layers[0]
    batch = batch_of(problem)
    model.train_step(batch)
    np.testing.assert_allclose(norm.moving_mean.numpy(), 0.5 * batch["a"].numpy().mean(0), 1e-5)
    moving = [v.numpy() for v in norm.non_trainable_variables]
    model.test_step(batch)
    for kept, variable in zip(moving, norm.non_trainable_variables, strict=True):
        np.testing.assert_array_equal(variable.numpy(), kept)


def test_supervised_loss_sums_over_every_cell_of_a_field():
    """For a problem whose x is a field ([batch, ny, nx], heat), the supervised loss is half
    the squared distance over every cell, averaged over the batch."""
    spec = {"ny": 16, "nx": 16, "max_half_size": 4.0, "levels": 2, "filters": 4, "nu_t": 2.0}
    problem = get_problem("heat", spec)
    keras.utils.set_random_seed(0)
    model = PhysicsModel(problem, problem.build_network(), Scheme("test", Supervised()))
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    model.optimizer.build(model.network.trainable_variables)
    batch = problem.generate(2, tf.constant([0, 1], tf.int64))
    x = problem.predict_x(model.network, batch, training=True).numpy()
    labels = problem.supervised_labels(batch).numpy()
    expected = 0.5 * np.sum((x - labels) ** 2) / 2
    np.testing.assert_allclose(float(model.train_step(batch)["loss"]), expected, rtol=1e-4)
