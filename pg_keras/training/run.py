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
import os
import pathlib
import shutil
import statistics
import tempfile
import time

import keras
import tensorflow as tf

from pg_keras.config import LR_SCHEDULES, TrainingConfig
from pg_keras.networks import resolve_network_dtype
from pg_keras.problems import Problem, get_problem
from pg_keras.training.callbacks import (
    CalibrateBatchNorm,
    CurveRecorder,
    FieldImages,
    NonFiniteGuard,
    PeriodicCheckpoint,
    ProfileSteps,
)
from pg_keras.training.model import PhysicsModel

#: Data-stream positions far past any training step: held-out evaluation batches, and
#: the batches batch norm's inference statistics are computed on after training.
EVALUATION_STREAM = 10**12
CALIBRATION_STREAM = 2 * 10**12

#: Steps between TensorBoard images of the problem's fields (`Problem.image_summary`).
IMAGE_EVERY = 200


class RunDirectoryError(ValueError):
    """The run directory cannot be used (unwritable, or holds a different run)."""


class NonFiniteTrainingError(RuntimeError):
    """Training stopped after too many non-finite steps in a row."""


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
    """Fills the config's open choices from the scheme and problem defaults (the paper's),
    and names the dtype an `"auto"` network computes in on this machine, so that the
    run's config.json says which it was."""
    scheme = problem.scheme(config.gradient)
    checkpoint_every = -(-config.checkpoint_every // config.log_every) * config.log_every
    spec = dict(config.spec)
    if getattr(problem.spec, "network_dtype", None) == "auto":
        spec["network_dtype"] = resolve_network_dtype("auto")
    return dataclasses.replace(
        config,
        batch_size=config.batch_size or problem.batch_size,
        learning_rate=config.learning_rate or scheme.learning_rate or problem.learning_rate,
        optimizer=config.optimizer or scheme.optimizer or problem.optimizer,
        checkpoint_every=checkpoint_every,
        spec=spec,
    )


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """A resolved config's optimizer: Adam or SGD with momentum, at a constant learning rate
    or one that follows `lr_schedule` over `steps` (driven by the optimizer's own step
    counter, which checkpoints keep, so a resumed run goes on along it)."""
    name, learning_rate, schedule = config.optimizer, config.learning_rate, config.lr_schedule
    if schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, config.steps)
    elif schedule != "constant":
        raise ValueError(f"Unknown lr_schedule {schedule!r}. Expected one of {LR_SCHEDULES}")
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


def data_generation_times_ms(
    problem: Problem, batch_size: int, seed: int, batches: int = 20
) -> list[float]:
    """Milliseconds to generate each of `batches` batches alone (compiled, after a warm-up)."""
    generate = tf.function(
        lambda k: problem.generate(batch_size, tf.stack([tf.constant(seed, tf.int64), k]))
    )
    generate(tf.constant(0, tf.int64))
    times = []
    for k in range(1, batches + 1):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), generate(tf.constant(k, tf.int64)))
        times.append(1000.0 * (time.perf_counter() - start))
    return times


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

        def change(name: str) -> str:
            text = f"{name}={getattr(previous, name)!r}, now {getattr(config, name)!r}"
            if name == "steps":  # refused only under a learning rate that decays over them
                text += f" (the {config.lr_schedule} learning rate decays over the steps)"
            return text

        differing = [
            change(f.name)
            for f in dataclasses.fields(config)
            if f.name not in config.resumable_changes
            and getattr(previous, f.name) != getattr(config, f.name)
        ]
        if differing:
            raise RunDirectoryError(
                f"Log directory {str(run_dir)!r} holds a run with other settings "
                f"({', '.join(differing)}). Expected the same settings to resume it, "
                "or a new --logdir"
            )


def restore_checkpoint(checkpoint: tf.train.Checkpoint, path: str) -> None:
    """Restores `path` into `checkpoint`, every weight of the model bound to a saved value.

    Raises:
        RunDirectoryError: the checkpoint does not fit this network (e.g. one saved by an
            older pg_keras whose U-Net had other layers); nothing was trained or written.
    """
    try:
        checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError) as error:
        first_line = str(error).splitlines()[0]
        raise RunDirectoryError(
            f"Checkpoint {path!r} does not fit this network ({first_line}). Expected a "
            "checkpoint saved by this version of pg_keras for the run's config; an older "
            "version's runs are finished or exported with that version"
        ) from None


def _write_hparams(writer, config: TrainingConfig, problem: Problem) -> None:
    from tensorboard.plugins.hparams import api as hp

    values = {k: v for k, v in config.to_dict().items() if v is not None and k != "spec"}
    values.update({f"spec.{k}": str(v) for k, v in config.spec.items()})
    values["physics_dtype"] = problem.physics_dtype.name
    with writer.as_default():
        hp.hparams(values, trial_id=f"{config.problem}/{config.gradient}/seed{config.seed}")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy a run trains under.

    "mirrored" replicates over all local GPUs, or, on a machine without GPUs,
    over all logical CPU devices (configure several with
    `tf.config.set_logical_device_configuration` for testing). "multi-worker"
    reads the cluster from `TF_CONFIG`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {name!r}. Expected 'default', 'mirrored' or 'multi-worker'")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes logs and the real checkpoints (always, without a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def steps_per_call(config: TrainingConfig) -> int:
    """Steps per compiled call: `log_every` on one device, one under a distribution strategy.

    The step's "skip a non-finite update" condition around the optimizer's
    cross-replica update fails to run inside Keras's multi-step loop (TF 2.21,
    Keras 3.15: "You must feed a value for placeholder tensor ... while/cond"),
    so distributed runs make one call per step; points still span `log_every` steps.
    """
    return config.log_every if config.strategy == "default" else 1


def build_model(problem: Problem, config: TrainingConfig, initial_weights=None) -> PhysicsModel:
    """The network (seeded by `config.seed`) wrapped for training with the config's scheme.

    Call it inside the strategy's scope for distributed training.
    """
    keras.utils.set_random_seed(config.seed)
    network = problem.build_network()
    if initial_weights is not None:
        network.set_weights(initial_weights)
    model = PhysicsModel(problem, network, problem.scheme(config.gradient), config.reduction)
    model.compile(
        optimizer=make_optimizer(config),
        steps_per_execution=steps_per_call(config),
        jit_compile=config.jit_compile,
    )
    model.optimizer.build(network.trainable_variables)
    return model


def calibration_inputs(problem: Problem, config: TrainingConfig, batches: int):
    """Network inputs of the `batches` batches batch norm's statistics are averaged over."""
    first = CALIBRATION_STREAM
    dataset = make_dataset(problem, config.batch_size, config.seed, first, first + batches)
    return (problem.network_input(batch) for batch in dataset)


def checkpoint_manager(
    checkpoint: tf.train.Checkpoint, run_dir: pathlib.Path
) -> tf.train.CheckpointManager:
    """Writes `run_dir/checkpoints`, keeping the last two (one to fall back on)."""
    return tf.train.CheckpointManager(checkpoint, str(run_dir / "checkpoints"), max_to_keep=2)


def make_checkpoint(model: PhysicsModel) -> tf.train.Checkpoint:
    """Everything a resumed run needs: weights, optimizer state and the step counters."""
    return tf.train.Checkpoint(
        network=model.network,
        optimizer=model.optimizer,
        step=model.step,
        skipped_steps=model.skipped_steps,
    )


def train(
    config: TrainingConfig,
    run_dir: str | pathlib.Path,
    verbose: int = 1,
    initial_weights=None,
    profile: bool = False,
) -> RunResult:
    """Trains (or resumes) one run in `run_dir` and returns its learning curve.

    Raises:
        RunDirectoryError: `run_dir` is unwritable or holds a run with other settings.
        NonFiniteTrainingError: `config.max_skipped_steps` steps in a row were
            non-finite; the checkpoints keep the last good state.
    """
    problem = get_problem(config.problem, config.spec)
    config = resolve(config, problem)
    strategy = make_strategy(config.strategy)
    chief = is_chief(strategy)
    run_dir = pathlib.Path(run_dir)
    # Non-chief workers take part in every collective save but write to scratch space.
    write_dir = run_dir if chief else pathlib.Path(tempfile.mkdtemp(prefix="pg-keras-worker-"))
    prepare_run_dir(write_dir, config)
    if chief:
        config.write(run_dir / "config.json")
        (run_dir / "problem.json").write_text(json.dumps(problem.describe(), indent=2) + "\n")

    with strategy.scope():
        model = build_model(problem, config, initial_weights)
        checkpoint = make_checkpoint(model)
        manager = checkpoint_manager(checkpoint, write_dir)
        latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
        if latest:
            restore_checkpoint(checkpoint, latest)
    first_step = int(model.step.numpy())

    curve_path = run_dir / "curve.json"
    points = json.loads(curve_path.read_text()) if curve_path.exists() else []
    points = [p for p in points if p["step"] <= first_step]
    remaining = config.steps - first_step
    if remaining > 0:
        if verbose and first_step:
            print(f"Resuming {run_dir} from step {first_step} of {config.steps}")
        writer = tf.summary.create_file_writer(str(run_dir)) if chief else None
        if writer is not None and not first_step:
            _write_hparams(writer, config, problem)
        recorder = CurveRecorder(writer, config.log_every)

        def save_curve(step):
            if chief:  # whole or not at all: a kill mid-write leaves the last curve
                curve = points + [p for p in recorder.points if p["step"] <= step]
                partial = curve_path.with_name(curve_path.name + ".partial")
                partial.write_text(json.dumps(curve) + "\n")
                os.replace(partial, curve_path)

        callbacks = [
            NonFiniteGuard(config.max_skipped_steps),
            recorder,
            CalibrateBatchNorm(
                lambda: calibration_inputs(problem, config, config.calibration_batches),
                verbose=verbose if chief else 0,
            ),
            PeriodicCheckpoint(manager, config.checkpoint_every, before_save=save_curve),
        ]
        if writer is not None:
            callbacks.append(FieldImages(writer, IMAGE_EVERY, config.seed))
        if profile:
            callbacks.append(ProfileSteps(str(run_dir / "profile"), first_chunk=1, chunks=2))
        model.fit(
            make_dataset(problem, config.batch_size, config.seed, first_step, config.steps),
            epochs=1,
            steps_per_epoch=remaining,
            callbacks=callbacks,
            verbose=verbose if chief else 0,
            shuffle=False,
        )
        if writer is not None:
            writer.close()
        points += recorder.points
        if model.non_finite_stop is not None:
            raise NonFiniteTrainingError(model.non_finite_stop)
    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
    result = RunResult(run_dir=run_dir, config=config, points=points)
    if profile and chief:
        generation = statistics.median(
            data_generation_times_ms(problem, config.batch_size, config.seed)
        )
        step = result.median_step_time_ms
        print(
            f"Profile: {run_dir / 'profile'} (TensorBoard, Profile tab). Data generation alone: "
            f"{generation:.2f} ms per batch, {100 * generation / step:.0f}% of the "
            f"{step:.2f} ms step (generation overlaps training through tf.data prefetch)"
        )
    return result
