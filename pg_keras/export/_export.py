"""Export a trained run to `BASE/NAME/<version>/`, the layout TF Serving polls.

    BASE/NAME/3/saved_model.pb, variables/      serving_default, with_residual, refine
    BASE/NAME/3/assets.extra/config.json        the run's TrainingConfig
    BASE/NAME/3/assets.extra/problem.json       the problem spec
    BASE/NAME/3/assets.extra/metrics.json       the last point of the run's curve
    BASE/NAME/3/assets.extra/serving.json       the signatures, their inputs, refine's default
    BASE/NAME/3/assets.extra/tf_serving_warmup_requests

A version is written into a hidden sibling directory and renamed into place, so a
server polling BASE/NAME never sees a half-written version (its name is no integer).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import tempfile
from collections.abc import Sequence

import tensorflow as tf

from pg_keras.export._module import MAX_REFINE_ITERATIONS, InverseSolverModule
from pg_keras.export._serving import ExportError, serving_inputs
from pg_keras.export._warmup import WARMUP_FILE, write_warmup_requests
from pg_keras.problems import Problem

# TF Serving takes any name, but it lands in a path and in URLs (/v1/models/NAME).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_model_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ExportError(
            "Expected a model name of letters, digits, '_', '.' or '-', starting with a letter "
            f"or digit, at most 128 characters. Received: name={name!r}"
        )
    return name


def versions(model_dir: pathlib.Path) -> list[int]:
    """The version numbers under `model_dir`: its children named by an integer, as TF Serving."""
    if not model_dir.is_dir():
        return []
    return sorted(
        int(child.name) for child in model_dir.iterdir() if child.is_dir() and child.name.isdigit()
    )


def next_version(model_dir: pathlib.Path) -> int:
    """1 for a new model, else the largest existing version + 1."""
    existing = versions(model_dir)
    return existing[-1] + 1 if existing else 1


def load_run(run_dir: str | pathlib.Path):
    """`(config, problem, network, step)` from a run directory's config and latest checkpoint,
    the network computing in float32 (`restore_run`'s `as_served`)."""
    from pg_keras.training.checkpoints import restore_run
    from pg_keras.training.run import RunDirectoryError

    try:
        config, problem, model, _ = restore_run(run_dir, as_served=True)
    except RunDirectoryError as e:
        raise ExportError(str(e)) from None
    return config, problem, model.network, int(model.step.numpy())


def _final_metrics(run_dir: pathlib.Path, step: int) -> dict:
    curve_path = run_dir / "curve.json"
    points = json.loads(curve_path.read_text()) if curve_path.exists() else []
    points = [p for p in points if p["step"] <= step]
    return {"checkpoint_step": step, **(points[-1] if points else {})}


def _serving_description(problem: Problem, module: InverseSolverModule) -> dict:
    inputs = {
        name: {"dtype": spec.dtype.name, "shape": [d for d in spec.shape.as_list()]}
        for name, spec in serving_inputs(problem).items()
    }
    description = {
        "inputs": inputs,
        "signatures": {
            "serving_default": {"inputs": sorted(inputs), "outputs": ["x"]},
            "with_residual": {"inputs": sorted(inputs), "outputs": ["residual", "x", "y"]},
        },
    }
    if "refine" in module.signatures():
        description["signatures"]["refine"] = {
            "inputs": sorted([*inputs, "iterations"]),
            "outputs": ["x"],
            "iterations": {
                "required": False,
                "default": problem.refine_iterations,
                "shape": "[batch] (one count per event) or [1] (one for the request)",
                "max": MAX_REFINE_ITERATIONS,
            },
        }
    return description


def _writable_model_dir(base_path: pathlib.Path, name: str) -> pathlib.Path:
    model_dir = base_path / name
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        probe = pathlib.Path(tempfile.mkdtemp(dir=model_dir, prefix=".write-test-"))
        probe.rmdir()
    except OSError as error:
        raise ExportError(
            f"Cannot write to base path {str(base_path)!r}: {error.strerror or error}. "
            "Expected a writable directory (pass another --base-path)"
        ) from None
    return model_dir


def export_run(
    run_dir: str | pathlib.Path,
    name: str,
    base_path: str | pathlib.Path = "saved_models",
    warmup_batch_sizes: Sequence[int] = (1, 4),
) -> pathlib.Path:
    """Exports `run_dir`'s latest checkpoint as the next version of model `name`.

    Returns the version directory, `base_path/name/<version>`.

    Raises:
        ExportError: no config or checkpoint in `run_dir`, a bad `name`, an
            unwritable `base_path`, or a problem without serving shapes
            (`pg_keras.export._serving`); nothing is written then.
    """
    check_model_name(name)
    run_dir = pathlib.Path(run_dir)
    base_path = pathlib.Path(base_path)
    config, problem, network, step = load_run(run_dir)
    serving_inputs(problem)  # a problem without serving shapes fails before anything is written
    model_dir = _writable_model_dir(base_path, name)

    module = InverseSolverModule(problem, network)
    staging = pathlib.Path(tempfile.mkdtemp(dir=model_dir, prefix=".export-"))
    try:
        tf.saved_model.save(module, str(staging), signatures=module.signatures())
        extra = staging / "assets.extra"
        extra.mkdir()
        config.write(extra / "config.json")
        _write_json(extra / "problem.json", problem.describe())
        _write_json(extra / "metrics.json", _final_metrics(run_dir, step))
        _write_json(extra / "serving.json", _serving_description(problem, module))
        write_warmup_requests(extra / WARMUP_FILE, problem, name, warmup_batch_sizes, config.seed)
        # mkdtemp makes 0700; a server running as another user must read the version.
        for root, _dirs, files in os.walk(staging):
            os.chmod(root, 0o755)
            for file in files:
                os.chmod(os.path.join(root, file), 0o644)
        return _publish(staging, model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: pathlib.Path, model_dir: pathlib.Path) -> pathlib.Path:
    """Renames `staging` to the next free version; retries if another export took it."""
    for _ in range(100):
        target = model_dir / str(next_version(model_dir))
        try:
            # rename onto an existing non-empty directory fails, so two exports cannot collide
            os.rename(staging, target)
            return target
        except OSError:
            if not target.exists():
                raise
    raise ExportError(f"Cannot find a free version number under {str(model_dir)!r}")


def _write_json(path: pathlib.Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
