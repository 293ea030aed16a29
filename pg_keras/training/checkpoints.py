"""A finished run's checkpoint, opened: restored, evaluated in inference mode, calibrated.

For export, figures, tables and `pg-keras calibrate`; training itself resumes through
`pg_keras.training.run.train`.
"""

from __future__ import annotations

import pathlib

import keras
import tensorflow as tf

from pg_keras.config import TrainingConfig
from pg_keras.problems import Problem, get_problem
from pg_keras.training.batch_norm import calibrate_batch_norm
from pg_keras.training.run import (
    EVALUATION_STREAM,
    RunDirectoryError,
    build_model,
    calibration_inputs,
    checkpoint_manager,
    make_checkpoint,
    make_dataset,
    restore_checkpoint,
)

__all__ = ["calibrate_run", "evaluate_run", "latest_checkpoint", "restore_network", "restore_run"]


def latest_checkpoint(run_dir: str | pathlib.Path) -> str:
    """The path of a run's latest checkpoint.

    Raises:
        RunDirectoryError: `run_dir/checkpoints` holds no checkpoint.
    """
    latest = tf.train.latest_checkpoint(str(pathlib.Path(run_dir) / "checkpoints"))
    if latest is None:
        raise RunDirectoryError(
            f"Run directory {str(run_dir)!r} has no checkpoint in checkpoints/. "
            "Expected a run trained for at least one checkpoint interval"
        )
    return latest


def restore_run(run_dir: str | pathlib.Path, as_served: bool = False):
    """`(config, problem, model, checkpoint)` of a run, at its latest checkpoint.

    With `as_served`, a network trained in bfloat16 is rebuilt in float32 (its
    weights are float32 either way): exported models and their evaluation
    compute in float32, so they answer alike and fast on any machine, with or
    without native bfloat16.

    Raises:
        RunDirectoryError: `run_dir` has no config.json or no checkpoint.
    """
    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise RunDirectoryError(
            f"Run directory {str(run_dir)!r} has no config.json. "
            "Expected a directory written by `pg-keras train`"
        )
    latest = latest_checkpoint(run_dir)
    config = TrainingConfig.read(run_dir / "config.json")
    spec = dict(config.spec)
    if as_served and spec.get("network_dtype") == "bfloat16":
        spec["network_dtype"] = "float32"
    problem = get_problem(config.problem, spec)
    model = build_model(problem, config)
    checkpoint = make_checkpoint(model)
    restore_checkpoint(checkpoint, latest)
    return config, problem, model, checkpoint


def restore_network(problem: Problem, run_dir: str | pathlib.Path) -> tuple[keras.Model, str]:
    """`problem`'s network with the weights of a run's latest checkpoint, and that
    checkpoint's path: for figures and tables that rebuild the problem themselves, so the
    run's optimizer state is not needed.

    Raises:
        RunDirectoryError: `run_dir/checkpoints` holds no checkpoint.
    """
    latest = latest_checkpoint(run_dir)
    network = problem.build_network()
    tf.train.Checkpoint(network=network).restore(latest).expect_partial()
    return network, latest


def calibrate_run(run_dir: str | pathlib.Path, batches: int = 50) -> int:
    """Recomputes batch norm's statistics in a run's latest checkpoint, in place.

    For runs trained with `calibration_batches=0`, or before training did this
    itself: the checkpoint keeps its step number and everything else, so a
    resumed run goes on unchanged. Returns the number of batches used (0 for a
    network without batch norm, whose checkpoint is left alone).
    """
    run_dir = pathlib.Path(run_dir)
    config, problem, model, checkpoint = restore_run(run_dir)
    used = calibrate_batch_norm(model.network, calibration_inputs(problem, config, batches))
    if used:
        checkpoint_manager(checkpoint, run_dir).save(checkpoint_number=int(model.step.numpy()))
    return used


def evaluate_run(run_dir: str | pathlib.Path, batches: int = 4) -> dict:
    """`y_loss` and `x_mae` of a run's latest checkpoint in inference mode.

    Training curves are measured inside the train step, where batch
    normalisation uses each batch's own statistics; a user's inference uses the
    running statistics instead. This evaluates the network as it is served, on
    `batches` fresh batches that training never sees, with the problem's own
    metrics (`extra_metric_names`, e.g. the fluid's `zero_mae`) on the same batches.
    """
    config, problem, model, _ = restore_run(run_dir, as_served=True)
    first = EVALUATION_STREAM
    dataset = make_dataset(problem, config.batch_size, config.seed, first, first + batches)
    logs = model.evaluate(dataset, steps=batches, verbose=0, return_dict=True)
    names = ("y_loss", "x_mae", *problem.extra_metric_names)
    return {name: float(logs[name]) for name in names}
