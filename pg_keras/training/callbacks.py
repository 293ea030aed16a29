"""Callbacks: learning-curve records, TensorBoard scalars, step timing, checkpoints."""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf

from pg_keras.training.batch_norm import calibrate_batch_norm
from pg_keras.training.model import METRICS, NON_FINITE_TENSORS


class CurveRecorder(keras.callbacks.Callback):
    """Records one point every `log_every` steps and resets the metrics after it.

    The model's metrics hold means since their last reset, so each point is the
    mean over its `log_every` steps rather than a running mean since step 0.
    Usually the model runs `log_every` steps per compiled call and every call
    ends a point; under strategies that need one step per call, points span
    several calls. Points and the wall time per step go to TensorBoard too.
    """

    def __init__(self, writer: tf.summary.SummaryWriter | None = None, log_every: int = 1):
        super().__init__()
        self.writer = writer
        self.log_every = log_every
        self.points: list[dict] = []
        self._last_time: float | None = None
        self._last_step: int | None = None
        self._reset_pending = False

    def on_train_begin(self, logs=None):
        self._last_time = time.perf_counter()
        self._last_step = int(self.model.step.numpy())

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step.numpy())
        if step % self.log_every and step - self._last_step < self.log_every:
            return
        now = time.perf_counter()
        steps = max(step - self._last_step, 1)
        point = {"step": step, "step_time_ms": 1000.0 * (now - self._last_time) / steps}
        point["first_chunk"] = not self.points
        for name in (*METRICS, *self.model.problem.extra_metric_names, "skipped_steps"):
            if name in logs:
                point[name] = float(np.asarray(logs[name]).reshape(-1)[0])
        point["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        self.points.append(point)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for name, value in point.items():
                    if name not in ("step", "first_chunk"):
                        tf.summary.scalar(name, value)
        # Reset when the next step starts, not now, so that Keras's end-of-training
        # logs (the progress bar's last line) still show this point.
        self._reset_pending = True
        # Timed from here so the next point's time excludes this bookkeeping.
        self._last_time = time.perf_counter()
        self._last_step = step

    def on_train_batch_begin(self, batch, logs=None):
        if self._reset_pending:
            for metric in self.model.metrics:
                metric.reset_state()
            self._reset_pending = False

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.flush()


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves the checkpoint every `every` steps and, always, at the end of training.

    `before_save(step)` runs before each save and writes what belongs with the
    checkpoint (the learning curve to `step`), so that every checkpoint on disk
    has it: a kill between the two leaves a curve that reaches past the last
    checkpoint, which resuming cuts back, never one that stops short of it.
    """

    def __init__(self, manager: tf.train.CheckpointManager, every: int, before_save=None):
        super().__init__()
        self.manager = manager
        self.every = every
        self.before_save = before_save
        self._last_saved = -1

    def _save(self, again: bool = False):
        step = int(self.model.step.numpy())
        if getattr(self.model, "non_finite_stop", None) is not None:
            return  # keep the last good checkpoint
        if again or step != self._last_saved:
            if self.before_save is not None:
                self.before_save(step)
            self.manager.save(checkpoint_number=step)
            self._last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.step.numpy()) % self.every == 0:
            self._save()

    def on_train_end(self, logs=None):
        # Again even at a step just saved: callbacks before this one (batch-norm
        # calibration) may have changed the state since.
        self._save(again=True)


class CalibrateBatchNorm(keras.callbacks.Callback):
    """Recomputes batch-norm statistics from the final weights when training ends.

    Put it before `PeriodicCheckpoint`, so the final checkpoint (what `export`
    serves) holds them. Training itself never reads the moving statistics, so
    the learned weights and a resumed run's path do not change.
    `inputs()` returns the batches of network inputs to average over.
    """

    def __init__(self, inputs, verbose: int = 0):
        super().__init__()
        self.inputs = inputs
        self.verbose = verbose

    def on_train_end(self, logs=None):
        if getattr(self.model, "non_finite_stop", None) is not None:
            return
        used = calibrate_batch_norm(self.model.network, self.inputs())
        if used and self.verbose:
            print(f"Batch-norm statistics recomputed from the final weights on {used} batches")


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training after `max_streak` skipped (non-finite) steps in a row.

    The model skips such steps itself; this callback turns a long streak into
    a stop with a message naming the step, the rule and the tensor, which
    `train` raises as `NonFiniteTrainingError` once `fit` has returned.
    """

    def __init__(self, max_streak: int):
        super().__init__()
        self.max_streak = max_streak

    def on_train_begin(self, logs=None):
        self.model.non_finite_stop = None

    def on_train_batch_end(self, batch, logs=None):
        longest = int(self.model.longest_streak.numpy())
        self.model.longest_streak.assign(self.model.non_finite_streak)
        if longest < self.max_streak:
            return
        step = int(self.model.step.numpy())
        tensor = NON_FINITE_TENSORS.get(int(self.model.non_finite_tensor.numpy()), "unknown")
        self.model.non_finite_stop = (
            f"Stopped at step {step}: {longest} steps in a row had a non-finite {tensor} "
            f"(NaN or Inf) with gradient rule {self.model.scheme.name!r} "
            f"({self.model.scheme.rule.get_config()}); the limit is {self.max_streak} "
            "(--max-skipped-steps). Weights and checkpoints are those of the last good step"
        )
        self.model.stop_training = True


class ProfileSteps(keras.callbacks.Callback):
    """Records a TensorBoard profile of `chunks` compiled calls, from call `first_chunk` on.

    The first call traces and compiles the step, so profiling starts after it.
    """

    def __init__(self, logdir: str, first_chunk: int = 1, chunks: int = 2):
        super().__init__()
        self.logdir = logdir
        self.first_chunk = first_chunk
        self.last_chunk = first_chunk + chunks - 1
        self._chunk = 0
        self._running = False

    def on_train_batch_begin(self, batch, logs=None):
        if self._chunk == self.first_chunk and not self._running:
            tf.profiler.experimental.start(self.logdir)
            self._running = True

    def on_train_batch_end(self, batch, logs=None):
        if self._running and self._chunk >= self.last_chunk:
            self._stop()
        self._chunk += 1

    def on_train_end(self, logs=None):
        if self._running:
            self._stop()

    def _stop(self):
        tf.profiler.experimental.stop()
        self._running = False


class FieldImages(keras.callbacks.Callback):
    """Writes `Problem.image_summary` of a fixed batch to TensorBoard every `every` steps.

    The batch (`examples` events from the data stream `(seed, −2)`, apart from
    training's) stays the same all run, so the images show one prediction
    improving. Problems whose `image_summary` returns None get no images.
    """

    def __init__(self, writer: tf.summary.SummaryWriter, every: int, seed: int, examples: int = 4):
        super().__init__()
        self.writer = writer
        self.every = every
        self.seed = seed
        self.examples = examples
        self._batch = None
        self._last_step = None

    def on_train_begin(self, logs=None):
        problem = self.model.problem
        if not problem.has("image_summary"):
            return  # the Problem default: no images, and no forward pass to find out
        self._batch = problem.generate(self.examples, tf.constant([self.seed, -2], tf.int64))
        self._last_step = int(self.model.step.numpy())
        if self._images() is None:
            self._batch = None

    def _images(self):
        x = self.model.predict_x(self._batch, training=False)
        y = self.model.simulate(x, self._batch)
        return self.model.problem.image_summary(self._batch, x, y)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step.numpy())
        if self._batch is None or step - self._last_step < self.every:
            return
        self._last_step = step
        with self.writer.as_default(step=step):
            tf.summary.image("y*, predicted x, x*, P(x)", self._images(), max_outputs=self.examples)
