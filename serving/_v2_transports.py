"""`serving.client` over the Open Inference Protocol (`Client(url, protocol="v2")`): REST
JSON tensors and gRPC `inference.GRPCInferenceService`, for this server or any V2 server.

V2 metadata describes one set of inputs and outputs (here, `serving_default`), so a
`ModelMetadata` from these transports has that one signature. Another signature is asked
for with the request parameter `signature_name` (this server's; see `serving.v2`), its
arrays sent with their own dtypes. A version label goes in the version string, which this
server resolves as TF Serving resolves labels.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import orjson

from serving import _dtypes, _v2_tensors
from serving._client_types import (
    DEFAULT_SIGNATURE,
    ModelMetadata,
    SignatureInfo,
    TensorInfo,
    VersionStatus,
)
from serving._grpc_transport import GrpcChannel
from serving._rest_transport import RestTransport
from serving.errors import ServingError

__all__ = ["GrpcV2Transport", "RestV2Transport"]


def _version_string(version: int | None, label: str | None) -> str:
    return str(int(version)) if version is not None else label or ""


def _signature_info(doc: Mapping) -> SignatureInfo:
    def tensors(which: str) -> dict[str, TensorInfo]:
        return {
            t["name"]: TensorInfo(
                dtype=_dtypes.dtype_enum_name(_v2_tensors.dtype_for_datatype(t["datatype"])),
                shape=tuple(int(d) for d in t["shape"]),
            )
            for t in doc.get(which, [])
        }

    return SignatureInfo(inputs=tensors("inputs"), outputs=tensors("outputs"), method_name="")


def _metadata(doc: Mapping, version: int | None) -> ModelMetadata:
    versions = [int(v) for v in doc.get("versions", []) if str(v).isdigit()]
    chosen = version if version is not None else max(versions, default=0)
    return ModelMetadata(
        name=doc.get("name", ""),
        version=chosen,
        signatures={DEFAULT_SIGNATURE: _signature_info(doc)},
    )


def _status(versions: list[str], version: int | None) -> list[VersionStatus]:
    numbers = sorted(int(v) for v in versions if v.isdigit())
    if version is not None:
        numbers = [v for v in numbers if v == version]
    return [VersionStatus(version=v, state="AVAILABLE") for v in numbers]


def _datatype(array: np.ndarray) -> str:
    return _v2_tensors.datatype_for_dtype(_dtypes.dtype_for_numpy(array))


class RestV2Transport(RestTransport):
    """V2 over REST: JSON tensors both ways (the core protocol: any V2 server takes them)."""

    @staticmethod
    def _v2_path(name: str, version: int | None, label: str | None) -> str:
        import urllib.parse

        path = f"/v2/models/{urllib.parse.quote(name, safe='')}"
        text = _version_string(version, label)
        return path + (f"/versions/{urllib.parse.quote(text, safe='')}" if text else "")

    def status(self, name: str, version: int | None) -> list[VersionStatus]:
        doc = self._call(self._v2_path(name, None, None))
        return _status(doc.get("versions", []), version)

    def metadata(self, name: str, version: int | None, label: str | None) -> ModelMetadata:
        return _metadata(self._call(self._v2_path(name, version, label)), version)

    def predict(
        self,
        name: str,
        inputs: dict[str, np.ndarray],
        signature_name: str,
        signature: SignatureInfo | None,
        version: int | None,
        label: str | None,
    ) -> dict[str, np.ndarray]:
        tensors = []
        for alias, array in inputs.items():
            data = (
                [v if isinstance(v, str) else bytes(v).decode("utf-8") for v in array.reshape(-1)]
                if array.dtype.kind in "OSU"
                else np.ascontiguousarray(array).reshape(-1)
            )
            tensors.append(
                {
                    "name": alias,
                    "shape": list(array.shape),
                    "datatype": _datatype(array),
                    "data": data,
                }
            )
        doc = {"inputs": tensors}
        if signature_name != DEFAULT_SIGNATURE:
            doc["parameters"] = {"signature_name": signature_name}
        body = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
        answer = self._call(self._v2_path(name, version, label) + "/infer", body)
        outputs = {}
        for tensor in answer["outputs"]:
            datatype, shape = tensor["datatype"], tuple(tensor["shape"])
            if datatype == "BYTES":
                array = np.empty(len(tensor["data"]), dtype=object)
                array[:] = [v.encode("utf-8") for v in tensor["data"]]
            else:
                dtype = _v2_tensors.numpy_for_datatype(datatype).newbyteorder("=")
                array = np.asarray(tensor["data"], dtype=dtype)
            outputs[tensor["name"]] = array.reshape(shape)
        return outputs


class GrpcV2Transport(GrpcChannel):
    """V2 over gRPC: raw tensor contents both ways."""

    def __init__(self, target: str, timeout: float | None, credentials=None) -> None:
        from serving.protos import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc

        super().__init__(target, timeout, credentials)
        self._pb = grpc_predict_v2_pb2
        self._stub = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(self._channel)

    def _metadata_doc(self, name: str, version: str) -> dict:
        from google.protobuf import json_format

        request = self._pb.ModelMetadataRequest(name=name, version=version)
        response = self._call(self._stub.ModelMetadata, request)
        doc = json_format.MessageToDict(response, preserving_proto_field_name=True)
        for which in ("inputs", "outputs"):
            for tensor in doc.get(which, []):
                tensor["shape"] = [int(d) for d in tensor.get("shape", [])]
        return doc

    def status(self, name: str, version: int | None) -> list[VersionStatus]:
        return _status(self._metadata_doc(name, "").get("versions", []), version)

    def metadata(self, name: str, version: int | None, label: str | None) -> ModelMetadata:
        return _metadata(self._metadata_doc(name, _version_string(version, label)), version)

    def predict(
        self,
        name: str,
        inputs: dict[str, np.ndarray],
        signature_name: str,
        signature: SignatureInfo | None,
        version: int | None,
        label: str | None,
    ) -> dict[str, np.ndarray]:
        request = self._pb.ModelInferRequest(
            model_name=name, model_version=_version_string(version, label)
        )
        if signature_name != DEFAULT_SIGNATURE:
            request.parameters["signature_name"].string_param = signature_name
        for alias, array in inputs.items():
            datatype = _datatype(array)
            if datatype == "BYTES":
                array = np.vectorize(
                    lambda v: v if isinstance(v, bytes) else str(v).encode(), otypes=[object]
                )(array)
            request.inputs.add(name=alias, datatype=datatype, shape=array.shape)
            request.raw_input_contents.append(_v2_tensors.to_raw(array, datatype))
        response = self._call(self._stub.ModelInfer, request)
        raw = response.raw_output_contents
        if raw and len(raw) != len(response.outputs):
            raise ServingError("The server answered raw contents for only some outputs")
        outputs = {}
        for index, tensor in enumerate(response.outputs):
            shape = tuple(tensor.shape)
            if raw:
                outputs[tensor.name] = _v2_tensors.from_raw(
                    tensor.name, tensor.datatype, shape, raw[index]
                )
            else:
                outputs[tensor.name] = _v2_tensors.from_contents(
                    tensor.name, tensor.datatype, shape, tensor.contents
                )
        return outputs
