"""A Keras model whose train step runs the physics with a gradient rule."""

from __future__ import annotations

import keras
import tensorflow as tf

from pg_keras.batch import Batch, context_of, physics_inputs
from pg_keras.physical_gradient import num_replicas, reduction_scale
from pg_keras.physics_layer import PhysicsLayer
from pg_keras.problems.base import Problem, Scheme
from pg_keras.rules import Supervised

METRICS = ("loss", "y_loss", "x_mae", "pg_norm")

#: What `non_finite_tensor` codes mean: the first tensor of a step that held NaN or Inf.
NON_FINITE_TENSORS = {1: "loss", 2: "physical gradient dL/dx", 3: "weight gradients"}


def _all_finite(tensors) -> tf.Tensor:
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


class PhysicsModel(keras.Model):
    """Trains `problem`'s network with `scheme`; `call` is plain inference.

    `fit` is fed batches from `Problem.generate`. Per step it logs `loss` (the
    optimised objective), `y_loss` (`½‖P(x) − y*‖²`), `x_mae`
    (`Problem.x_error`) and `pg_norm`, the mean per-example norm of the
    update the rule sent back to the network (in sum-reduced units), all as
    means over the steps since the last reset.

    A step whose loss, physical gradient or weight gradients hold NaN or Inf is
    skipped: the weights and optimizer state stay as they were, the step
    counts in `skipped_steps`, and `non_finite_streak` says how many steps in
    a row were skipped (`NonFiniteGuard` stops training on a long streak).
    `step` counts every step run, skipped or not; it is the data position.
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

        def counter(name, dtype="int64"):
            return keras.Variable(
                0, dtype=dtype, trainable=False, name=name, aggregation="only_first_replica"
            )

        self.step = counter("step")
        self.skipped_steps = counter("skipped_steps")
        self.non_finite_streak = counter("non_finite_streak")
        self.longest_streak = counter("longest_streak")
        self.non_finite_tensor = counter("non_finite_tensor", "int32")
        # The network arrives built; without this, Keras would trace `call` symbolically
        # on a batch before distributed training to build it.
        self.built = True

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Nothing to build: network, metrics and optimizer are built before `fit`.

        Keras's version pulls a batch and averages it across replicas to trace
        the model symbolically, which fails for dict batches under
        MultiWorkerMirroredStrategy (Keras 3.15); `build_model` builds the
        optimizer explicitly instead.
        """

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        """Inference: the network on an observation, or on a generated batch (a dict)."""
        if isinstance(inputs, dict):
            inputs = self.problem.network_input(inputs)
        return self.network(inputs, training=training)

    def predict_x(self, batch: Batch, training: bool = False) -> tf.Tensor:
        """The physical prediction `x` for a batch (`Problem.predict_x`)."""
        return self.problem.predict_x(self.network, batch, training=training)

    def simulate(self, x: tf.Tensor, batch: Batch) -> tf.Tensor:
        """`P(x)` for a batch's context, in the physics dtype, without a gradient rule."""
        dtype = self.problem.physics_dtype
        _, context = physics_inputs(batch, dtype)
        return self.problem.simulate(tf.cast(x, dtype), context)

    def _reduce(self, per_example: tf.Tensor) -> tf.Tensor:
        if self.reduction == "sum":
            return tf.reduce_sum(per_example)
        # Per replica: Σ over its examples / global batch; the replicas' gradients are summed.
        global_batch = tf.shape(per_example)[0] * num_replicas()
        return tf.reduce_sum(per_example) / tf.cast(global_batch, per_example.dtype)

    def _loss_and_outputs(self, batch: Batch, training: bool):
        x = self.predict_x(batch, training=training)
        y_target = physics_inputs(batch, self.problem.physics_dtype).y_target
        if self.supervised:
            labels = tf.cast(self.problem.supervised_labels(batch), x.dtype)
            diff = tf.reshape(x - tf.stop_gradient(labels), [tf.shape(x)[0], -1])
            loss = self._reduce(0.5 * tf.reduce_sum(diff * diff, axis=1))
            y = tf.stop_gradient(self.simulate(x, batch))
        else:
            y = self.physics(x, context_of(batch))
            loss = self._reduce(self.problem.objective(y, y_target))
        return x, y, y_target, loss

    def train_step(self, batch):
        weights = self.network.trainable_variables
        with tf.GradientTape() as tape:
            x, y, y_target, loss = self._loss_and_outputs(batch, training=True)
        grad_x, *grads = tape.gradient(loss, [x, *weights])
        code = self._non_finite_code(loss, grad_x, grads)
        ok = tf.equal(code, 0)
        self._apply_if(ok, grads, weights)
        self._count_step(ok, code)
        scale = reduction_scale(self.reduction, tf.shape(x)[0], grad_x.dtype)
        self._update_metrics(x, y, y_target, loss, batch, grad_x * scale, ok)
        return self._logs()

    def test_step(self, batch):
        x, y, y_target, loss = self._loss_and_outputs(batch, training=False)
        self._update_metrics(x, y, y_target, loss, batch, None, tf.constant(True))
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _logs(self):
        logs = {name: tracker.result() for name, tracker in self.trackers.items()}
        logs["skipped_steps"] = tf.cast(self.skipped_steps.value, tf.float32)
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras averages logs across workers along axis 0, which needs a vector.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _non_finite_code(self, loss, grad_x, grads) -> tf.Tensor:
        """0 if every tensor is finite, else the `NON_FINITE_TENSORS` code of the first bad one.

        Replicas count their bad tensors together, so they all skip or none does.
        """
        checks = [_all_finite([loss]), _all_finite([grad_x]), _all_finite(grads)]
        bad = tf.cast(tf.logical_not(tf.stack(checks)), tf.float32)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            bad = context.all_reduce(tf.distribute.ReduceOp.SUM, bad)
        first_bad = tf.cast(tf.argmax(tf.cast(bad > 0, tf.int32)), tf.int32) + 1
        return tf.where(tf.reduce_any(bad > 0), first_bad, tf.constant(0, tf.int32))

    def _apply_if(self, ok, grads, weights) -> None:
        """`optimizer.apply` only when `ok`, in a way distribution strategies allow.

        A strategy that all-reduces through `merge_call` forbids a `tf.cond` around
        it in replica context, so the condition moves to cross-replica context
        (as Keras's LossScaleOptimizer does).
        """

        def apply(grads_to_apply):
            self.optimizer.apply(grads_to_apply, weights)
            return tf.constant(True)

        def skip():
            return tf.constant(False)

        merge_free = tf.__internal__.distribute.strategy_supports_no_merge_call()
        if not tf.distribute.has_strategy() or merge_free:
            tf.cond(ok, lambda: apply(grads), skip)
            return

        def cross_replica(distribution, ok, grads):
            first_ok = distribution.experimental_local_results(ok)[0]

            def apply_everywhere():
                distribution.extended.call_for_each_replica(apply, args=(grads,))
                return tf.constant(True)

            tf.cond(first_ok, apply_everywhere, skip)

        tf.distribute.get_replica_context().merge_call(cross_replica, args=(ok, grads))

    def _count_step(self, ok, code) -> None:
        self.step.assign_add(1)
        bad = tf.cast(tf.logical_not(ok), tf.int64)
        self.skipped_steps.assign_add(bad)
        streak = (self.non_finite_streak + 1) * bad
        self.non_finite_streak.assign(streak)
        self.longest_streak.assign(tf.maximum(self.longest_streak, streak))
        self.non_finite_tensor.assign(tf.where(ok, self.non_finite_tensor, code))

    def _update_metrics(self, x, y, y_target, loss, batch, delta_x, ok):
        # A skipped step's NaNs must not poison the interval's means: weight 0.
        weight = tf.cast(ok, tf.float32)

        def update(name, value):
            value = tf.cast(value, tf.float32)
            self.trackers[name].update_state(tf.where(ok, value, 0.0), sample_weight=weight)

        # Each replica's loss is its share of the global objective, and the tracker averages
        # the replicas' values: times the replica count, that is the global objective, for a
        # mean (Σ own / global batch) as for a sum (Σ own).
        update("loss", loss * tf.cast(num_replicas(), loss.dtype))
        update("y_loss", tf.reduce_mean(self.problem.y_loss(y, y_target)))
        update("x_mae", tf.reduce_mean(self.problem.x_error(x, batch)))
        self._update_extra_metrics(x, batch, ok)
        if delta_x is not None:
            flat = tf.reshape(delta_x, [tf.shape(delta_x)[0], -1])
            update("pg_norm", tf.reduce_mean(tf.norm(flat, axis=1)))

    def _update_extra_metrics(self, x, batch, ok) -> None:
        """The problem's own metrics (`Problem.extra_metrics`), batch means, like `x_mae`."""
        weight = tf.cast(ok, tf.float32)
        for name, value in self.problem.extra_metrics(x, batch).items():
            value = tf.cast(tf.reduce_mean(value), tf.float32)
            self.trackers[name].update_state(tf.where(ok, value, 0.0), sample_weight=weight)
