"""What one request may ask of the server, checked before any work or allocation.

TF Serving trusts its clients here; a server open to anyone cannot. Three limits, shared by
the REST and gRPC front ends:

- **Shapes.** Every input's declared shape must fit the signature's (`[-1, 64, 64]` takes
  `[N, 64, 64]` only), read from the request before a tensor is built: a TensorProto of a few
  bytes may declare a shape that fills gigabytes.
- **Input bytes** (`--pg_max_input_bytes`): the memory the input tensors take once decoded,
  from their declared shapes and dtypes, again before they are built.
- **Cost** (`--pg_max_request_cost`): events (the largest 0th dimension) times the largest
  count of an integer `iterations` input, for signatures that have one (`refine`): a request
  of 80 bytes can otherwise ask for minutes of computation. Other signatures' work is bounded
  by their input bytes.

`AdmissionGate` bounds how many requests wait for the model at once, so that a flood is
refused at the door (UNAVAILABLE) instead of queueing without end.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2

from serving import _dtypes
from serving.errors import InvalidArgumentError, ResourceExhaustedError, UnavailableError

__all__ = [
    "ITERATIONS_INPUT",
    "MAX_RANK",
    "AdmissionGate",
    "RequestLimits",
    "check_cost",
    "check_declared_inputs",
]

#: The input whose largest value multiplies a request's cost (`refine`'s step count).
ITERATIONS_INPUT = "iterations"
#: numpy's limit on dimensions; TensorFlow's is higher, but nothing here could hold it.
MAX_RANK = 64
_MIB = 2**20


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Per-request limits (flags `--pg_max_request_cost`, `--pg_max_input_bytes`)."""

    max_request_cost: int = 100_000
    max_input_bytes: int = 64 * _MIB

    def __post_init__(self) -> None:
        for name in ("max_request_cost", "max_input_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"Expected {name} >= 1. Received: {name}={getattr(self, name)}")


def _shape_text(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def _check_shape(alias: str, shape: tuple[int, ...], info: meta_graph_pb2.TensorInfo) -> None:
    if len(shape) > MAX_RANK:
        raise InvalidArgumentError(
            f"Expected input {alias} of rank at most {MAX_RANK}. Received: rank {len(shape)}"
        )
    if info.tensor_shape.unknown_rank:
        return
    expected = [d.size for d in info.tensor_shape.dim]
    if len(shape) != len(expected) or any(
        want >= 0 and want != got for want, got in zip(expected, shape, strict=False)
    ):
        raise InvalidArgumentError(
            f"Expected input {alias} of shape {_shape_text(expected)} (-1: any size), as the "
            f"signature declares. Received: shape {_shape_text(shape)}"
        )


def _itemsize(dtype: int) -> int:
    try:
        return _dtypes.numpy_dtype(dtype).itemsize if dtype != _dtypes.DT_STRING else 8
    except ValueError:
        return 8


def check_declared_inputs(
    signature: meta_graph_pb2.SignatureDef,
    shapes: Mapping[str, tuple[int, ...]],
    limits: RequestLimits,
) -> None:
    """INVALID_ARGUMENT for a shape the signature does not take; RESOURCE_EXHAUSTED when the
    inputs would take more than `limits.max_input_bytes` once built. Inputs the signature
    lacks are left to the input-name check."""
    total = 0
    for alias in sorted(shapes):
        if alias not in signature.inputs:
            continue
        info = signature.inputs[alias]
        _check_shape(alias, shapes[alias], info)
        total += math.prod(shapes[alias]) * _itemsize(info.dtype)
    if total > limits.max_input_bytes:
        described = ", ".join(f"{a}: {_shape_text(shapes[a])}" for a in sorted(shapes))
        raise ResourceExhaustedError(
            f"Expected input tensors of at most {limits.max_input_bytes} bytes in all "
            f"(--pg_max_input_bytes). Received: shapes {described}, {total} bytes"
        )


def _iterations(inputs: Mapping[str, np.ndarray]) -> int:
    counts = inputs.get(ITERATIONS_INPUT)
    if counts is None or counts.size == 0 or counts.dtype.kind not in "iu":
        return 1
    return max(1, int(counts.max()))


def check_cost(inputs: Mapping[str, np.ndarray], limits: RequestLimits) -> None:
    """RESOURCE_EXHAUSTED when events × iterations exceeds `limits.max_request_cost`."""
    if ITERATIONS_INPUT not in inputs:
        return
    events = max((a.shape[0] for a in inputs.values() if a.ndim), default=1)
    iterations = _iterations(inputs)
    cost = events * iterations
    if cost > limits.max_request_cost:
        raise ResourceExhaustedError(
            f"Expected a request cost (events x iterations) of at most "
            f"{limits.max_request_cost} (--pg_max_request_cost). Received: {events} events x "
            f"{iterations} iterations = {cost}; send fewer events or iterations per request"
        )


class AdmissionGate:
    """At most `capacity` requests inside at once; the next is refused with UNAVAILABLE.

    `what` names the queue in the refusal, so a client's log says which one was full.
    """

    def __init__(self, capacity: int, what: str) -> None:
        if capacity < 1:
            raise ValueError(f"Expected capacity >= 1. Received: capacity={capacity}")
        self.capacity = capacity
        self._what = what
        self._inside = 0
        self._lock = threading.Lock()

    @property
    def inside(self) -> int:
        return self._inside

    @property
    def full(self) -> bool:
        return self._inside >= self.capacity

    def enter(self) -> None:
        with self._lock:
            if self._inside >= self.capacity:
                raise UnavailableError(
                    f"Server is at capacity: {self.capacity} {self._what} are already running "
                    "or waiting for the model; retry later"
                )
            self._inside += 1

    def leave(self) -> None:
        with self._lock:
            self._inside -= 1
