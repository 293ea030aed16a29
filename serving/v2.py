"""The Open Inference Protocol (KServe/Triton "V2"), transport-independent part.

The same models, versions and labels as the TF Serving API answer here, under V2's names:

- A **model's V2 metadata** is its `serving_default` signature: each input and output alias
  is a tensor name, its dtype a V2 datatype (DT_FLOAT: FP32, DT_INT32: INT32, DT_STRING:
  BYTES, ...), its shape the signature's (-1 for any size). `versions` lists the loaded
  versions; `platform` is "tensorflow_savedmodel".
- **Other signatures** (`refine`, `with_residual`) are chosen by the request parameter
  `signature_name`, as TF Serving's `signature_name`; their inputs are tensors like any
  other (`refine`'s `iterations` is an INT32 tensor of shape [N]).
- **Versions**: a V2 version string of digits is that version; any other is a version
  label (`/v2/models/heat/versions/stable`); empty is the latest, as in TF Serving.

Inputs are checked against the signature (names, datatypes, shapes, `--pg_max_input_bytes`)
from what the request declares, before a single element is decoded; then the request cost
(`--pg_max_request_cost`), as for the TF Serving API (`serving.limits`). The REST routes
are `serving._rest_v2`, the gRPC service `serving.grpc_v2`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from tensorflow.core.protobuf import meta_graph_pb2

from serving import _v2_tensors
from serving.errors import FailedPreconditionError, InvalidArgumentError, ServingError
from serving.limits import RequestLimits, check_cost, check_declared_inputs
from serving.manager import ServableManager
from serving.servable import DEFAULT_SIGNATURE, Servable

__all__ = [
    "EXTENSIONS",
    "PLATFORM",
    "SERVER_NAME",
    "SERVER_VERSION",
    "SIGNATURE_PARAMETER",
    "InferCall",
    "TensorSpec",
    "V2Api",
]

SERVER_NAME = "pg-model-server"
SERVER_VERSION = "0.1.0"
#: Protocol extensions the server speaks (REST's binary tensor data).
EXTENSIONS = ("binary_tensor_data",)
PLATFORM = "tensorflow_savedmodel"
#: The request parameter that names the signature to run (default `serving_default`).
SIGNATURE_PARAMETER = "signature_name"
_INT64_MAX = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """An input tensor as a request declares it, before its elements are read."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class InferCall:
    """What one infer request runs: a servable and one of its signatures."""

    servable: Servable
    signature_name: str
    signature: meta_graph_pb2.SignatureDef

    def output_datatype(self, alias: str) -> str:
        return _v2_tensors.datatype_for_dtype(self.signature.outputs[alias].dtype)


def _shape(info: meta_graph_pb2.TensorInfo) -> list[int]:
    if info.tensor_shape.unknown_rank:
        return []
    return [int(d.size) for d in info.tensor_shape.dim]


def _tensor_metadata(signature: meta_graph_pb2.SignatureDef, which: str) -> list[dict]:
    tensors = getattr(signature, which)
    return [
        {
            "name": alias,
            "datatype": _v2_tensors.datatype_for_dtype(tensors[alias].dtype),
            "shape": _shape(tensors[alias]),
        }
        for alias in sorted(tensors)
    ]


def _version_and_label(version: str) -> tuple[int | None, str | None]:
    if not version:
        return None, None
    if version.isdigit():
        number = int(version)
        if number > _INT64_MAX:
            raise InvalidArgumentError(f"Failed to convert version: {version} to numeric.")
        return number, None
    return None, version


class V2Api:
    """V2 answers over the servable manager; both transports call it.

    `not_ready_reason()` says why the server cannot serve now ("" when it can): it is the
    server's readiness, shared with `/ready` and gRPC health.
    """

    def __init__(
        self,
        manager: ServableManager,
        not_ready_reason: Callable[[], str] = lambda: "",
        request_limits: RequestLimits | None = None,
        check_method_name: bool = False,
    ) -> None:
        self._manager = manager
        self._not_ready_reason = not_ready_reason
        self._limits = request_limits or RequestLimits()
        self._check_method_name = check_method_name

    # ---- health and metadata (no TF call) ------------------------------------------------

    def not_ready_reason(self) -> str:
        return self._not_ready_reason()

    def servable(self, name: str, version: str) -> Servable:
        """The servable a V2 (name, version) names; NOT_FOUND and label errors as TF Serving's."""
        return self._manager.get(name, *_version_and_label(version))

    def model_ready(self, name: str, version: str) -> bool:
        try:
            self.servable(name, version)
        except ServingError:
            return False
        return not self._not_ready_reason()

    @staticmethod
    def server_metadata() -> dict:
        return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}

    def model_metadata(self, name: str, version: str) -> dict:
        servable = self.servable(name, version)
        signature = servable.signature_def(DEFAULT_SIGNATURE)
        versions = self._manager.loaded_versions(name)
        return {
            "name": name,
            "versions": [str(v) for v in versions],
            "platform": PLATFORM,
            "inputs": _tensor_metadata(signature, "inputs"),
            "outputs": _tensor_metadata(signature, "outputs"),
        }

    # ---- inference -------------------------------------------------------------------------

    def prepare(self, name: str, version: str, signature_name: str = "") -> InferCall:
        servable = self.servable(name, version)
        key = signature_name or DEFAULT_SIGNATURE
        try:
            signature = servable.signature_def(key)
        except FailedPreconditionError:
            raise InvalidArgumentError(
                f"Expected parameter {SIGNATURE_PARAMETER} to name a signature of model {name}: "
                f"{', '.join(sorted(k for k in servable.signature_defs if not k.startswith('_')))}"
                f". Received: {key!r}"
            ) from None
        return InferCall(servable, key, signature)

    def check_inputs(self, call: InferCall, specs: Sequence[TensorSpec]) -> None:
        """INVALID_ARGUMENT for an input the signature lacks, sent twice, or of another
        datatype or shape; RESOURCE_EXHAUSTED past `--pg_max_input_bytes`. From what the
        request declares: nothing is decoded yet."""
        seen: set[str] = set()
        for spec in specs:
            if spec.name in seen:
                raise InvalidArgumentError(f"Expected each input once. Received: {spec.name} twice")
            seen.add(spec.name)
            info = call.signature.inputs.get(spec.name)
            if info is None:
                raise InvalidArgumentError(
                    f"Expected inputs of signature {call.signature_name}: "
                    f"{', '.join(sorted(call.signature.inputs))}. Received: {spec.name}"
                )
            expected = _v2_tensors.datatype_for_dtype(info.dtype)
            if spec.datatype != expected:
                raise InvalidArgumentError(
                    f"Expected datatype {expected} for input {spec.name}. Received: {spec.datatype}"
                )
            if any(d < 0 for d in spec.shape):
                raise InvalidArgumentError(
                    f"Expected a shape of sizes >= 0 for input {spec.name}. "
                    f"Received: {list(spec.shape)}"
                )
        check_declared_inputs(call.signature, {s.name: s.shape for s in specs}, self._limits)

    def run(
        self,
        call: InferCall,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str] = (),
        still_wanted: Callable[[], bool] | None = None,
    ) -> dict[str, np.ndarray]:
        """The signature's outputs (all, or those named) on decoded inputs; inputs the
        signature has a default for may be left out."""
        arrays = Servable.with_defaults(call.signature, inputs)
        check_cost(arrays, self._limits)
        return call.servable.run(
            call.signature_name,
            arrays,
            output_filter=list(outputs),
            check_method_name=self._check_method_name,
            still_wanted=still_wanted,
        )
