"""What a batch is, and the one way it is cast for the physics.

A batch is a dict of tensors with the batch on axis 0: `y_target` (the observation
`y*`), `x_target` (the truth `x*`, where known) and the problem's per-example context
(everything else, e.g. sin's `a`, the fluid's `marker0`), which `simulate` receives.

Training, per-event solving, export and the benchmarks all hand the physics its inputs
through `physics_inputs`, so they agree on what is cast: floating tensors go to the
physics dtype; integer and boolean context (indices, masks) keeps its dtype.

Events handed in from outside (files, requests) are checked by `check_observations`
before any work, so a bad event fails the call up front, never halfway through a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf

__all__ = [
    "X_TARGET",
    "Y_TARGET",
    "Batch",
    "PhysicsInputs",
    "cast_context",
    "check_observations",
    "context_of",
    "physics_inputs",
]

#: Keys every generated batch has; all other keys are per-example context.
Y_TARGET = "y_target"
X_TARGET = "x_target"

Batch = Mapping[str, tf.Tensor]


class PhysicsInputs(NamedTuple):
    """A batch as the physics sees it: `y*` and the context, in the physics dtype."""

    y_target: tf.Tensor
    context: dict[str, tf.Tensor]


def context_of(batch: Batch) -> dict[str, tf.Tensor]:
    """The per-example context of a batch: every key but `y_target` and `x_target`."""
    return {k: v for k, v in batch.items() if k not in (Y_TARGET, X_TARGET)}


def cast_context(context: Mapping[str, tf.Tensor], dtype: tf.DType | str) -> dict[str, tf.Tensor]:
    """Floating context values cast to `dtype`; integer and boolean ones keep theirs."""
    dtype = tf.as_dtype(dtype)
    out = {}
    for key, value in context.items():
        value = tf.convert_to_tensor(value)
        out[key] = tf.cast(value, dtype) if value.dtype.is_floating else value
    return out


def physics_inputs(batch: Batch, dtype: tf.DType | str) -> PhysicsInputs:
    """`y*` and the context of `batch`, cast for a physics that runs in `dtype`."""
    y_target = tf.cast(batch[Y_TARGET], tf.as_dtype(dtype))
    return PhysicsInputs(y_target, cast_context(context_of(batch), dtype))


def check_observations(
    observations: Sequence | np.ndarray | tf.Tensor,
    expected_shape: tuple[int, ...] | None,
    problem: str,
) -> np.ndarray:
    """Events `y*` as one array, or a ValueError naming the events that are unusable.

    Every event must have `expected_shape` (None: all events alike) and only
    finite, numeric samples.
    """
    events = [np.asarray(event) for event in observations]
    if not events:
        raise ValueError("Expected at least one event. Received: 0 events")
    shapes = {event.shape for event in events}
    if expected_shape is None and len(shapes) > 1:
        expected_shape = events[0].shape
    if expected_shape is not None:
        wrong = [i for i, event in enumerate(events) if event.shape != tuple(expected_shape)]
        if wrong:
            first = wrong[0]
            raise ValueError(
                f"Event {first} has shape {events[first].shape}; expected "
                f"{tuple(expected_shape)} for problem {problem!r}. "
                f"Events with the wrong shape: {_indices(wrong)}"
            )
    values = np.stack(events)
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"Expected numeric events. Received: dtype={values.dtype}")
    finite = np.isfinite(values.reshape(len(events), -1))
    bad = np.flatnonzero(~finite.all(axis=1))
    if bad.size:
        first = int(bad[0])
        raise ValueError(
            f"Event {first} holds {int((~finite[first]).sum())} NaN or infinite samples "
            f"of {finite.shape[1]}; expected finite values. "
            f"Events with NaN or Inf: {_indices(bad.tolist())}"
        )
    return values


def _indices(indices: Sequence[int], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")
