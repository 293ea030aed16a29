"""Trained runs as TF Serving SavedModels: `export_run` and what it writes.

A problem is exportable when it declares serving shapes (`observation_shape`, or
`serving_inputs` with `batch_from_serving`); `serving_inputs(problem)` resolves them
and `refine_rule(problem)` the rule of the `refine` signature (its `inverse`).
"""

from pg_keras.export._export import (
    check_model_name,
    export_run,
    load_run,
    next_version,
    versions,
)
from pg_keras.export._module import MAX_REFINE_ITERATIONS, InverseSolverModule, refine
from pg_keras.export._serving import ExportError, refine_rule, serving_inputs
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
    "refine_rule",
    "serving_inputs",
    "versions",
    "warmup_inputs",
    "write_warmup_requests",
]
