"""GetModelStatus and GetModelMetadata answers, shared by the REST and gRPC front ends."""

from __future__ import annotations

from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from serving.errors import CANONICAL_CODES, InvalidArgumentError
from serving.manager import ServableManager

SIGNATURE_DEF_FIELD = "signature_def"


def model_status(
    manager: ServableManager, name: str, version: int | None
) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for state in manager.version_states(name, version):
        row = response.model_version_status.add()
        row.version = state.version
        row.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
        row.status.error_code = CANONICAL_CODES.index(state.error_code)
        row.status.error_message = state.error_message
    return response


def model_metadata(
    manager: ServableManager,
    name: str,
    version: int | None,
    label: str | None,
    metadata_fields: list[str],
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    if not metadata_fields:
        raise InvalidArgumentError(
            "GetModelMetadataRequest must specify at least one metadata_field"
        )
    for field in metadata_fields:
        if field != SIGNATURE_DEF_FIELD:
            raise InvalidArgumentError(f"Metadata field {field} is not supported")
    servable = manager.get(name, version, label)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response
