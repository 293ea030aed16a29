"""What `serving.client` answers with: model status and metadata, shared by both transports."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from serving.errors import InvalidArgumentError

__all__ = [
    "DEFAULT_SIGNATURE",
    "ModelMetadata",
    "SignatureInfo",
    "TensorInfo",
    "VersionStatus",
    "metadata_from_json",
    "tensor_info_from_json",
]

DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class VersionStatus:
    """One version's row of GetModelStatus."""

    version: int
    state: str  # "AVAILABLE", "LOADING", "END", ...
    error_code: str = "OK"
    error_message: str = ""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    dtype: str  # "DT_FLOAT", ...
    shape: tuple[int, ...] | None  # -1 for unknown sizes; None for unknown rank


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    method_name: str


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    """GetModelMetadata's answer: the version that answered and its SignatureDefs."""

    name: str
    version: int
    signatures: dict[str, SignatureInfo]

    def signature(self, name: str) -> SignatureInfo:
        if name not in self.signatures:
            raise InvalidArgumentError(
                f'Serving signature name: "{name}" not found in signature def'
            )
        return self.signatures[name]


def tensor_info_from_json(info: Mapping) -> TensorInfo:
    shape_json = info.get("tensor_shape", {})
    if shape_json.get("unknown_rank"):
        shape = None
    else:
        shape = tuple(int(d.get("size", 0)) for d in shape_json.get("dim", []))
    return TensorInfo(dtype=info.get("dtype", "DT_INVALID"), shape=shape)


def metadata_from_json(doc: Mapping) -> ModelMetadata:
    # Both transports go through the proto's JSON form, so they cannot drift apart.
    spec = doc.get("model_spec", {})
    signatures = {}
    for key, sig in doc["metadata"]["signature_def"].get("signature_def", {}).items():
        signatures[key] = SignatureInfo(
            inputs={a: tensor_info_from_json(i) for a, i in sig.get("inputs", {}).items()},
            outputs={a: tensor_info_from_json(i) for a, i in sig.get("outputs", {}).items()},
            method_name=sig.get("method_name", ""),
        )
    return ModelMetadata(
        name=spec.get("name", ""), version=int(spec.get("version", 0)), signatures=signatures
    )
