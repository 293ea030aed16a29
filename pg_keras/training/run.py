"""One training run: config in, TensorBoard logs, checkpoints and a learning curve out.

A run lives in one directory:

    RUN_DIR/config.json        the resolved TrainingConfig
    RUN_DIR/problem.json       the problem spec
    RUN_DIR/events.out.*       TensorBoard scalars and hparams
    RUN_DIR/checkpoints/       network + optimizer (step counter included)
    RUN_DIR/curve.json         one point per logged chunk, appended on resume

Starting a run in a directory that holds a checkpoint resumes it: weights,
optimizer state and step come back, and the data stream continues where it
stopped, because the batch for step k is generated from the seed `(seed, k)`.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import statistics

import keras
import tensorflow as tf

from pg_keras.config import TrainingConfig
from pg_keras.problems import Problem, get_problem
from pg_keras.training.callbacks import CurveRecorder, PeriodicCheckpoint
from pg_keras.training.model import PhysicsModel


class RunDirectoryError(ValueError):
    """The run directory cannot be used (unwritable, or holds a different run)."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    run_dir: pathlib.Path
    config: TrainingConfig
    points: list[dict]
    """One dict per logged chunk: step, loss, y_loss, x_mae, pg_norm, step_time_ms."""

    @property
    def final(self) -> dict:
        last = self.points[-1]
        return {"y_loss": last["y_loss"], "x_mae": last["x_mae"]}

    @property
    def step_times_ms(self) -> list[float]:
        """Per-step wall times, without each session's first chunk (it traces the graph)."""
        return [p["step_time_ms"] for p in self.points if not p.get("first_chunk")]

    @property
    def median_step_time_ms(self) -> float:
        times = self.step_times_ms or [p["step_time_ms"] for p in self.points]
        return statistics.median(times)


def resolve(config: TrainingConfig, problem: Problem) -> TrainingConfig:
    """Fills the config's open choices from the scheme and problem defaults (the paper's)."""
    scheme = problem.scheme(config.gradient)
    checkpoint_every = -(-config.checkpoint_every // config.log_every) * config.log_every
    return dataclasses.replace(
        config,
        batch_size=config.batch_size or problem.batch_size,
        learning_rate=config.learning_rate or scheme.learning_rate or problem.learning_rate,
        optimizer=config.optimizer or scheme.optimizer or problem.optimizer,
        checkpoint_every=checkpoint_every,
    )


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "sgd-momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    raise ValueError(f"Unknown optimizer {name!r}. Expected 'adam' or 'sgd-momentum'")


def make_dataset(problem: Problem, batch_size: int, seed: int, first_step: int, last_step: int):
    """Batches for steps `first_step .. last_step − 1`, generated in TF ops, prefetched."""
    steps = tf.data.Dataset.range(first_step, last_step)
    dataset = steps.map(
        lambda k: problem.generate(batch_size, tf.stack([tf.constant(seed, tf.int64), k])),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def prepare_run_dir(run_dir: pathlib.Path, config: TrainingConfig) -> None:
    """Creates `run_dir`, or checks that the run it holds is this one, before any training."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise RunDirectoryError(
            f"Cannot write to log directory {str(run_dir)!r}: {error.strerror}. "
            "Expected a writable directory (pass another --logdir)"
        ) from None
    stored = run_dir / "config.json"
    if stored.exists():
        previous = TrainingConfig.read(stored)
        if dataclasses.replace(previous, steps=config.steps) != config:
            differing = [
                f"{f.name}={getattr(previous, f.name)!r}"
                for f in dataclasses.fields(config)
                if f.name != "steps" and getattr(previous, f.name) != getattr(config, f.name)
            ]
            raise RunDirectoryError(
                f"Log directory {str(run_dir)!r} holds a run with other settings "
                f"({', '.join(differing)}). Expected the same settings to resume it, "
                "or a new --logdir"
            )


def _write_hparams(writer, config: TrainingConfig, problem: Problem) -> None:
    from tensorboard.plugins.hparams import api as hp

    values = {k: v for k, v in config.to_dict().items() if v is not None and k != "spec"}
    values.update({f"spec.{k}": str(v) for k, v in config.spec.items()})
    values["physics_dtype"] = problem.physics_dtype.name
    with writer.as_default():
        hp.hparams(values, trial_id=f"{config.problem}/{config.gradient}/seed{config.seed}")


def build_model(problem: Problem, config: TrainingConfig, initial_weights=None) -> PhysicsModel:
    """The network (seeded by `config.seed`) wrapped for training with the config's scheme."""
    keras.utils.set_random_seed(config.seed)
    network = problem.build_network()
    if initial_weights is not None:
        network.set_weights(initial_weights)
    model = PhysicsModel(problem, network, problem.scheme(config.gradient), config.reduction)
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate),
        steps_per_execution=config.log_every,
        jit_compile=config.jit_compile,
    )
    model.optimizer.build(network.trainable_variables)
    return model


def train(
    config: TrainingConfig,
    run_dir: str | pathlib.Path,
    verbose: int = 1,
    initial_weights=None,
) -> RunResult:
    """Trains (or resumes) one run in `run_dir` and returns its learning curve."""
    problem = get_problem(config.problem, config.spec)
    config = resolve(config, problem)
    run_dir = pathlib.Path(run_dir)
    prepare_run_dir(run_dir, config)
    config.write(run_dir / "config.json")
    (run_dir / "problem.json").write_text(json.dumps(problem.describe(), indent=2) + "\n")

    model = build_model(problem, config, initial_weights)
    checkpoint = tf.train.Checkpoint(network=model.network, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(checkpoint, str(run_dir / "checkpoints"), max_to_keep=2)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    first_step = int(model.optimizer.iterations.numpy())

    curve_path = run_dir / "curve.json"
    points = json.loads(curve_path.read_text()) if curve_path.exists() else []
    points = [p for p in points if p["step"] <= first_step]
    remaining = config.steps - first_step
    if remaining > 0:
        if verbose and first_step:
            print(f"Resuming {run_dir} from step {first_step} of {config.steps}")
        writer = tf.summary.create_file_writer(str(run_dir))
        if not first_step:
            _write_hparams(writer, config, problem)
        recorder = CurveRecorder(writer)
        model.fit(
            make_dataset(problem, config.batch_size, config.seed, first_step, config.steps),
            epochs=1,
            steps_per_epoch=remaining,
            callbacks=[recorder, PeriodicCheckpoint(manager, config.checkpoint_every)],
            verbose=verbose,
            shuffle=False,
        )
        writer.close()
        points += recorder.points
        curve_path.write_text(json.dumps(points) + "\n")
    return RunResult(run_dir=run_dir, config=config, points=points)
