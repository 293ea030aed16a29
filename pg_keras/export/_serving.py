"""A problem's serving hooks, resolved: what a request holds, how it becomes a batch, and
which rule `refine` repeats.

Export needs serving shapes: `Problem.observation_shape()` for a problem whose request
is the observation `y*` itself, or `Problem.serving_inputs()` (with
`batch_from_serving`) for one whose network sees more. Without either, export says so
before anything is written.
"""

from __future__ import annotations

import tensorflow as tf

from pg_keras.batch import Y_TARGET
from pg_keras.problems import Problem
from pg_keras.rules.base import GradientRule

__all__ = ["ExportError", "refine_rule", "serving_inputs"]


class ExportError(ValueError):
    """The run cannot be exported (no checkpoint, bad name, unwritable base path, no
    serving shapes)."""


def serving_inputs(problem: Problem) -> dict[str, tf.TensorSpec]:
    """What an exported model takes per request: float32 tensors by name, batch on axis 0.

    The names are keys of `generate`'s batch, so that warm-up requests come from the
    data generator.
    """
    declared = problem.serving_inputs()
    if declared is not None:
        return dict(declared)
    shape = problem.observation_shape()
    if shape is None:
        raise ExportError(
            f"Problem {problem.name!r} declares no serving shapes. Expected it to override "
            "`observation_shape()` (a request is y* itself) or `serving_inputs()` and "
            "`batch_from_serving()` (a request holds what the network sees)"
        )
    return {Y_TARGET: tf.TensorSpec([None, *shape], tf.float32, name=Y_TARGET)}


def refine_rule(problem: Problem) -> GradientRule | None:
    """The rule whose update `x ← x − Δx` the exported `refine` signature repeats.

    The `inverse-physics` scheme's rule, the problem's own inverse solver; None (no
    `refine` signature) where the problem has none.
    """
    make = problem.schemes().get("inverse-physics")
    if make is None:
        return None
    rule = make().rule
    return rule if isinstance(rule, GradientRule) and rule.is_physical else None
