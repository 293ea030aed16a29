"""Callbacks: learning-curve records, TensorBoard scalars, step timing, checkpoints."""

from __future__ import annotations

import time

import keras
import tensorflow as tf

from pg_keras.training.model import METRICS


class CurveRecorder(keras.callbacks.Callback):
    """Records one point per logged chunk and resets the metrics after it.

    The model runs `log_every` steps per compiled call; at the end of each call
    its metrics hold the mean over that chunk. This callback stores
    `(step, metrics...)`, the chunk's wall time per step, writes both to
    TensorBoard, then resets the metrics so the next point is the next chunk's
    mean rather than a running mean since step 0.
    """

    def __init__(self, writer: tf.summary.SummaryWriter | None = None):
        super().__init__()
        self.writer = writer
        self.points: list[dict] = []
        self._last_time: float | None = None
        self._last_step: int | None = None

    def on_train_begin(self, logs=None):
        self._last_time = time.perf_counter()
        self._last_step = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        step = int(self.model.optimizer.iterations.numpy())
        steps = max(step - self._last_step, 1)
        point = {"step": step, "step_time_ms": 1000.0 * (now - self._last_time) / steps}
        point["first_chunk"] = not self.points
        for name in (*METRICS, *self.model.problem.extra_metric_names):
            if name in logs:
                point[name] = float(logs[name])
        point["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        self.points.append(point)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for name, value in point.items():
                    if name not in ("step", "first_chunk"):
                        tf.summary.scalar(name, value)
        for metric in self.model.metrics:
            metric.reset_state()
        # Timed from here so the next chunk's time excludes this bookkeeping.
        self._last_time = time.perf_counter()
        self._last_step = step

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.flush()


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves the checkpoint every `every` steps and at the end of training."""

    def __init__(self, manager: tf.train.CheckpointManager, every: int):
        super().__init__()
        self.manager = manager
        self.every = every
        self._last_saved = -1

    def _save(self):
        step = int(self.model.optimizer.iterations.numpy())
        if step != self._last_saved:
            self.manager.save(checkpoint_number=step)
            self._last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.every == 0:
            self._save()

    def on_train_end(self, logs=None):
        self._save()
