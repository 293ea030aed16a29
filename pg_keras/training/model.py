"""A Keras model whose train step runs the physics with a gradient rule."""

from __future__ import annotations

import keras
import tensorflow as tf

from pg_keras.physical_gradient import reduction_scale
from pg_keras.physics_layer import PhysicsLayer
from pg_keras.problems.base import Y_TARGET, Batch, Problem, Scheme
from pg_keras.rules import Supervised

METRICS = ("loss", "y_loss", "x_mae", "pg_norm")


class PhysicsModel(keras.Model):
    """Trains `problem`'s network with `scheme`; `call` is plain inference.

    `fit` is fed batches from `Problem.generate`. Per step it logs `loss` (the
    optimised objective), `y_loss` (`½‖P(x) − y*‖²`), `x_mae`
    (`Problem.x_error`) and `pg_norm`, the mean per-example norm of the
    update the rule sent back to the network (in sum-reduced units), all as
    means over the steps since the last reset.
    """

    def __init__(self, problem: Problem, network: keras.Model, scheme: Scheme, reduction="mean"):
        super().__init__(name=f"{problem.name}_{scheme.name}".replace("-", "_"))
        self.problem = problem
        self.network = network
        self.scheme = scheme
        self.reduction = reduction
        self.supervised = isinstance(scheme.rule, Supervised)
        self.physics = None
        if not self.supervised:
            self.physics = PhysicsLayer(
                problem.simulate, scheme.rule, reduction, problem.physics_dtype.name
            )
        names = (*METRICS, *problem.extra_metric_names)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def predict_x(self, batch: Batch, training: bool = False) -> tf.Tensor:
        """The physical prediction `x` for a batch (network output, post-processed)."""
        x = self.network(self.problem.network_input(batch), training=training)
        return self.problem.postprocess(x, batch)

    def _simulate(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        dtype = self.problem.physics_dtype
        extras = {k: tf.cast(v, dtype) for k, v in self.problem.extras(batch).items()}
        return self.problem.simulate(tf.cast(x, dtype), extras)

    def _reduce(self, per_example: tf.Tensor) -> tf.Tensor:
        if self.reduction == "sum":
            return tf.reduce_sum(per_example)
        return tf.reduce_mean(per_example)

    def _loss_and_outputs(self, batch: Batch, training: bool):
        x = self.predict_x(batch, training=training)
        y_target = tf.cast(batch[Y_TARGET], self.problem.physics_dtype)
        if self.supervised:
            labels = tf.cast(self.problem.supervised_labels(batch), x.dtype)
            diff = tf.reshape(x - tf.stop_gradient(labels), [tf.shape(x)[0], -1])
            loss = self._reduce(0.5 * tf.reduce_sum(diff * diff, axis=1))
            y = tf.stop_gradient(self._simulate(x, batch))
        else:
            y = self.physics(x, self.problem.extras(batch))
            loss = self._reduce(self.problem.objective(y, y_target))
        return x, y, y_target, loss

    def train_step(self, batch):
        weights = self.network.trainable_variables
        with tf.GradientTape() as tape:
            x, y, y_target, loss = self._loss_and_outputs(batch, training=True)
        grad_x, *grads = tape.gradient(loss, [x, *weights])
        self.optimizer.apply(grads, weights)
        scale = reduction_scale(self.reduction, tf.shape(x)[0], grad_x.dtype)
        self._update_metrics(x, y, y_target, loss, batch, grad_x * scale)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def test_step(self, batch):
        x, y, y_target, loss = self._loss_and_outputs(batch, training=False)
        self._update_metrics(x, y, y_target, loss, batch, None)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _update_metrics(self, x, y, y_target, loss, batch, delta_x):
        self.trackers["loss"].update_state(tf.cast(loss, tf.float32))
        y_loss = tf.reduce_mean(self.problem.y_loss(y, y_target))
        self.trackers["y_loss"].update_state(tf.cast(y_loss, tf.float32))
        x_mae = tf.reduce_mean(self.problem.x_error(x, batch))
        self.trackers["x_mae"].update_state(tf.cast(x_mae, tf.float32))
        self._update_extra_metrics(x, batch, tf.constant(True))
        if delta_x is not None:
            flat = tf.reshape(delta_x, [tf.shape(delta_x)[0], -1])
            self.trackers["pg_norm"].update_state(tf.reduce_mean(tf.norm(flat, axis=1)))

    def _update_extra_metrics(self, x, batch, ok) -> None:
        """The problem's own metrics (`Problem.extra_metrics`), batch means, like `x_mae`."""
        weight = tf.cast(ok, tf.float32)
        for name, value in self.problem.extra_metrics(x, batch).items():
            value = tf.cast(tf.reduce_mean(value), tf.float32)
            self.trackers[name].update_state(tf.where(ok, value, 0.0), sample_weight=weight)
