"""Trained runs as TF Serving SavedModels: `export_run` and what it writes."""

from pg_keras.export._export import (
    ExportError,
    check_model_name,
    export_run,
    load_run,
    next_version,
    versions,
)
from pg_keras.export._module import MAX_REFINE_ITERATIONS, InverseSolverModule, refine
from pg_keras.export._warmup import WARMUP_FILE, warmup_inputs, write_warmup_requests

__all__ = [
    "MAX_REFINE_ITERATIONS",
    "WARMUP_FILE",
    "ExportError",
    "InverseSolverModule",
    "check_model_name",
    "export_run",
    "load_run",
    "next_version",
    "refine",
    "versions",
    "warmup_inputs",
    "write_warmup_requests",
]
