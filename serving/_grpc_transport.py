"""`serving.client` over gRPC: the PredictionService and ModelService stubs."""

from __future__ import annotations

import numpy as np

from serving import _dtypes
from serving._client_types import (
    ModelMetadata,
    SignatureInfo,
    VersionStatus,
    metadata_from_json,
)
from serving.errors import (
    error_from_code,
)

__all__ = ["GrpcChannel", "GrpcTransport"]


class GrpcChannel:
    """One channel (TLS with `credentials`), no message size limits, and calls whose gRPC
    errors become `ServingError`s: what both protocols' gRPC transports share."""

    def __init__(self, target: str, timeout: float | None, credentials=None) -> None:
        import grpc

        self._grpc = grpc
        self._timeout = timeout
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(target, options=options)
        )

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: object, request: object) -> object:
        try:
            return method(request, timeout=self._timeout)
        except self._grpc.RpcError as e:
            raise error_from_code(e.code().name, e.details() or "") from None


class GrpcTransport(GrpcChannel):
    def __init__(self, target: str, timeout: float | None, credentials=None) -> None:
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        super().__init__(target, timeout, credentials)
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model = model_service_pb2_grpc.ModelServiceStub(self._channel)

    @staticmethod
    def _fill_spec(spec: object, name: str, version: int | None, label: str | None) -> None:
        spec.name = name
        if version is not None:
            spec.version.value = int(version)
        elif label is not None:
            spec.version_label = label

    def status(self, name: str, version: int | None) -> list[VersionStatus]:
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._fill_spec(request.model_spec, name, version, None)
        response = self._call(self._model.GetModelStatus, request)
        states = get_model_status_pb2.ModelVersionStatus.State
        from serving.errors import CANONICAL_CODES

        return [
            VersionStatus(
                version=row.version,
                state=states.Name(row.state),
                error_code=CANONICAL_CODES[row.status.error_code]
                if 0 <= row.status.error_code < len(CANONICAL_CODES)
                else "UNKNOWN",
                error_message=row.status.error_message,
            )
            for row in response.model_version_status
        ]

    def metadata(self, name: str, version: int | None, label: str | None) -> ModelMetadata:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._fill_spec(request.model_spec, name, version, label)
        response = self._call(self._prediction.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        options = {"preserving_proto_field_name": True}
        return metadata_from_json(
            {
                "model_spec": json_format.MessageToDict(response.model_spec, **options),
                "metadata": {"signature_def": json_format.MessageToDict(signature_map, **options)},
            }
        )

    def predict(
        self,
        name: str,
        inputs: dict[str, np.ndarray],
        signature_name: str,
        signature: SignatureInfo,
        version: int | None,
        label: str | None,
    ) -> dict[str, np.ndarray]:
        from tensorflow_serving.apis import predict_pb2

        from serving import _tensor_proto

        request = predict_pb2.PredictRequest()
        self._fill_spec(request.model_spec, name, version, label)
        request.model_spec.signature_name = signature_name
        for alias, array in inputs.items():
            info = signature.inputs.get(alias)
            dtype = _dtypes.dtype_from_enum_name(info.dtype) if info is not None else None
            if array.dtype.kind in "OSU":
                dtype = _dtypes.DT_STRING
            elif dtype is not None and _dtypes.numpy_dtype(dtype) != array.dtype:
                dtype = None  # not castable without loss: send as is, the server judges
            request.inputs[alias].CopyFrom(_tensor_proto.to_tensor_proto(array, dtype=dtype))
        response = self._call(self._prediction.Predict, request)
        return {
            alias: _tensor_proto.from_tensor_proto(proto)
            for alias, proto in sorted(response.outputs.items())
        }
